"""Phones → visemes → ARKit-52 mouth poses, with coarticulation parameters per viseme.

Fifteen visemes in the usual lip-sync grouping (as in Oculus/Meta's set). Each has a target pose
(ARKit channel weights at full articulation) and two dominance strengths: how hard it holds the lips
and how hard it holds the jaw against its neighbours (Cohen–Massaro coarticulation). Bilabials win
the lips; alveolars and velars barely care about the lips (so "two" is rounded from the t on), etc.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..phonemes import SILENCE


@dataclass(frozen=True)
class Viseme:
    name: str
    pose: dict[str, float]
    lips: float  # dominance over lip channels
    jaw: float  # dominance over jaw/tongue channels
    spread: float  # falloff scale in seconds beyond the phone's core


def _sym(**shape: float) -> dict[str, float]:
    """Expand ``mouthSmile=0.2`` to both sides; names ending Left/Right or unpaired stay as given."""
    pose: dict[str, float] = {}
    paired = ("mouthSmile", "mouthStretch", "mouthLowerDown", "mouthUpperUp", "mouthPress", "mouthDimple",
              "mouthFrown", "cheekSquint", "noseSneer")
    for name, value in shape.items():
        if name in paired:
            pose[name + "Left"] = value
            pose[name + "Right"] = value
        else:
            pose[name] = value
    return pose


VISEMES: dict[str, Viseme] = {
    v.name: v
    for v in (
        Viseme("sil", {}, lips=0.6, jaw=0.6, spread=0.05),
        Viseme("PP", _sym(jawOpen=0.06, mouthClose=0.06, mouthPress=0.35), lips=8.0, jaw=1.2, spread=0.035),
        Viseme("FF", _sym(jawOpen=0.08, mouthRollLower=0.55, mouthUpperUp=0.15, mouthClose=0.02), 4.0, 1.0, 0.04),
        Viseme("TH", _sym(jawOpen=0.14, tongueOut=0.35, mouthLowerDown=0.1), 1.2, 1.5, 0.04),
        Viseme("DD", _sym(jawOpen=0.16, mouthStretch=0.12, mouthLowerDown=0.08), 0.5, 1.0, 0.045),
        Viseme("kk", _sym(jawOpen=0.2, mouthStretch=0.1), 0.35, 0.8, 0.05),
        Viseme("CH", _sym(jawOpen=0.16, mouthFunnel=0.45, mouthPucker=0.2, mouthUpperUp=0.12), 2.5, 1.0, 0.045),
        Viseme("SS", _sym(jawOpen=0.06, mouthStretch=0.25, mouthLowerDown=0.12, mouthUpperUp=0.08), 1.5, 1.6, 0.04),
        Viseme("nn", _sym(jawOpen=0.14, mouthStretch=0.08), 0.4, 0.9, 0.045),
        Viseme("RR", _sym(jawOpen=0.14, mouthPucker=0.35, mouthFunnel=0.25), 1.8, 0.8, 0.05),
        Viseme("aa", _sym(jawOpen=0.62, mouthLowerDown=0.2, mouthUpperUp=0.05), 1.0, 1.4, 0.06),
        Viseme("E", _sym(jawOpen=0.36, mouthStretch=0.3, mouthSmile=0.1, mouthLowerDown=0.15), 1.0, 1.2, 0.06),
        Viseme("ih", _sym(jawOpen=0.22, mouthStretch=0.35, mouthSmile=0.2, mouthLowerDown=0.1), 1.0, 1.0, 0.06),
        Viseme("oh", _sym(jawOpen=0.45, mouthFunnel=0.5, mouthPucker=0.2, mouthLowerDown=0.1), 1.5, 1.2, 0.06),
        Viseme("ou", _sym(jawOpen=0.14, mouthPucker=0.7, mouthFunnel=0.35), 2.0, 0.9, 0.06),
    )
}

PHONE_TO_VISEME: dict[str, str] = {
    SILENCE: "sil",
    "P": "PP", "B": "PP", "M": "PP",
    "F": "FF", "V": "FF",
    "TH": "TH", "DH": "TH",
    "T": "DD", "D": "DD", "L": "DD",
    "K": "kk", "G": "kk", "NG": "kk", "HH": "kk",
    "CH": "CH", "JH": "CH", "SH": "CH", "ZH": "CH",
    "S": "SS", "Z": "SS",
    "N": "nn", "Y": "ih",
    "R": "RR", "ER": "RR",
    "AA": "aa", "AH": "aa", "AY": "aa", "AW": "aa",
    "AE": "E", "EH": "E", "EY": "E",
    "IH": "ih", "IY": "ih",
    "AO": "oh", "OW": "oh", "OY": "oh",
    "UH": "ou", "UW": "ou", "W": "ou",
}  # fmt: skip

# HH has no mouth shape of its own: it takes its neighbours' with almost no dominance.
WEAK_PHONES = {"HH": 0.1}

# Channels the lip dominance governs; everything else in a pose follows the jaw dominance.
JAW_CHANNELS = frozenset({"jawOpen", "tongueOut", "jawForward"})
# Channels that part the lips (zeroed while a bilabial seals them).
LIP_OPENERS = (
    "mouthFunnel", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "mouthRollLower", "tongueOut",
)  # fmt: skip


def viseme_for(phone: str) -> Viseme:
    return VISEMES[PHONE_TO_VISEME.get(phone, "sil")]
