"""Head rotations baked in real bpy (5.0 and 4.2): the built-in head turns about its neck pivot, an ARKit-style
rig turns the bone the artist names, a FLAME rig its neck joint — each the documented way round (checked on
the evaluated mesh or the posed bone); no head channels key nothing head-related; a wrong bone name is one
line and leaves the scene as it was; the CLI's --head 0 and --head-bone; the panel's Head controls."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flame_fixture import write_pkl

from conftest import run_cli, tone, write_audio

pytestmark = pytest.mark.bpy
bpy = pytest.importorskip("bpy")

import avi_talking  # noqa: E402
from avi_talking.addon import compat  # noqa: E402
from avi_talking.addon.bake import bake_animation  # noqa: E402
from avi_talking.addon.flame_rig import build_flame_object  # noqa: E402
from avi_talking.addon.head import LANDMARK_PROPERTY, build_head_object  # noqa: E402
from avi_talking.addon.head_motion import PIVOT_PROPERTY, find_pivot  # noqa: E402
from avi_talking.core.animation import Animation  # noqa: E402
from avi_talking.core.arkit import ARKIT52, FACE_AND_HEAD, HEAD_ROTATIONS  # noqa: E402
from avi_talking.core.common.errors import AviTalkError  # noqa: E402
from avi_talking.core.flame.loading import load_flame  # noqa: E402
from avi_talking.core.flame.rotations import axis_angle_to_quaternion, rodrigues  # noqa: E402
from avi_talking.core.head_pose import head_rotvecs  # noqa: E402
from avi_talking.core.rigs.builtin_head.layout import NECK_PIVOT  # noqa: E402

ANGLE = 0.3
# frame 1 at rest, then a pure yaw, a pure pitch and a pure roll
ANGLES = np.array([[0.0, 0.0, 0.0], [ANGLE, 0.0, 0.0], [0.0, ANGLE, 0.0], [0.0, 0.0, ANGLE]])


@pytest.fixture(autouse=True)
def factory_scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AVITALK_CACHE_DIR", str(tmp_path / "cache"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield
    bpy.ops.wm.read_factory_settings(use_empty=True)


def _take(angles: np.ndarray = ANGLES, head: bool = True) -> Animation:
    values = np.zeros((len(angles), 55), dtype=np.float32)
    values[:, ARKIT52.index("jawOpen")] = np.linspace(0.0, 0.6, len(angles))
    values[:, 52:] = angles
    return Animation(30.0, FACE_AND_HEAD, values) if head else Animation(30.0, ARKIT52, values[:, :52])


def _about(axis: str, angle: float) -> np.ndarray:
    i = "xyz".index(axis)
    j, k = (i + 1) % 3, (i + 2) % 3
    m = np.eye(3)
    m[j, j] = m[k, k] = math.cos(angle)
    m[j, k], m[k, j] = -math.sin(angle), math.sin(angle)
    return m


def _world_vertices(obj: Any, frame: int) -> np.ndarray:
    bpy.context.scene.frame_set(frame)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.data
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    m = np.array(evaluated.matrix_world, dtype=np.float64)
    return co.reshape(-1, 3).astype(np.float64) @ m[:3, :3].T + m[:3, 3]


def _curves(action: Any, id_data: Any) -> dict[tuple[str, int], np.ndarray]:
    out = {}
    for fc in compat.action_fcurves(action, id_data):
        co = np.empty(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[(fc.data_path, fc.array_index)] = co[1::2].astype(np.float64)
    return out


# ---- the built-in head -------------------------------------------------------------------------------------


def test_builtin_head_turns_about_its_neck_pivot_the_documented_way() -> None:
    head = build_head_object(bpy.context.scene.collection)
    rest = _world_vertices(head, 1)
    result = bake_animation(head, _take())
    assert result.keyed[-3:] == HEAD_ROTATIONS and not set(HEAD_ROTATIONS) & set(result.unmatched)
    pivot = find_pivot(head)
    assert pivot is not None and pivot[PIVOT_PROPERTY] and result.head_action is not None
    assert pivot.animation_data.action == result.head_action
    # the curves read (pitch, roll, yaw) in radians for an upright head (Euler YXZ about world axes)
    curves = _curves(result.head_action, pivot)
    assert set(curves) == {("rotation_euler", i) for i in range(3)} and pivot.rotation_mode == "YXZ"
    np.testing.assert_allclose(curves["rotation_euler", 0], ANGLES[:, 1], atol=1e-6)
    np.testing.assert_allclose(curves["rotation_euler", 1], ANGLES[:, 2], atol=1e-6)
    np.testing.assert_allclose(curves["rotation_euler", 2], ANGLES[:, 0], atol=1e-6)

    neck = NECK_PIVOT
    at_rest = _world_vertices(head, 1)
    np.testing.assert_allclose(at_rest, rest, atol=1e-5)  # parented to the pivot, the head stayed put
    landmarks = head[LANDMARK_PROPERTY]
    nose, crown = int(landmarks["nose_tip"]), int(np.argmax(rest[:, 2]))
    for frame, axis in ((2, "z"), (3, "x"), (4, "y")):
        want = (rest - neck) @ _about(axis, ANGLE).T + neck  # a rigid turn about the neck pivot
        got = _world_vertices(head, frame)
        # the jaw opens too (shape keys): compare the vertices the jaw does not move
        still = np.linalg.norm(_world_vertices_unturned(head, frame, neck, axis) - rest, axis=1) < 1e-5
        assert still.mean() > 0.5  # most of the head: all but the jaw, lips and tongue
        np.testing.assert_allclose(got[still], want[still], atol=1e-5)
    yawed, pitched, rolled = (_world_vertices(head, f) for f in (2, 3, 4))
    assert yawed[nose, 0] > rest[nose, 0] + 0.01  # + yaw: the face turns toward the character's left (+X)
    assert pitched[nose, 2] < rest[nose, 2] - 0.01  # + pitch: the nose goes down (a nod)
    assert rolled[crown, 0] > rest[crown, 0] + 0.01  # + roll: the crown leans toward the left shoulder (+X)


def _world_vertices_unturned(head: Any, frame: int, neck: np.ndarray, axis: str) -> np.ndarray:
    """The frame's vertices with the pivot's turn undone (what the shape keys alone do)."""
    got = _world_vertices(head, frame)
    return (got - neck) @ _about(axis, ANGLE) + neck


def test_a_moved_and_turned_head_nods_about_its_own_left_axis() -> None:
    head = build_head_object(bpy.context.scene.collection)
    head.location = (1.0, 2.0, 0.5)
    head.rotation_euler = (0.0, 0.0, math.pi / 2)  # it now faces +X; its left is world +Y
    bpy.context.view_layer.update()
    rest = _world_vertices(head, 1)
    bake_animation(head, _take())
    neck = np.array(head.matrix_world, dtype=np.float64)[:3, :3] @ NECK_PIVOT + [1.0, 2.0, 0.5]
    np.testing.assert_allclose(_world_vertices(head, 1), rest, atol=1e-5)
    nose = int(head[LANDMARK_PROPERTY]["nose_tip"])
    pitched = _world_vertices(head, 3)
    want = (rest[nose] - neck) @ _about("y", ANGLE).T + neck  # about the head's own left axis (world +Y)
    np.testing.assert_allclose(pitched[nose], want, atol=1e-5)
    assert pitched[nose, 2] < rest[nose, 2] - 0.01
    yawed = _world_vertices(head, 2)
    assert yawed[nose, 1] > rest[nose, 1] + 0.01  # toward its own left (world +Y)


def test_no_head_channels_key_nothing_head_related() -> None:
    head = build_head_object(bpy.context.scene.collection)
    objects = set(bpy.data.objects)
    result = bake_animation(head, _take(head=False))
    assert result.head_action is None and result.pose_action is None and find_pivot(head) is None
    assert set(bpy.data.objects) == objects and head.animation_data is None
    assert not set(HEAD_ROTATIONS) & set(result.keyed + result.unmatched)
    # channel groups without "head": the head channels are left out, not keyed
    masked = bake_animation(head, _take(), groups=("lips", "jaw"))
    assert set(HEAD_ROTATIONS) <= set(masked.left_out) and find_pivot(head) is None
    # the head alone: only the pivot is keyed, the face's action is left as it was
    face_action = head.data.shape_keys.animation_data.action
    only = bake_animation(head, _take(), groups=("head",))
    assert only.head_action is not None and only.action == only.head_action
    assert head.data.shape_keys.animation_data.action == face_action


# ---- an ARKit-style rig ------------------------------------------------------------------------------------


def _arkit_rig(roll: float = 0.7) -> tuple[Any, Any]:
    """A face mesh with a few ARKit keys, skinned to an armature Hips → Neck → Head (the head bone rolled)."""
    scene = bpy.context.scene
    arm_data = bpy.data.armatures.new("Rig")
    armature = bpy.data.objects.new("Rig", arm_data)
    scene.collection.objects.link(armature)
    bpy.context.view_layer.objects.active = armature
    bpy.ops.object.mode_set(mode="EDIT")
    hips = arm_data.edit_bones.new("Hips")
    hips.head, hips.tail = (0.0, 0.0, 0.0), (0.0, 0.0, 1.0)
    neck = arm_data.edit_bones.new("Neck")
    neck.head, neck.tail, neck.parent = (0.0, 0.0, 1.4), (0.0, 0.0, 1.55), hips
    bone = arm_data.edit_bones.new("Head")
    bone.head, bone.tail, bone.parent = (0.0, 0.0, 1.55), (0.0, -0.02, 1.75), neck  # tilted a little forward
    bone.roll = roll
    bpy.ops.object.mode_set(mode="OBJECT")

    verts = [(-0.08, -0.1, 1.6), (0.08, -0.1, 1.6), (0.08, -0.1, 1.75), (-0.08, -0.1, 1.75), (0.0, -0.13, 1.68)]
    mesh = bpy.data.meshes.new("Face")
    mesh.from_pydata(verts, [], [(0, 1, 4), (1, 2, 4), (2, 3, 4), (3, 0, 4)])
    face = bpy.data.objects.new("Face", mesh)
    scene.collection.objects.link(face)
    face.shape_key_add(name="Basis")
    for name in ("jawOpen", "mouthSmileLeft", "eyeBlinkLeft"):
        block = face.shape_key_add(name=name, from_mix=False)
        block.data[0].co.z -= 0.01
    face.parent = armature
    face.vertex_groups.new(name="Head").add(list(range(len(verts))), 1.0, "REPLACE")
    face.modifiers.new("Armature", "ARMATURE").object = armature
    return face, armature


def _bone_delta(armature: Any, bone: str, frame: int) -> np.ndarray:
    """The posed bone's rotation relative to its rest, in world axes (the armature object is not rotated)."""
    bpy.context.scene.frame_set(frame)
    posed = np.array(armature.pose.bones[bone].matrix, dtype=np.float64)[:3, :3]
    rest = np.array(armature.data.bones[bone].matrix_local, dtype=np.float64)[:3, :3]
    return posed @ rest.T


