"""The rig mapping in Blender and on the command line (real bpy, 5.0 and 4.2): saved on the rig as a custom
property, exported and imported, used by ``--mapping`` and by ``--blend --object``; masks and layers from the
CLI; every bake names the channels it could not place (CLI line, batch summary, the take, the panel)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import SpokenClip, run_cli

pytestmark = pytest.mark.bpy
bpy = pytest.importorskip("bpy")

from test_addon import RecordingLayout  # noqa: E402
from test_bake import curves_by_block, make_head, save_and_reopen  # noqa: E402
from test_bake_layers import artist_rig, snapshot  # noqa: E402

import avi_talking  # noqa: E402
from avi_talking.addon import compat, rig_mapping  # noqa: E402
from avi_talking.addon.bake import PLACEMENT_PROPERTY  # noqa: E402
from avi_talking.core.arkit import ARKIT52  # noqa: E402
from avi_talking.core.rigs.fit import fit_rig  # noqa: E402
from avi_talking.core.rigs.mapping import RigMapping, read_mapping, write_mapping  # noqa: E402
from avi_talking.core.rigs.presets import ICT_FACEKIT_KEYS  # noqa: E402

ICT_AND_TONGUE = (*ICT_FACEKIT_KEYS, "Tongue_custom")  # a key no preset or name rule gives to tongueOut


@pytest.fixture
def registered():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    avi_talking.register()
    yield
    avi_talking.unregister()
    bpy.ops.wm.read_factory_settings(use_empty=True)


def active(obj: Any) -> Any:
    bpy.context.view_layer.objects.active = obj
    return obj


def test_fit_is_saved_on_the_rig_exported_imported_and_kept_in_the_blend(registered: None, tmp_path: Path) -> None:
    obj = active(make_head(ICT_AND_TONGUE, name="ICT"))
    assert bpy.ops.avitalk.match_shape_keys() == {"FINISHED"}
    saved = rig_mapping.saved_mapping(obj)
    assert saved == fit_rig(ARKIT52, list(ICT_AND_TONGUE)).mapping and saved is not None
    assert saved.preset == "ict-facekit" and saved.keys_of("browInnerUp") == ("browInnerUp_L", "browInnerUp_R")
    assert isinstance(obj[rig_mapping.SAVED_PROPERTY], str)  # JSON text: travels in the .blend
    items = {i.channel: i for i in obj.avi_talking_mapping}
    assert items["browInnerUp"].block == "browInnerUp_L" and items["tongueOut"].block == ""
    items["tongueOut"].block = "Tongue_custom"  # the artist's pick

    exported_path = tmp_path / "ict.json"
    assert bpy.ops.avitalk.export_rig_mapping(filepath=str(exported_path)) == {"FINISHED"}
    exported = read_mapping(exported_path)
    assert exported == saved.with_picks({"tongueOut": "Tongue_custom"}, ICT_AND_TONGUE)
    assert exported.keys_of("cheekPuff") == ("cheekPuff_L", "cheekPuff_R")
    assert json.loads(exported_path.read_text(encoding="utf-8"))["rig"] == "ICT"

    save_and_reopen(tmp_path)
    obj = active(bpy.data.objects["ICT"])
    assert rig_mapping.saved_mapping(obj) == saved
    assert rig_mapping.effective(obj) == exported  # the pick is kept with the rig too

    other = active(make_head(ICT_AND_TONGUE, name="Other"))
    assert bpy.ops.avitalk.import_rig_mapping(filepath=str(exported_path)) == {"FINISHED"}
    assert rig_mapping.saved_mapping(other) == exported
    assert {i.channel: i.block for i in other.avi_talking_mapping}["tongueOut"] == "Tongue_custom"

    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "avi-talking-rig-mapping", "version": 1, "keys": {"x": {"tongue": 1}}}')
    before = other[rig_mapping.SAVED_PROPERTY]
    with pytest.raises(RuntimeError, match="keys.x.tongue is not an ARKit channel"):
        bpy.ops.avitalk.import_rig_mapping(filepath=str(bad))
    assert other[rig_mapping.SAVED_PROPERTY] == before
    other[rig_mapping.SAVED_PROPERTY] = '{"format": "avi-talking-rig-mapping", "version": 1}'
    with pytest.raises(Exception, match="the rig mapping saved on 'Other' is missing 'keys'"):
        rig_mapping.bake_inputs(other)


def test_panel_bake_on_a_layer_reports_what_it_could_not_place(spoken: SpokenClip) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.preferences.addon_enable(module="avi_talking")
    try:
        obj, artist = artist_rig()
        for kb in obj.data.shape_keys.key_blocks:  # an ICT-like rig: split brows, no tongue key
            if kb.name in ("tongueOut",):
                kb.name = "tongue_tip"
        active(obj)
        before = snapshot(artist, obj.data.shape_keys)
        scene = bpy.context.scene
        scene.avi_talking.audio_path = str(spoken.path)
        layer = scene.avi_talking_layer
        layer.groups = {"lips", "jaw", "tongue"}
        layer.use_layer, layer.influence, layer.blend = True, 0.5, "ADD"
        assert bpy.ops.avitalk.bake_audio() == {"FINISHED"}

        key = obj.data.shape_keys
        take = bpy.data.actions[key.animation_data.nla_tracks[-1].strips[0].action.name]
        info = json.loads(take[PLACEMENT_PROPERTY])
        assert info == {"placed": 27, "not_placed": ["tongueOut"], "groups": ["lips", "jaw", "tongue"],
                        "layer": take.name}
        strip = key.animation_data.nla_tracks[-1].strips[0]
        assert strip.blend_type == "ADD" and strip.use_animated_influence
        assert snapshot(artist, key) == before
        log: list[str] = []
        panel = type("P", (), {"layout": RecordingLayout(log)})()
        bpy.types.AVITALK_PT_rig_fit.draw(panel, bpy.context)
        assert f"label:{take.name}: baked 27 of 28 channels (lips, jaw, tongue); not placed: tongueOut" in log
        bpy.types.AVITALK_PT_bake_layer.draw(panel, bpy.context)
        assert "prop:groups" in log and "prop:influence" in log
    finally:
        bpy.ops.preferences.addon_disable(module="avi_talking")


def _ict_blend(tmp_path: Path, saved: RigMapping | None = None) -> Path:
    """A .blend with an ICT-FaceKit rig "ICT" whose artist action keys a brow; ``saved`` saved on the rig."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = make_head(ICT_FACEKIT_KEYS, name="ICT")
    key = obj.data.shape_keys
    artist = bpy.data.actions.new("Artist")
    from avi_talking.addon.keyframes import write_keys

    write_keys(compat.new_action_fcurve(artist, key, 'key_blocks["browDown_L"].value'), np.array([1, 20]),
               np.array([0.3, 0.8]))
    compat.assign_action(key, artist)
    if saved is not None:
        obj[rig_mapping.SAVED_PROPERTY] = saved.to_json()
    path = tmp_path / "rig.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def _reopen(path: Path) -> Any:
    bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    return bpy.data.objects["ICT"].data.shape_keys


