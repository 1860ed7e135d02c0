"""FLAME heads in real bpy (5.0 and 4.2): the rig we build reproduces FLAME exactly (shape keys, skinning,
driven correctives), flame-space Animations bake onto it and onto an MPI-FLAME-add-on-style rig, ARKit
takes are retargeted, and the operators and CLI put it together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flame_fixture import write_landmarks, write_npz, write_pkl

from conftest import SpokenClip, run_cli, tone, write_audio

pytestmark = pytest.mark.bpy
bpy = pytest.importorskip("bpy")

import avi_talking  # noqa: E402
from avi_talking.addon import compat  # noqa: E402
from avi_talking.addon.bake import bake_animation  # noqa: E402
from avi_talking.addon.flame_rig import build_flame_object, find_flame_rig  # noqa: E402
from avi_talking.core.animation import Animation  # noqa: E402
from avi_talking.core.arkit import ARKIT52  # noqa: E402
from avi_talking.core.common.errors import AviTalkError  # noqa: E402
from avi_talking.core.flame.channels import make_animation  # noqa: E402
from avi_talking.core.flame.landmarks import load_embedding  # noqa: E402
from avi_talking.core.flame.loading import JOINT_NAMES, FlameModel, load_flame  # noqa: E402
from avi_talking.core.flame.model import FLAME_TO_BLENDER, evaluate, flame_to_blender  # noqa: E402
from avi_talking.core.flame.retarget import JAW_ONLY_WARNING, arkit_to_flame  # noqa: E402
from avi_talking.core.flame.rotations import axis_angle_to_quaternion, rodrigues, rotation_channels  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("flame_files")
    return {"pkl": write_pkl(folder / "generic_model.pkl"), "npz": write_npz(folder / "flame.npz"),
            "landmarks": write_landmarks(folder / "landmark_embedding.npz")}


@pytest.fixture(scope="module")
def model(files: dict[str, Path]) -> FlameModel:
    return load_flame(files["pkl"])


@pytest.fixture(autouse=True)
def factory_scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AVITALK_CACHE_DIR", str(tmp_path / "cache"))  # retarget cache stays in the test
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield
    bpy.ops.wm.read_factory_settings(use_empty=True)


def _head(model: FlameModel, **kwargs: object):
    return build_flame_object(model, bpy.context.scene.collection, bpy.context.view_layer, **kwargs)  # type: ignore[arg-type]


def _evaluated(obj) -> np.ndarray:
    """Vertex positions after shape keys, drivers and the armature, in the armature's space."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    depsgraph.update()
    mesh = obj.evaluated_get(depsgraph).data
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3).astype(np.float64)


def _flame_in_blender(model: FlameModel, exp: np.ndarray, pose: np.ndarray) -> np.ndarray:
    return flame_to_blender(evaluate(model, exp, pose, joints_follow_expression=False)[0])


def _take(model: FlameModel, frames: int = 10, n_exp: int | None = None, seed: int = 0) -> Animation:
    rng = np.random.default_rng(seed)
    n = model.n_expression if n_exp is None else n_exp
    exp = rng.normal(0.0, 1.0, (frames, n))
    jaw = np.stack([np.linspace(0.0, 0.3, frames), rng.normal(0, 0.03, frames), rng.normal(0, 0.03, frames)], 1)
    neck = rng.normal(0.0, 0.1, (frames, 3))
    return make_animation(25.0, exp, {"jaw": jaw, "neck": neck})


def _pose_at(anim: Animation, t: int) -> np.ndarray:
    pose = np.zeros((5, 3))
    for j, prefix in ((1, "neck"), (2, "jaw")):
        pose[j] = [anim.channel(f"{prefix}_r{a}")[t] for a in "xyz"]
    return pose


def _exp_at(anim: Animation, t: int, n: int) -> np.ndarray:
    return np.array([anim.channel(f"exp_{i:03d}")[t] if f"exp_{i:03d}" in anim.channels else 0.0 for i in range(n)])


# ---- the rig -----------------------------------------------------------------------------------------------


