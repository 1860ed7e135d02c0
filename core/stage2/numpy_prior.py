"""The diffusion prior in numpy (no torch): ``diffusion.Prior``'s MLP denoiser and its DDIM sampler (η = 0)
with classifier-free guidance, read from the same tensors. The schedule (ᾱ) and the latent statistics are
the stored ones; the steps and the time embedding come from ``sampling``, as in the torch runtime."""

from __future__ import annotations

import numpy as np

from .config import Stage2Config
from .numpy_net import Arrays, Linear, Norm, gelu
from .sampling import ddim_times, timestep_embedding


class Prior:
    def __init__(self, arrays: Arrays, cfg: Stage2Config) -> None:
        self.cfg = cfg
        self.inp = Linear(arrays, "prior.inp")
        self.time = (Linear(arrays, "prior.time.0"), Linear(arrays, "prior.time.2"))
        self.blocks = [(Norm(arrays, f"prior.blocks.{i}.norm"), Linear(arrays, f"prior.blocks.{i}.fc1"),
                        Linear(arrays, f"prior.blocks.{i}.fc2")) for i in range(cfg.prior_layers)]
        self.out = (Norm(arrays, "prior.out.0"), Linear(arrays, "prior.out.1"))
        self.null = arrays["prior.null"]
        self.alpha_bar = arrays["prior.alpha_bar"]
        self.latent_mean, self.latent_std = arrays["prior.latent_mean"], arrays["prior.latent_std"]

    def denoise(self, x: np.ndarray, t: np.ndarray, cond: np.ndarray) -> np.ndarray:
        """Predicted clean (standardised) latent from x_t [N, D] at integer steps t [N] under cond [N, E]."""
        first, second = self.time
        temb = second(gelu(first(timestep_embedding(t, self.cfg.prior_hidden))))
        h = self.inp(np.concatenate([x, cond, temb], -1))
        for norm, fc1, fc2 in self.blocks:
            h = h + fc2(gelu(fc1(norm(h))))
        norm, out = self.out
        return out(norm(h))

    def sample(self, cond: np.ndarray, noise: np.ndarray, steps: int | None = None,
               guidance: float | None = None) -> np.ndarray:
        """DDIM (η = 0) from ``noise`` [N, D] under cond [N, instr_dim] → latents [N, D] (un-standardised)."""
        steps = steps or self.cfg.ddim_steps
        w = np.float32(self.cfg.guidance if guidance is None else guidance)
        times = ddim_times(self.cfg.diffusion_steps, steps)
        x = noise.astype(np.float32)
        null = np.broadcast_to(self.null, cond.shape)
        one = np.float32(1.0)
        for k, t in enumerate(times):
            tt = np.full(len(x), t)
            if w == 1.0:
                x0 = self.denoise(x, tt, cond)
            else:
                both = self.denoise(np.concatenate([x, x]), np.concatenate([tt, tt]), np.concatenate([cond, null]))
                x0_c, x0_u = both[: len(x)], both[len(x) :]
                x0 = x0_u + w * (x0_c - x0_u)
            ab = self.alpha_bar[t]
            eps = (x - np.sqrt(ab) * x0) / np.sqrt(one - ab)
            ab_prev = self.alpha_bar[times[k + 1]] if k + 1 < steps else one
            x = np.sqrt(ab_prev) * x0 + np.sqrt(one - ab_prev) * eps
        return x * self.latent_std + self.latent_mean
