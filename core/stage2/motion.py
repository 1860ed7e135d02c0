"""Seeded motion the audio does not decide (blinks, gaze, phrase brows, the head's drift, turns and nods)
and the pause gate.

The network is trained with an L1 loss, so on these channels it learns their median — open lids and
straight gaze — and the take's own blinks (at each segment's AU45 rate) and gaze shifts are drawn here
from the seed, as the corpus targets draw them, and so are the brow lifts on phrase onsets. The head's
slow wander, its sway while speaking and the new resting turn after a pause have no cue in the audio and
are not in the corpus's head targets, so they are drawn here; its nods are in the targets, but the network
learns them only faintly, so nods on the recording's loud syllables are added here too. Last, a pause gate
rests the speech-driven mouth in the level's pauses. This is where most of one take's difference from
another comes from; the lips' closures never depend on the seed.
"""

from __future__ import annotations

import numpy as np

from ..arkit import INDEX
from ..audio.runs import fill_short, runs
from ..common.noise import smooth_noise
from ..lipsync import phrase_brows
from ..lipsync.blinks import blinks
from ..lipsync.procedural import pause_rest_mask
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
HEAD_DRIFT_DEG = (1.4, 0.6, 0.7)  # yaw, pitch, roll: spread of the slow wander (periods of 2-5 s)
HEAD_SWAY_DEG = 0.6  # quicker yaw sway while speaking (~0.7 s)
PHRASE_TURN_DEG = (2.2, 0.0, 1.3)  # spread of the resting pose each phrase settles into (yaw, pitch, roll)
PHRASE_PAUSE_S = 0.25  # a pause at least this long starts a new phrase
PHRASE_EASE_S = 0.5


def _floor_and_top(energy_db: np.ndarray) -> tuple[float, float]:
    """The recording's level floor and loud speech: its 10th and 95th percentiles (dB)."""
    return float(np.percentile(energy_db, 10)), float(np.percentile(energy_db, 95))


def speaking_frames(energy_db: np.ndarray, fps: float) -> np.ndarray:
    """[T] bool: frames whose level is well above the clip's own floor, gaps under 0.1 s bridged (cheap: the
    front end's energy, not a voice-activity detector; it only places phrase starts and the sway)."""
    if len(energy_db) == 0:
        return np.zeros(0, bool)
    floor, top = _floor_and_top(energy_db)
    on = energy_db > floor + max(9.0, 0.3 * (top - floor))
    return fill_short(on, False, int(round(0.1 * fps)), inner_only=True)


def phrase_starts(speaking: np.ndarray, fps: float) -> list[int]:
    """Frames where speech starts after at least PHRASE_PAUSE_S of quiet (the clip's first sound included)."""
    silent = int(round(PHRASE_PAUSE_S * fps))
    starts, run = [], silent
    for t, on in enumerate(speaking):
        if on and run >= silent:
            starts.append(t)
        run = 0 if on else run + 1
    return starts


def add_phrase_brows(values: np.ndarray, times: np.ndarray, seed: int, speaking: np.ndarray, fps: float,
                     amount: float = 1.0) -> None:
    """A brow lift on some phrase onsets, drawn per take by the corpus targets' rule (``lipsync.phrase_brows``;
    the network can only learn their average: a small lift on every onset), scaled by a per-take
    expressiveness and ``amount``."""
    if len(times) == 0 or amount <= 0.0:
        return
    rng = np.random.default_rng([seed, 0xB2F])
    expressive = float(np.clip(np.exp(rng.normal(0.0, 0.35)), 0.5, 1.8))
    lift = np.zeros(len(times))
    for t in phrase_starts(speaking[: len(times)], fps):
        keep, delay, height = rng.random(), rng.uniform(*phrase_brows.DELAY_S), rng.uniform(*phrase_brows.HEIGHT)
        if keep < phrase_brows.CHANCE:
            lift = np.maximum(lift, phrase_brows.bump(times, times[t] + float(delay), float(height)))
    phrase_brows.apply(values, lift * (expressive * amount))


NOD_PEAK_S = 0.25  # a loudness peak is the loudest frame within ±0.25 s
NOD_ABOVE_DB = 4.0  # ... and at least this far above the clip's median speech level
NOD_CHANCE = 0.85
NOD_DEG = (1.5, 3.0)  # chin-down degrees of a nod at full strength, drawn per nod