def test_flame_head_structure(model: FlameModel, files: dict[str, Path]) -> None:
    mesh_obj = _head(model, location=(0.5, 0.0, 1.0), model_path=files["pkl"])
    arm = mesh_obj.parent
    assert arm.type == "ARMATURE" and mesh_obj.modifiers[0].type == "ARMATURE" and mesh_obj.modifiers[0].object == arm
    bones = arm.data.bones
    assert [b.name for b in bones] == list(JOINT_NAMES)
    assert [b.parent.name if b.parent else None for b in bones] == [None, "root", "neck", "neck", "neck"]
    joints = flame_to_blender(model.rest_joints())
    for j, bone in enumerate(bones):
        np.testing.assert_allclose(bone.head_local, joints[j], atol=1e-6)
        np.testing.assert_allclose(np.array(bone.matrix_local.to_3x3()), FLAME_TO_BLENDER, atol=1e-6)  # FLAME axes
    eye_mid = 0.5 * (joints[3] + joints[4])
    np.testing.assert_allclose(np.array(arm.location) + eye_mid, (0.5, 0.0, 1.0), atol=1e-6)  # eyes at the cursor
    for j, name in enumerate(JOINT_NAMES):
        group = mesh_obj.vertex_groups[name].index
        got = np.array([next((g.weight for g in v.groups if g.group == group), 0.0) for v in mesh_obj.data.vertices])
        np.testing.assert_allclose(got, model.weights[:, j], atol=1e-6)
    key = mesh_obj.data.shape_keys
    names = [kb.name for kb in key.key_blocks]
    assert names[0] == "Basis"
    assert names[1 : 1 + model.n_expression] == [f"exp_{i:03d}" for i in range(model.n_expression)]
    correctives = [n for n in names if n.startswith("pose_")]
    assert len(correctives) == 18 and correctives[0] == "pose_neck_00" and correctives[9] == "pose_jaw_00"
    assert key.key_blocks["exp_000"].slider_min == -10.0 and key.key_blocks["exp_000"].slider_max == 10.0
    drivers = key.animation_data.drivers
    assert len(drivers) == 18 and all(d.driver.is_simple_expression for d in drivers)  # no Python: auto-run off is fine
    rig = find_flame_rig(arm)  # found from the armature as well as from the mesh
    assert rig is not None and rig.kind == "avi" and rig.mesh == mesh_obj and rig.n_expression == model.n_expression
    assert rig.model_path == str(files["pkl"].resolve()) and rig.keyed_correctives == {}


def test_the_blender_rig_reproduces_flame(model: FlameModel) -> None:
    mesh_obj = _head(model)
    arm = mesh_obj.parent
    rng = np.random.default_rng(1)
    exp = rng.normal(0.0, 1.0, model.n_expression)
    pose = np.zeros((5, 3))
    pose[1], pose[2], pose[3] = (0.15, -0.3, 0.05), (0.28, 0.04, -0.03), (0.1, 0.2, 0.0)
    for i, value in enumerate(exp):
        mesh_obj.data.shape_keys.key_blocks[f"exp_{i:03d}"].value = value
    for j in (1, 2, 3):
        arm.pose.bones[JOINT_NAMES[j]].rotation_quaternion = axis_angle_to_quaternion(pose[j])
    got = _evaluated(mesh_obj)
    want = _flame_in_blender(model, exp, pose)
    assert np.abs(got - want).max() < 2e-6  # float32 in Blender
    blocks = mesh_obj.data.shape_keys.key_blocks
    r_jaw = rodrigues(pose[2])
    assert blocks["pose_jaw_01"].value == pytest.approx(r_jaw[0, 1], abs=1e-6)  # the driver's R - I entry
    assert blocks["pose_neck_22"].value == pytest.approx(rodrigues(pose[1])[2, 2] - 1.0, abs=1e-6)


# ---- baking ------------------------------------------------------------------------------------------------


