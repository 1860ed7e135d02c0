"""Natural, seeded eye blinks.

Spontaneous blinks come every 2–10 s in conversation (mean near 4 s), last 150–300 ms with a fast
closing and a slower opening phase, and now and then come as a quick double blink. The two lids move
together to within a frame.
"""

from __future__ import annotations

import numpy as np

CLOSE_S, HOLD_S, OPEN_S = 0.07, 0.03, 0.14
DOUBLE_BLINK_CHANCE = 0.12
ANCHOR_REACH_S, ANCHOR_MOVE, ANCHOR_ADD = 1.2, 0.7, 0.5  # phrase-end blinks (favour_anchors)
_MARGIN_S = 0.1  # beyond a bump's ends, more than the 0.05 s its nearest-frame mark may lie from its centre


def blink_times(duration: float, rng: np.random.Generator, rate: float = 1.0) -> list[float]:
    """Blink onset times in seconds. ``rate`` scales how often (1 = about every 4 s)."""
    if rate <= 0:
        return []
    times: list[float] = []
    t = float(rng.uniform(0.4, 2.5)) / rate
    while t < duration:
        times.append(t)
        if rng.random() < DOUBLE_BLINK_CHANCE:
            second = t + float(rng.uniform(0.28, 0.4))
            if second < duration:
                times.append(second)
            t = second
        # gamma-distributed gaps with a refractory minimum
        t += (1.2 + float(rng.gamma(shape=2.2, scale=1.3))) / rate
    return times


def blink_curve(times: np.ndarray, onsets: list[float], rng: np.random.Generator) -> np.ndarray:
    """Lid closure 0..1 on the frame times, one smooth bump per onset."""
    curve = np.zeros(len(times), np.float64)
    # a bump is 0 outside (onset, onset + its length), and its nearest-frame mark lies inside: on sorted
    # times each is computed on the frames around it alone (the same values; a long clip has hundreds)
    ordered = bool(np.all(np.diff(times) >= 0))
    for onset in onsets:
        peak = float(rng.uniform(0.85, 1.0))
        scale = float(rng.uniform(0.85, 1.25))
        close, hold, release = CLOSE_S * scale, HOLD_S * scale, OPEN_S * scale
        a, b = 0, len(times)
        if ordered:
            a, b = np.searchsorted(times, [onset - _MARGIN_S, onset + close + hold + release + _MARGIN_S])
        u = times[a:b] - onset
        closing = np.clip(u / close, 0, 1)
        opening = np.clip((u - close - hold) / release, 0, 1)
        bump = _ease(closing) * (1.0 - _ease(opening))
        # a blink is shorter than a few frames: the frame nearest full closure shows it closed
        bump = np.maximum(bump, _nearest_frame_mask(u, close + 0.5 * hold))
        curve[a:b] = np.maximum(curve[a:b], peak * bump)
    return curve.astype(np.float32)


def _ease(x: np.ndarray) -> np.ndarray:
    return x * x * (3.0 - 2.0 * x)


def _nearest_frame_mask(u: np.ndarray, at: float) -> np.ndarray:
    mask = np.zeros(len(u))
    if len(u):
        nearest = int(np.argmin(np.abs(u - at)))
        if abs(u[nearest] - at) < 0.05:
            mask[nearest] = 1.0
    return mask


def favour_anchors(onsets: list[float], anchors: list[float], rng: np.random.Generator) -> list[float]:
    """Blinks drawn towards phrase ends: an onset within ANCHOR_REACH_S of an anchor (a pause onset) moves
    to just after it with chance ANCHOR_MOVE; an anchor left without a blink near it gets one with chance
    ANCHOR_ADD, and for each one added the onset farthest from any anchor is dropped, so the rate holds."""
    if not anchors or not onsets:
        return onsets
    marks = np.asarray(sorted(anchors))
    moved: list[float] = []
    for t in onsets:
        k = int(np.argmin(np.abs(marks - t)))
        if abs(marks[k] - t) <= ANCHOR_REACH_S and rng.random() < ANCHOR_MOVE:
            t = float(marks[k] + rng.uniform(0.02, 0.15))
        moved.append(t)
    moved = sorted(moved)
    # two blinks brought to one pause: keep the first (a double blink is drawn by blink_times itself)
    kept = [t for i, t in enumerate(moved) if i == 0 or t - moved[i - 1] > 0.25]
    added = [float(m + rng.uniform(0.02, 0.15)) for m in marks
             if min(abs(t - m) for t in kept) > ANCHOR_REACH_S and rng.random() < ANCHOR_ADD]
    for _ in added:
        far = [t for t in kept if np.min(np.abs(marks - t)) > ANCHOR_REACH_S]
        if not far:
            break
        kept.remove(max(far, key=lambda t: float(np.min(np.abs(marks - t)))))
    return sorted(kept + added)


def blinks(times: np.ndarray, duration: float, seed: int, rate: float = 1.0,
           anchors: list[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) closure curves. Same seed → same blinks. ``anchors`` (pause onsets) draw blinks to them
    (``favour_anchors``); without them the blinks are as before."""
    rng = np.random.default_rng([seed, 0xB1])
    onsets = blink_times(duration, rng, rate)
    if anchors:
        onsets = [t for t in favour_anchors(onsets, anchors, np.random.default_rng([seed, 0xB3])) if t < duration]
    left = blink_curve(times, onsets, np.random.default_rng([seed, 0xB2]))
    # the right lid lags or leads by a few milliseconds and closes a touch differently
    shift = float(rng.uniform(-0.008, 0.008))
    right = blink_curve(times, [t + shift for t in onsets], np.random.default_rng([seed, 0xB2]))
    return left, right
