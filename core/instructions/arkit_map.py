"""Action units → ARKit-52 channels: the one table the corpus targets, synthesis and evaluation share.

``AU_TO_ARKIT[au][channel]`` is the channel value an AU at full intensity (1) adds. The mapping
follows the usual FACS reading of Apple's blendshapes (e.g. browDown = AU4, mouthSmile = AU12,
mouthPress = AU24, mouthRoll ≈ lip suck/tightening, eyeWide = AU5, eyeSquint = AU7, cheekSquint =
AU6). AU45 (blink) is special: in the targets it scales the blink *rate* (``blink_rate``) instead of
holding the lids shut; its table row is what a blink looks like, used to read a blink back. One-sided
forms (AU2L ... AU45R, see ``schema.SIDED_BASES``) keep their base AU's channels of that side; AU45L/R
(one eye closed, a wink) do hold the lid as a pose.
"""

from __future__ import annotations

import numpy as np

from ..arkit import ARKIT52, INDEX
from .schema import SIDED_BASES


def _both(stem: str, value: float) -> dict[str, float]:
    return {f"{stem}Left": value, f"{stem}Right": value}


AU_TO_ARKIT: dict[str, dict[str, float]] = {
    "AU1": {"browInnerUp": 1.0},  # inner brow raiser
    "AU2": _both("browOuterUp", 1.0),  # outer brow raiser
    "AU4": _both("browDown", 1.0),  # brow lowerer
    "AU5": _both("eyeWide", 1.0),  # upper lid raiser
    "AU6": {**_both("cheekSquint", 1.0), **_both("eyeSquint", 0.3)},  # cheek raiser (narrows the eye a bit)
    "AU7": _both("eyeSquint", 1.0),  # lid tightener
    "AU9": {**_both("noseSneer", 1.0), **_both("mouthUpperUp", 0.2)},  # nose wrinkler (lifts the lip a little)
    "AU10": _both("mouthUpperUp", 0.8),  # upper lip raiser
    "AU12": _both("mouthSmile", 1.0),  # lip corner puller
    "AU14": _both("mouthDimple", 1.0),  # dimpler
    "AU15": _both("mouthFrown", 1.0),  # lip corner depressor
    "AU17": {"mouthShrugLower": 1.0, "mouthShrugUpper": 0.3},  # chin raiser (pushes the lower lip up)
    "AU20": _both("mouthStretch", 1.0),  # lip stretcher
    "AU23": {**_both("mouthPress", 0.4), "mouthRollLower": 0.3, "mouthRollUpper": 0.3},  # lip tightener
    "AU24": _both("mouthPress", 1.0),  # lip pressor
    "AU25": {**_both("mouthLowerDown", 0.5), **_both("mouthUpperUp", 0.2)},  # lips part
    "AU26": {"jawOpen": 0.45},  # jaw drop (full jawOpen would be a yawn)
    "AU45": _both("eyeBlink", 1.0),  # blink
}


def _one_side(row: dict[str, float], side: str) -> dict[str, float]:
    """The channels of one side of a two-sided AU row (``side`` 'L' or 'R': the character's side)."""
    suffix = "Left" if side == "L" else "Right"
    return {name: value for name, value in row.items() if name.endswith(suffix)}


# one-sided forms (AU12L: left lip corner only, AU45L: left eye closed, a held wink, ...)
AU_TO_ARKIT.update({f"{base}{side}": _one_side(AU_TO_ARKIT[base], side) for base in SIDED_BASES for side in "LR"})

# AUs that part the lips: they yield to a bilabial seal (see core/corpus/targets.py)
LIP_PARTING_AUS = frozenset({"AU10", "AU25", "AU26"})
STATIC_AUS = tuple(a for a in AU_TO_ARKIT if a != "AU45")  # AUs that hold a pose (not the blink; a wink does)


def au_matrix(names: tuple[str, ...] | None = None) -> np.ndarray:
    """[len(names), 52] rows of AU_TO_ARKIT (all AUs in table order when ``names`` is None)."""
    names = names if names is not None else tuple(AU_TO_ARKIT)
    out = np.zeros((len(names), len(ARKIT52)), np.float64)
    for row, name in enumerate(names):
        for channel, value in AU_TO_ARKIT[name].items():
            out[row, INDEX[channel]] = value
    return out


def expression_vector(aus: dict[str, float]) -> np.ndarray:
    """[52] channel offsets of the static AUs (no blink) at their intensities."""
    vec = np.zeros(len(ARKIT52), np.float64)
    for name, value in aus.items():
        if name == "AU45":
            continue
        for channel, weight in AU_TO_ARKIT[name].items():
            vec[INDEX[channel]] += weight * value
    return vec


def au_readout(values: np.ndarray, name: str) -> np.ndarray:
    """Per frame, how much of AU ``name`` the ARKit values [T, 52] show: the projection onto the AU's
    table row, so a pure AU at intensity a reads back as a (more when other AUs share channels)."""
    row = au_matrix((name,))[0]
    return np.asarray(values, np.float64) @ row / float(row @ row)


def blink_rate(aus: dict[str, float]) -> float:
    """Blink-rate multiplier: 1 without AU45, up to 3× at AU45 = 1."""
    return 1.0 + 2.0 * float(aus.get("AU45", 0.0))
