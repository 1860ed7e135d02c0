"""Splitting speech into instruction segments: at pauses, where the manner of speaking changes.

Candidates are the pauses the voice-activity detector finds (≥ 150 ms). A candidate's features are its
pause length, the speech on either side, and how much the prosody differs between the two sides (F0
level, spread and movement, loudness, speaking rate, spectral tilt ...; ``BOUNDARY_NAMES``). A small
trained scorer (``model.BoundaryScorer``) turns them into a probability; the stretch is split
recursively at its most likely candidate while that is above the threshold and both sides keep at
least ``MIN_SPEECH`` seconds of speech. Stretches longer than ``MAX_SECONDS`` are split at their best
pause anyway, so a long monologue still gets editable pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .features import FPS, STAT_NAMES, FrameFeatures, pauses, segment_stats

MIN_SPEECH = 1.0  # seconds of voice activity each segment keeps
MAX_SECONDS = 12.0

# the statistics whose left/right difference marks a change of manner
_CHANGE_STATS = ("f0_mean", "f0_p50", "f0_std", "f0_range", "f0_delta", "periodicity", "voiced_ratio", "energy_std",
                 "energy_range", "energy_delta", "energy_rel", "nuclei_rate", "tilt_mean", "centroid_mean",
                 "flux_mean")
_CHANGE_INDEX = np.array([STAT_NAMES.index(n) for n in _CHANGE_STATS])
BOUNDARY_NAMES: tuple[str, ...] = ("pause", "left_speech", "right_speech",
                                   *(f"diff_{n}" for n in _CHANGE_STATS))


@dataclass(frozen=True)
class Cut:
    a: int  # first frame of the pause
    b: int  # frame after it

    @property
    def frame(self) -> int:
        return (self.a + self.b) // 2

    @property
    def time(self) -> float:
        return 0.5 * (self.a + self.b) / FPS

    @property
    def pause(self) -> float:
        return (self.b - self.a) / FPS


def candidate_cuts(ff: FrameFeatures) -> list[Cut]:
    return [Cut(a, b) for a, b in pauses(ff)]


def _speech(ff: FrameFeatures, a: int, b: int) -> float:
    return float(ff.active[a:b].sum()) / FPS


Stats = Callable[[FrameFeatures, int, int], np.ndarray]  # [a, b) → STAT_NAMES (at least the _CHANGE_STATS)


def change_stats(ff: FrameFeatures, a: int, b: int) -> np.ndarray:
    """``segment_stats`` with only what a boundary compares computed (the rest 0)."""
    return segment_stats(ff, a, b, _CHANGE_STATS)


def boundary_vector(ff: FrameFeatures, cut: Cut, lo: int, hi: int, stats: Stats = change_stats) -> np.ndarray:
    """``BOUNDARY_NAMES`` for splitting frames [lo, hi) at ``cut``."""
    left = stats(ff, lo, cut.a)[_CHANGE_INDEX]
    right = stats(ff, cut.b, hi)[_CHANGE_INDEX]
    return np.concatenate([[cut.pause, _speech(ff, lo, cut.a), _speech(ff, cut.b, hi)],
                           np.abs(left - right)]).astype(np.float32)


Scorer = Callable[[np.ndarray], np.ndarray]  # [M, len(BOUNDARY_NAMES)] → [M] probabilities


def split_points(ff: FrameFeatures, scorer: Scorer, threshold: float = 0.5, min_speech: float = MIN_SPEECH,
                 max_seconds: float = MAX_SECONDS) -> list[Cut]:
    """The cuts chosen, in time order."""
    cuts = candidate_cuts(ff)
    # A stretch's candidates share their outer sides with the stretch it was cut from ([lo, c.a) on the
    # left piece, [c.b, hi) on the right), so each side's statistics are computed once, not once per level.
    memo: dict[tuple[int, int], np.ndarray] = {}

    def stats(ff: FrameFeatures, a: int, b: int) -> np.ndarray:
        if (a, b) not in memo:
            memo[a, b] = change_stats(ff, a, b)
        return memo[a, b]

    chosen: list[Cut] = []
    stack = [(0, ff.n_frames)]
    while stack:
        lo, hi = stack.pop()
        inside = [c for c in cuts if lo < c.a and c.b < hi and _speech(ff, lo, c.a) >= min_speech
                  and _speech(ff, c.b, hi) >= min_speech]
        if not inside:
            continue
        scores = scorer(np.stack([boundary_vector(ff, c, lo, hi, stats) for c in inside]))
        best = int(np.argmax(scores))
        if scores[best] >= threshold or (hi - lo) / FPS > max_seconds:
            cut = inside[best]
            chosen.append(cut)
            stack += [(lo, cut.a), (cut.b, hi)]
    return sorted(chosen, key=lambda c: c.a)


def segment_bounds(ff: FrameFeatures, cuts: list[Cut]) -> list[tuple[float, float]]:
    """Segments tiling [0, duration], meeting in the middle of each chosen pause."""
    edges = [0.0, *(c.time for c in cuts), ff.duration]
    return [(edges[k], edges[k + 1]) for k in range(len(edges) - 1) if edges[k + 1] > edges[k]]
