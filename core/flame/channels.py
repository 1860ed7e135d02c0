"""Channel names of ``flame``-space Animations (DESIGN.md): ``exp_000`` … ``exp_NNN`` expression
coefficients, then ``jaw_rx jaw_ry jaw_rz`` (axis-angle, radians), optionally ``neck_*`` and the eyes'
``eye_l_*`` / ``eye_r_*``, all in FLAME's joint frames."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..animation import Animation
from ..common.errors import FormatError
from .loading import JOINT_NAMES

SPACE = "flame"
# FLAME joint → its three Animation channels (the root has none: the object transform moves the head)
JOINT_CHANNELS: dict[str, tuple[str, str, str]] = {
    "neck": ("neck_rx", "neck_ry", "neck_rz"),
    "jaw": ("jaw_rx", "jaw_ry", "jaw_rz"),
    "left_eye": ("eye_l_rx", "eye_l_ry", "eye_l_rz"),
    "right_eye": ("eye_r_rx", "eye_r_ry", "eye_r_rz"),
}
_EXP = re.compile(r"exp_(\d{3,})$")


def exp_name(i: int) -> str:
    return f"exp_{i:03d}"


def expression_index(channel: str) -> int | None:
    m = _EXP.match(channel)
    return int(m.group(1)) if m else None


def flame_channels(n_expression: int, joints: Sequence[str] = ("jaw",)) -> tuple[str, ...]:
    return (*(exp_name(i) for i in range(n_expression)), *(c for j in joints for c in JOINT_CHANNELS[j]))


def make_animation(fps: float, expression: np.ndarray, rotations: Mapping[str, np.ndarray],
                   meta: dict[str, Any] | None = None) -> Animation:
    """A flame-space Animation from expression ``[T, N]`` and per-joint rotation vectors ``[T, 3]``."""
    exp = np.asarray(expression, dtype=np.float32)
    if exp.ndim != 2:
        raise FormatError(f"expression coefficients have shape {exp.shape}, expected [frames, N]")
    joints = [j for j in JOINT_CHANNELS if j in rotations]
    parts = [exp]
    for joint in joints:
        rot = np.asarray(rotations[joint], dtype=np.float32)
        if rot.shape != (exp.shape[0], 3):
            raise FormatError(f"{joint} rotations have shape {rot.shape}, expected [{exp.shape[0]}, 3]")
        parts.append(rot)
    values = np.concatenate(parts, axis=1)
    return Animation(fps, flame_channels(exp.shape[1], joints), values, SPACE, dict(meta or {}))


def expression_of(anim: Animation, n_expression: int | None = None) -> np.ndarray:
    """Expression coefficients ``[T, N]`` (float64); channels the Animation lacks are zero."""
    found = {i: c for c, i in ((c, expression_index(c)) for c in anim.channels) if i is not None}
    n = n_expression if n_expression is not None else (max(found) + 1 if found else 0)
    out = np.zeros((anim.n_frames, n), dtype=np.float64)
    for i, column in ((i, anim.channels.index(c)) for i, c in found.items() if i < n):
        out[:, i] = anim.values[:, column]
    return out


def pose_of(anim: Animation) -> np.ndarray:
    """Rotation vectors ``[T, 5, 3]`` for FLAME's joints (root first); missing joints are zero."""
    pose = np.zeros((anim.n_frames, len(JOINT_NAMES), 3), dtype=np.float64)
    for joint, names in JOINT_CHANNELS.items():
        if all(n in anim.channels for n in names):
            pose[:, JOINT_NAMES.index(joint)] = np.stack([anim.channel(n) for n in names], axis=1)
    return pose


def joints_in(anim: Animation) -> tuple[str, ...]:
    """The FLAME joints whose three rotation channels the Animation has."""
    return tuple(j for j, names in JOINT_CHANNELS.items() if all(n in anim.channels for n in names))