def add_nods(head: np.ndarray, level_db: np.ndarray, speaking: np.ndarray, times: np.ndarray, fps: float,
             seed: int) -> None:
    """Nods (chin down, ~0.25 s) on the loud syllables of the recording, added to ``head`` [T, 3] in place.

    The network's own nods stay small on real speech (0.11° std on the real clips: the accents of its
    targets are found from F0 on the clean speech, which it does not hear well through the augmentations),
    so the visible nods come from here: on every loudness peak of the front end's level (the loudest frame
    within ±0.25 s, ≥ 4 dB over the clip's median speech level), strength 0.3 + dB over that / 6 (≤ 1); the
    seed picks which peaks nod (85 %) and how deep (1.5–3°). On the real clips these nods follow the pitch
    accents (r 0.29 against 0.13 for a shuffled copy): loud syllables are mostly the accented ones."""
    n = len(times)
    talk = np.flatnonzero(speaking[:n])
    if n == 0 or len(talk) == 0:
        return
    rng = np.random.default_rng([seed, 0x90D])
    smooth = np.convolve(level_db[:n], np.ones(3) / 3, mode="same")
    median = float(np.median(smooth[talk]))
    half = int(round(NOD_PEAK_S * fps))
    peak = np.lib.stride_tricks.sliding_window_view(np.pad(smooth, half, constant_values=-np.inf), 2 * half + 1)
    for i in talk[(smooth[talk] >= peak[talk].max(axis=1)) & (smooth[talk] >= median + NOD_ABOVE_DB)]:
        keep, depth = rng.random(), rng.uniform(*NOD_DEG)
        if keep < NOD_CHANCE:
            strength = min((smooth[i] - median - NOD_ABOVE_DB) / 6.0 + 0.3, 1.0)
            lo, hi = np.searchsorted(times, [times[i] - 0.45, times[i] + 0.4])
            head[lo:hi, 1] += depth * DEG * strength * np.exp(-0.5 * ((times[lo:hi] - (times[i] - 0.03)) / 0.1) ** 2)


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
    for t in phrase_starts(speaking[:n], fps):  # turn a little before the voice, from where the head is
        new = rng.normal(0.0, 1.0, 3) * np.array(PHRASE_TURN_DEG) * DEG
        a = max(0, t - lead)
        ease = np.clip((times[a:] - times[a]) / PHRASE_EASE_S, 0.0, 1.0)
        ease = ease * ease * (3 - 2 * ease)
        here = offset[a].copy()
        offset[a:] = here + ease[:, None] * (new - here)
    head += offset


REST_MIN_S = 0.2  # silences at least this long are pauses where the mouth comes to rest
REST_RAMP_S = 0.08  # the mouth closes (and opens again) over this much of the pause's edges
# The gate trusts the level's pauses only in recordings whose level spans at least this much (95th less 10th
# percentile, about the speech-to-noise ratio). Under heavy noise (synthetic test clips at 0-10 dB SNR: spans
# of 9-15 dB) quiet speech falls below the threshold and the gate shut the mouth on words the network heard
# (a quarter of its frames on the test split were speech); there the network, trained on such noise, rests
# in the pauses itself. The real recording that needs the gate (music under a news reader) spans 17 dB.
GATE_MIN_SPAN_DB = 15.0
_RESTING = np.array([INDEX[n] for n in (*LIP_OPENERS, "jawOpen")])


def level_span(energy_db: np.ndarray) -> float:
    """dB between the recording's loud speech and its floor (95th and 10th percentiles of the level)."""
    if len(energy_db) == 0:
        return 0.0
    floor, top = _floor_and_top(energy_db)
    return top - floor


def close_in_pauses(values: np.ndarray, speaking: np.ndarray, times: np.ndarray, level_db: np.ndarray) -> None:
    """Brings the speech-driven mouth (jaw drop, lip openers) to rest in the pauses, in place: the corpus's
    targets close the mouth in every pause, and the network learns it from synthetic silence, but some real
    recordings' pauses (music or room tone under a news reader) it hears as quiet speech and leaves the lips
    parted. Smiles, frowns and presses are expression and stay. ``level_db`` is the level ``speaking`` came
    from: a recording whose level spans less than GATE_MIN_SPAN_DB is left to the network."""
    if level_span(level_db) < GATE_MIN_SPAN_DB:
        return
    step = times[1] - times[0] if len(times) > 1 else 0.0
    pauses = [(times[a], times[b - 1] + step, a == 0, b >= len(times))
              for a, b in runs(speaking[: len(times)], False) if times[b - 1] + step - times[a] >= REST_MIN_S]
    rest = pause_rest_mask(times, pauses, REST_RAMP_S)
    if not rest.any():
        return
    values[:, _RESTING] *= (1.0 - rest)[:, None]
    close, jaw = INDEX["mouthClose"], INDEX["jawOpen"]
    values[:, close] = np.minimum(values[:, close], values[:, jaw])