def test_cli_mapping_file_and_the_unplaced_report(tmp_path: Path, spoken: SpokenClip) -> None:
    rig = _ict_blend(tmp_path)
    mapping = tmp_path / "ict.json"
    write_mapping(fit_rig(ARKIT52, list(ICT_FACEKIT_KEYS)).mapping, mapping)
    out = tmp_path / "out.blend"
    done = run_cli("bake", str(spoken.path), "--blend", str(rig), "--object", "ICT", "--mapping", str(mapping),
                   "-o", str(out))
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("baked "))
    # the rig has no head bone named: the head rotations are reported, like the tongue, as not placed
    assert line.startswith("baked 51 of 55 channels on 'ICT', frames 1-")
    assert line.endswith("; not placed: tongueOut, headYaw, headPitch, headRoll")
    key = _reopen(out)
    curves = curves_by_block(key.animation_data.action, key)
    assert set(curves) == set(ICT_FACEKIT_KEYS)
    left = [curves["browInnerUp_L"].evaluate(f) for f in range(1, 20)]
    assert left == [curves["browInnerUp_R"].evaluate(f) for f in range(1, 20)] and max(left) > 0


def test_cli_saved_mapping_mask_and_layer_leave_the_artist_alone(tmp_path: Path, spoken: SpokenClip) -> None:
    saved = RigMapping.from_dict({"jawOpen": {"jawOpen": 1}, "mouthSmile_L": {"mouthSmileLeft": 1},
                                  "browDown_R": {"browDownRight": 1}}, "hand-made")
    rig = _ict_blend(tmp_path, saved)
    key = _reopen(rig)
    before = snapshot(key.animation_data.action, key)
    out = tmp_path / "layered.blend"
    done = run_cli("bake", str(spoken.path), "--blend", str(rig), "--object", "ICT", "--only", "lips,jaw",
                   "--layer", "--influence", "0.5", "-o", str(out))
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("baked "))
    found = re.match(r"baked 2 of 27 channels \(lips, jaw\) on 'ICT' as layer '(AVI [^']+)'", line)
    assert found is not None, line
    layer = found.group(1)  # "AVI sentence", or "AVI take" where the bpy build has no audio (4.2's wheel)
    assert "; not placed: jawForward, jawLeft, jawRight, mouthClose, mouthFunnel," in line  # the saved mapping's
    key = _reopen(out)
    ad = key.animation_data
    assert ad.action is None and [t.name for t in ad.nla_tracks] == ["Artist", "AVI Rest", layer]
    assert snapshot(bpy.data.actions["Artist"], key) == before
    take = ad.nla_tracks[layer].strips[0].action
    assert set(curves_by_block(take, key)) == {"jawOpen", "mouthSmile_L"}  # the saved mapping, masked


