"""The diffusion prior: instruction embedding → style latent.

DDPM training (cosine noise schedule, ``diffusion_steps`` steps; the denoiser predicts the clean latent,
as DALL·E 2's prior does), DDIM sampling (η = 0, ``ddim_steps`` steps) from seeded noise, and
classifier-free guidance: during training the condition is replaced by a learned null vector now and
then, and sampling mixes the conditional and unconditional predictions with scale ``guidance``.
The prior works on standardised latents (training mean and spread, stored with the weights).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import Stage2Config
from .sampling import ddim_times, time_frequencies

COND_DROP = 0.1  # share of training examples that see the null condition


def cosine_alpha_bar(steps: int) -> torch.Tensor:
    """ᾱ_t for t = 1 … steps (Nichol & Dhariwal's cosine schedule), float64."""
    s = 0.008
    t = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[N, dim] float32, computed in float64 as ``sampling.timestep_embedding`` (the numpy runtime's) is."""
    freqs = torch.from_numpy(time_frequencies(dim)).to(t.device)
    args = t.double()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], -1).float()


class _Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 2 * width)
        self.fc2 = nn.Linear(2 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(F.gelu(self.fc1(self.norm(x))))


class Prior(nn.Module):
    """MLP denoiser over [noisy latent, time, condition] → clean latent, plus the schedule and sampler."""

    alpha_bar: torch.Tensor
    latent_mean: torch.Tensor
    latent_std: torch.Tensor

    def __init__(self, cfg: Stage2Config) -> None:
        super().__init__()
        w = cfg.prior_hidden
        self.cfg = cfg
        self.inp = nn.Linear(cfg.style_dim + cfg.instr_dim + w, w)
        self.time = nn.Sequential(nn.Linear(w, w), nn.GELU(), nn.Linear(w, w))
        self.blocks = nn.ModuleList(_Block(w) for _ in range(cfg.prior_layers))
        self.out = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, cfg.style_dim))
        self.null = nn.Parameter(torch.zeros(cfg.instr_dim))
        self.register_buffer("alpha_bar", cosine_alpha_bar(cfg.diffusion_steps).float())
        self.register_buffer("latent_mean", torch.zeros(cfg.style_dim))
        self.register_buffer("latent_std", torch.ones(cfg.style_dim))

    def denoise(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Predicted clean (standardised) latent from x_t at integer steps t (0-based) under cond."""
        temb = self.time(timestep_embedding(t, self.cfg.prior_hidden))
        h = self.inp(torch.cat([x, cond, temb], -1))
        for block in self.blocks:
            h = block(h)
        return self.out(h)

    def loss(self, z: torch.Tensor, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """DDPM training loss on latents z [N, D] (not yet standardised) with conditions [N, instr_dim]."""
        x0 = (z - self.latent_mean) / self.latent_std
        n = len(x0)
        t = torch.randint(0, self.cfg.diffusion_steps, (n,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        ab = self.alpha_bar[t][:, None]
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        drop = torch.rand(n, generator=generator) < COND_DROP
        cond = torch.where(drop[:, None], self.null.expand_as(cond), cond)
        return F.mse_loss(self.denoise(xt, t, cond), x0)

    @torch.no_grad()
    def sample(self, cond: torch.Tensor, noise: torch.Tensor, steps: int | None = None,
               guidance: float | None = None) -> torch.Tensor:
        """DDIM (η = 0) from ``noise`` [N, D] under cond [N, instr_dim] → latents [N, D] (un-standardised).
        Deterministic: the same noise gives the same latents. ``numpy_prior.sample`` is the same loop."""
        steps = steps or self.cfg.ddim_steps
        w = self.cfg.guidance if guidance is None else guidance
        total = self.cfg.diffusion_steps
        # on the noise's device: the time embedding is made where its steps are
        times = torch.from_numpy(ddim_times(total, steps)).to(noise.device)
        x = noise
        null = self.null.expand_as(cond)
        for k, t in enumerate(times):
            tt = t.repeat(len(x))
            if w == 1.0:
                x0 = self.denoise(x, tt, cond)
            else:
                both = self.denoise(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([cond, null]))
                x0_c, x0_u = both.chunk(2)
                x0 = x0_u + w * (x0_c - x0_u)
            ab = self.alpha_bar[t]
            eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
            ab_prev = self.alpha_bar[times[k + 1]] if k + 1 < steps else torch.tensor(1.0)
            x = ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * eps
        return x * self.latent_std + self.latent_mean
