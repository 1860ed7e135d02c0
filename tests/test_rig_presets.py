"""Bakes onto rigs named after each preset (real bpy, 5.0 and 4.2): every channel the preset maps is keyed,
split keys are both driven, a weighted key holds its weighted sum, and what has no key is reported."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.bpy
bpy = pytest.importorskip("bpy")

from test_bake import curves_by_block, make_anim, make_head  # noqa: E402

from avi_talking.addon.bake import bake_animation  # noqa: E402
from avi_talking.core.arkit import ARKIT52  # noqa: E402
from avi_talking.core.rigs import presets  # noqa: E402
from avi_talking.core.rigs.mapping import RigMapping  # noqa: E402
from avi_talking.core.rigs.report import placement_line  # noqa: E402


@pytest.fixture(autouse=True)
def empty_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield
    bpy.ops.wm.read_factory_settings(use_empty=True)


def keyed_values(result, key, n_frames: int) -> dict[str, np.ndarray]:
    return {block: np.array([fc.evaluate(1 + t) for t in range(n_frames)], dtype=np.float32)
            for block, fc in curves_by_block(result.action, key).items()}


@pytest.mark.parametrize("preset", presets.PRESETS, ids=lambda p: p.name)
def test_a_rig_named_after_each_preset_is_fully_driven(preset: presets.Preset) -> None:
    names = preset.key_names()
    obj = make_head(names, name="Rig")
    anim = make_anim(n_frames=16, seed=5)
    result = bake_animation(obj, anim)
    key = obj.data.shape_keys
    got = keyed_values(result, key, anim.n_frames)

    assert set(got) == set(names)  # every key of the preset is keyed
    assert set(result.keyed) == set(preset.table)
    assert result.unmatched == tuple(c for c in ARKIT52 if c not in preset.table)
    for block in names:
        truth = sum(weight * anim.channel(channel) for channel, entries in preset.table.items()
                    for k, weight in entries if k == block)
        np.testing.assert_allclose(got[block], truth, atol=1e-6, err_msg=block)
    split = [keys for keys in (tuple(k for k, _ in entries) for entries in preset.table.values()) if len(keys) > 1]
    for keys in split:  # one channel, several keys: each carries the channel
        for block in keys[1:]:
            np.testing.assert_array_equal(got[block], got[keys[0]])
    print(f"{preset.name}: {placement_line(len(result.keyed), result.unmatched)}")


def test_ict_facekit_split_brows_and_cheeks_are_alive() -> None:
    obj = make_head(presets.ICT_FACEKIT_KEYS, name="ICTFaceModel")
    anim = make_anim(n_frames=8, seed=2)
    result = bake_animation(obj, anim)
    got = keyed_values(result, obj.data.shape_keys, anim.n_frames)
    for side in ("_L", "_R"):
        np.testing.assert_array_equal(got[f"browInnerUp{side}"], anim.channel("browInnerUp"))
        np.testing.assert_array_equal(got[f"cheekPuff{side}"], anim.channel("cheekPuff"))
    assert placement_line(len(result.keyed), result.unmatched) == "baked 51 of 52 channels; not placed: tongueOut"


def test_a_mapping_given_is_used_whole_and_its_missing_keys_are_noted() -> None:
    obj = make_head(("MTH_Open", "Blink"), name="Toon")
    anim = make_anim(n_frames=6, seed=4)
    mapping = RigMapping.from_dict({"MTH_Open": {"jawOpen": 0.8, "mouthFunnel": 0.2},
                                    "Blink": {"eyeBlinkLeft": 0.5, "eyeBlinkRight": 0.5},
                                    "Gone": {"tongueOut": 1}})
    result = bake_animation(obj, anim, mapping=mapping)
    got = keyed_values(result, obj.data.shape_keys, anim.n_frames)
    np.testing.assert_allclose(got["MTH_Open"], 0.8 * anim.channel("jawOpen") + 0.2 * anim.channel("mouthFunnel"),
                               atol=1e-6)
    np.testing.assert_allclose(got["Blink"], 0.5 * (anim.channel("eyeBlinkLeft") + anim.channel("eyeBlinkRight")),
                               atol=1e-6)
    assert set(result.keyed) == {"jawOpen", "mouthFunnel", "eyeBlinkLeft", "eyeBlinkRight"}
    assert "tongueOut" in result.unmatched and len(result.unmatched) == 48
    assert result.notes == ("the rig mapping names 1 shape keys 'Toon' lacks (Gone)",)
