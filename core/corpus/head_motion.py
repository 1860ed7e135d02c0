"""Head-rotation targets for a corpus clip (``headYaw``, ``headPitch``, ``headRoll``, radians): the part of head
motion the audio decides, so stage 2 can learn it.

- nods: every accent (a pitch accent or a loud syllable, ``accents.find_accents`` on the clean speech) dips the
  chin by an amount that grows with the accent's strength and lets it come back (pitch +, ~0.3 s);
- the instruction sets the manner: angry nods hard, sad hangs low and moves little, surprised lifts the
  chin, happy moves more; a per-clip expressiveness draws calm and lively speakers.

The rest of head motion is not in these targets: slow drift, sway and the new resting turn after a pause
have no cue in the audio (their direction is anyone's guess), so a regression would learn their average,
zero. They are drawn per take from the seed at inference instead (``stage2.motion.add_head_drift``), as
blinks are. Nods are deterministic in the accents: a nod that came with some accents and not others by
chance (as an earlier version drew them) is learned as no nod at all.

Sign convention (the Animation contract, docs/animation.md): headYaw + turns the head to the
character's left, headPitch + tips the chin down (a nod), headRoll + tilts toward the character's left
shoulder; 0 is the rest pose facing the camera.
"""

from __future__ import annotations

import numpy as np

from ..instructions import Instruction
from .accents import Accent

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


NOD_DEG = 3.2  # chin-down degrees of a nod on a full-strength accent (before manner and expressiveness)
NOD_SIGMA_S = 0.1  # nod width (about 0.24 s at half height)
NOD_GAP_S = 0.3  # accents closer than this share one nod (the stronger one)


def nod_curve(accents: list[Accent], times: np.ndarray) -> np.ndarray:
    """[T] radians, chin down: one smooth bump per accent, its height from the accent's strength."""
    picked: list[tuple[float, float]] = []
    for a in sorted(accents, key=lambda a: a.time):
        strength = min(max(a.pitch, 0.8 * a.loud), 1.0)
        if picked and a.time - picked[-1][0] < NOD_GAP_S:
            if strength > picked[-1][1]:
                picked[-1] = (a.time, strength)
            continue
        picked.append((a.time, strength))
    curve = np.zeros(len(times))
    for centre, strength in picked:
        lo, hi = np.searchsorted(times, [centre - 4 * NOD_SIGMA_S, centre + 4 * NOD_SIGMA_S])
        curve[lo:hi] += NOD_DEG * DEG * strength * np.exp(-0.5 * ((times[lo:hi] - centre) / NOD_SIGMA_S) ** 2)
    return curve


def head_motion(accents: list[Accent], times: np.ndarray, weights: np.ndarray, instructions: list[Instruction],
                rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """[T, 3] radians (yaw, pitch, roll) and the clip's drawn expressiveness. ``weights`` [S, T] are the
    segments' cross-fade weights."""
    expressive = float(np.clip(rng.lognormal(0.0, 0.35), 0.5, 1.8))
    gain, nod_gain, bias = _manner(instructions, weights)
    pitch = nod_curve(accents, times) * nod_gain * gain * expressive + bias
    zeros = np.zeros(len(times))
    return np.stack([zeros, pitch, zeros], axis=1).astype(np.float32), expressive