@pytest.mark.parametrize("mode", ["QUATERNION", "XYZ"])
def test_arkit_rig_head_bone_turns_the_documented_way(mode: str) -> None:
    face, armature = _arkit_rig()
    armature.pose.bones["Head"].rotation_mode = mode
    result = bake_animation(face, _take(), head_bone="Head")
    assert result.pose_action is not None and armature.animation_data.action == result.pose_action
    assert set(HEAD_ROTATIONS) <= set(result.keyed) and not set(HEAD_ROTATIONS) & set(result.unmatched)
    prop = "rotation_quaternion" if mode == "QUATERNION" else "rotation_euler"
    assert {path for path, _ in _curves(result.pose_action, armature)} == {f'pose.bones["Head"].{prop}'}
    np.testing.assert_allclose(_bone_delta(armature, "Head", 1), np.eye(3), atol=1e-6)
    # in world axes (the character faces -Y): yaw about +Z, pitch about +X, roll about +Y
    for frame, axis in ((2, "z"), (3, "x"), (4, "y")):
        np.testing.assert_allclose(_bone_delta(armature, "Head", frame), _about(axis, ANGLE), atol=1e-5)
    front = _bone_delta(armature, "Head", 2) @ np.array([0.0, -1.0, 0.0])
    assert front[0] > 0.25  # + yaw: the face's front swings toward the character's left (+X)
    tip = _world_vertices(face, 2)[4]
    assert tip[0] > 0.01  # and the mesh follows the bone


