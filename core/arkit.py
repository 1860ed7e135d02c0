"""The 52 ARKit blendshape names (Apple's spelling and order) and groupings used across the project."""

from __future__ import annotations

ARKIT52: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)  # fmt: skip

INDEX: dict[str, int] = {name: i for i, name in enumerate(ARKIT52)}

# Epic's Live Link Face CSV uses PascalCase names, swaps the Left/Right order of the sideways jaw and
# mouth shapes, and appends 9 head/eye rotation columns (BlendShapeCount = 61).
_LLF_SWAPS = {"jawLeft": "jawRight", "jawRight": "jawLeft", "mouthLeft": "mouthRight", "mouthRight": "mouthLeft"}
LIVE_LINK_FACE_SHAPES: tuple[str, ...] = tuple(
    name[:1].upper() + name[1:] for name in (_LLF_SWAPS.get(n, n) for n in ARKIT52)
)
LIVE_LINK_FACE_ROTATIONS: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll",
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)  # fmt: skip

# Head rotation channels (radians) after the 52 when an animation has them: Live Link Face's names, in
# its order. + yaw turns the head to the character's left, + pitch tips the chin down (a nod), + roll
# tilts it toward the character's left shoulder (docs/animation.md).
HEAD_ROTATIONS: tuple[str, ...] = ("headYaw", "headPitch", "headRoll")
FACE_AND_HEAD: tuple[str, ...] = ARKIT52 + HEAD_ROTATIONS

# Channel groups used by synthesis and evaluation.
MOUTH = tuple(n for n in ARKIT52 if n.startswith(("mouth", "jaw", "tongue", "cheekPuff")))
BROWS = tuple(n for n in ARKIT52 if n.startswith("brow"))
EYES = tuple(n for n in ARKIT52 if n.startswith("eye"))
UPPER_FACE = BROWS + EYES + ("cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight")


assert len(ARKIT52) == 52 and len(set(ARKIT52)) == 52
assert sorted(map(str.lower, ARKIT52)) == sorted(map(str.lower, LIVE_LINK_FACE_SHAPES))
