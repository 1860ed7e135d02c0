"""Baking onto shape keys with real bpy (run under bpy 5.0 and bpy 4.2)."""

from __future__ import annotations

import math
import os
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.bpy
bpy = pytest.importorskip("bpy")

from avi_talking.addon import compat  # noqa: E402
from avi_talking.addon.bake import SOUND_TAG, bake_animation, fps_settings, scene_fps  # noqa: E402
from avi_talking.addon.keyframes import write_keys  # noqa: E402
from avi_talking.core.animation import Animation  # noqa: E402
from avi_talking.core.arkit import ARKIT52  # noqa: E402
from avi_talking.core.common.errors import AviTalkError  # noqa: E402

needs_audio = pytest.mark.skipif(
    not compat.audio_supported(), reason="this bpy build has no Audaspace (PyPI bpy 4.2): no sound strips"
)


@pytest.fixture(autouse=True)
def factory_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield
    bpy.ops.wm.read_factory_settings(use_empty=True)


def make_head(key_names=ARKIT52, name="Head"):
    """A four-vertex mesh with a Basis and one shape key per name, each moving one vertex."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)], [], [(0, 1, 2, 3)])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for i, key_name in enumerate(key_names):
        block = obj.shape_key_add(name=key_name, from_mix=False)
        block.data[i % 4].co.z += 0.01 * (i + 1)
    return obj


def make_anim(n_frames=48, fps=30.0, channels=ARKIT52, seed=0):
    rng = np.random.default_rng(seed)
    return Animation(fps, channels, rng.random((n_frames, len(channels))).astype(np.float32))


def make_wav(path: Path, seconds=2.0, rate=16000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = (int(8000 * math.sin(2 * math.pi * 220 * i / rate)) for i in range(int(seconds * rate)))
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return path


def curves_by_block(action, key):
    """{key block name: FCurve} read back through the compat layer."""
    out = {}
    for fc in compat.action_fcurves(action, key):
        assert fc.data_path.startswith('key_blocks["') and fc.data_path.endswith('"].value')
        out[fc.data_path[len('key_blocks["') : -len('"].value')]] = fc
    return out


def save_and_reopen(tmp_path: Path) -> Path:
    blend = tmp_path / "baked.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.read_factory_settings(use_empty=True)  # drop everything in memory first
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    return blend


def scene_state(scene):
    editor = scene.sequence_editor
    return {
        "actions": sorted(a.name for a in bpy.data.actions),
        "sounds": len(bpy.data.sounds),
        "editor": editor is not None,
        "strips": len(compat.sound_strips(scene)) if editor is not None else 0,
        "fps": (scene.render.fps, scene.render.fps_base),
        "range": (scene.frame_start, scene.frame_end),
        "sync": scene.sync_mode,
    }


# ---- keys ---------------------------------------------------------------------------------------------


def test_keys_equal_animation_values_on_every_frame():
    obj = make_head()
    anim = make_anim(n_frames=40)
    result = bake_animation(obj, anim, frame_start=1)
    key = obj.data.shape_keys

    assert key.animation_data.action == result.action
    assert result.keyed == ARKIT52 and result.unmatched == ()
    curves = curves_by_block(result.action, key)
    assert set(curves) == set(ARKIT52)
    for column, name in enumerate(ARKIT52):
        fc = curves[name]
        assert len(fc.keyframe_points) == anim.n_frames
        got = np.array([fc.evaluate(1 + t) for t in range(anim.n_frames)])
        np.testing.assert_allclose(got, anim.values[:, column], atol=1e-6)
        assert {kp.interpolation for kp in fc.keyframe_points} == {"LINEAR"}
    # Linear between keys: half way between frames 5 and 6 is the mean of Animation frames 4 and 5.
    jaw = ARKIT52.index("jawOpen")
    assert curves["jawOpen"].evaluate(5.5) == pytest.approx(anim.values[4:6, jaw].mean(), abs=1e-6)


def test_values_survive_save_and_reopen(tmp_path):
    obj = make_head()
    anim = make_anim(n_frames=30, fps=25)
    bake_animation(obj, anim, frame_start=10)
    save_and_reopen(tmp_path)

    scene = bpy.context.scene
    key = bpy.data.objects["Head"].data.shape_keys
    assert key.animation_data.action is not None
    assert scene_fps(scene) == 25.0
    for t in (0, 1, 7, 29):
        scene.frame_set(10 + t)
        for name in ("jawOpen", "eyeBlinkLeft", "mouthSmileRight", "tongueOut"):
            assert key.key_blocks[name].value == pytest.approx(anim.channel(name)[t], abs=1e-6), (t, name)


def test_values_are_keyed_unclamped():
    obj = make_head(("jawOpen", "mouthClose"))
    values = np.array([[1.5, -0.5], [0.25, 2.0]], dtype=np.float32)
    result = bake_animation(obj, Animation(30, ("jawOpen", "mouthClose"), values))
    curves = curves_by_block(result.action, obj.data.shape_keys)
    assert [curves["jawOpen"].evaluate(f) for f in (1, 2)] == pytest.approx([1.5, 0.25])
    assert [curves["mouthClose"].evaluate(f) for f in (1, 2)] == pytest.approx([-0.5, 2.0])


def test_frame_range_follows_frame_start():
    obj = make_head()
    anim = make_anim(n_frames=75)
    result = bake_animation(obj, anim, frame_start=101)
    scene = bpy.context.scene
    assert result.frame_range == (101, 175)
    assert (scene.frame_start, scene.frame_end) == (101, 175)
    fc = curves_by_block(result.action, obj.data.shape_keys)["jawOpen"]
    assert tuple(fc.range()) == pytest.approx((101.0, 175.0))
    assert fc.evaluate(101 + 42) == pytest.approx(anim.channel("jawOpen")[42], abs=1e-6)


# ---- frame rate ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fps", "expected_fps", "expected_base", "exact"),
    [
        (24, 24, 1.0, 24.0),
        (25, 25, 1.0, 25.0),
        (30, 30, 1.0, 30.0),
        (60, 60, 1.0, 60.0),
        (30000 / 1001, 30, 1.001, 30000 / 1001),
        (29.97, 30, 1.001, 30000 / 1001),
        (23.976, 24, 1.001, 24000 / 1001),
        (59.94, 60, 1.001, 60000 / 1001),
        (12.5, 25, 2.0, 12.5),
    ],
)
def test_scene_frame_rate(fps, expected_fps, expected_base, exact):
    obj = make_head()
    bake_animation(obj, make_anim(n_frames=5, fps=fps))
    render = bpy.context.scene.render
    assert render.fps == expected_fps
    assert render.fps_base == pytest.approx(expected_base, abs=1e-6)
    # fps_base is a float32 in Blender, so 30/1.001 is only good to ~5e-8 relative (1.4e-6 absolute).
    assert scene_fps(bpy.context.scene) == pytest.approx(exact, rel=1e-7)
    assert fps_settings(fps) == (expected_fps, pytest.approx(expected_base))


# ---- sound --------------------------------------------------------------------------------------------


@needs_audio
def test_sound_strip_at_frame_start_survives_reopen(tmp_path):
    wav = make_wav(tmp_path / "line01.wav", seconds=2.0)
    obj = make_head()
    result = bake_animation(obj, make_anim(n_frames=60, fps=30), audio_path=wav, frame_start=5)
    assert result.action.name == "AVI line01"
    assert result.sound_strip is not None
    save_and_reopen(tmp_path)

    scene = bpy.context.scene
    strips = list(compat.iter_sound_strips(scene))
    assert len(strips) == 1
    strip = strips[0]
    assert strip.name == result.sound_strip
    assert strip.get(SOUND_TAG)
    assert strip.frame_start == 5 and strip.frame_final_start == 5
    assert strip.frame_final_duration == 60  # 2 s at 30 fps: the rate was set before the strip was added
    assert os.path.realpath(bpy.path.abspath(strip.sound.filepath)) == os.path.realpath(wav)
    assert scene.sync_mode == "AUDIO_SYNC"


@needs_audio
def test_rebake_replaces_only_its_own_strip(tmp_path):
    wav1 = make_wav(tmp_path / "a.wav", seconds=1.0)
    wav2 = make_wav(tmp_path / "b.wav", seconds=1.0)
    artist = make_wav(tmp_path / "music.wav", seconds=3.0)
    scene = bpy.context.scene
    music = compat.new_sound_strip(scene, "Music", str(artist), 1, 1)
    obj = make_head()

    bake_animation(obj, make_anim(fps=24), audio_path=wav1)
    bake_animation(obj, make_anim(fps=24), audio_path=wav2)

    strips = list(compat.iter_sound_strips(scene))
    ours = [s for s in strips if s.get(SOUND_TAG)]
    assert len(ours) == 1
    assert Path(bpy.path.abspath(ours[0].sound.filepath)).name == "b.wav"
    assert ours[0].frame_final_start == 1
    assert music.name in {s.name for s in strips}
    assert ours[0].channel != music.channel  # they overlap in time, so they must not share a channel


@pytest.mark.skipif(compat.audio_supported(), reason="only builds without Audaspace refuse audio")
def test_audio_without_audaspace_is_refused_before_any_change(tmp_path):
    wav = make_wav(tmp_path / "line.wav")
    obj = make_head()
    before = scene_state(bpy.context.scene)
    with pytest.raises(AviTalkError, match="no audio support"):
        bake_animation(obj, make_anim(), audio_path=wav)
    assert scene_state(bpy.context.scene) == before


# ---- actions ------------------------------------------------------------------------------------------


def keys_snapshot(action, key):
    out = {}
    for fc in compat.action_fcurves(action, key):
        co = np.zeros(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[fc.data_path] = co
    return out


def test_two_bakes_make_two_actions_and_keep_the_artists(tmp_path):
    obj = make_head()
    key = obj.data.shape_keys
    artist = bpy.data.actions.new("Artist smile")
    fc = compat.new_action_fcurve(artist, key, 'key_blocks["mouthSmileLeft"].value')
    write_keys(fc, np.array([1, 12, 24]), np.array([0.0, 0.8, 0.0]))
    compat.assign_action(key, artist)
    snapshot = keys_snapshot(artist, key)

    first = bake_animation(obj, make_anim(seed=1))
    second = bake_animation(obj, make_anim(seed=2))
    names = {"Artist smile", first.action.name, second.action.name}

    assert first.action != second.action and first.action.name != second.action.name
    assert key.animation_data.action == second.action
    assert {"Artist smile", first.action.name, second.action.name} <= set(bpy.data.actions.keys())
    after = keys_snapshot(bpy.data.actions["Artist smile"], key)
    assert after.keys() == snapshot.keys() == {'key_blocks["mouthSmileLeft"].value'}
    np.testing.assert_array_equal(after['key_blocks["mouthSmileLeft"].value'], snapshot[next(iter(snapshot))])
    assert bpy.data.actions["Artist smile"].use_fake_user and first.action.use_fake_user

    save_and_reopen(tmp_path)  # unassigned actions are kept on save thanks to their fake user
    key = bpy.data.objects["Head"].data.shape_keys
    assert names == {"Artist smile", "AVI take", "AVI take.001"}
    assert names <= set(bpy.data.actions.keys())
    assert key.animation_data.action.name == "AVI take.001"


def test_action_name_is_never_reused():
    obj = make_head()
    existing = bpy.data.actions.new("My take")
    result = bake_animation(obj, make_anim(), action_name="My take")
    assert result.action != existing
    assert result.action.name == "My take.001"
    assert existing.name == "My take"
    assert compat.action_fcurves(existing, obj.data.shape_keys) == []


# ---- channel matching ---------------------------------------------------------------------------------


def test_channel_map_and_unmatched_channels():
    obj = make_head(("MouthOpen", "Blink_L", "jawForward", 'say "ah"'))
    anim = make_anim(n_frames=12)
    mapping = {
        "jawOpen": "MouthOpen",
        "eyeBlinkLeft": "Blink_L",
        "tongueOut": 'say "ah"',
        "cheekPuff": "nope",
    }
    result = bake_animation(obj, anim, channel_map=mapping)

    assert result.keyed == ("eyeBlinkLeft", "jawForward", "jawOpen", "tongueOut")  # Animation's order
    assert set(result.unmatched) == set(ARKIT52) - set(result.keyed)
    curves = curves_by_block(result.action, obj.data.shape_keys)
    assert set(curves) == {"MouthOpen", "Blink_L", "jawForward", 'say \\"ah\\"'}
    for block, channel in [
        ("MouthOpen", "jawOpen"),
        ("Blink_L", "eyeBlinkLeft"),
        ("jawForward", "jawForward"),
    ]:
        got = [curves[block].evaluate(1 + t) for t in range(anim.n_frames)]
        np.testing.assert_allclose(got, anim.channel(channel), atol=1e-6)
    bpy.context.scene.frame_set(4)
    assert obj.data.shape_keys.key_blocks['say "ah"'].value == pytest.approx(anim.channel("tongueOut")[3])


# ---- errors leave the scene as it was ----------------------------------------------------------------


@pytest.fixture
def busy_scene(tmp_path):
    """A scene with a non-default rate and range and an artist action, to see that nothing moves."""
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 25, 1.0
    scene.frame_start, scene.frame_end = 3, 33
    obj = make_head(("jawOpen", "mouthClose"))
    key = obj.data.shape_keys
    artist = bpy.data.actions.new("Artist")
    write_keys(compat.new_action_fcurve(artist, key, 'key_blocks["jawOpen"].value'), [1, 2], [0.1, 0.2])
    compat.assign_action(key, artist)
    return obj


def _no_keys_object():
    mesh = bpy.data.meshes.new("Plain")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new("Plain", mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def _basis_only_object():
    obj = _no_keys_object()
    obj.shape_key_add(name="Basis")
    return obj


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no_shape_keys", "has no shape keys"),
        ("basis_only", "has no shape keys"),
        ("no_channel_matches", "matches a shape key"),
        ("missing_audio", "does not exist"),
        ("map_conflict", "both map to shape key"),
        ("frame_start_negative", "outside Blender's range"),
    ],
)
def test_errors_change_nothing(busy_scene, tmp_path, case, message):
    obj = busy_scene
    anim = make_anim(fps=30)
    kwargs = {}
    if case == "no_shape_keys":
        obj = _no_keys_object()
    elif case == "basis_only":
        obj = _basis_only_object()
    elif case == "no_channel_matches":
        anim = make_anim(channels=("exp_000", "exp_001", "jaw_rx"), fps=30)
    elif case == "missing_audio":
        kwargs["audio_path"] = tmp_path / "nowhere.wav"
    elif case == "map_conflict":
        kwargs["channel_map"] = {"mouthFunnel": "jawOpen"}
    elif case == "frame_start_negative":
        kwargs["frame_start"] = -5
    scene = bpy.context.scene
    before = scene_state(scene)
    key = busy_scene.data.shape_keys

    with pytest.raises(AviTalkError, match=message) as info:
        bake_animation(obj, anim, **kwargs)

    assert "\n" not in str(info.value)
    assert scene_state(scene) == before
    assert key.animation_data.action.name == "Artist"
    assert scene_fps(scene) == 25.0


def test_object_none_is_a_user_error():
    with pytest.raises(AviTalkError):
        bake_animation(None, make_anim())


# ---- the key writer -----------------------------------------------------------------------------------


def test_write_keys_replaces_keys_and_sets_interpolation():
    obj = make_head(("jawOpen",))
    key = obj.data.shape_keys
    action = bpy.data.actions.new("t")
    fc = compat.new_action_fcurve(action, key, 'key_blocks["jawOpen"].value')
    write_keys(fc, np.arange(10), np.linspace(0, 1, 10))
    write_keys(fc, np.array([5.0, 1.0, 3.0]), np.array([0.5, 0.1, 0.3]), interpolation="CONSTANT")
    assert len(fc.keyframe_points) == 3
    assert [tuple(kp.co) for kp in fc.keyframe_points] == [
        pytest.approx((1, 0.1)),
        pytest.approx((3, 0.3)),
        pytest.approx((5, 0.5)),
    ]
    assert {kp.interpolation for kp in fc.keyframe_points} == {"CONSTANT"}
    assert fc.evaluate(2.9) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="interpolation"):
        write_keys(fc, [1.0], [1.0], interpolation="WOBBLY")
    with pytest.raises(ValueError, match="2 frames but 1 values"):
        write_keys(fc, [1.0, 2.0], [1.0])
