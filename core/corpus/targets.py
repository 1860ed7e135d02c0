"""Per-frame ARKit-52 targets for a corpus clip, from the *true* phone times.

    values = speech (coarticulated visemes, jaw by loudness, rest in pauses)
           + expression (the segment's AUs through AU_TO_ARKIT, cross-faded between segments)
           then the bilabial rule, then blinks, gaze, brow lifts and the accents' upper-face gestures.

Composition rule (docs/corpus.md): expression offsets add to the viseme curves and the sum is clipped
to 0..1; then every p/b/m seals the lips whatever the expression says — lip-parting channels (from
visemes or from AU10/AU25/AU26) are scaled by (1 − seal), the jaw by (1 − seal/2), and mouthClose is
set equal to jawOpen, which on an ARKit rig brings the lips together. The seal fades over 40 ms and the
frame nearest each bilabial's centre is fully sealed.

The upper face talks too (``accents``): brows rise on pitch accents and lower with a squint on loud
syllables, in the way each segment's emotion emphasises; blinks are drawn to pause onsets; and a per-clip
expressiveness scales these gestures and the phrase-onset brow lifts. None of it touches a mouth channel,
and its randomness comes from a generator seeded by the blink seed, so the lips and the clip's other
draws are what they were without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..arkit import ARKIT52, INDEX
from ..audio.features import extract_features
from ..audio.loader import TARGET_SR, Audio
from ..common.noise import smooth_noise
from ..instructions import Instruction, blink_rate, expression_vector
from ..lipsync import phrase_brows
from ..lipsync.blinks import blinks
from ..lipsync.procedural import coarticulate, pause_rest_mask, seal_mask
from ..lipsync.visemes import LIP_OPENERS
from ..phonemes import SILENCE, Phone
from .accents import Accent, draw_expressiveness, find_accents, pause_onsets, prosody_offsets, style_gains

REST_RAMP = 0.08
REST_MIN = 0.15  # pauses shorter than this keep the speech posture
CROSSFADE = 0.25  # seconds either side of a segment boundary
_MOUTH = np.array([n.startswith(("mouth", "jaw", "tongue", "cheekPuff")) for n in ARKIT52])
_OPENERS = np.array([INDEX[n] for n in LIP_OPENERS])
_SPEECH_DRIVEN = np.array([INDEX[n] for n in (*LIP_OPENERS, "jawOpen")])
_EXPRESSIVE = {"happy": 0.15, "angry": 0.2, "surprised": 0.2, "fearful": 0.05, "sad": -0.2, "contempt": -0.1}


@dataclass
class Targets:
    values: np.ndarray  # float32 [T, 52]
    info: dict[str, Any] = field(default_factory=dict)  # the clip's drawn variation, for the manifest
    accents: list[Accent] = field(default_factory=list)  # the clean speech's accents (the head's nods follow them)
    weights: np.ndarray | None = None  # [S, T] the segments' cross-fade weights


def rest_mask(phones: list[Phone], times: np.ndarray) -> np.ndarray:
    """1 in true pauses (SIL of at least REST_MIN), fading inside the pause so speech is untouched."""
    end_of_clip = phones[-1].end if phones else 0.0
    pauses = [(ph.start, ph.end, not ph.start > 0, not ph.end < end_of_clip - 1e-6)
              for ph in phones if ph.label == SILENCE and ph.duration >= REST_MIN]
    return pause_rest_mask(times, pauses, REST_RAMP)


def segment_weights(times: np.ndarray, segment_times: list[tuple[float, float]]) -> np.ndarray:
    """[S, T] weights of each segment's expression: 1 inside, linear cross-fade at the boundaries."""
    weights = np.zeros((len(segment_times), len(times)))
    bounds = [b for _, b in segment_times[:-1]]
    for s in range(len(segment_times)):
        w = np.ones(len(times))
        if s > 0:
            w = np.minimum(w, np.clip((times - bounds[s - 1]) / (2 * CROSSFADE) + 0.5, 0, 1))
        if s < len(segment_times) - 1:
            w = np.minimum(w, np.clip((bounds[s] - times) / (2 * CROSSFADE) + 0.5, 0, 1))
        weights[s] = w
    return weights / np.maximum(weights.sum(axis=0, keepdims=True), 1e-9)


def _gaze(rng: np.random.Generator, times: np.ndarray) -> np.ndarray:
    """Small gaze shifts (saccades every 1-4 s): [T, 52] with only the eyeLook channels set."""
    out = np.zeros((len(times), len(ARKIT52)))
    t, h, v = 0.0, 0.0, 0.0
    end = times[-1] if len(times) else 0.0
    while t <= end:
        span = float(rng.uniform(1.0, 4.0))
        h, v = float(rng.normal(0, 0.12)), float(rng.normal(0, 0.08))
        sel = (times >= t) & (times < t + span)
        for value, pos, neg in ((h, ("eyeLookOutLeft", "eyeLookInRight"), ("eyeLookInLeft", "eyeLookOutRight")),
                                (v, ("eyeLookUpLeft", "eyeLookUpRight"), ("eyeLookDownLeft", "eyeLookDownRight"))):
            for name in pos if value > 0 else neg:
                out[sel, INDEX[name]] = abs(value)
        t += span
    return out


