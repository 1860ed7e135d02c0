"""Layered and masked bakes with real bpy (run under bpy 5.0's slotted actions and bpy 4.2's legacy ones):
the artist's keys are never touched, and the shape keys evaluate to what docs/addon.md says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.bpy
bpy = pytest.importorskip("bpy")

from test_bake import make_anim, make_head, save_and_reopen  # noqa: E402

from avi_talking.addon import compat, layers  # noqa: E402
from avi_talking.addon.bake import bake_animation  # noqa: E402
from avi_talking.addon.keyframes import write_keys  # noqa: E402
from avi_talking.core.arkit import ARKIT52  # noqa: E402
from avi_talking.core.common.errors import AviTalkError  # noqa: E402
from avi_talking.core.rigs.channel_groups import GROUPS  # noqa: E402
from avi_talking.core.rigs.layer import BakeLayer  # noqa: E402

LIPS_JAW = set(GROUPS["lips"]) | set(GROUPS["jaw"])
START = 5  # the take's first frame
SMILE_REST = 0.25  # a static (unkeyed) value the artist set on a lip key


@pytest.fixture(autouse=True)
def empty_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield
    bpy.ops.wm.read_factory_settings(use_empty=True)


def path_of(name: str) -> str:
    return f'key_blocks["{name}"].value'


def artist_rig():
    """The built-in names, an artist's action with hand keys on a brow and on the jaw, a static smile."""
    obj = make_head()
    key = obj.data.shape_keys
    key.key_blocks["mouthSmileLeft"].value = SMILE_REST
    artist = bpy.data.actions.new("Artist brows")
    write_keys(compat.new_action_fcurve(artist, key, path_of("browInnerUp")), np.array([1, 12, 30]),
               np.array([0.1, 0.9, 0.4]))
    write_keys(compat.new_action_fcurve(artist, key, path_of("jawOpen")), np.array([1, 30]), np.array([0.2, 0.3]),
               interpolation="BEZIER")
    compat.assign_action(key, artist)
    return obj, artist


def snapshot(action, key) -> dict[str, bytes]:
    """Every stored number of every key of ``action``: position, both handles, interpolation, as raw bytes."""
    out = {}
    for fc in compat.action_fcurves(action, key):
        n = len(fc.keyframe_points)
        parts = []
        for prop, size, dtype in (("co", 2, np.float32), ("handle_left", 2, np.float32),
                                  ("handle_right", 2, np.float32), ("interpolation", 1, np.int32)):
            buf = np.zeros(n * size, dtype=dtype)
            fc.keyframe_points.foreach_get(prop, buf)
            parts.append(buf.tobytes())
        out[fc.data_path] = b"".join(parts)
    return out


def evaluated(key, frame: int) -> dict[str, float]:
    bpy.context.scene.frame_set(frame)
    return {kb.name: kb.value for kb in key.key_blocks[1:]}


def expected(blend: str, influence: float, below: float, take: float) -> float:
    """docs/addon.md: replace → (1 - i)·below + i·take; add → below + i·take; Blender clamps to the slider."""
    value = (1 - influence) * below + influence * take if blend == "REPLACE" else below + influence * take
    return min(max(value, 0.0), 1.0)


@pytest.mark.parametrize(("blend", "influence"), [("REPLACE", 1.0), ("REPLACE", 0.5), ("ADD", 0.4)])
def test_layered_masked_bake_leaves_the_artists_keys_and_combines_as_documented(tmp_path: Path, blend: str,
                                                                                influence: float) -> None:
    obj, artist = artist_rig()
    key = obj.data.shape_keys
    before = snapshot(artist, key)
    blink_before = key.key_blocks["eyeBlinkLeft"].value
    artist_curves = {fc.data_path: fc for fc in compat.action_fcurves(artist, key)}
    brow_truth = {f: artist_curves[path_of("browInnerUp")].evaluate(f) for f in (3, 10, 40)}
    jaw_truth = {f: artist_curves[path_of("jawOpen")].evaluate(f) for f in (3, 10, 40)}
    anim = make_anim(n_frames=20, seed=7)

    result = bake_animation(obj, anim, frame_start=START, groups=("lips", "jaw"), layer=BakeLayer(influence, blend))

    assert result.layer == result.action.name == "AVI take" and result.groups == ("lips", "jaw")
    assert set(result.keyed) == LIPS_JAW and not result.unmatched and len(result.left_out) == 25
    assert snapshot(artist, key) == before  # the artist's keys, bit for bit
    ad = key.animation_data
    assert ad.action is None  # pushed down, as Blender's Push Down does
    tracks = [(t.name, [s.action.name for s in t.strips]) for t in ad.nla_tracks]
    assert tracks == [("Artist brows", ["Artist brows"]), ("AVI Rest", ["AVI Rest"]), ("AVI take", ["AVI take"])]
    strip = ad.nla_tracks["AVI take"].strips[0]
    assert (strip.blend_type, strip.extrapolation, strip.frame_start) == (blend, "NOTHING", START)
    assert strip.use_animated_influence == (influence < 1.0)
    take_paths = {fc.data_path for fc in compat.action_fcurves(result.action, key)}
    assert take_paths == {path_of(c) for c in LIPS_JAW}  # the mask: nothing else keyed
    rest = ad.nla_tracks["AVI Rest"].strips[0].action
    assert {fc.data_path for fc in compat.action_fcurves(rest, key)} == take_paths - {path_of("jawOpen")}

    def check(key) -> None:
        for frame in (3, 10, 40):  # before, inside and after the take
            got = evaluated(key, frame)
            t = frame - START
            inside = 0 <= t < anim.n_frames
            assert got["browInnerUp"] == pytest.approx(brow_truth[frame], abs=1e-6)  # outside the mask: the artist's
            assert got["eyeBlinkLeft"] == pytest.approx(blink_before)  # untouched
            jaw = jaw_truth[frame]
            if inside:
                jaw = expected(blend, influence, jaw, anim.channel("jawOpen")[t])
            assert got["jawOpen"] == pytest.approx(jaw, abs=1e-5)
            smile = expected(blend, influence, SMILE_REST, anim.channel("mouthSmileLeft")[t]) if inside else SMILE_REST
            assert got["mouthSmileLeft"] == pytest.approx(smile, abs=1e-5)

    check(key)
    save_and_reopen(tmp_path)
    key = bpy.data.objects["Head"].data.shape_keys
    assert snapshot(bpy.data.actions["Artist brows"], key) == before
    check(key)