def test_arkit_rig_without_a_head_bone_reports_the_head_not_placed() -> None:
    face, armature = _arkit_rig()
    result = bake_animation(face, _take())
    assert set(HEAD_ROTATIONS) <= set(result.unmatched) and any("head bone" in n for n in result.notes)
    assert armature.animation_data is None and result.pose_action is None


@pytest.mark.parametrize("head", [True, False])
def test_a_wrong_head_bone_is_one_line_and_changes_nothing(head: bool) -> None:
    face, armature = _arkit_rig()
    scene = bpy.context.scene
    scene.render.fps = 24
    actions, objects = len(bpy.data.actions), set(bpy.data.objects)
    with pytest.raises(AviTalkError) as caught:
        bake_animation(face, _take(head=head), head_bone="Skull")
    message = str(caught.value)
    assert "'Skull'" in message and "'Rig'" in message and "\n" not in message
    assert len(bpy.data.actions) == actions and set(bpy.data.objects) == objects
    assert face.data.shape_keys.animation_data is None and armature.animation_data is None
    assert scene.render.fps == 24
    lone = build_head_object(scene.collection)  # no armature at all
    with pytest.raises(AviTalkError, match="no armature"):
        bake_animation(lone, _take(), head_bone="Head")
    assert find_pivot(lone) is None and lone.data.shape_keys.animation_data is None