def test_bake_flame_animation_keys_expressions_and_jaw(model: FlameModel) -> None:
    mesh_obj = _head(model)
    arm = mesh_obj.parent
    artist = bpy.data.actions.new("Artist pose")  # an action of the artist's on the armature survives
    compat.assign_action(arm, artist)
    anim = _take(model, n_exp=40)  # fewer coefficients than the rig: the rest are keyed 0
    result = bake_animation(mesh_obj, anim, frame_start=5)
    scene = bpy.context.scene
    assert result.pose_action is not None and arm.animation_data.action == result.pose_action
    assert artist.name in bpy.data.actions and artist.use_fake_user
    assert set(result.keyed) == set(anim.channels) and result.unmatched == ()
    curves = {(fc.data_path, fc.array_index): fc for fc in compat.action_fcurves(result.pose_action, arm)}
    quat = axis_angle_to_quaternion(np.stack([anim.channel(f"jaw_r{a}") for a in "xyz"], 1))
    for i in range(4):
        fc = curves[('pose.bones["jaw"].rotation_quaternion', i)]
        np.testing.assert_allclose([fc.evaluate(5 + t) for t in range(anim.n_frames)], quat[:, i], atol=1e-6)
    key = mesh_obj.data.shape_keys
    for t in (0, 4, anim.n_frames - 1):
        scene.frame_set(5 + t)
        assert key.key_blocks["exp_007"].value == pytest.approx(anim.channel("exp_007")[t], abs=1e-5)
        assert key.key_blocks["exp_055"].value == 0.0
        got_q = np.array(arm.pose.bones["jaw"].rotation_quaternion)
        np.testing.assert_allclose(got_q, quat[t], atol=1e-6)
        want = _flame_in_blender(model, _exp_at(anim, t, model.n_expression), _pose_at(anim, t))
        assert np.abs(_evaluated(mesh_obj) - want).max() < 5e-6  # correctives followed through the drivers


def test_negative_coefficients_are_not_clamped_and_too_large_ones_refused(model: FlameModel) -> None:
    mesh_obj = _head(model)
    anim = make_animation(30.0, np.full((3, 2), -2.5), {"jaw": np.zeros((3, 3))})
    bake_animation(mesh_obj, anim)
    bpy.context.scene.frame_set(2)
    assert mesh_obj.data.shape_keys.key_blocks["exp_001"].value == pytest.approx(-2.5)
    huge = make_animation(30.0, np.full((3, 2), 14.0), {})
    with pytest.raises(AviTalkError, match="at most"):
        bake_animation(mesh_obj, huge)


