"""Procedural lip sync: timed phones + audio features → ARKit-52 curves. The baseline every trained
model must beat.

1. Coarticulation: every phone spreads a dominance function beyond its own interval
   (Cohen & Massaro 1993); each frame's pose is the dominance-weighted mean of the phone targets,
   separately for lip channels and jaw channels, so neighbours blend instead of stepping.
2. The jaw follows loudness within the viseme's range.
3. Bilabials (p, b, m) seal the lips on at least the frame nearest their centre; silence (no voice
   activity) relaxes the mouth to rest, which has the lips closed.
4. Seeded natural blinks, and a brow lift on some loud phrase onsets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arkit import ARKIT52, INDEX
from ..audio.features import Features
from ..phonemes import BILABIALS, SILENCE, Phone
from .blinks import blinks
from .visemes import JAW_CHANNELS, LIP_OPENERS, WEAK_PHONES, viseme_for

_SHAPE = 1.5  # dominance exponent: between Laplacian (1) and Gaussian (2) falloff
_REACH = 4.0  # dominance is negligible beyond this many spreads
SEAL_RAMP = 0.04  # seconds over which a bilabial seal fades in/out
_REST_RAMP = 0.08  # seconds over which the mouth relaxes at a pause

_JAW_MASK = np.array([name in JAW_CHANNELS for name in ARKIT52])
_MOUTH = np.array([name.startswith(("mouth", "jaw", "tongue", "cheekPuff")) for name in ARKIT52])
_OPENERS = np.array([INDEX[name] for name in LIP_OPENERS])


@dataclass(frozen=True)
class ProceduralSettings:
    seed: int = 0
    lips: float = 1.0  # articulation strength
    expression: float = 1.0  # brows and other non-speech motion
    blinks: float = 1.0  # blink frequency (0 = none)


def _pose_vector(phone: str) -> np.ndarray:
    vec = np.zeros(len(ARKIT52), np.float64)
    for name, value in viseme_for(phone).pose.items():
        vec[INDEX[name]] = value
    return vec


def coarticulate(phones: list[Phone], times: np.ndarray) -> np.ndarray:
    """Dominance-blended mouth poses [T, 52] (before loudness, seals and rest)."""
    count = len(times)
    num_lips = np.zeros((count, len(ARKIT52)))
    num_jaw = np.zeros((count, len(ARKIT52)))
    den_lips = np.full(count, 1e-9)
    den_jaw = np.full(count, 1e-9)
    if count == 0:
        return num_lips
    step = float(times[1] - times[0]) if count > 1 else 1.0
    for phone in phones:
        vis = viseme_for(phone.label)
        if phone.label == SILENCE:
            core = max(0.0, phone.duration / 2 - 0.06)  # long pauses hold the rest pose fully
        else:
            core = 0.25 * phone.duration
        reach = core + _REACH * vis.spread
        lo = max(0, int(np.floor((phone.centre - reach - times[0]) / step)))
        hi = min(count, int(np.ceil((phone.centre + reach - times[0]) / step)) + 1)
        if hi <= lo:
            continue
        t = times[lo:hi]
        distance = np.maximum(0.0, np.abs(t - phone.centre) - core)
        shape = np.exp(-((distance / vis.spread) ** _SHAPE))
        weak = WEAK_PHONES.get(phone.label, 1.0)
        d_lips, d_jaw = weak * vis.lips * shape, weak * vis.jaw * shape
        pose = _pose_vector(phone.label)
        num_lips[lo:hi] += d_lips[:, None] * pose
        num_jaw[lo:hi] += d_jaw[:, None] * pose
        den_lips[lo:hi] += d_lips
        den_jaw[lo:hi] += d_jaw
    blended = num_lips / den_lips[:, None]
    blended[:, _JAW_MASK] = (num_jaw / den_jaw[:, None])[:, _JAW_MASK]
    return blended


def ramp_mask(times: np.ndarray, intervals: list[tuple[float, float]], ramp: float) -> np.ndarray:
    """1 inside each interval, cosine fade to 0 over ``ramp`` seconds outside; max over intervals."""
    mask = np.zeros(len(times))
    for start, end in intervals:
        before = np.clip((times - (start - ramp)) / ramp, 0, 1)
        after = np.clip(((end + ramp) - times) / ramp, 0, 1)
        inside = np.minimum(before, after)
        mask = np.maximum(mask, 0.5 - 0.5 * np.cos(np.pi * inside))
    return mask


def pause_rest_mask(times: np.ndarray, pauses: list[tuple[float, float, bool, bool]], ramp: float) -> np.ndarray:
    """The rest-pose mask of ``pauses`` (start, end, opens the clip, closes the clip): 1 inside each pause inset by
    ``ramp`` at both ends, so the mouth eases to rest inside the pause and speech is untouched — except at the
    clip's own edges, where the rest holds right to the edge; ``ramp_mask`` fades it. The corpus's targets
    (phone pauses) and stage 2's pause gate (the level's pauses) both rest this way."""
    intervals = []
    for start, end, first, last in pauses:
        lo = -1.0 if first else start + ramp
        hi = end + 1.0 if last else end - ramp
        if hi > lo:
            intervals.append((lo, hi))
    return ramp_mask(times, intervals, ramp)


def seal_mask(phones: list[Phone], times: np.ndarray, fps: float) -> np.ndarray:
    intervals = []
    for phone in phones:
        if phone.label in BILABIALS:
            # widen to the nearest frame so a closure shorter than a frame is still shown
            half = max(0.5 / fps, 0.5 * phone.duration)
            intervals.append((phone.centre - half * 0.999, phone.centre + half * 0.999))
    mask = ramp_mask(times, intervals, SEAL_RAMP)
    for start, end in intervals:  # guarantee the frame nearest each centre is fully sealed
        nearest = int(np.argmin(np.abs(times - 0.5 * (start + end))))
        mask[nearest] = 1.0
    return mask


def _rest_mask(voiced: np.ndarray, times: np.ndarray) -> np.ndarray:
    """1 in pauses (no voice activity), fading over _REST_RAMP into speech."""
    if voiced.all():
        return np.zeros(len(times))
    silent = ~voiced
    padded = np.concatenate([[False], silent, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    step = float(times[1] - times[0]) if len(times) > 1 else 1.0
    intervals = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        # shrink by the ramp so the fade happens inside the pause, not over speech
        start = times[a] + (_REST_RAMP if a > 0 else -1.0)
        end = times[b - 1] - (_REST_RAMP if b < len(times) else -1.0)
        if end > start:
            intervals.append((start, end))
        elif b - a >= 2:
            mid = 0.5 * (times[a] + times[b - 1])
            intervals.append((mid - step / 2, mid + step / 2))
    return ramp_mask(times, intervals, _REST_RAMP)


def _brow_lifts(features: Features, rng: np.random.Generator) -> np.ndarray:
    """Small brow raises on some loud phrase onsets (speakers mark emphasis with their brows)."""
    times, voiced = features.times, features.voiced
    curve = np.zeros(len(times))
    onsets = np.flatnonzero(np.diff(voiced.astype(np.int8)) == 1) + 1
    if voiced.size and voiced[0]:
        onsets = np.concatenate([[0], onsets])
    window = max(1, int(round(0.4 * features.fps)))
    for idx in onsets:
        peak_loud = float(features.loudness[idx : idx + window].max(initial=0.0))
        if peak_loud < 0.6 or rng.random() > 0.6:
            continue
        centre = times[idx] + float(rng.uniform(0.1, 0.25))
        amp = float(rng.uniform(0.15, 0.35)) * peak_loud
        curve = np.maximum(curve, amp * np.exp(-0.5 * ((times - centre) / 0.18) ** 2))
    return curve


def synthesize(phones: list[Phone], features: Features, settings: ProceduralSettings | None = None) -> np.ndarray:
    """ARKit-52 values [T, 52] float32 in 0..1 on the features' frame grid."""
    settings = settings or ProceduralSettings()
    times = features.times
    values = coarticulate(phones, times)

    # the jaw opens with loudness, within the range the viseme allows
    jaw = INDEX["jawOpen"]
    gain = 0.55 + 0.6 * features.loudness.astype(np.float64)
    values[:, jaw] *= gain
    values[:, _MOUTH] *= settings.lips

    rest = _rest_mask(features.voiced, times)
    values[:, _MOUTH] *= (1.0 - rest)[:, None]

    seal = seal_mask(phones, times, features.fps)
    values[:, jaw] *= 1.0 - 0.5 * seal
    values[:, _OPENERS] *= (1.0 - seal)[:, None]
    close = INDEX["mouthClose"]
    # mouthClose cancels the jaw's lip parting: equal to jawOpen, the lips touch
    values[:, close] = (1.0 - seal) * np.minimum(values[:, close], values[:, jaw]) + seal * values[:, jaw]
    for side in ("mouthPressLeft", "mouthPressRight"):
        values[:, INDEX[side]] = np.maximum(values[:, INDEX[side]], 0.3 * seal * settings.lips)

    left, right = blinks(times, features.n_frames / features.fps, settings.seed, settings.blinks)
    values[:, INDEX["eyeBlinkLeft"]] = left
    values[:, INDEX["eyeBlinkRight"]] = right

    lift = _brow_lifts(features, np.random.default_rng([settings.seed, 0xB7])) * settings.expression
    values[:, INDEX["browInnerUp"]] = np.maximum(values[:, INDEX["browInnerUp"]], lift)
    for side in ("browOuterUpLeft", "browOuterUpRight"):
        values[:, INDEX[side]] = np.maximum(values[:, INDEX[side]], 0.6 * lift)
    return np.clip(values, 0.0, 1.0).astype(np.float32)