def _brow_lifts(rng: np.random.Generator, phones: list[Phone], times: np.ndarray, gain: float) -> np.ndarray:
    """A brow raise on some phrase onsets (after a pause), as speakers mark new phrases."""
    curve = np.zeros(len(times))
    for prev, ph in zip(phones, phones[1:], strict=False):
        onset = prev.label == SILENCE and prev.duration >= REST_MIN and ph.label != SILENCE
        if onset and rng.random() < phrase_brows.CHANCE:
            centre = ph.start + float(rng.uniform(*phrase_brows.DELAY_S))
            amp = gain * float(rng.uniform(*phrase_brows.HEIGHT))
            curve = np.maximum(curve, phrase_brows.bump(times, centre, amp))
    return curve


def make_targets(samples: np.ndarray, phones: list[Phone], segment_times: list[tuple[float, float]],
                 instructions: list[Instruction], fps: float, rng: np.random.Generator,
                 upper_face: bool = True) -> Targets:
    """Targets [T, 52] for clean speech ``samples`` (16 kHz) with true ``phones``. ``upper_face=False`` leaves
    out the accents' gestures, the phrase-end blinks and the expressiveness (the targets before them)."""
    duration = len(samples) / TARGET_SR
    features = extract_features(Audio(np.asarray(samples, np.float32), TARGET_SR, TARGET_SR, 1, "clean", ""), fps)
    times = features.times

    # speech: how big a speaker articulates depends on them and on the emotion of the moment
    weights = segment_weights(times, segment_times)
    expressive = np.array([_EXPRESSIVE.get(i.emotion, 0.0) * i.intensity for i in instructions]) @ weights
    articulation = float(rng.uniform(0.85, 1.15))
    jaw_gain = float(rng.uniform(0.85, 1.15))
    values = coarticulate(phones, times)
    values[:, _MOUTH] *= (articulation * (1.0 + expressive))[:, None]
    values[:, INDEX["jawOpen"]] *= jaw_gain * (0.55 + 0.6 * features.loudness.astype(np.float64))
    rest = rest_mask(phones, times)
    values[:, _MOUTH] *= (1.0 - rest)[:, None]

    # expression of each segment, breathing a little over time; parted lips and a dropped jaw (AU10/25/26/27
    # through the lip openers and jawOpen) are speech-driven: in pauses the mouth comes to rest, closed,
    # whatever the instruction says (a face never holds its lips apart between phrases in these targets)
    expression = weights.T @ np.stack([expression_vector(i.aus) for i in instructions])
    expression[:, _SPEECH_DRIVEN] *= (1.0 - rest)[:, None]
    wobble = 1.0 + 0.08 * smooth_noise(rng, len(times), fps, 1.2)
    values += expression * wobble[:, None]
    values = np.clip(values, 0.0, 1.0)

    # bilabials seal the lips over any expression (AU25/26 lips-apart yield here)
    seal = seal_mask(phones, times, fps)
    jaw, close = INDEX["jawOpen"], INDEX["mouthClose"]
    values[:, jaw] *= 1.0 - 0.5 * seal
    values[:, _OPENERS] *= (1.0 - seal)[:, None]
    values[:, close] = (1.0 - seal) * np.minimum(values[:, close], values[:, jaw]) + seal * values[:, jaw]
    for side in ("mouthPressLeft", "mouthPressRight"):
        values[:, INDEX[side]] = np.maximum(values[:, INDEX[side]], 0.3 * seal)

    # blinks at each segment's rate (AU45), gaze shifts and phrase-onset brow lifts
    blink_seed = int(rng.integers(2**31))
    expressiveness = draw_expressiveness(np.random.default_rng([blink_seed, 0xE5])) if upper_face else 1.0
    anchors = pause_onsets(phones, REST_MIN) if upper_face else None
    left = np.zeros(len(times))
    right = np.zeros(len(times))
    for s, instr in enumerate(instructions):
        bl, br = blinks(times, duration, blink_seed, blink_rate(instr.aus), anchors)
        mine = weights[s] >= weights.max(axis=0) - 1e-9
        left[mine], right[mine] = bl[mine], br[mine]
    for name, curve in (("eyeBlinkLeft", left), ("eyeBlinkRight", right)):
        values[:, INDEX[name]] = np.maximum(values[:, INDEX[name]], curve)
    values += _gaze(rng, times)
    phrase_brows.apply(values, _brow_lifts(rng, phones, times, expressiveness))
    accents = find_accents(np.asarray(samples), phones, times, features.energy_db) if upper_face else []
    values += prosody_offsets(accents, times, style_gains(instructions, weights), expressiveness)
    values = np.clip(values, 0.0, 1.0).astype(np.float32)
    info = {"articulation": round(articulation, 4), "jaw_gain": round(jaw_gain, 4), "blink_seed": blink_seed,
            "expressiveness": round(expressiveness, 4), "accents": len(accents)}
    return Targets(values, info, accents, weights)
