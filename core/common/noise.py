"""Smooth random curves, for the corpus targets and for the motion drawn per take at inference."""

from __future__ import annotations

import numpy as np


def smooth_noise(rng: np.random.Generator, n: int, fps: float, period: float) -> np.ndarray:
    """Zero-mean, unit-ish noise varying over about ``period`` seconds (cosine-interpolated knots)."""
    step = max(1, int(round(period * fps)))
    knots = rng.standard_normal(n // step + 2)
    x = np.arange(n) / step
    i = np.floor(x).astype(int)
    w = 0.5 - 0.5 * np.cos(np.pi * (x - i))
    return (1 - w) * knots[i] + w * knots[i + 1]