def _make_mpi_rig(model: FlameModel, n_exp: int):
    """A rig laid out as the MPI FLAME add-on's .blend: a Z-up mesh 'FLAME-generic' with keys Base, Shape1…,
    Exp1… (1-based) and Pose1…18 (neck then jaw R - I entries), under an armature whose bones point +Z."""
    joints = flame_to_blender(model.rest_joints())
    arm = bpy.data.objects.new("FLAME2020", bpy.data.armatures.new("FLAME2020"))
    bpy.context.scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    for j, name in enumerate(JOINT_NAMES):
        bone = arm.data.edit_bones.new(name)
        bone.head, bone.tail = joints[j], joints[j] + (0.0, 0.0, 0.01)
        if model.parents[j] >= 0:
            bone.parent = arm.data.edit_bones[JOINT_NAMES[model.parents[j]]]
    bpy.ops.object.mode_set(mode="OBJECT")
    arm.pose.bones["jaw"].rotation_mode = "AXIS_ANGLE"  # as the add-on's operators leave it
    arm.pose.bones["neck"].rotation_mode = "XYZ"  # as its pose sliders leave it
    mesh = bpy.data.meshes.new("FLAME-generic")
    rest = flame_to_blender(model.v_template)
    mesh.from_pydata(rest.tolist(), [], model.faces.tolist())
    obj = bpy.data.objects.new("FLAME-generic", mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.parent = arm
    for j, name in enumerate(JOINT_NAMES):
        group = obj.vertex_groups.new(name=name)
        for v in np.flatnonzero(model.weights[:, j]):
            group.add([int(v)], float(model.weights[v, j]), "REPLACE")
    modifier = obj.modifiers.new("Armature", "ARMATURE")
    modifier.object = arm
    obj.shape_key_add(name="Base")
    blocks = [(f"Shape{i + 1}", model.shapedirs[:, :, i]) for i in range(3)]
    blocks += [(f"Exp{i + 1}", model.exprdirs[:, :, i]) for i in range(n_exp)]
    blocks += [(f"Pose{k + 1}", model.posedirs[:, :, k]) for k in range(18)]
    for name, delta in blocks:
        block = obj.shape_key_add(name=name, from_mix=False)
        block.data.foreach_set("co", (rest + flame_to_blender(delta)).astype(np.float32).ravel())
        block.value = 0.0
    return obj, arm


def test_mpi_rig_is_detected_and_baked_as_it_is(model: FlameModel) -> None:
    n_exp = 30
    obj, arm = _make_mpi_rig(model, n_exp)
    rig = find_flame_rig(obj)
    assert rig is not None and rig.kind == "mpi" and rig.armature == arm
    assert rig.expression_blocks[0] == "Exp1" and rig.n_expression == n_exp
    assert rig.keyed_correctives[0] == "Pose1" and rig.keyed_correctives[17] == "Pose18"
    assert rig.bones["jaw"] == "jaw" and rig.bones["left_eye"] == "left_eye"
    anim = _take(model, n_exp=n_exp, seed=2)
    result = bake_animation(arm, anim)  # the armature selected works as well as the mesh
    assert "Shape1" not in {fc.data_path for fc in compat.action_fcurves(result.action, obj.data.shape_keys)}
    assert arm.pose.bones["jaw"].rotation_mode == "AXIS_ANGLE"  # the rig is left as it is
    scene = bpy.context.scene
    key = obj.data.shape_keys
    for t in (0, 6, 9):
        scene.frame_set(1 + t)
        pose = _pose_at(anim, t)
        assert key.key_blocks["Exp1"].value == pytest.approx(anim.channel("exp_000")[t], abs=1e-5)
        assert key.key_blocks["Exp30"].value == pytest.approx(anim.channel("exp_029")[t], abs=1e-5)
        r_neck, r_jaw = rodrigues(pose[1]), rodrigues(pose[2])
        assert key.key_blocks["Pose2"].value == pytest.approx(r_neck[0, 1], abs=1e-5)  # neck, row 0, col 1
        assert key.key_blocks["Pose14"].value == pytest.approx(r_jaw[1, 1] - 1, abs=1e-5)  # jaw, row 1, col 1
        aa = np.array(arm.pose.bones["jaw"].rotation_axis_angle)
        np.testing.assert_allclose(aa[0] * aa[1:], pose[2], atol=1e-5)
        np.testing.assert_allclose(np.array(arm.pose.bones["neck"].rotation_euler),
                                   rotation_channels(pose[1][None], "XYZ")[0], atol=1e-5)
        want = _flame_in_blender(model, _exp_at(anim, t, model.n_expression)[:n_exp], pose)
        assert np.abs(_evaluated(obj) - want).max() < 5e-6  # the keyed Pose correctives agree with the jaw
    assert key.key_blocks["Pose14"].slider_min == -10.0  # widened so negative entries are not clamped


def test_arkit_take_onto_a_flame_head_is_retargeted(model: FlameModel, files: dict[str, Path]) -> None:
    values = np.zeros((6, 52), dtype=np.float32)
    values[:, ARKIT52.index("jawOpen")] = np.linspace(0.0, 1.0, 6)
    values[:, ARKIT52.index("mouthSmileLeft")] = 0.5
    take = Animation(30.0, ARKIT52, values)
    with_lmk = _head(model, model_path=files["pkl"], landmarks_path=files["landmarks"])
    result = bake_animation(with_lmk, take)
    assert result.notes == ()
    mapping = arkit_to_flame(model, load_embedding(files["landmarks"], len(model.faces)))
    want = values.astype(np.float64) @ mapping.matrix.astype(np.float64)
    bpy.context.scene.frame_set(6)
    aa = np.array(with_lmk.parent.pose.bones["jaw"].rotation_quaternion)
    np.testing.assert_allclose(aa, axis_angle_to_quaternion(want[5, -3:]), atol=1e-5)
    assert aa[1] > 0.09  # the mouth opened about X
    no_lmk = _head(model, name="Second", model_path=files["npz"])
    assert bake_animation(no_lmk, take).notes == (JAW_ONLY_WARNING,)
    unknown = _head(model, name="Third")  # made without a remembered model file
    with pytest.raises(AviTalkError, match="model file"):
        bake_animation(unknown, take)


def test_flame_animation_onto_a_plain_mesh_is_refused(model: FlameModel) -> None:
    mesh = bpy.data.meshes.new("Plain")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new("Plain", mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    obj.shape_key_add(name="jawOpen")
    with pytest.raises(AviTalkError, match="needs a FLAME head"):
        bake_animation(obj, _take(model))
    assert len(bpy.data.actions) == 0


# ---- operators and command line ------------------------------------------------------------------------------


@pytest.fixture
def registered():
    avi_talking.register()
    yield
    avi_talking.unregister()


def test_add_flame_head_uses_the_preferences(files: dict[str, Path]) -> None:
    bpy.ops.preferences.addon_enable(module="avi_talking")
    try:
        prefs = bpy.context.preferences.addons["avi_talking"].preferences
        with pytest.raises(RuntimeError, match="choose your FLAME model"):
            bpy.ops.avitalk.add_flame_head()
        prefs.flame_model_path, prefs.flame_landmarks_path = str(files["pkl"]), str(files["landmarks"])
        assert bpy.ops.avitalk.add_flame_head(n_expression=10) == {"FINISHED"}
        rig = find_flame_rig(bpy.context.view_layer.objects.active)
        assert rig is not None and rig.n_expression == 10 and rig.landmarks_path is not None
        prefs.flame_model_path = prefs.flame_landmarks_path = ""
    finally:
        bpy.ops.preferences.addon_disable(module="avi_talking")


def test_operators_add_a_head_and_import_a_sequence(registered: None, files: dict[str, Path], tmp_path: Path) -> None:
    assert bpy.ops.avitalk.add_flame_head(filepath=str(files["pkl"]), n_expression=20) == {"FINISHED"}
    head = bpy.context.view_layer.objects.active
    rig = find_flame_rig(head)
    assert rig is not None and rig.n_expression == 20
    rng = np.random.default_rng(3)
    exp, pose = rng.normal(size=(15, 50)), rng.normal(0, 0.1, size=(15, 6))
    seq = tmp_path / "deca.npz"
    np.savez(seq, exp=exp, pose=pose)
    scene = bpy.context.scene
    scene.render.fps = 24
    assert bpy.ops.avitalk.import_flame_sequence(filepath=str(seq), use_audio=False) == {"FINISHED"}
    assert scene.render.fps == 24 and scene.frame_end == scene.frame_start + 14  # the scene's rate was used
    scene.frame_set(scene.frame_start + 3)
    assert head.data.shape_keys.key_blocks["exp_019"].value == pytest.approx(exp[3, 19], abs=1e-5)
    q = np.array(head.parent.pose.bones["jaw"].rotation_quaternion)
    np.testing.assert_allclose(q, axis_angle_to_quaternion(pose[3, 3:6]), atol=1e-6)
    with pytest.raises(RuntimeError, match="not allowed"):  # an ERROR report raises in background mode
        bpy.ops.avitalk.add_flame_head(filepath=str(_evil(tmp_path)))


def test_link_model_lets_lip_sync_reach_an_mpi_rig(registered: None, model: FlameModel,
                                                   files: dict[str, Path]) -> None:
    obj, arm = _make_mpi_rig(model, model.n_expression)
    bpy.context.view_layer.objects.active = obj
    take = Animation(30.0, ("jawOpen",), np.linspace(0.0, 1.0, 5)[:, None])
    with pytest.raises(AviTalkError, match="Link FLAME Model"):
        bake_animation(obj, take)
    assert bpy.ops.avitalk.link_flame_model(filepath=str(files["pkl"]),
                                                landmarks_path=str(files["landmarks"])) == {"FINISHED"}
    result = bake_animation(obj, take)
    assert result.notes == () and {"jaw_rx", "exp_000"} <= set(result.keyed)
    bpy.context.scene.frame_set(5)
    angle_axis = np.array(arm.pose.bones["jaw"].rotation_axis_angle)
    assert angle_axis[0] > 0.1 and angle_axis[1] > 0.99  # opened about +X, keyed in the rig's own mode


def _evil(tmp_path: Path) -> Path:
    from flame_fixture import write_malicious_pickle

    return write_malicious_pickle(tmp_path / "evil.pkl", tmp_path / "pwned")


def test_cli_import_onto_a_new_flame_head(files: dict[str, Path], tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    exp, jaw = rng.normal(size=(20, 30)), rng.normal(0, 0.1, size=(20, 3))
    seq = tmp_path / "emote.npz"
    np.savez(seq, expression=exp, jaw_pose=jaw, fps=np.array(25.0))
    wav = write_audio(tmp_path / "speech.wav", tone(1.0), 16000)
    out = tmp_path / "seq.blend"
    result = run_cli("import", str(seq), "-o", str(out), "--flame", str(files["npz"]), "--audio", str(wav),
                     "--offset", "0.2")  # the face starts 5 frames into the audio
    assert result.returncode == 0, result.stderr
    assert "lasts" not in result.stderr  # 0.2 s + 20 frames at 25 fps = the 1 s of audio: no length warning
    bpy.ops.wm.open_mainfile(filepath=str(out), load_ui=False)
    rig = find_flame_rig(bpy.data.objects["FLAME Head"])
    assert rig is not None and rig.armature is not None
    scene = bpy.context.scene
    assert scene.render.fps == 25 and scene.frame_end == 25
    if compat.audio_supported():
        strips = list(compat.iter_sound_strips(scene))
        assert len(strips) == 1 and strips[0].frame_start == 1
    for frame, row in ((3, 0), (13, 7)):  # the first frame is held until the sequence starts at frame 6
        scene.frame_set(frame)
        assert rig.mesh.data.shape_keys.key_blocks["exp_029"].value == pytest.approx(exp[row, 29], abs=1e-5)
        np.testing.assert_allclose(np.array(rig.armature.pose.bones["jaw"].rotation_quaternion),
                                   axis_angle_to_quaternion(jaw[row]), atol=1e-6)


def test_cli_bake_onto_a_flame_head(spoken: SpokenClip, files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "flame.blend"
    result = run_cli("bake", str(spoken.path), "-o", str(out), "--flame", str(files["pkl"]),
                     "--landmarks", str(files["landmarks"]), "--transcript", spoken.text, "--model", "procedural",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "trustworthy" not in result.stderr  # with landmarks there is nothing to warn about
    bpy.ops.wm.open_mainfile(filepath=str(out), load_ui=False)
    rig = find_flame_rig(bpy.data.objects["FLAME Head"])
    assert rig is not None and rig.landmarks_path is not None
    jaw_curves = [fc for fc in compat.action_fcurves(rig.armature.animation_data.action, rig.armature)
                  if "jaw" in fc.data_path]
    assert len(jaw_curves) == 4
    opening = [jaw_curves[1].evaluate(f) for f in range(1, bpy.context.scene.frame_end + 1)]  # quaternion x
    assert max(opening) > 0.02 and min(opening) > -0.02  # the jaw opens (about +X) while speaking
    assert bpy.context.scene.camera is not None
    no_lmk = run_cli("bake", str(spoken.path), "-o", str(tmp_path / "jaw_only.blend"), "--flame", str(files["npz"]),
                     "--model", "procedural")
    assert no_lmk.returncode == 0 and "only the jaw is trustworthy" in no_lmk.stderr