@pytest.mark.parametrize(("extra", "message"), [
    (["--influence", "0.5"], "--influence needs --layer"),
    (["--layer", "--influence", "2"], "influence must be between 0 and 1"),
    (["--only", "lips,ears"], "--only: 'ears' is not a channel group"),
    (["--layer", "--flame", "x.pkl"], "are for shape-key rigs, not --flame heads"),
])
def test_cli_refuses_bad_rig_options_before_any_work(tmp_path: Path, spoken: SpokenClip, extra: list[str],
                                                     message: str) -> None:
    out = tmp_path / "o.blend"
    if "--flame" in extra:
        (tmp_path / "x.pkl").write_bytes(b"\x80\x04N.")
        extra = [e.replace("x.pkl", str(tmp_path / "x.pkl")) for e in extra]
    done = run_cli("bake", str(spoken.path), *extra, "-o", str(out))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and done.stderr.startswith("error:")
    assert message in done.stderr and not out.exists()


def test_batch_names_unplaced_channels_in_its_summary(tmp_path: Path, spoken: SpokenClip) -> None:
    folder = tmp_path / "lines"
    folder.mkdir()
    shutil.copy(spoken.path, folder / "line.wav")
    rig = _ict_blend(tmp_path)
    out = tmp_path / "out"
    done = run_cli("batch", str(folder), "-o", str(out), "--blend", str(rig), "--object", "ICT", "--only", "brows")
    assert done.returncode == 0, done.stderr
    entry = json.loads((out / "batch_summary.json").read_text())["files"][0]
    assert entry["baked"] == "baked 5 of 5 channels (brows)" and entry["not_placed"] == []
    assert "line.wav: ok line.blend (baked 5 of 5 channels (brows))" in done.stderr
    takes = run_cli("batch", str(folder), "-o", str(out), "--takes", "all.blend", "--only", "lips,tongue",
                    "--blend", str(rig), "--object", "ICT")
    assert takes.returncode == 0, takes.stderr
    entry = json.loads((out / "batch_summary.json").read_text())["files"][0]
    assert entry["not_placed"] == ["tongueOut"] and entry["baked"].startswith("baked 23 of 24 channels")
