"""Measures on the built-in head's geometry: lip gap, lip-vertex error and upper-face dynamics."""

from __future__ import annotations

from functools import cache

import numpy as np

from ..rigs.builtin_head import HeadMesh, build_head, deform
from ..rigs.builtin_head.measure import lip_gap_mm, lip_keys

CLOSED_MM = 1.0  # lips count as closed below this gap
UPPER_FACE_Z = -0.012  # skin above this height (the eye centres are at 0) counts as upper face


def lip_gap(values: np.ndarray) -> np.ndarray:
    """[T] lip opening in mm on the built-in head."""
    return np.atleast_1d(lip_gap_mm(np.asarray(values, np.float64)))


def lip_vertices() -> np.ndarray:
    return lip_keys()[0]


@cache
def upper_face_vertices() -> np.ndarray:
    """Brows, eyelids, and face skin above UPPER_FACE_Z (forehead, brow ridge, eye surroundings)."""
    head: HeadMesh = build_head()
    g = head.groups
    skin = g["face"][head.vertices[g["face"], 2] > UPPER_FACE_Z]
    parts = [skin] + [g[f"{k}_{s}"] for k in ("brow", "eyelid_upper", "eyelid_lower") for s in "LR"]
    return np.unique(np.concatenate(parts))


def _chunks(n: int, size: int = 600) -> list[slice]:
    return [slice(a, min(n, a + size)) for a in range(0, n, size)]


def lip_vertex_error(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per frame, the largest L2 distance (mm) between predicted and target lip vertices. [T]"""
    head = build_head()
    idx = lip_vertices()
    out = np.empty(len(pred))
    for sl in _chunks(len(pred)):
        a = deform(head, np.asarray(pred[sl], np.float32), idx)
        b = deform(head, np.asarray(target[sl], np.float32), idx)
        out[sl] = np.linalg.norm(a - b, axis=-1).max(axis=1) * 1000.0
    return out


def upper_face_dynamics(values: np.ndarray) -> np.ndarray:
    """Per upper-face vertex, the standard deviation over time of its displacement magnitude (mm)."""
    head = build_head()
    idx = upper_face_vertices()
    rest = head.vertices[idx]
    mags = np.empty((len(values), len(idx)))
    for sl in _chunks(len(values)):
        mags[sl] = np.linalg.norm(deform(head, np.asarray(values[sl], np.float32), idx) - rest, axis=-1) * 1000.0
    return mags.std(axis=0)


def upper_face_dynamics_deviation(pred: np.ndarray, target: np.ndarray) -> float:
    """FDD-like: mean over upper-face vertices of |dyn(pred) − dyn(target)|, in mm."""
    return float(np.mean(np.abs(upper_face_dynamics(pred) - upper_face_dynamics(target))))