def test_a_second_layer_stacks_on_top_and_the_rest_grows_only_for_new_channels() -> None:
    obj, artist = artist_rig()
    key = obj.data.shape_keys
    before = snapshot(artist, key)
    first = bake_animation(obj, make_anim(n_frames=10, seed=1), frame_start=START, groups=("jaw",),
                           layer=BakeLayer())
    second = bake_animation(obj, make_anim(n_frames=10, seed=2), frame_start=START, groups=("jaw", "blinks"),
                            layer=BakeLayer())
    ad = key.animation_data
    assert [t.name for t in ad.nla_tracks] == ["Artist brows", "AVI Rest", first.layer, second.layer]
    rest = {fc.data_path for fc in compat.action_fcurves(ad.nla_tracks["AVI Rest"].strips[0].action, key)}
    # jawOpen is the artist's; jaw's others from the first bake, the blinks added by the second
    assert rest == {path_of(c) for c in ("jawForward", "jawLeft", "jawRight", "eyeBlinkLeft", "eyeBlinkRight")}
    got = evaluated(key, START + 3)
    assert got["jawLeft"] == pytest.approx(float(make_anim(n_frames=10, seed=2).channel("jawLeft")[3]), abs=1e-6)
    assert snapshot(artist, key) == before


def test_a_mask_without_a_layer_makes_a_take_of_those_channels_only() -> None:
    obj = make_head()
    key = obj.data.shape_keys
    result = bake_animation(obj, make_anim(seed=3), groups=("blinks", "brows"))
    assert result.layer is None and key.animation_data.action == result.action
    paths = {fc.data_path for fc in compat.action_fcurves(result.action, key)}
    assert paths == {path_of(c) for c in (*GROUPS["blinks"], *GROUPS["brows"])}
    assert result.keyed == tuple(c for c in ARKIT52 if c in GROUPS["blinks"] + GROUPS["brows"])
    whole = bake_animation(obj, make_anim(seed=3), groups=tuple(GROUPS))  # every group: no mask at all
    assert whole.groups is None and len(whole.keyed) == 52


def scene_state(key):
    ad = key.animation_data
    return (ad.action.name if ad and ad.action else None, [t.name for t in ad.nla_tracks] if ad else [],
            sorted(bpy.data.actions.keys()))


@pytest.mark.parametrize("case", ["solo", "nla_off", "no_channels_in_groups", "groups_unplaced"])
def test_refusals_change_nothing(case: str) -> None:
    obj, artist = artist_rig()
    key = obj.data.shape_keys
    anim = make_anim()
    kwargs: dict = {"layer": BakeLayer()}
    if case in ("solo", "nla_off"):
        track = key.animation_data.nla_tracks.new()
        track.name = "Mine"
        compat.new_nla_strip(key, track, bpy.data.actions.new("Other"), 1)
        if case == "solo":
            track.is_solo = True
        else:
            key.animation_data.use_nla = False
        message = "soloed" if case == "solo" else "switched off"
    elif case == "no_channels_in_groups":
        kwargs["groups"] = ("head",)
        message = "hold none of the animation's 52 channels"
    else:
        for kb in [kb for kb in key.key_blocks if kb.name.startswith("tongue")]:
            kb.name = "something_else"
        kwargs["groups"] = ("tongue",)
        message = "none of the animation's 1 channels of tongue"
    before, keys = scene_state(key), snapshot(artist, key)
    with pytest.raises(AviTalkError, match=message) as info:
        bake_animation(obj, anim, **kwargs)
    assert "\n" not in str(info.value)
    assert scene_state(key) == before and snapshot(artist, key) == keys


def test_check_layerable_names_the_rig() -> None:
    obj, _ = artist_rig()
    key = obj.data.shape_keys
    key.animation_data.nla_tracks.new().is_solo = True
    with pytest.raises(AviTalkError, match="of the shape keys of 'Head' is soloed"):
        layers.check_layerable(key)
