"""The built-in head as a Blender object: mesh, materials, vertex groups, the 52 shape keys, save/reload."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.bpy
bpy = pytest.importorskip("bpy")

from avi_talking.addon.head import HEAD_PROPERTY, build_head_object, is_builtin_head  # noqa: E402
from avi_talking.core.arkit import ARKIT52  # noqa: E402
from avi_talking.core.rigs.builtin_head import FORMAT_VERSION, build_head  # noqa: E402


@pytest.fixture(autouse=True)
def empty_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield


def _co(collection, n: int) -> np.ndarray:
    out = np.empty(n * 3, dtype=np.float32)
    collection.foreach_get("co", out)
    return out.reshape(n, 3)


def _check_keys(obj) -> None:
    head = build_head()
    n = head.n_vertices
    blocks = obj.data.shape_keys.key_blocks
    assert [b.name for b in blocks] == ["Basis", *ARKIT52]
    assert np.array_equal(_co(blocks["Basis"].data, n), head.vertices)
    for name in ARKIT52:
        block = blocks[name]
        assert block.relative_key.name == "Basis"
        assert block.slider_min == 0.0 and block.slider_max == 1.0
        assert np.allclose(_co(block.data, n), head.vertices + head.shape_keys[name], atol=1e-7), name


def test_builds_the_mesh_with_keys_groups_and_materials():
    head = build_head()
    obj = build_head_object()
    mesh = obj.data
    assert obj.name == "AVI Head" and obj.type == "MESH"
    assert obj.name in bpy.context.scene.collection.objects
    assert len(mesh.vertices) == head.n_vertices
    assert len(mesh.polygons) == head.n_faces
    assert len(mesh.loops) == len(head.face_indices)
    assert np.array_equal(_co(mesh.vertices, head.n_vertices), head.vertices)
    loops = np.empty(len(mesh.loops), dtype=np.int32)
    mesh.loops.foreach_get("vertex_index", loops)
    assert np.array_equal(loops, head.face_indices)
    totals = np.empty(len(mesh.polygons), dtype=np.int32)
    mesh.polygons.foreach_get("loop_total", totals)
    assert np.array_equal(totals, head.face_sizes)
    mats = np.empty(len(mesh.polygons), dtype=np.int32)
    mesh.polygons.foreach_get("material_index", mats)
    assert np.array_equal(mats, head.face_material)
    smooth = np.empty(len(mesh.polygons), dtype=bool)
    mesh.polygons.foreach_get("use_smooth", smooth)
    assert smooth.all()
    assert [m.name for m in mesh.materials] == [f"AVI {name}" for name, _ in head.materials]
    for material, (_, rgba) in zip(mesh.materials, head.materials, strict=True):
        assert np.allclose(tuple(material.diffuse_color), rgba)
        bsdf = next(n for n in material.node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
        assert np.allclose(tuple(bsdf.inputs["Base Color"].default_value), rgba)
    groups = {g.name: g.index for g in obj.vertex_groups}
    assert set(head.groups) <= set(groups)
    jaw = groups["jaw"]
    in_jaw = {v.index for v in mesh.vertices if any(g.group == jaw for g in v.groups)}
    assert in_jaw == set(head.groups["jaw"].tolist())
    assert obj[HEAD_PROPERTY] == FORMAT_VERSION and isinstance(obj[HEAD_PROPERTY], int)
    assert is_builtin_head(obj)
    _check_keys(obj)


def test_links_into_the_given_collection():
    coll = bpy.data.collections.new("Heads")
    bpy.context.scene.collection.children.link(coll)
    obj = build_head_object(coll, name="Preview")
    assert obj.name == "Preview"
    assert obj.name in coll.objects and obj.name not in bpy.context.scene.collection.objects
    second = build_head_object(coll, name="Preview")
    assert second.name != obj.name and len(coll.objects) == 2  # a second head is independent


def test_keys_deform_as_in_numpy():
    from avi_talking.core.arkit import INDEX
    from avi_talking.core.rigs.builtin_head import deform

    head = build_head()
    obj = build_head_object()
    blocks = obj.data.shape_keys.key_blocks
    blocks["jawOpen"].value = 0.7
    blocks["mouthClose"].value = 0.7
    blocks["eyeBlinkLeft"].value = 1.0
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph).to_mesh()
    posed = _co(evaluated.vertices, head.n_vertices)
    obj.evaluated_get(depsgraph).to_mesh_clear()
    w = np.zeros(52, dtype=np.float32)
    w[[INDEX["jawOpen"], INDEX["mouthClose"], INDEX["eyeBlinkLeft"]]] = (0.7, 0.7, 1.0)
    assert np.allclose(posed, deform(head, w), atol=2e-6)


def test_keys_survive_save_and_reload(tmp_path):
    head = build_head()
    obj = build_head_object()
    obj.data.shape_keys.key_blocks["jawOpen"].value = 0.25
    path = tmp_path / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert "AVI Head" not in bpy.data.objects
    bpy.ops.wm.open_mainfile(filepath=str(path))
    loaded = bpy.data.objects["AVI Head"]
    assert loaded[HEAD_PROPERTY] == FORMAT_VERSION
    assert len(loaded.data.vertices) == head.n_vertices
    assert loaded.data.shape_keys.key_blocks["jawOpen"].value == pytest.approx(0.25)
    assert len(loaded.data.materials) == len(head.materials)
    _check_keys(loaded)
