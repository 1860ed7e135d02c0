"""The numpy runtime of stage 2 (``backend.Backend``): CPU only, no torch — what runs inside Blender's own
Python. Loads the same checked weights as the torch runtime (``stored.read_weights``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..common.blas import one_blas_thread
from .config import Stage2Config
from .numpy_net import AudioEncoder, Decoder, InstructionEncoder, blend_condition
from .numpy_prior import Prior
from .stored import StoredWeights, read_weights


class NumpyBackend:
    runtime = "numpy"
    device = "cpu"

    def __init__(self, stored: StoredWeights) -> None:
        self.cfg: Stage2Config = stored.cfg
        self.card: dict[str, Any] = stored.card
        arrays = stored.arrays
        self.audio = AudioEncoder(arrays, self.cfg)
        self.instruction = InstructionEncoder(arrays)
        self.prior = Prior(arrays, self.cfg)
        self.decoder = Decoder(arrays, self.cfg)

    @classmethod
    def load(cls, path: Path | None = None) -> NumpyBackend:
        return cls(read_weights(path))

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        with one_blas_thread():  # bit for bit on any number of cores (core/common/blas.py)
            yield

    def encode(self, mel: np.ndarray) -> np.ndarray:
        return self.audio(np.asarray(mel, np.float32))

    def styles(self, vectors: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e = self.instruction(np.asarray(vectors, np.float32))
        return self.prior.sample(e, noise), e

    def decode(self, hidden: np.ndarray, z: np.ndarray, e: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return self.decoder(hidden, blend_condition(z, e, weights))
