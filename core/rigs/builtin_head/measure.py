"""The lip gap: the project's lip-closure measure, the one training (``core.stage2.losses``), evaluation
(``core.metrics.face``) and the benchmarks use. It is exact for the built-in head's linear blend shapes.
"""

from __future__ import annotations

import functools

import numpy as np

from ...arkit import ARKIT52
from .head import build_head, readonly


@functools.cache
def gap_model() -> tuple[np.ndarray, np.ndarray]:
    """Rest vertical gaps and per-key gap changes of the contact pairs in the central 60 % of the mouth.

    Metres: ``rest`` ``[P]``, ``change`` ``[52, P]``; the gap of pair p is ``rest[p] + w @ change[:, p]`` (exact,
    the keys are linear). Stage 2's differentiable loss is built on these two arrays."""
    head = build_head()
    up, lo = head.groups["upper_lip_inner"], head.groups["lower_lip_inner"]
    left = head.vertices[head.landmarks["mouth_corner_L"], 0]
    right = head.vertices[head.landmarks["mouth_corner_R"], 0]
    centre, width = 0.5 * (left + right), left - right
    central = np.abs(head.vertices[up, 0] - centre) <= 0.3 * width
    up, lo = up[central], lo[central]
    rest = (head.vertices[up, 2] - head.vertices[lo, 2]).astype(np.float64)
    change = (head.key_matrix[:, up, 2] - head.key_matrix[:, lo, 2]).astype(np.float64)  # [52, P]
    return readonly(rest), readonly(change)


@functools.cache
def lip_keys() -> tuple[np.ndarray, np.ndarray]:
    """The lip vertices the lip-vertex error measures (the head's "lips" group): their indices ``[V]`` and their
    offsets per key ``[52, V, 3]`` in metres (linear, so ``w @ keys`` is their displacement)."""
    head = build_head()
    idx = np.asarray(head.groups["lips"])
    return readonly(idx), readonly(head.key_matrix[:, idx].astype(np.float64))


def lip_gap_mm(values: np.ndarray) -> np.ndarray:
    """Lip opening (mm) for ARKit weights ``[T, 52]`` -> ``[T]`` (a ``[52]`` vector gives a 0-d array).

    The smallest vertical distance between the paired upper and lower lip contact vertices over the
    central 60 % of the mouth width, clipped at 0 (lips pressed into each other count as closed). Exact for
    this mesh's linear blend shapes; it touches only the contact vertices, so 1800 frames take about a
    millisecond.
    """
    w = np.asarray(values, dtype=np.float64)
    if w.shape[-1:] != (len(ARKIT52),) or w.ndim not in (1, 2):
        raise ValueError(f"expected weights of shape [52] or [T, 52], got {w.shape}")
    rest, change = gap_model()
    gaps = rest[None, :] + np.atleast_2d(w) @ change
    out = np.clip(gaps.min(axis=1), 0.0, None) * 1000.0
    return out[0] if w.ndim == 1 else out
