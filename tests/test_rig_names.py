"""Channel → shape-key name matching as rigs spell ARKit names (Faceit, Ready Player Me, CC, prefixed)."""

from __future__ import annotations

from avi_talking.core.arkit import ARKIT52
from avi_talking.core.rigs.names import channel_mapping, match_names, words


def test_words_put_the_side_last() -> None:
    for name in ("eyeBlinkLeft", "eyeBlink_L", "EyeBlink.l", "L_eyeBlink", "eye_blink_left", "EYE_BLINK_L"):
        assert words(name) == ("eye", "blink", "left"), name
    assert words("mouthRollLower") == ("mouth", "roll", "lower")  # "lower" is not a side


def test_rig_spellings_match() -> None:
    blocks = ["Basis", "prefix_jawOpen", "EyeBlink_L", "eyeBlink_R", "mouth_smile_left", "CC_Base_Mouth_Smile_R",
              "Face.M_browInnerUp", "cheekPuff", "tongue_out", "Fcl_MTH_A"]
    m = match_names(ARKIT52, blocks)
    assert m == {"jawOpen": "prefix_jawOpen", "eyeBlinkLeft": "EyeBlink_L", "eyeBlinkRight": "eyeBlink_R",
                 "mouthSmileLeft": "mouth_smile_left", "mouthSmileRight": "CC_Base_Mouth_Smile_R",
                 "browInnerUp": "Face.M_browInnerUp", "cheekPuff": "cheekPuff", "tongueOut": "tongue_out"}


def test_exact_name_then_fewest_dropped_words_win() -> None:
    assert match_names(["jawOpen"], ["rig_face_jawOpen", "face_jawOpen", "jawOpen"]) == {"jawOpen": "jawOpen"}
    assert match_names(["jawOpen"], ["rig_face_jawOpen", "face_JawOpen"]) == {"jawOpen": "face_JawOpen"}
    # a key is used once: left and right never share one
    assert match_names(["eyeBlinkLeft", "eyeBlinkRight"], ["eyeBlink_L"]) == {"eyeBlinkLeft": "eyeBlink_L"}


def test_overrides_win_and_empty_unkeys() -> None:
    mapping = channel_mapping(["jawOpen", "mouthClose"], ["JawOpen", "MTH_A", "mouth_close"],
                              {"jawOpen": "MTH_A", "mouthClose": ""})
    assert mapping == {"jawOpen": "MTH_A"}
