"""FLAME heads in Blender: build one from the user's model file, and recognise FLAME rigs — ours and the
one the MPI FLAME add-on makes — so that ``bake.py`` can key them.

Our rig (one object pair, like the MPI add-on's):

- an armature with bones ``root``, ``neck``, ``jaw``, ``left_eye``, ``right_eye`` at the model's joints
  (parented as in ``kintree_table``); each bone points along +Z with no roll, so its local axes are FLAME's
  axes and a pose rotation is exactly FLAME's axis-angle joint rotation;
- a mesh (FLAME's template turned Z-up: (x, y, z) → (x, -z, y)) parented to it, with one vertex group per
  bone holding the model's skinning weights and an Armature modifier (linear blend skinning, FLAME's);
- shape keys ``exp_000`` … (the expression basis; slider range ±10) and ``pose_<joint>_<row><col>`` pose
  correctives, each driven by its bone's rotation: the entry of ``R − I`` written as a simple expression of
  the bone's quaternion, which Blender evaluates natively (no Python, so it works with auto-run off) and
  which follows any pose — keyed, hand-made or from the NLA.

The MPI add-on's rig (``FLAME-generic`` under an armature): shape keys ``Shape1…300``, ``Exp1…100`` and
``Pose1…18`` (the entries of ``R − I`` for the neck, then the jaw, which its own operator sets), bones
``neck``, ``jaw``, ``left_eye``, ``right_eye`` whose local axis-angle it treats as FLAME's pose. We bake it
as it is: its Pose keys get keyed from the animation's rotations, since nothing drives them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

import bpy
import numpy as np
from mathutils import Vector

from ..core.common.errors import AviTalkError
from ..core.flame.channels import JOINT_CHANNELS
from ..core.flame.landmarks import load_embedding
from ..core.flame.loading import JOINT_NAMES, FlameModel, load_flame
from ..core.flame.model import flame_to_blender
from ..core.flame.retarget import ArkitToFlame, arkit_to_flame
from . import compat

FLAME_PROPERTY = "avi_talking_flame"  # on our mesh: {"model": name, "sha256": ..., "n_expression": N}
MODEL_PATH_PROPERTY = "avi_talking_flame_model"
LANDMARKS_PATH_PROPERTY = "avi_talking_flame_landmarks"
SLIDER_LIMIT = 10.0  # Blender's widest shape-key slider range
MODIFIER_NAME = "FLAME Skin"

_EXP_OURS = re.compile(r"exp_(\d+)$")
_EXP_OTHER = re.compile(r"exp(?:ression)?[ _.]?(\d+)$", re.IGNORECASE)
_POSE_MPI = re.compile(r"pose[ _.]?(\d+)$", re.IGNORECASE)
_BONE_ALIASES: dict[str, tuple[str, ...]] = {
    "root": ("root",),
    "neck": ("neck",),
    "jaw": ("jaw",),
    "left_eye": ("left_eye", "eye_l", "eye.l", "lefteye", "eye_left"),
    "right_eye": ("right_eye", "eye_r", "eye.r", "righteye", "eye_right"),
}
# R - I entries as functions of the bone's unit quaternion (w, x, y, z), row-major
_MATRIX_ENTRIES = (
    "-2*(y*y+z*z)", "2*(x*y-w*z)", "2*(x*z+w*y)",
    "2*(x*y+w*z)", "-2*(x*x+z*z)", "2*(y*z-w*x)",
    "2*(x*z-w*y)", "2*(y*z+w*x)", "-2*(x*x+y*y)",
)  # fmt: skip


@dataclass(frozen=True)
class FlameRig:
    """What ``bake.py`` needs to know about a FLAME rig."""

    mesh: bpy.types.Object
    armature: bpy.types.Object | None
    kind: str  # "avi" (made here), "mpi" (the MPI FLAME add-on) or "shape-keys" (expression keys only)
    expression_blocks: dict[int, str]  # FLAME expression index → key block
    bones: dict[str, str]  # FLAME joint → bone
    keyed_correctives: dict[int, str] = field(default_factory=dict)  # pose-feature index → block keyed at bake
    model_path: str | None = None
    landmarks_path: str | None = None

    @property
    def n_expression(self) -> int:
        return max(self.expression_blocks, default=-1) + 1


# ---- recognising rigs ------------------------------------------------------------------------------------


def _mesh_of(obj: bpy.types.Object) -> bpy.types.Object | None:
    if obj.type == "MESH":
        return obj
    if obj.type == "ARMATURE":
        for child in obj.children:
            if child.type == "MESH" and getattr(child.data, "shape_keys", None) is not None:
                return child
    return None


def armature_of(mesh: bpy.types.Object) -> bpy.types.Object | None:
    """The armature that deforms ``mesh``: its parent, else an Armature modifier's target (None: neither)."""
    if mesh.parent is not None and mesh.parent.type == "ARMATURE":
        return mesh.parent
    for mod in mesh.modifiers:
        target = getattr(mod, "object", None)
        if mod.type == "ARMATURE" and target is not None and target.type == "ARMATURE":
            return target
    return None


