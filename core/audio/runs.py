"""Runs of a per-frame boolean mask (speech / silence), and filling the short ones: the one helper behind the
front end's voice activity, the pause detector of ``eval --real``, stage 1's pauses and stage 2's phrases."""

from __future__ import annotations

import numpy as np


def runs(mask: np.ndarray, value: bool = True) -> list[tuple[int, int]]:
    """[start, end) index runs where ``mask`` equals ``value``."""
    padded = np.concatenate([[False], np.asarray(mask) == value, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def fill_short(mask: np.ndarray, value: bool, shorter_than: int, inner_only: bool) -> np.ndarray:
    """A copy of ``mask`` with the runs of ``value`` shorter than ``shorter_than`` flipped; with ``inner_only``
    only runs with something else on both sides (a gap inside speech, not the clip's edges)."""
    out = np.array(mask, copy=True)
    for a, b in runs(mask, value):
        if b - a < shorter_than and (not inner_only or (a > 0 and b < len(mask))):
            out[a:b] = not value
    return out
