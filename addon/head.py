"""Builds the built-in preview head as a Blender object (mesh, materials, vertex groups, 52 shape keys).

All geometry comes from ``core.rigs.builtin_head``; this module only moves it into Blender, with bulk
``foreach_set`` calls (the whole head with its keys takes well under a second).
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core.arkit import ARKIT52
from ..core.rigs.builtin_head import FORMAT_VERSION, HeadMesh, build_head
from . import compat

HEAD_PROPERTY = "avi_talking_head"
"""Custom property on the object: the head's format version (an int). Other code uses it to recognise the head."""
LANDMARK_PROPERTY = "avi_talking_landmarks"
MATERIAL_PREFIX = "AVI "


def is_builtin_head(obj: bpy.types.Object) -> bool:
    return obj.type == "MESH" and HEAD_PROPERTY in obj.keys()


def build_head_object(collection: bpy.types.Collection | None = None, name: str = "AVI Head") -> bpy.types.Object:
    """Create the built-in head object, link it into ``collection`` (default: the scene's) and return it."""
    if collection is None:
        scene = bpy.context.scene
        if scene is None:
            raise RuntimeError("no scene to put the head in; pass a collection")
        collection = scene.collection
    head = build_head()
    mesh = _make_mesh(head, name)
    for mat_name, rgba in head.materials:
        mesh.materials.append(_make_material(MATERIAL_PREFIX + mat_name, rgba))
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    _add_vertex_groups(obj, head)
    _add_shape_keys(obj, mesh, head)
    obj[HEAD_PROPERTY] = FORMAT_VERSION
    obj[LANDMARK_PROPERTY] = dict(head.landmarks)
    return obj


def _make_mesh(head: HeadMesh, name: str) -> bpy.types.Mesh:
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(head.n_vertices)
    mesh.vertices.foreach_set("co", head.vertices.ravel())
    mesh.loops.add(len(head.face_indices))
    mesh.loops.foreach_set("vertex_index", head.face_indices)
    mesh.polygons.add(head.n_faces)
    compat.set_face_loops(mesh, head.loop_starts(), np.asarray(head.face_sizes, dtype=np.int32))
    mesh.polygons.foreach_set("material_index", head.face_material)
    mesh.update()
    mesh.validate()
    compat.shade_smooth(mesh)
    return mesh


def _make_material(name: str, rgba: tuple[float, float, float, float]) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    # the solid viewport shows this colour (the stubs type it as read-only; Blender takes any 4 floats)
    mat.diffuse_color = rgba  # type: ignore[assignment]
    compat.ensure_node_tree(mat)
    tree = mat.node_tree
    bsdf = next((n for n in tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"), None) if tree else None
    if bsdf is not None:
        wet = any(part in name for part in ("eye", "iris", "pupil", "tongue", "mouth"))
        _set_input(bsdf, "Base Color", rgba)
        _set_input(bsdf, "Roughness", 0.25 if wet else 0.55)
    return mat


def _set_input(node: bpy.types.Node, socket: str, value: float | tuple[float, ...]) -> None:
    # the socket classes (NodeSocketColor, NodeSocketFloatFactor, ...) are only known at run time
    setattr(node.inputs[socket], "default_value", value)  # noqa: B010


def _add_vertex_groups(obj: bpy.types.Object, head: HeadMesh) -> None:
    for group_name, indices in head.groups.items():
        obj.vertex_groups.new(name=group_name).add(indices.tolist(), 1.0, "REPLACE")


def _add_shape_keys(obj: bpy.types.Object, mesh: bpy.types.Mesh, head: HeadMesh) -> None:
    obj.shape_key_add(name="Basis", from_mix=False)
    rest = head.vertices.astype(np.float32)
    for name in ARKIT52:
        block = obj.shape_key_add(name=name, from_mix=False)
        block.data.foreach_set("co", (rest + head.shape_keys[name]).ravel())
        block.slider_min = 0.0
        block.slider_max = 1.0
        block.value = 0.0
    if mesh.shape_keys is not None:
        mesh.shape_keys.name = f"{obj.name} Keys"
    mesh.update()