# ---- a FLAME rig -------------------------------------------------------------------------------------------


def test_flame_rig_turns_its_neck_joint(tmp_path: Path) -> None:
    pkl = write_pkl(tmp_path / "generic_model.pkl")
    model = load_flame(pkl)
    mesh = build_flame_object(model, bpy.context.scene.collection, bpy.context.view_layer, model_path=pkl)
    armature = mesh.parent
    result = bake_animation(mesh, _take())
    assert {"neck_rx", "neck_ry", "neck_rz"} <= set(result.keyed)
    want = axis_angle_to_quaternion(head_rotvecs(ANGLES))
    for frame in range(1, 5):
        bpy.context.scene.frame_set(frame)
        got = np.array(armature.pose.bones["neck"].rotation_quaternion)
        np.testing.assert_allclose(got, want[frame - 1], atol=1e-5)
    # the bone's local axes are FLAME's (X left, Y up, Z out of the face): + yaw swings the front toward +X
    front = rodrigues(head_rotvecs(ANGLES[1:2]))[0] @ np.array([0.0, 0.0, 1.0])
    assert front[0] > 0.25
    # in Blender's world (the FLAME head faces -Y) the same turn is about +Z
    np.testing.assert_allclose(_bone_delta(armature, "neck", 2), _about("z", ANGLE), atol=1e-5)
    np.testing.assert_allclose(_bone_delta(armature, "neck", 3), _about("x", ANGLE), atol=1e-5)
    np.testing.assert_allclose(_bone_delta(armature, "neck", 4), _about("y", ANGLE), atol=1e-5)
    # naming the neck bone is the same; a bone the rig lacks is refused
    again = bake_animation(mesh, _take(), head_bone="neck")
    assert {"neck_rx", "neck_ry", "neck_rz"} <= set(again.keyed)
    with pytest.raises(AviTalkError, match="no bone 'Head'"):
        bake_animation(mesh, _take(), head_bone="Head")


# ---- the command line and the panel ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def head_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny stage-2 model with head channels, its head output biased to a steady turn."""
    torch = pytest.importorskip("torch")
    from avi_talking.core.stage2 import weights
    from avi_talking.core.stage2.config import Stage2Config

    torch.manual_seed(0)
    cfg = Stage2Config(channels=32, encoder_dilations=(1, 2), decoder_dilations=(1,), style_dim=8, instr_dim=16,
                       style_channels=16, prior_hidden=32, prior_layers=1, diffusion_steps=100, ddim_steps=5,
                       head_channels=3)
    net, prior = weights.build(cfg)
    with torch.no_grad():
        net.decoder.out.bias[-3:] = torch.tensor([0.8, 0.4, -0.6])
    return weights.write(tmp_path_factory.mktemp("head_model") / "model", net, prior, {})


def _read_blend(path: Path) -> None:
    bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False, use_scripts=False)


