"""Seeded motion the audio does not decide: blinks, gaze shifts and the head's drift and phrase turns.

The network is trained with an L1 loss, so on these channels it learns their median — open lids and
straight gaze — and the take's own blinks (at each segment's AU45 rate) and gaze shifts are drawn here
from the seed, as the corpus targets draw them. The head's nods are learned (they follow the accents the
audio carries); its slow wander, its sway while speaking and the new resting turn after a pause have no
cue in the audio and are not in the corpus's head targets, so they are drawn here. This is where most of
one take's difference from another comes from; the lips never depend on it.
"""

from __future__ import annotations

import numpy as np

from ..arkit import INDEX
from ..common.noise import smooth_noise
from ..lipsync.blinks import blinks
from ..lipsync.procedural import ramp_mask
from ..lipsync.visemes import LIP_OPENERS

GAZE_H, GAZE_V = 0.12, 0.08  # spread of gaze targets (ARKit eyeLook units), as the corpus draws them
_LOOK = {  # sign → channels for horizontal (character looks to its left = left eye out, right eye in) and vertical
    ("h", 1): ("eyeLookOutLeft", "eyeLookInRight"), ("h", -1): ("eyeLookInLeft", "eyeLookOutRight"),
    ("v", 1): ("eyeLookUpLeft", "eyeLookUpRight"), ("v", -1): ("eyeLookDownLeft", "eyeLookDownRight"),
}


def add_blinks(values: np.ndarray, times: np.ndarray, duration: float, seed: int, rates: np.ndarray,
               owner: np.ndarray) -> None:
    """Blink curves into eyeBlink* (max with what is there), in place. ``rates[s]`` is segment s's blink
    rate multiplier, ``owner[t]`` the segment that owns frame t."""
    left = np.zeros(len(times))
    right = np.zeros(len(times))
    drawn: dict[float, tuple[np.ndarray, np.ndarray]] = {}  # segments at the same rate share one draw (exact)
    for s, rate in enumerate(rates):
        if rate <= 0:
            continue
        if float(rate) not in drawn:
            drawn[float(rate)] = blinks(times, duration, seed, float(rate))
        bl, br = drawn[float(rate)]
        mine = owner == s
        left[mine], right[mine] = bl[mine], br[mine]
    for name, curve in (("eyeBlinkLeft", left), ("eyeBlinkRight", right)):
        values[:, INDEX[name]] = np.maximum(values[:, INDEX[name]], curve)


def add_gaze(values: np.ndarray, times: np.ndarray, seed: int, amount: float = 1.0) -> None:
    """Gaze held for 1–4 s at a time, then a saccade to a new small offset; added in place."""
    rng = np.random.default_rng([seed, 0x6A2E])
    t, end = 0.0, float(times[-1]) if len(times) else 0.0
    while t <= end:
        span = float(rng.uniform(1.0, 4.0))
        sel = (times >= t) & (times < t + span)
        for axis, value in (("h", rng.normal(0, GAZE_H)), ("v", rng.normal(0, GAZE_V))):
            for name in _LOOK[(axis, 1 if value > 0 else -1)]:
                values[sel, INDEX[name]] += amount * abs(float(value))
        t += span


DEG = np.pi / 180.0
HEAD_DRIFT_DEG = (1.4, 0.8, 0.7)  # yaw, pitch, roll: spread of the slow wander (periods of 2-5 s)
HEAD_SWAY_DEG = 0.6  # quicker yaw sway while speaking (~0.7 s)
PHRASE_TURN_DEG = (2.2, 0.6, 1.3)  # spread of the resting pose each phrase settles into (yaw, pitch, roll)
PHRASE_PAUSE_S = 0.25  # a pause at least this long starts a new phrase
PHRASE_EASE_S = 0.5


def speaking_frames(energy_db: np.ndarray, fps: float) -> np.ndarray:
    """[T] bool: frames whose level is well above the clip's own floor, gaps under 0.1 s bridged (cheap: the
    front end's energy, not a voice-activity detector; it only places phrase starts and the sway)."""
    if len(energy_db) == 0:
        return np.zeros(0, bool)
    floor, top = float(np.percentile(energy_db, 10)), float(np.percentile(energy_db, 95))
    on = energy_db > floor + max(9.0, 0.3 * (top - floor))
    gap = int(round(0.1 * fps))
    idx = np.flatnonzero(on)
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        if 1 < b - a <= gap:
            on[a:b] = True
    return on


def add_head_drift(head: np.ndarray, times: np.ndarray, seed: int, speaking: np.ndarray, fps: float) -> None:
    """Adds the take's wander, sway and phrase turns to ``head`` [T, 3] (radians: yaw, pitch, roll) in place."""
    n = len(times)
    if n == 0:
        return
    rng = np.random.default_rng([seed, 0x4EAD])
    for k, spread in enumerate(HEAD_DRIFT_DEG):
        head[:, k] += spread * DEG * smooth_noise(rng, n, fps, float(rng.uniform(2.0, 5.0)))
    talk = np.convolve(speaking[:n].astype(np.float64), np.ones(9) / 9, mode="same")
    head[:, 0] += HEAD_SWAY_DEG * DEG * smooth_noise(rng, n, fps, 0.7) * talk
    offset = np.zeros((n, 3))  # each phrase's resting pose, eased into from the last one
    lead = int(round(0.15 * fps))
    silent = int(round(PHRASE_PAUSE_S * fps))
    run = silent  # the clip's first sound starts a phrase
    for t in range(n):
        if speaking[t] and run >= silent:  # a phrase starts: turn a little before the voice, from where it is
            new = rng.normal(0.0, 1.0, 3) * np.array(PHRASE_TURN_DEG) * DEG
            a = max(0, t - lead)
            ease = np.clip((times[a:] - times[a]) / PHRASE_EASE_S, 0.0, 1.0)
            ease = ease * ease * (3 - 2 * ease)
            here = offset[a].copy()
            offset[a:] = here + ease[:, None] * (new - here)
        run = 0 if speaking[t] else run + 1
    head += offset


REST_MIN_S = 0.2  # silences at least this long are pauses where the mouth comes to rest
REST_RAMP_S = 0.08  # the mouth closes (and opens again) over this much of the pause's edges
_RESTING = np.array([INDEX[n] for n in (*LIP_OPENERS, "jawOpen")])


def close_in_pauses(values: np.ndarray, speaking: np.ndarray, times: np.ndarray) -> None:
    """Brings the speech-driven mouth (jaw drop, lip openers) to rest in the pauses, in place: the corpus's
    targets close the mouth in every pause, and the network learns it from synthetic silence, but some real
    recordings' pauses (music or room tone under a news reader) it hears as quiet speech and leaves the lips
    parted. Smiles, frowns and presses are expression and stay."""
    quiet = ~speaking[: len(times)]
    idx = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    intervals = []
    for a, b in zip(idx[::2], idx[1::2], strict=True):
        start, end = times[a], times[b - 1] + (times[1] - times[0] if len(times) > 1 else 0.0)
        if end - start >= REST_MIN_S:
            lo = start + REST_RAMP_S if a > 0 else -1.0  # at the clip's edges the rest holds to the edge
            hi = end - REST_RAMP_S if b < len(times) else times[-1] + 1.0
            if hi > lo:
                intervals.append((lo, hi))
    if not intervals:
        return
    rest = ramp_mask(times, intervals, REST_RAMP_S)
    values[:, _RESTING] *= (1.0 - rest)[:, None]
    close, jaw = INDEX["mouthClose"], INDEX["jawOpen"]
    values[:, close] = np.minimum(values[:, close], values[:, jaw])
