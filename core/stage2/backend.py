"""The three network calls a stage-2 runtime provides; everything around them (windows, segment order, frame
weights, lips, resampling, blinks, gaze, meta) is ``synth.Stage2Model``'s and shared by both runtimes.

Arrays in and out are numpy float32, time-major: a backend converts at its edges (the torch one to tensors
on its device and back), so nothing outside it depends on which runtime ran."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

from .config import Stage2Config

RUNTIMES = ("numpy", "torch")


class Backend(Protocol):
    runtime: str  # "numpy" or "torch"
    device: str  # "cpu", "cuda", "cuda:N"
    cfg: Stage2Config
    card: dict[str, Any]

    def session(self) -> AbstractContextManager[None]:
        """Held around a run of calls (the torch runtime pins the CPU to one thread there)."""
        ...

    def encode(self, mel: np.ndarray) -> np.ndarray:
        """The audio encoder on one window: mel [T · mel_rate, n_mels] → hidden [T, channels]."""
        ...

    def styles(self, vectors: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Instruction vectors [S, INSTRUCTION_DIM] and the prior's noise [S, style_dim] → (style latents
        [S, style_dim] sampled by the prior, instruction embeddings [S, instr_dim])."""
        ...

    def decode(self, hidden: np.ndarray, z: np.ndarray, e: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The decoder on one window: hidden [T, channels], latents and embeddings [S, ·], the segments'
        frame weights [S, T] → values [T, 52] in 0..1."""
        ...
