"""The add-on inside real bpy: register/unregister, the operators end to end in background mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SpokenClip

pytestmark = pytest.mark.bpy
bpy = pytest.importorskip("bpy")

import avi_talking  # noqa: E402
from avi_talking.addon import compat  # noqa: E402
from avi_talking.addon.head import is_builtin_head  # noqa: E402


@pytest.fixture
def registered():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    avi_talking.register()
    yield
    avi_talking.unregister()


def test_register_and_unregister_leave_nothing_behind() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    before_ops = set(dir(bpy.ops.avi_talking))
    avi_talking.register()
    assert hasattr(bpy.types.Scene, "avi_talking")
    assert {"add_head", "bake_audio"} <= set(dir(bpy.ops.avi_talking))
    assert hasattr(bpy.types, "AVITALK_PT_main")
    avi_talking.unregister()
    assert not hasattr(bpy.types.Scene, "avi_talking")
    assert not hasattr(bpy.types, "AVITALK_PT_main")
    assert set(dir(bpy.ops.avi_talking)) == before_ops
    avi_talking.register()  # and again: registration must be repeatable
    avi_talking.unregister()


def test_add_head_operator(registered: None) -> None:
    scene = bpy.context.scene
    scene.cursor.location = (1.0, 2.0, 0.5)
    assert bpy.ops.avi_talking.add_head(with_camera=True) == {"FINISHED"}
    head = bpy.context.view_layer.objects.active
    assert is_builtin_head(head) and len(head.data.shape_keys.key_blocks) == 53
    assert tuple(head.location) == pytest.approx((1.0, 2.0, 0.5))
    assert scene.camera is not None


def test_bake_operator_end_to_end(registered: None, spoken: SpokenClip, tmp_path: Path) -> None:
    scene = bpy.context.scene
    bpy.ops.avi_talking.add_head()
    head = bpy.context.view_layer.objects.active
    settings = scene.avi_talking
    settings.audio_path = str(spoken.path)
    settings.transcript = spoken.text
    settings.use_scene_fps = False
    settings.fps = 25.0
    assert bpy.ops.avi_talking.bake_audio() == {"FINISHED"}
    key = head.data.shape_keys
    action = key.animation_data.action
    assert len(compat.action_fcurves(action, key)) == 52
    assert scene.render.fps == 25 and scene.frame_end > 50
    # the PyPI bpy 4.2 wheel is built without audio: it bakes the keys and skips the strip
    assert len(list(compat.iter_sound_strips(scene))) == (1 if compat.audio_supported() else 0)
    # a second bake is a new take: a new Action, the first one kept
    settings.seed = 1
    assert bpy.ops.avi_talking.bake_audio() == {"FINISHED"}
    assert key.animation_data.action != action and action.name in bpy.data.actions


def test_bake_operator_reports_bad_audio(registered: None, tmp_path: Path) -> None:
    bpy.ops.avi_talking.add_head()
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    bpy.context.scene.avi_talking.audio_path = str(bad)
    with pytest.raises(RuntimeError, match="not an audio file"):
        bpy.ops.avi_talking.bake_audio()  # in background mode an ERROR report raises
    assert bpy.context.view_layer.objects.active.data.shape_keys.animation_data is None