def test_cli_head_strength_zero_keys_no_head(head_model: Path, tmp_path: Path) -> None:
    audio = write_audio(tmp_path / "a.wav", tone(1.0), 16000)
    with_head, without, take = tmp_path / "head.blend", tmp_path / "nohead.blend", tmp_path / "take.json"
    for out, strength in ((with_head, "1"), (without, "0")):
        done = run_cli("bake", str(audio), "-o", str(out), "--model", str(head_model), "--head", strength)
        assert done.returncode == 0, done.stderr
    assert run_cli("generate", str(audio), "-o", str(take), "--model", str(head_model)).returncode == 0
    _read_blend(with_head)
    pivot = bpy.data.objects["AVI Head Neck"]
    curves = _curves(pivot.animation_data.action, pivot)
    yaw = curves["rotation_euler", 2]
    # the model's steady turn (0.35 tanh 0.8 rad) plus the take's drawn drift: the pivot keys the take's headYaw
    animation = Animation.load(take)
    np.testing.assert_allclose(yaw, animation.values[:, animation.channels.index("headYaw")], atol=1e-4)
    assert abs(float(np.mean(yaw)) - 0.35 * math.tanh(0.8)) < 0.15
    _read_blend(without)
    assert "AVI Head Neck" not in bpy.data.objects and bpy.data.objects["AVI Head"].parent is None
    assert not [a for a in bpy.data.actions if a.name.endswith("Head")]


def test_cli_wrong_head_bone_fails_in_one_line(tmp_path: Path) -> None:
    face, _ = _arkit_rig()
    rig = tmp_path / "rig.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(rig), check_existing=False)
    before = rig.read_bytes()
    audio = write_audio(tmp_path / "a.wav", tone(0.5), 16000)
    out = tmp_path / "out.blend"
    done = run_cli("bake", str(audio), "-o", str(out), "--model", "procedural", "--blend", str(rig), "--object",
                   face.name, "--head-bone", "Skull")
    assert done.returncode == 2 and not out.exists() and rig.read_bytes() == before
    # the one error line (the 4.2 wheel, which has no audio, warns about the sound strip first)
    lines = [line for line in done.stderr.strip().splitlines() if "no audio support" not in line]
    assert len(lines) == 1 and lines[0].startswith("error:") and "'Skull'" in lines[0]
    done = run_cli("bake", str(audio), "-o", str(out), "--model", "procedural", "--head-bone", "Head")
    assert done.returncode == 2 and not out.exists() and done.stderr.startswith("error: --head-bone")
    good = run_cli("bake", str(audio), "-o", str(out), "--model", "procedural", "--blend", str(rig), "--object",
                   face.name, "--head-bone", "Head")
    assert good.returncode == 0, good.stderr  # the procedural model has no head motion: nothing head-related
    _read_blend(out)
    assert bpy.data.objects["Rig"].animation_data is None


@pytest.fixture
def enabled():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.preferences.addon_enable(module="avi_talking")
    yield
    bpy.ops.preferences.addon_disable(module="avi_talking")


def test_panel_head_slider_and_bone_picker(enabled: None, tmp_path: Path) -> None:
    from test_addon import RecordingLayout

    settings = bpy.context.scene.avi_talking
    head_prop = settings.bl_rna.properties["head"]
    assert settings.head == 1.0 and (head_prop.hard_min, head_prop.hard_max) == (0.0, 2.0)

    def draw() -> list[str]:
        log: list[str] = []
        panel = type("P", (), {"layout": RecordingLayout(log)})()
        bpy.types.AVITALK_PT_main.draw(panel, bpy.context)
        return log

    bpy.ops.avitalk.add_head()
    log = draw()
    assert "prop:head" in log and "prop_search:head_bone" not in log  # the built-in head turns by itself
    face, _ = _arkit_rig()
    bpy.context.view_layer.objects.active = face
    assert "prop_search:head_bone" in draw()
    # a wrong bone stops the bake before the model runs, and nothing is keyed
    settings.audio_path = str(write_audio(tmp_path / "a.wav", tone(0.5), 16000))
    settings.head_bone = "Skull"
    with pytest.raises(RuntimeError, match="no bone 'Skull'"):
        bpy.ops.avitalk.bake_audio()
    assert face.data.shape_keys.animation_data is None
    assert avi_talking is not None
