"""Head-rotation targets for a corpus clip (``headYaw``, ``headPitch``, ``headRoll``, radians), from the
true phone times and the speech's loudness, so stage 2 learns head motion from the audio:

- nods: a stressed (loud) vowel dips the chin a little and lets it come back (pitch +, ~0.35 s);
- phrase starts: after a pause the head settles into a new small turn and tilt over ~0.5 s;
- drift: slow wander (periods of 2-5 s) under everything, and a little sway while speaking;
- the instruction sets the manner: angry nods hard, sad hangs low and moves little, surprised lifts
  the chin, happy moves more; a per-clip expressiveness draws calm and lively speakers.

Sign convention (the Animation contract, docs/animation.md): headYaw + turns the head to the
character's left, headPitch + tips the chin down (a nod), headRoll + tilts toward the character's left
shoulder; 0 is the rest pose facing the camera.
"""

from __future__ import annotations

import numpy as np

from ..instructions import Instruction
from ..phonemes import SILENCE, VOWELS, Phone
from .targets import smooth_noise

DEG = np.pi / 180.0
# per emotion at intensity 1: (motion gain, nod gain, pitch bias in degrees: + chin down)
_MANNER: dict[str, tuple[float, float, float]] = {
    "neutral": (1.0, 1.0, 0.0), "happy": (1.35, 1.1, -1.0), "sad": (0.55, 0.5, 4.0),
    "angry": (1.2, 1.8, 1.5), "surprised": (1.3, 0.9, -3.0), "fearful": (1.1, 0.7, 1.0),
    "disgusted": (0.9, 0.9, -1.5), "contempt": (0.8, 0.7, -2.5),
}  # fmt: skip


def _manner(instructions: list[Instruction], weights: np.ndarray) -> np.ndarray:
    """[3, T]: motion gain, nod gain and pitch bias (radians) per frame, blended across segments."""
    rows = []
    for instr in instructions:
        gain, nod, bias = _MANNER.get(instr.emotion, _MANNER["neutral"])
        k = float(np.clip(instr.intensity, 0.0, 1.0))
        rows.append((1 + (gain - 1) * k, 1 + (nod - 1) * k, bias * k * DEG))
    return np.asarray(rows, np.float64).T @ weights


def head_motion(phones: list[Phone], times: np.ndarray, loudness: np.ndarray, weights: np.ndarray,
                instructions: list[Instruction], fps: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """[T, 3] radians (yaw, pitch, roll) and the clip's drawn expressiveness. ``weights`` [S, T] are the
    segments' cross-fade weights, ``loudness`` [T] the clean speech's 0..1 level."""
    n = len(times)
    expressive = float(np.clip(rng.lognormal(0.0, 0.4), 0.4, 2.2))
    gain, nod_gain, bias = _manner(instructions, weights)
    speaking = np.zeros(n)
    for ph in phones:
        if ph.label != SILENCE:
            speaking[(times >= ph.start) & (times < ph.end)] = 1.0
    speaking = np.convolve(speaking, np.ones(9) / 9, mode="same")

    # drift and sway
    yaw = 2.0 * DEG * smooth_noise(rng, n, fps, float(rng.uniform(2.0, 5.0)))
    pitch = 1.2 * DEG * smooth_noise(rng, n, fps, float(rng.uniform(2.0, 5.0)))
    roll = 1.0 * DEG * smooth_noise(rng, n, fps, float(rng.uniform(2.5, 5.0)))
    sway = 0.8 * DEG * smooth_noise(rng, n, fps, 0.7) * speaking
    yaw += sway

    # phrase starts: a new resting turn and tilt, eased in
    for prev, ph in zip(phones, phones[1:], strict=False):
        if prev.label == SILENCE and prev.duration >= 0.25 and ph.label != SILENCE and rng.random() < 0.7:
            start = ph.start - 0.15
            ease = np.clip((times - start) / 0.5, 0.0, 1.0)
            ease = ease * ease * (3 - 2 * ease)
            yaw += ease * float(rng.normal(0.0, 2.5)) * DEG
            roll += ease * float(rng.normal(0.0, 1.5)) * DEG

    # nods on loud vowels (stress): chin down and back, as a smooth bump
    vowels = [ph for ph in phones if ph.label in VOWELS and ph.duration > 0.04]
    if vowels:
        level = np.array([float(loudness[min(n - 1, int(ph.centre * fps))]) for ph in vowels])
        threshold = float(np.percentile(level, 70))
        nods = np.zeros(n)
        last = -1.0
        for ph, lv in zip(vowels, level, strict=True):
            if lv >= threshold and ph.start - last > 0.35 and rng.random() < 0.85:
                amp = float(rng.uniform(1.5, 3.5)) * DEG * (0.6 + 0.8 * lv)
                peak = ph.start + 0.06
                nods += amp * np.exp(-0.5 * ((times - peak) / 0.09) ** 2)
                last = ph.start
        pitch += nods * nod_gain

    out = np.stack([yaw * gain, pitch * gain + bias, roll * gain], axis=1) * expressive
    return out.astype(np.float32), expressive
