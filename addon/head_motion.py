"""Where an Animation's head rotations (``headYaw``/``headPitch``/``headRoll``) go on a rig, and in what values.

- The built-in head turns rigidly about a *neck pivot*: an Empty at the top of its neck
  (``core.rigs.builtin_head.layout.NECK_PIVOT``) that the head mesh is parented to, made by the first bake
  with head channels. Its rotation (Euler ``YXZ``) is keyed; for a head standing upright and facing −Y the
  curves read (pitch, roll, yaw) exactly. No armature: nothing to skin, and no edit mode needed to make it.
- An ARKit-style rig turns the bone the artist names (``--head-bone``, the panel's Head Bone) in the armature
  that deforms the mesh, the character taken to face −Y in the world (Blender's Front view).
- A FLAME rig turns its neck joint (``bake.py`` adds the neck channels to the FLAME animation).

The sign convention and the rotation maths live in ``core.head_pose``; values are written by
``keyframes.write_rotation_keys``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import bpy
import numpy as np
from mathutils import Matrix, Vector

from ..core.common.errors import AviTalkError
from ..core.flame.rotations import rotation_channels
from ..core.head_pose import BLENDER_CHARACTER, head_matrices, in_frame
from ..core.rigs.builtin_head.layout import NECK_PIVOT
from . import compat
from .flame_rig import armature_of

PIVOT_PROPERTY = "avi_talking_neck_pivot"  # on the Empty the built-in head turns about
PIVOT_MODE: Final = "YXZ"  # about world Z (yaw) last: the curves read (pitch, roll, yaw) for an upright head
ROTATION_PROPERTY = {"QUATERNION": "rotation_quaternion", "AXIS_ANGLE": "rotation_axis_angle"}  # else Euler


def rotation_property(mode: str) -> str:
    """The property a ``rotation_mode`` keeps its rotation in."""
    return ROTATION_PROPERTY.get(mode, "rotation_euler")


def _rotation(matrix: Matrix) -> np.ndarray:
    """The orthonormal rotation part of a (possibly scaled) 4×4 or 3×3 matrix."""
    return np.array(matrix.to_3x3().normalized(), dtype=np.float64)


@dataclass(frozen=True)
class HeadBone:
    """A bone the head rotations key: its armature, name, rotation property and values ``[T, k]``."""

    armature: bpy.types.Object
    bone: str
    prop: str
    values: np.ndarray


def check_armature(armature: bpy.types.Object) -> None:
    """Refuse an armature whose pose cannot be keyed (linked, or in NLA tweak mode)."""
    if armature.library is not None or armature.override_library is not None:
        raise AviTalkError(f"the armature {armature.name!r} is linked from a library and cannot be keyed")
    if armature.animation_data is not None and armature.animation_data.use_tweak_mode:
        raise AviTalkError(f"the armature {armature.name!r} is in NLA tweak mode: leave it before baking")


def find_head_armature(obj: bpy.types.Object, bone: str) -> bpy.types.Object:
    """The armature holding the head bone ``bone`` for ``obj`` (the armature itself, or the one deforming the
    mesh); a one-line AviTalkError when there is none or it has no such bone."""
    armature = obj if obj.type == "ARMATURE" else armature_of(obj)
    if armature is None or armature.pose is None:
        raise AviTalkError(f"{obj.name!r} has no armature to find the head bone {bone!r} in")
    if bone not in armature.pose.bones:
        raise AviTalkError(f"the armature {armature.name!r} has no bone {bone!r} (the head bone)")
    return armature


def head_bone(armature: bpy.types.Object, bone: str, angles: np.ndarray) -> HeadBone:
    """The head rotations as values of ``bone``'s rotation mode, about its rest axes (the character facing −Y
    in the world; parent bones taken at rest)."""
    check_armature(armature)
    pose_bone = armature.pose.bones[bone]  # type: ignore[union-attr]  # find_head_armature checked the pose
    data_bone = armature.data.bones[bone]  # type: ignore[union-attr]
    rest = _rotation(armature.matrix_world @ data_bone.matrix_local)
    rotvecs = in_frame(head_matrices(angles), BLENDER_CHARACTER, rest)
    mode = pose_bone.rotation_mode
    return HeadBone(armature, bone, rotation_property(mode), rotation_channels(rotvecs, mode))


# ---- the built-in head's neck pivot -----------------------------------------------------------------------


def find_pivot(head: bpy.types.Object) -> bpy.types.Object | None:
    """The neck pivot the built-in ``head`` turns about, or None before its first head bake."""
    parent = head.parent
    return parent if parent is not None and parent.type == "EMPTY" and PIVOT_PROPERTY in parent.keys() else None


def check_pivot(head: bpy.types.Object) -> None:
    """Refuse a head (or pivot) whose rotation cannot be keyed."""
    for obj in (head, find_pivot(head)):
        if obj is None:
            continue
        if not compat.is_editable(obj):
            raise AviTalkError(f"{obj.name!r} is linked from a library: its head rotation cannot be keyed")
        if obj.animation_data is not None and obj.animation_data.use_tweak_mode:
            raise AviTalkError(f"{obj.name!r} is in NLA tweak mode: leave it before baking")


def ensure_pivot(head: bpy.types.Object) -> bpy.types.Object:
    """The built-in head's neck pivot, made (in the head's collections, under the head's parent) and the head
    parented to it when missing; the head stays where it is."""
    pivot = find_pivot(head)
    if pivot is not None:
        return pivot
    pivot = bpy.data.objects.new(f"{head.name} Neck", None)
    pivot.empty_display_type = "SPHERE"
    pivot.empty_display_size = 0.02
    pivot[PIVOT_PROPERTY] = True
    for collection in head.users_collection:
        collection.objects.link(pivot)
    # same parent and parent inverse as the head: the pivot sits at the head's neck point in that space
    pivot.parent = head.parent
    pivot.matrix_parent_inverse = head.matrix_parent_inverse.copy()
    pivot.rotation_mode = PIVOT_MODE
    location = head.matrix_basis @ Vector(NECK_PIVOT.tolist())
    pivot.location = location
    head.parent = pivot
    head.matrix_parent_inverse = Matrix.Translation(location.to_tuple()).inverted()
    return pivot


def pivot_values(head: bpy.types.Object, pivot: bpy.types.Object, angles: np.ndarray) -> np.ndarray:
    """The pivot's rotation values (its rotation mode) for (yaw, pitch, roll) rows: the head frame follows the
    head's own rest orientation (face toward its −Y, up its +Z), the pivot turns in its parent's space."""
    parent = (pivot.parent.matrix_world @ pivot.matrix_parent_inverse if pivot.parent is not None
              else Matrix.Identity(4))
    rest = _rotation(parent)
    head_rest = rest @ _rotation(head.matrix_parent_inverse @ head.matrix_basis)
    rotvecs = in_frame(head_matrices(angles), head_rest @ BLENDER_CHARACTER, rest)
    return rotation_channels(rotvecs, pivot.rotation_mode)


# ---- the panel's Head Bone ---------------------------------------------------------------------------------


def rig_armature(obj: bpy.types.Object | None) -> bpy.types.Object | None:
    """The armature whose bones the panel's Head Bone picker lists for ``obj`` (None: it has none)."""
    if obj is None:
        return None
    return obj if obj.type == "ARMATURE" else armature_of(obj)


def head_bone_of(obj: bpy.types.Object | None, settings: object) -> str | None:
    """The panel's Head Bone for a bake onto ``obj``: the name when one is set and ``obj`` has an armature (a
    name left from another rig is not applied to a head without one, where the picker is not shown)."""
    name = str(getattr(settings, "head_bone", "") or "").strip()
    return name if name and rig_armature(obj) is not None else None
