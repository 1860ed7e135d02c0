"""Splitting speech into instruction segments: one per phrase (breath group), so the artist edits phrase
by phrase.

``phrase_cuts`` works on voice activity alone, in one pass over the frames (linear in the clip's length):

1. every inactive run of at least ``PHRASE_PAUSE`` seconds between two stretches of speech is a cut;
2. left to right, a cut that would leave a segment shorter than ``MIN_SPEECH`` seconds is dropped (the short
   piece joins its neighbour); so is the last cut when the final piece would be that short;
3. a piece longer than ``MAX_SECONDS`` is cut again, left to right, at the deepest pause in the window
   [``MIN_SPEECH``, ``MAX_SECONDS``] seconds after the previous cut: the longest inactive run there (the
   quietest frame where it has none), keeping ``MIN_SPEECH`` seconds for the rest.

Adjacent segments may carry the same reading: they stay separate, so each phrase can be edited alone.

The boundary features (``boundary_vector``: pause length, the speech either side and how much the prosody
differs, ``BOUNDARY_NAMES``) feed the model's boundary scorer, which rates each cut as a change of manner
(``Stage1Predictor.analyze`` writes it as ``manner_change``; it no longer decides where to cut).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..audio.runs import runs
from .features import FPS, STAT_NAMES, FrameFeatures, pauses, segment_stats

PHRASE_PAUSE = 0.25  # seconds of inactivity that end a phrase
MIN_SPEECH = 1.5  # seconds: a shorter piece joins its neighbour
MAX_SECONDS = 6.0  # seconds: a longer piece is cut at its deepest pause

# the statistics whose left/right difference marks a change of manner
_CHANGE_STATS = ("f0_rel_mean", "f0_rel_p50", "f0_std", "f0_range", "f0_delta", "periodicity", "voiced_ratio",
                 "energy_std", "energy_range", "energy_delta", "energy_rel", "nuclei_rate", "tilt_mean",
                 "centroid_mean", "flux_mean")
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


def _inactive_run_lengths(active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: the length (frames) of the inactive run it lies in (0 when active), and that run's
    [start, end)."""
    n = len(active)
    length = np.zeros(n, np.int64)
    first = np.arange(n)
    after = np.arange(n) + 1
    for a, b in runs(active, False):
        length[a:b], first[a:b], after[a:b] = b - a, a, b
    return length, first, after


def phrase_cuts(ff: FrameFeatures, min_pause: float = PHRASE_PAUSE, min_seconds: float = MIN_SPEECH,
                max_seconds: float = MAX_SECONDS) -> list[Cut]:
    """The cuts between phrases, in time order (see the module docstring); linear in the clip's length."""
    n = ff.n_frames
    kept: list[Cut] = []
    last = 0.0
    for a, b in pauses(ff, min_pause):
        cut = Cut(a, b)
        if cut.time - last >= min_seconds:
            kept.append(cut)
            last = cut.time
    if kept and ff.duration - kept[-1].time < min_seconds:
        kept.pop()
    length, first, after = _inactive_run_lengths(ff.active)
    # depth of a frame as a cut: the longest pause first, then the quietest frame
    depth = length * 1000.0 - np.nan_to_num(ff.energy_db.astype(np.float64), nan=0.0)
    step, keep = int(round(max_seconds * FPS)), int(round(min_seconds * FPS))
    out: list[Cut] = []
    edges = [0, *(c.frame for c in kept), n]
    for k in range(len(edges) - 1):
        lo, hi = edges[k], edges[k + 1]
        while hi - lo > step:
            a, b = lo + keep, min(lo + step, hi - keep)
            if b <= a:
                break
            f = a + int(np.argmax(depth[a:b]))
            cut = Cut(int(first[f]), int(after[f])) if length[f] else Cut(f, f)
            out.append(cut)
            lo = cut.frame
        if k < len(kept):
            out.append(kept[k])
    return out


def manner_change(ff: FrameFeatures, cuts: list[Cut], scorer: Scorer) -> np.ndarray:
    """The boundary scorer's probability that the manner of speaking changes at each cut, comparing the
    segments on either side (each frame is in at most two of them: linear)."""
    if not cuts:
        return np.zeros(0)
    edges = [0, *(c.frame for c in cuts), ff.n_frames]
    rows = [boundary_vector(ff, c, edges[k], edges[k + 2]) for k, c in enumerate(cuts)]
    return np.asarray(scorer(np.stack(rows)), np.float64)


def segment_bounds(ff: FrameFeatures, cuts: list[Cut]) -> list[tuple[float, float]]:
    """Segments tiling [0, duration], meeting in the middle of each chosen pause."""
    edges = [0.0, *(c.time for c in cuts), ff.duration]
    return [(edges[k], edges[k + 1]) for k in range(len(edges) - 1) if edges[k + 1] > edges[k]]