def _expression_blocks(names: list[str], ours: bool) -> dict[int, str]:
    pattern = _EXP_OURS if ours else _EXP_OTHER
    found = {int(m.group(1)): n for n, m in ((n, pattern.match(n)) for n in names) if m}
    if not found or ours or 0 in found:
        return found
    return {i - 1: n for i, n in found.items()}  # the MPI add-on counts from 1 (Exp1 is coefficient 0)


def _bones(armature: bpy.types.Object | None) -> dict[str, str]:
    if armature is None or armature.pose is None:
        return {}
    by_lower = {b.name.lower(): b.name for b in armature.pose.bones}
    out: dict[str, str] = {}
    for joint, aliases in _BONE_ALIASES.items():
        for alias in aliases:
            if alias in by_lower:
                out[joint] = by_lower[alias]
                break
    return out


def find_flame_rig(obj: bpy.types.Object | None) -> FlameRig | None:
    """The FLAME rig ``obj`` belongs to (its mesh or its armature), or None when it is not one."""
    mesh = _mesh_of(obj) if obj is not None else None
    key = getattr(mesh.data, "shape_keys", None) if mesh is not None else None
    if mesh is None or key is None:
        return None
    names = [kb.name for kb in key.key_blocks]
    ours = FLAME_PROPERTY in mesh.keys()
    expression = _expression_blocks(names, ours)
    armature = armature_of(mesh)
    bones = _bones(armature)
    if not expression and not ours:  # a jaw bone alone (Ready Player Me has one) does not make a FLAME rig
        return None
    keyed: dict[int, str] = {}
    if not ours:
        for name in names:
            m = _POSE_MPI.match(name)
            if m and 1 <= int(m.group(1)) <= 9 * (len(JOINT_NAMES) - 1):
                keyed[int(m.group(1)) - 1] = name
    kind = "avi" if ours else ("mpi" if armature is not None else "shape-keys")
    model_path = mesh.get(MODEL_PATH_PROPERTY)
    landmarks_path = mesh.get(LANDMARKS_PATH_PROPERTY)
    return FlameRig(mesh, armature, kind, expression, bones, keyed,
                    str(model_path) if model_path else None, str(landmarks_path) if landmarks_path else None)


def retarget_for(rig: FlameRig) -> ArkitToFlame:
    """The ARKit → FLAME retarget from the model (and landmark) file the rig remembers (Add FLAME Head and
    Link FLAME Model store them on the mesh)."""
    if not rig.model_path:
        raise AviTalkError(f"{rig.mesh.name!r} is a FLAME rig without a known model file, so ARKit animation "
                           "cannot be retargeted onto it: use Link FLAME Model (or --flame on the command line)")
    model = load_flame(rig.model_path)
    embedding = load_embedding(rig.landmarks_path, len(model.faces)) if rig.landmarks_path else None
    return arkit_to_flame(model, embedding)


def describe(rig: FlameRig) -> str:
    """One line for the panel."""
    label = {"avi": "FLAME head", "mpi": "MPI FLAME rig", "shape-keys": "FLAME shape keys"}[rig.kind]
    joints = ", ".join(j for j in JOINT_CHANNELS if j in rig.bones) or "no bones"
    return f"{label}: {rig.n_expression} expressions, {joints}"


# ---- building our rig --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _edit_mode(view_layer: bpy.types.ViewLayer, armature: bpy.types.Object) -> Iterator[None]:
    """Edit mode on ``armature`` (bones can only be made there), restoring the active object after."""
    previous = view_layer.objects.active
    view_layer.objects.active = armature
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        yield
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous


def build_flame_object(
    model: FlameModel,
    collection: bpy.types.Collection,
    view_layer: bpy.types.ViewLayer,
    *,
    name: str = "FLAME Head",
    location: tuple[float, float, float] = (0.0, 0.0, 0.0),
    n_expression: int | None = None,
    model_path: str | Path | None = None,
    landmarks_path: str | Path | None = None,
) -> bpy.types.Object:
    """Add the FLAME head (armature + skinned mesh with expression and corrective keys); returns the mesh.

    The eyes' midpoint lands on ``location`` (FLAME's own origin is at the neck). ``n_expression`` keeps
    only the first expression components (all by default)."""
    n_exp = model.n_expression if n_expression is None else max(0, min(int(n_expression), model.n_expression))
    joints = flame_to_blender(model.rest_joints())
    eye_mid = 0.5 * (joints[JOINT_NAMES.index("left_eye")] + joints[JOINT_NAMES.index("right_eye")])

    arm_data = bpy.data.armatures.new(f"{name} Rig")
    armature = bpy.data.objects.new(f"{name} Rig", arm_data)
    armature.location = Vector(location) - Vector(eye_mid)
    collection.objects.link(armature)
    bone_length = 0.1 * float(np.ptp(model.v_template[:, 1]))
    with _edit_mode(view_layer, armature):
        for j, joint in enumerate(JOINT_NAMES):
            bone = arm_data.edit_bones.new(joint)
            bone.head = Vector(joints[j])
            bone.tail = Vector(joints[j] + (0.0, 0.0, bone_length))  # +Z, no roll: local axes = FLAME's
            bone.roll = 0.0
            if model.parents[j] >= 0:
                bone.parent = arm_data.edit_bones[JOINT_NAMES[model.parents[j]]]
                bone.use_connect = False
    if armature.pose is not None:
        for pose_bone in armature.pose.bones:
            pose_bone.rotation_mode = "QUATERNION"

    mesh = _make_mesh(model, name)
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    obj.parent = armature
    _add_weights(obj, model)
    modifier = cast(bpy.types.ArmatureModifier, obj.modifiers.new(MODIFIER_NAME, "ARMATURE"))
    modifier.object = armature
    modifier.use_vertex_groups = True
    modifier.use_bone_envelopes = False
    _add_shape_keys(obj, mesh, model, n_exp)
    _drive_correctives(obj, armature, model)
    obj[FLAME_PROPERTY] = {"model": model.name, "sha256": model.sha256, "n_expression": n_exp}
    if model_path is not None:
        obj[MODEL_PATH_PROPERTY] = str(Path(model_path).expanduser().resolve())
    if landmarks_path is not None:
        obj[LANDMARKS_PATH_PROPERTY] = str(Path(landmarks_path).expanduser().resolve())
    return obj


