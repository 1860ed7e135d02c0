"""Rig fitting without Blender: presets, one channel onto both sided keys, weighted keys, channel groups,
the mapping file and the placement report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from avi_talking.core.arkit import ARKIT52
from avi_talking.core.common.errors import AviTalkError, FormatError
from avi_talking.core.rigs import presets
from avi_talking.core.rigs.channel_groups import GROUPS, parse_groups, select
from avi_talking.core.rigs.fit import NAMES_ONLY, fit_rig, preset_counts
from avi_talking.core.rigs.layer import BakeLayer
from avi_talking.core.rigs.mapping import RigMapping, bake_values, matrix, read_mapping, write_mapping
from avi_talking.core.rigs.names import find_key, match_merged, match_names, match_split
from avi_talking.core.rigs.report import placement_line

# What each preset places of the 52 ARKit channels on a rig named its way (the report's figures).
EXPECTED = {"arkit": 52, "ict-facekit": 51, "cc4": 52, "cc3": 35, "apple-numbered": 52}


@pytest.mark.parametrize("preset", presets.PRESETS, ids=lambda p: p.name)
def test_each_preset_places_its_channels_and_is_the_one_chosen(preset: presets.Preset) -> None:
    blocks = ["Basis", *preset.key_names()]
    fit = fit_rig(ARKIT52, blocks)
    assert fit.preset == preset.name
    assert 52 - len(fit.unplaced) == EXPECTED[preset.name] == len(preset.table)
    assert set(fit.unplaced) == set(ARKIT52) - set(preset.table)
    for channel, entries in preset.table.items():  # every key the preset names is driven, as it says
        for key, weight in entries:
            assert (channel, weight) in dict(fit.mapping.keys)[key]
    assert {k for k, _ in fit.mapping.keys} == set(preset.key_names())


def test_ict_facekit_drives_both_split_keys() -> None:
    fit = fit_rig(ARKIT52, presets.ICT_FACEKIT_KEYS)
    assert fit.mapping.keys_of("browInnerUp") == ("browInnerUp_L", "browInnerUp_R")
    assert fit.mapping.keys_of("cheekPuff") == ("cheekPuff_L", "cheekPuff_R")
    assert fit.unplaced == ("tongueOut",)  # ICT-FaceKit has no tongue
    assert len(match_names(ARKIT52, presets.ICT_FACEKIT_KEYS)) == 49  # one to one, as before: the split stay dead


def test_character_creator_names_keep_which_eye_looks_where() -> None:
    fit = fit_rig(ARKIT52, [f"CC_Base_Body.{n}" for n in presets.CC4.key_names()])  # a prefix before each name
    assert fit.preset == "cc4" and not fit.unplaced
    assert fit.mapping.keys_of("eyeLookInLeft") == ("CC_Base_Body.Eye_L_Look_R",)
    assert fit.mapping.keys_of("eyeLookOutRight") == ("CC_Base_Body.Eye_R_Look_R",)
    assert len(fit.mapping.keys_of("mouthFunnel")) == 4
    widen = dict(fit_rig(ARKIT52, presets.CC3.key_names()).mapping.keys)["Mouth_Widen_Sides"]
    assert widen == (("mouthStretchLeft", 0.5), ("mouthStretchRight", 0.5))


def test_numbered_names_are_their_own_preset_whatever_the_case() -> None:
    blocks = [n.lower() for n in presets.APPLE_NUMBERED.key_names()]
    fit = fit_rig(ARKIT52, blocks)
    assert fit.preset == "apple-numbered" and not fit.unplaced
    assert fit.mapping.keys_of("eyeLookOutLeft") == ("a10_eye_look_out_left",)


def test_the_name_matcher_splits_and_merges_sides() -> None:
    used: set[str] = set()
    assert match_split(["browInnerUp", "jawOpen"], ["Face.browInnerUp_L", "browInnerUp.R", "jawOpen"], used) == {
        "browInnerUp": ("Face.browInnerUp_L", "browInnerUp.R")}
    used = set()
    assert match_merged(["eyeBlinkLeft", "eyeBlinkRight", "jawOpen"], ["EyeBlink", "jawOpen"], used) == {
        "EyeBlink": ("eyeBlinkLeft", "eyeBlinkRight")}
    fit = fit_rig(ARKIT52, ["eye_blink", "jawOpen", "mouthSmile_L", "mouthSmile_R"], NAMES_ONLY)
    assert dict(fit.mapping.keys)["eye_blink"] == (("eyeBlinkLeft", 0.5), ("eyeBlinkRight", 0.5))
    assert find_key("Eye_L_Look_R", ["Eye_R_Look_R", "x_Eye_L_Look_R"], set()) == "x_Eye_L_Look_R"
    assert find_key("jawOpen", ["JAW_OPEN", "rig_jawOpen"], set()) == "JAW_OPEN"


def test_preset_counts_and_unknown_preset() -> None:
    counts = preset_counts(ARKIT52, presets.ICT_FACEKIT_KEYS)
    assert counts["ict-facekit"] == 51 and counts["cc4"] < 30  # CC4 spells some keys as ICT does (Eye_Blink_L)
    assert fit_rig(ARKIT52, ["jawOpen"], "vrm").preset == "arkit"  # VRoid/VRM perfect sync: ARKit names
    with pytest.raises(AviTalkError, match="no rig preset 'rigify'"):
        fit_rig(ARKIT52, ["jawOpen"], "rigify")


def test_channel_groups() -> None:
    assert sum(len(GROUPS[g]) for g in GROUPS if g != "head") == 52
    assert parse_groups("jaw, LIPS,jaw") == ("lips", "jaw")
    assert parse_groups("mouth") == ("lips", "jaw", "tongue")
    selected, left = select(ARKIT52, ("lips", "jaw"))
    assert len(selected) == 27 and len(left) == 25 and "tongueOut" in left
    assert select([*ARKIT52, "headYaw", "exp_000"], ("head",)) == (("headYaw",), (*ARKIT52, "exp_000"))
    for bad, message in [("lips,teeth", "'teeth' is not a channel group"), (" , ", "is empty")]:
        with pytest.raises(AviTalkError, match=message) as info:
            parse_groups(bad, "--only")
        assert str(info.value).startswith("--only") and "lips, jaw" in str(info.value)


def test_layer_options_are_checked() -> None:
    assert BakeLayer(0.5, "ADD").influence == 0.5
    for kwargs in ({"influence": 1.5}, {"influence": float("nan")}, {"blend": "COMBINE"}):
        with pytest.raises(AviTalkError):
            BakeLayer(**kwargs)  # type: ignore[arg-type]


def test_values_are_a_matrix_product_exact_for_copies() -> None:
    rng = np.random.default_rng(3)
    values = rng.random((40, 3)).astype(np.float32)
    channels = ("eyeBlinkLeft", "eyeBlinkRight", "browInnerUp")
    mapping = RigMapping.from_dict({"blink": {"eyeBlinkLeft": 0.5, "eyeBlinkRight": 0.5},
                                    "brow_L": {"browInnerUp": 1}, "brow_R": {"browInnerUp": 1},
                                    "tongue": {"tongueOut": 1}})  # the animation has no tongue: no curve
    keys, curves = bake_values(values, channels, mapping)
    assert keys == ("blink", "brow_L", "brow_R") and curves.dtype == np.float32
    np.testing.assert_array_equal(curves[:, 1], values[:, 2])  # weight 1: bit-identical
    np.testing.assert_array_equal(curves[:, 2], values[:, 2])
    np.testing.assert_allclose(curves[:, 0], 0.5 * (values[:, 0] + values[:, 1]), rtol=1e-6)
    _, weights = matrix(channels, mapping)
    assert weights.shape == (3, 3) and weights[0, 0] == 0.5
    values[3, 2] = np.nan
    with pytest.raises(AviTalkError, match="'browInnerUp' holds values that are not finite"):
        bake_values(values, channels, mapping)


def test_picks_masks_and_missing_keys() -> None:
    mapping = RigMapping.from_dict({"jawOpen": {"jawOpen": 1}, "mouthClose": {"mouthClose": 1},
                                    "lips": {"mouthFunnel": 1, "mouthPucker": 0.5}})
    blocks = ["jawOpen", "mouthClose", "lips", "MTH_A"]
    picked = mapping.with_picks({"jawOpen": "MTH_A", "mouthClose": ""}, blocks)
    assert picked.as_dict() == {"lips": {"mouthFunnel": 1.0, "mouthPucker": 0.5}, "MTH_A": {"jawOpen": 1.0}}
    with pytest.raises(AviTalkError, match="channels 'jawOpen' and 'mouthFunnel' both map to shape key 'jawOpen'"):
        mapping.with_picks({"mouthFunnel": "jawOpen"}, blocks)
    assert mapping.restricted(["mouthPucker"]).as_dict() == {"lips": {"mouthPucker": 0.5}}
    kept, missing = mapping.on_keys(["jawOpen", "lips"])
    assert missing == ("mouthClose",) and kept.placed() == {"jawOpen", "mouthFunnel", "mouthPucker"}


def test_mapping_file_round_trip(tmp_path: Path) -> None:
    fit = fit_rig(ARKIT52, presets.ICT_FACEKIT_KEYS)
    path = tmp_path / "ict.json"
    write_mapping(fit.mapping, path, rig="ICTFaceModel")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["format"] == "avi-talking-rig-mapping" and doc["rig"] == "ICTFaceModel"
    assert doc["keys"]["browInnerUp_R"] == {"browInnerUp": 1.0}
    assert read_mapping(path) == fit.mapping


@pytest.mark.parametrize(("text", "message"), [
    ("{", "is not valid JSON"),
    ('{"format": "avi-talking-rig-mapping", "version": 1}', "is missing 'keys'"),
    ('{"format": "other", "version": 1, "keys": {}}', "format must be one of avi-talking-rig-mapping"),
    ('{"format": "avi-talking-rig-mapping", "version": 2, "keys": {}}', "version must be between 1 and 1"),
    ('{"format": "avi-talking-rig-mapping", "version": 1, "keys": {"jaw": {"jawOpn": 1}}}',
     "keys.jaw.jawOpn is not an ARKit channel"),
    ('{"format": "avi-talking-rig-mapping", "version": 1, "keys": {"jaw": {"jawOpen": 11}}}',
     "must be between -10 and 10"),
    ('{"format": "avi-talking-rig-mapping", "version": 1, "keys": {"jaw": {"jawOpen": true}}}',
     "must be a number, not a boolean"),
    ('{"format": "avi-talking-rig-mapping", "version": 1, "keys": {"a\\u0007": {"jawOpen": 1}}}',
     "holds a control character"),
    (f'{{"format": "avi-talking-rig-mapping", "version": 1, "keys": {{"{"é" * 40}": {{"jawOpen": 1}}}}}}',
     "longer than Blender's 63 bytes"),
    ('{"format": "avi-talking-rig-mapping", "version": 1, "keys": {}, "extra": 1}', "has an unknown key 'extra'"),
    ('{"format": "avi-talking-rig-mapping", "version": 1, "keys": {"j": {"jawOpen": 1, "jawOpen": 1}}}',
     "twice"),
])
def test_malformed_mapping_files_fail_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormatError, match=message) as info:
        read_mapping(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_placement_line() -> None:
    assert placement_line(50, ["tongueOut", "cheekSquintLeft"]) == (
        "baked 50 of 52 channels; not placed: tongueOut, cheekSquintLeft")
    assert placement_line(27, [], ("lips", "jaw")) == "baked 27 of 27 channels (lips, jaw)"
