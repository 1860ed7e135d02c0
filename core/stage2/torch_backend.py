"""The torch runtime of stage 2 (``backend.Backend``): the network and prior of ``net.py`` and
``diffusion.py`` on the CPU or a CUDA GPU. Training uses the same modules.

On the CPU the network runs on one thread (``fixed_threads``): oneDNN and MKL split their sums differently
for another thread count (takes were up to 1e-6 apart between 1 and 2 threads), and a take must not
depend on the machine's core count. The model is small and runs in windows, so one thread costs little:
on a 2-core machine 5 min of speech took 0.9-2.1 s on one thread against 2.3-4.1 s on two. On a GPU the
thread count plays no part.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import Stage2Config
from .diffusion import Prior
from .net import Stage2Net
from .weights import load


@contextlib.contextmanager
def fixed_threads(device: torch.device) -> Iterator[None]:
    """One intra-op thread on the CPU for the duration (see the module's docstring), restored after."""
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class TorchBackend:
    runtime = "torch"

    def __init__(self, net: Stage2Net, prior: Prior, card: dict[str, Any], device: str = "cpu") -> None:
        self.net, self.prior, self.card = net.eval(), prior.eval(), card
        self.cfg: Stage2Config = net.cfg
        self.torch_device = torch.device(device)
        self.device = str(self.torch_device)
        self.net.to(self.torch_device)
        self.prior.to(self.torch_device)

    @classmethod
    def load(cls, path: Path | None = None, device: str = "cpu") -> TorchBackend:
        return cls(*load(path), device=device)

    def session(self) -> contextlib.AbstractContextManager[None]:
        return fixed_threads(self.torch_device)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, np.float32)).to(self.torch_device)

    @torch.no_grad()
    def encode(self, mel: np.ndarray) -> np.ndarray:
        hidden = self.net.audio(self._tensor(mel)[None])[0]  # [C, T]
        return hidden.T.cpu().numpy()

    @torch.no_grad()
    def styles(self, vectors: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = self.net.instruction(self._tensor(vectors))
        z = self.prior.sample(e, self._tensor(noise))
        return z.cpu().numpy(), e.cpu().numpy()

    @torch.no_grad()
    def decode(self, hidden: np.ndarray, z: np.ndarray, e: np.ndarray, weights: np.ndarray) -> np.ndarray:
        h = self._tensor(hidden).T[None]  # [1, C, T]
        values = self.net.decode(h, self._tensor(z)[None], self._tensor(e)[None], self._tensor(weights)[None])[0]
        return values.cpu().numpy()
