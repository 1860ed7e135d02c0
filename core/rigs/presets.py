"""Shape-key naming conventions of common face rigs, as data: for each ARKit channel, the keys it drives.

A preset entry is ``channel → ((key name, weight), ...)``: one channel may drive several keys (ICT-FaceKit
splits ``browInnerUp`` into ``browInnerUp_L`` and ``browInnerUp_R``) and several channels may drive one key
with weights (Character Creator 3's ``Mouth_Widen_Sides`` is half of each ``mouthStretch``). The names were
written here from each tool's published lists; none of their files is part of this project.

- ``arkit``: Apple's 52 names. Faceit's ARKit set and VRoid/VRM "perfect sync" use the same names (VRM
  clips often in PascalCase, which the matcher accepts), so ``faceit`` and ``vrm`` are aliases of it.
- ``ict-facekit``: USC ICT's FaceKit (MIT): 53 expressions, ARKit-like with ``_L``/``_R`` sides, the inner brow
  raise and cheek puff split per side, no tongue.
- ``cc4``: Character Creator 4 (and CC3+ "Extended") native names: ``Brow_Raise_Inner_L``, ``Eye_L_Look_L``,
  four-quadrant funnel and pucker, ``Tongue_Out``.
- ``cc3``: Character Creator 3's standard (pre-Extended) expression names: about two thirds of ARKit has a
  counterpart (no eye-look, press, shrug or tongue keys).
- ``apple-numbered``: ARKit names numbered in Apple's order, ``A01_Brow_Inner_Up`` … ``A52_Tongue_Out``
  (Character Creator's ARKit profile and many avatar tools).

Rigify has no face shape keys of its own (its face is bones), so it has no preset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..arkit import ARKIT52

Table = Mapping[str, tuple[tuple[str, float], ...]]


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    table: Table

    def key_names(self) -> tuple[str, ...]:
        """Every key name the preset uses, in table order without repeats."""
        return tuple(dict.fromkeys(key for entries in self.table.values() for key, _ in entries))


def _table(pairs: Mapping[str, str | tuple[str, ...] | tuple[tuple[str, float], ...]]) -> Table:
    """``{channel: "Key"}``, ``{channel: ("KeyL", "KeyR")}`` (weight 1 each) or explicit ``((key, w), ...)``."""
    out: dict[str, tuple[tuple[str, float], ...]] = {}
    for channel, keys in pairs.items():
        assert channel in ARKIT52, channel
        if isinstance(keys, str):
            out[channel] = ((keys, 1.0),)
        else:
            out[channel] = tuple((k, 1.0) if isinstance(k, str) else (k[0], float(k[1])) for k in keys)
    return out


def _sided(channel: str) -> str:
    """``eyeBlinkLeft`` → ``eyeBlink_L`` (ICT-FaceKit's spelling)."""
    for side, suffix in (("Left", "_L"), ("Right", "_R")):
        if channel.endswith(side):
            return channel[: -len(side)] + suffix
    return channel


ARKIT = Preset("arkit", "ARKit names (also Faceit, VRoid/VRM perfect sync)", _table({c: c for c in ARKIT52}))

ICT_FACEKIT_KEYS: tuple[str, ...] = (
    "browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R",
    "cheekPuff_L", "cheekPuff_R", "cheekSquint_L", "cheekSquint_R",
    "eyeBlink_L", "eyeBlink_R", "eyeLookDown_L", "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R",
    "eyeLookOut_L", "eyeLookOut_R", "eyeLookUp_L", "eyeLookUp_R", "eyeSquint_L", "eyeSquint_R",
    "eyeWide_L", "eyeWide_R",
    "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimple_L", "mouthDimple_R", "mouthFrown_L", "mouthFrown_R", "mouthFunnel", "mouthLeft",
    "mouthLowerDown_L", "mouthLowerDown_R", "mouthPress_L", "mouthPress_R", "mouthPucker", "mouthRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmile_L", "mouthSmile_R",
    "mouthStretch_L", "mouthStretch_R", "mouthUpperUp_L", "mouthUpperUp_R", "noseSneer_L", "noseSneer_R",
)  # fmt: skip
_ICT_SPLIT = {"browInnerUp": ("browInnerUp_L", "browInnerUp_R"), "cheekPuff": ("cheekPuff_L", "cheekPuff_R")}


def _ict_keys(channel: str) -> str | tuple[str, ...] | None:
    """ICT's name(s) for a channel: split, sided (``eyeBlink_L``), or ARKit's own (``jawLeft``, ``mouthLeft``)."""
    if channel in _ICT_SPLIT:
        return _ICT_SPLIT[channel]
    for name in (_sided(channel), channel):
        if name in ICT_FACEKIT_KEYS:
            return name
    return None  # tongueOut: ICT has no tongue


ICT_FACEKIT = Preset("ict-facekit", "ICT-FaceKit", _table({
    c: keys for c in ARKIT52 if (keys := _ict_keys(c)) is not None}))

CC4 = Preset("cc4", "Character Creator 4 / CC3+ Extended", _table({
    "browDownLeft": "Brow_Drop_L", "browDownRight": "Brow_Drop_R",
    "browInnerUp": ("Brow_Raise_Inner_L", "Brow_Raise_Inner_R"),
    "browOuterUpLeft": "Brow_Raise_Outer_L", "browOuterUpRight": "Brow_Raise_Outer_R",
    "cheekPuff": ("Cheek_Puff_L", "Cheek_Puff_R"),
    "cheekSquintLeft": "Cheek_Raise_L", "cheekSquintRight": "Cheek_Raise_R",
    "eyeBlinkLeft": "Eye_Blink_L", "eyeBlinkRight": "Eye_Blink_R",
    "eyeSquintLeft": "Eye_Squint_L", "eyeSquintRight": "Eye_Squint_R",
    "eyeWideLeft": "Eye_Wide_L", "eyeWideRight": "Eye_Wide_R",
    "eyeLookUpLeft": "Eye_L_Look_Up", "eyeLookUpRight": "Eye_R_Look_Up",
    "eyeLookDownLeft": "Eye_L_Look_Down", "eyeLookDownRight": "Eye_R_Look_Down",
    # "in" is toward the nose: the left eye looks to the character's right
    "eyeLookInLeft": "Eye_L_Look_R", "eyeLookInRight": "Eye_R_Look_L",
    "eyeLookOutLeft": "Eye_L_Look_L", "eyeLookOutRight": "Eye_R_Look_R",
    "noseSneerLeft": "Nose_Sneer_L", "noseSneerRight": "Nose_Sneer_R",
    "jawOpen": "Jaw_Open", "jawForward": "Jaw_Forward", "jawLeft": "Jaw_L", "jawRight": "Jaw_R",
    "mouthClose": "Mouth_Close",
    "mouthFunnel": ("Mouth_Funnel_Up_L", "Mouth_Funnel_Up_R", "Mouth_Funnel_Down_L", "Mouth_Funnel_Down_R"),
    "mouthPucker": ("Mouth_Pucker_Up_L", "Mouth_Pucker_Up_R", "Mouth_Pucker_Down_L", "Mouth_Pucker_Down_R"),
    "mouthLeft": "Mouth_L", "mouthRight": "Mouth_R",
    "mouthSmileLeft": "Mouth_Smile_L", "mouthSmileRight": "Mouth_Smile_R",
    "mouthFrownLeft": "Mouth_Frown_L", "mouthFrownRight": "Mouth_Frown_R",
    "mouthDimpleLeft": "Mouth_Dimple_L", "mouthDimpleRight": "Mouth_Dimple_R",
    "mouthStretchLeft": "Mouth_Stretch_L", "mouthStretchRight": "Mouth_Stretch_R",
    "mouthRollLower": ("Mouth_Roll_In_Lower_L", "Mouth_Roll_In_Lower_R"),
    "mouthRollUpper": ("Mouth_Roll_In_Upper_L", "Mouth_Roll_In_Upper_R"),
    "mouthShrugLower": "Mouth_Shrug_Lower", "mouthShrugUpper": "Mouth_Shrug_Upper",
    "mouthPressLeft": "Mouth_Press_L", "mouthPressRight": "Mouth_Press_R",
    "mouthLowerDownLeft": "Mouth_Down_Lower_L", "mouthLowerDownRight": "Mouth_Down_Lower_R",
    "mouthUpperUpLeft": "Mouth_Up_Upper_L", "mouthUpperUpRight": "Mouth_Up_Upper_R",
    "tongueOut": "Tongue_Out",
}))

CC3 = Preset("cc3", "Character Creator 3 (standard expressions)", _table({
    "browDownLeft": "Brow_Drop_Left", "browDownRight": "Brow_Drop_Right",
    "browInnerUp": ("Brow_Raise_Inner_Left", "Brow_Raise_Inner_Right"),
    "browOuterUpLeft": "Brow_Raise_Outer_Left", "browOuterUpRight": "Brow_Raise_Outer_Right",
    "eyeBlinkLeft": "Eye_Blink_L", "eyeBlinkRight": "Eye_Blink_R",
    "eyeSquintLeft": "Eye_Squint_L", "eyeSquintRight": "Eye_Squint_R",
    "eyeWideLeft": "Eye_Wide_L", "eyeWideRight": "Eye_Wide_R",
    "cheekSquintLeft": "Cheek_Raise_L", "cheekSquintRight": "Cheek_Raise_R",
    "cheekPuff": ("Cheek_Blow_L", "Cheek_Blow_R"),
    "noseSneerLeft": "Nose_Flank_Raise_L", "noseSneerRight": "Nose_Flank_Raise_R",
    "jawOpen": "Mouth_Open",
    "mouthSmileLeft": "Mouth_Smile_L", "mouthSmileRight": "Mouth_Smile_R",
    "mouthFrownLeft": "Mouth_Frown_L", "mouthFrownRight": "Mouth_Frown_R",
    "mouthDimpleLeft": "Mouth_Dimple_L", "mouthDimpleRight": "Mouth_Dimple_R",
    "mouthLeft": "Mouth_L", "mouthRight": "Mouth_R",
    "mouthPucker": "Mouth_Pucker", "mouthFunnel": "Mouth_Pucker_Open",
    "mouthRollUpper": "Mouth_Top_Lip_Under", "mouthRollLower": "Mouth_Bottom_Lip_Under",
    "mouthUpperUpLeft": "Mouth_Snarl_Upper_L", "mouthUpperUpRight": "Mouth_Snarl_Upper_R",
    "mouthLowerDownLeft": "Mouth_Snarl_Lower_L", "mouthLowerDownRight": "Mouth_Snarl_Lower_R",
    # one key for both corners: each side's stretch drives half of it
    "mouthStretchLeft": (("Mouth_Widen_Sides", 0.5),), "mouthStretchRight": (("Mouth_Widen_Sides", 0.5),),
}))

APPLE_ORDER: tuple[str, ...] = (
    "browInnerUp", "browDownLeft", "browDownRight", "browOuterUpLeft", "browOuterUpRight",
    "eyeLookUpLeft", "eyeLookUpRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookOutLeft", "eyeLookInLeft",
    "eyeLookInRight", "eyeLookOutRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
    "noseSneerRight", "jawOpen", "jawForward", "jawLeft", "jawRight", "mouthFunnel", "mouthPucker", "mouthLeft",
    "mouthRight", "mouthRollUpper", "mouthRollLower", "mouthShrugUpper", "mouthShrugLower", "mouthClose",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft",
    "mouthDimpleRight", "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthStretchLeft", "mouthStretchRight", "tongueOut",
)  # fmt: skip


def _apple_name(number: int, channel: str) -> str:
    """``(1, "browInnerUp")`` → ``A01_Brow_Inner_Up``."""
    words: list[str] = []
    for ch in channel:
        if ch.isupper() or not words:
            words.append(ch.upper())
        else:
            words[-1] += ch
    return f"A{number:02d}_" + "_".join(words)


APPLE_NUMBERED = Preset("apple-numbered", "ARKit numbered A01_ … A52_",
                        _table({c: _apple_name(i, c) for i, c in enumerate(APPLE_ORDER, 1)}))

PRESETS: tuple[Preset, ...] = (ARKIT, ICT_FACEKIT, CC4, CC3, APPLE_NUMBERED)
ALIASES: dict[str, str] = {"faceit": "arkit", "vrm": "arkit", "vrm-perfect-sync": "arkit", "vroid": "arkit"}
BY_NAME: dict[str, Preset] = {p.name: p for p in PRESETS}

assert sorted(APPLE_ORDER) == sorted(ARKIT52)
assert set(ICT_FACEKIT.key_names()) == set(ICT_FACEKIT_KEYS)


def preset_named(name: str) -> Preset | None:
    """The preset called ``name`` (or one of its aliases), None when there is none."""
    return BY_NAME.get(ALIASES.get(name, name))
