"""Small numeric helpers shared by the geometry and the key fields."""

from __future__ import annotations

import numpy as np


def smoothstep(e0: float | np.ndarray, e1: float | np.ndarray, x: float | np.ndarray) -> np.ndarray:
    """Smoothstep from e0 to e1 (either order)."""
    span = np.asarray(e1 - e0, dtype=np.float64)
    span = np.where(np.abs(span) < 1e-12, 1e-12, span)  # a zero-width step
    t = np.clip((np.asarray(x, dtype=np.float64) - e0) / span, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def bump(p: np.ndarray, centre: tuple[float, float, float], radii: tuple[float, float, float]) -> np.ndarray:
    """Compact smooth ellipsoidal bump: 1 at the centre, 0 outside the ellipsoid (C1 at its border)."""
    d2 = (((p - np.asarray(centre)) / np.asarray(radii)) ** 2).sum(axis=-1)
    return np.clip(1.0 - d2, 0.0, None) ** 2


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def catmull(x: np.ndarray, kx: list[float], ky: list[float]) -> np.ndarray:
    """C1 piecewise-cubic through the knots (Catmull-Rom slopes, flat ends), constant outside."""
    kxa, kya = np.asarray(kx), np.asarray(ky)
    slopes = np.zeros_like(kya)
    slopes[1:-1] = (kya[2:] - kya[:-2]) / (kxa[2:] - kxa[:-2])
    xc = np.clip(x, kxa[0], kxa[-1])
    i = np.clip(np.searchsorted(kxa, xc, side="right") - 1, 0, len(kxa) - 2)
    h = kxa[i + 1] - kxa[i]
    t = (xc - kxa[i]) / h
    h00, h10, h01, h11 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2
    return h00 * kya[i] + h10 * h * slopes[i] + h01 * kya[i + 1] + h11 * h * slopes[i + 1]
