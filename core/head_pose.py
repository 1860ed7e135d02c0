"""Head rotations (``headYaw``, ``headPitch``, ``headRoll``; radians) as rotations a rig can be keyed with.

The channels are angles about the head's own axes — the *head frame*, which is FLAME's: X toward the
character's left, Y up, Z out of the face. + yaw turns the face toward the character's left (about +Y),
+ pitch tips the chin down (about +X), + roll tilts the head toward the character's left shoulder (about
−Z, since +Z would tip it toward the right). They combine as ``R = Ry(yaw) · Rx(pitch) · Rz(−roll)``: roll
first, then pitch, then yaw, all about the rest head's axes (Blender's Euler order ``ZXY`` in that frame).

A target (a bone, a pivot object) gets the same rotation in its own rest frame: with ``character`` the head
frame's axes in world space (columns) and ``rest`` the target's rest axes in world space,
``R_target = restᵀ · character · R · characterᵀ · rest`` (:func:`in_frame`). No bpy here.
"""

from __future__ import annotations

import numpy as np

from .animation import Animation
from .arkit import HEAD_ROTATIONS
from .flame.model import FLAME_TO_BLENDER
from .flame.rotations import euler_to_matrix, matrix_to_axis_angle

# The head frame's axes in Blender's world for a character that faces −Y (Blender's Front view sees its
# face) with +Z up: left = +X, up = +Z, out of the face = −Y. The same matrix turns FLAME into Blender.
BLENDER_CHARACTER = FLAME_TO_BLENDER


def head_angles(anim: Animation) -> np.ndarray | None:
    """``[T, 3]`` (yaw, pitch, roll) in radians, or None when the Animation lacks any of the three channels."""
    if not all(name in anim.channels for name in HEAD_ROTATIONS):
        return None
    return np.stack([anim.channel(name) for name in HEAD_ROTATIONS], axis=1).astype(np.float64)


def head_matrices(angles: np.ndarray) -> np.ndarray:
    """Rotation matrices ``[T, 3, 3]`` in the head frame from (yaw, pitch, roll) rows."""
    a = np.asarray(angles, dtype=np.float64).reshape(-1, 3)
    # Blender's Euler ZXY (Z first, then X, then Y) is Ry·Rx·Rz; per axis (x, y, z) = (pitch, yaw, −roll)
    return euler_to_matrix(np.stack([a[:, 1], a[:, 0], -a[:, 2]], axis=1), "ZXY")


def head_rotvecs(angles: np.ndarray) -> np.ndarray:
    """Rotation vectors ``[T, 3]`` in the head frame (FLAME's neck pose) from (yaw, pitch, roll) rows."""
    return matrix_to_axis_angle(head_matrices(angles))


def in_frame(matrices: np.ndarray, character: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Head-frame rotations ``[T, 3, 3]`` as rotation vectors ``[T, 3]`` in a target's rest frame.

    ``character``: the head frame's axes in world space (3×3, columns); ``rest``: the target's rest axes in
    world space (3×3, columns; orthonormal — pass the rotation part of its world matrix)."""
    c = np.asarray(character, dtype=np.float64)
    b = np.asarray(rest, dtype=np.float64)
    to_target = b.T @ c
    local = to_target @ np.asarray(matrices, dtype=np.float64) @ to_target.T
    return matrix_to_axis_angle(local)