def _make_mesh(model: FlameModel, name: str) -> bpy.types.Mesh:
    mesh = bpy.data.meshes.new(name)
    verts = flame_to_blender(model.v_template).astype(np.float32)
    faces = model.faces.astype(np.int32)
    mesh.vertices.add(len(verts))
    mesh.vertices.foreach_set("co", verts.ravel())
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.ravel())
    mesh.polygons.add(len(faces))
    compat.set_face_loops(mesh, np.arange(0, faces.size, 3, dtype=np.int32), np.full(len(faces), 3, dtype=np.int32))
    mesh.update()
    mesh.validate()
    compat.shade_smooth(mesh)
    return mesh


def _add_weights(obj: bpy.types.Object, model: FlameModel) -> None:
    for j, joint in enumerate(JOINT_NAMES):
        group = obj.vertex_groups.new(name=joint)
        column = model.weights[:, j]
        for v in np.flatnonzero(column > 1e-6):
            group.add([int(v)], float(column[v]), "REPLACE")


def _corrective_names(model: FlameModel) -> dict[int, str]:
    """Pose-feature index → key name, for the correctives that move anything."""
    out: dict[int, str] = {}
    for k in range(model.posedirs.shape[2]):
        if np.abs(model.posedirs[:, :, k]).max() > 0:
            joint = JOINT_NAMES[1 + k // 9]
            row, col = divmod(k % 9, 3)
            out[k] = f"pose_{joint}_{row}{col}"
    return out


def _add_shape_keys(obj: bpy.types.Object, mesh: bpy.types.Mesh, model: FlameModel, n_exp: int) -> None:
    obj.shape_key_add(name="Basis", from_mix=False)
    rest = flame_to_blender(model.v_template)
    blocks = [(f"exp_{i:03d}", model.exprdirs[:, :, i]) for i in range(n_exp)]
    blocks += [(name, model.posedirs[:, :, k]) for k, name in _corrective_names(model).items()]
    for name, delta in blocks:
        block = obj.shape_key_add(name=name, from_mix=False)
        block.data.foreach_set("co", (rest + flame_to_blender(delta)).astype(np.float32).ravel())
        block.slider_min, block.slider_max = -SLIDER_LIMIT, SLIDER_LIMIT
        block.value = 0.0
    if mesh.shape_keys is not None:
        mesh.shape_keys.name = f"{obj.name} Keys"
    mesh.update()


def _drive_correctives(obj: bpy.types.Object, armature: bpy.types.Object, model: FlameModel) -> None:
    key = obj.data.shape_keys  # type: ignore[union-attr]
    if key is None:
        return
    for k, name in _corrective_names(model).items():
        bone = JOINT_NAMES[1 + k // 9]
        expression = _MATRIX_ENTRIES[k % 9]
        driver = cast(bpy.types.FCurve, key.driver_add(f'key_blocks["{name}"].value')).driver
        if driver is None:
            raise RuntimeError(f"Blender made no driver for {name}")
        driver.type = "SCRIPTED"
        channels: tuple[tuple[str, Literal["ROT_W", "ROT_X", "ROT_Y", "ROT_Z"]], ...] = (
            ("w", "ROT_W"), ("x", "ROT_X"), ("y", "ROT_Y"), ("z", "ROT_Z"))
        for var_name, channel in channels:
            if var_name not in expression:
                continue
            var = driver.variables.new()
            var.name = var_name
            var.type = "TRANSFORMS"
            target = var.targets[0]
            target.id = armature
            target.bone_target = bone
            target.transform_type = channel
            target.rotation_mode = "QUATERNION"
            target.transform_space = "LOCAL_SPACE"
        driver.expression = expression
