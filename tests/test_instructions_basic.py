"""Instruction structure, its deterministic AVI-style text, emotion prototypes and the AU → ARKit table."""

from __future__ import annotations

import numpy as np
import pytest

from avi_talking.core.arkit import ARKIT52, INDEX
from avi_talking.core.common.errors import FormatError
from avi_talking.core.instructions import (
    ADVERB_VALUE,
    ADVERBS,
    AU_TO_ARKIT,
    AUS,
    EMOTIONS,
    Instruction,
    Segment,
    adverb,
    au_readout,
    blink_rate,
    expression_vector,
    normalize_au,
    prototype_aus,
    quantize,
    sample_instruction,
    to_text,
    track_from_dict,
    track_to_dict,
)
from avi_talking.core.instructions.prototypes import PROTOTYPES

REQUIRED_AUS = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14", "AU15", "AU17", "AU20",
                "AU23", "AU24", "AU25", "AU26", "AU45")


def test_text_follows_the_avi_style() -> None:
    instr = Instruction("neutral", 0.0, {"AU4": 0.7, "AU24": 0.95, "AU5": 0.2})
    assert to_text(instr) == ("A neutral person speaks with lips extremely pressed, brow quite lowered "
                              "and upper lids slightly raised.")
    assert to_text(Instruction("neutral", 0.0, {})) == "A person speaks with a neutral face."
    assert to_text(Instruction("surprised", 0.1, {"AU26": 0.5})).startswith("A barely surprised person")
    # an emotion word stands for its prototype: the units it gives at the same value go unsaid, those it
    # lacks are named after "without" (lips pressed replaces the prototype's tightened lips)
    angry = Instruction("angry", 0.8, {"AU4": 0.7, "AU24": 0.95, "AU5": 0.2})
    assert to_text(angry) == ("A strongly angry person speaks with lips extremely pressed and upper lids slightly "
                              "raised, but without lids tightened.")
    assert to_text(Instruction("angry", 0.95, prototype_aus("angry", 0.95))) == "An extremely angry person speaks."
    assert to_text(Instruction("angry", 0.95, {})) == ("An extremely angry person speaks without brow lowered or "
                                                       "upper lids raised or lids tightened or lips tightened.")


def test_text_is_deterministic_and_independent_of_dict_order() -> None:
    a = Instruction("sad", 0.6, {"AU1": 0.9, "AU15": 0.9, "AU4": 0.3})
    b = Instruction("sad", 0.6, {"AU4": 0.3, "AU15": 0.9, "AU1": 0.9})
    assert to_text(a) == to_text(b)
    assert to_text(a).index("inner brows") < to_text(a).index("lip corners")  # equal values: AU number order


def test_adverb_bins_cover_the_scale_and_round_trip() -> None:
    words = [adverb(v) for v in np.linspace(0, 1, 701)]
    assert words[0] == "barely" and words[-1] == "extremely"
    order = [w for _, w in ADVERBS]
    assert [order.index(w) for w in words] == sorted(order.index(w) for w in words)  # monotonic
    for word, value in ADVERB_VALUE.items():
        assert adverb(value) == word


def test_validation_and_au_names() -> None:
    assert normalize_au("au4") == "AU4" and normalize_au("blink") == "AU45" and normalize_au("L12") == "AU12L"
    assert normalize_au("AU04") == "AU4"
    with pytest.raises(FormatError):
        normalize_au("AU99")
    with pytest.raises(FormatError):
        Instruction("bored", 0.5, {})
    with pytest.raises(FormatError):
        Instruction("happy", 1.5, {})
    with pytest.raises(FormatError):
        Instruction("happy", 0.5, {"AU12": -0.1})
    assert list(Instruction("happy", 0.5, {"au12": 0.5, "6": 0.4}).aus) == ["AU6", "AU12"]


def test_au_table_covers_the_au_set_with_valid_channels() -> None:
    assert set(REQUIRED_AUS) <= set(AU_TO_ARKIT) == set(AUS)
    for au, channels in AU_TO_ARKIT.items():
        assert channels, au
        for name, value in channels.items():
            assert name in INDEX and 0.0 < value <= 1.0, (au, name)
    assert AU_TO_ARKIT["AU4"].keys() == {"browDownLeft", "browDownRight"}
    assert AU_TO_ARKIT["AU12"].keys() == {"mouthSmileLeft", "mouthSmileRight"}
    assert AU_TO_ARKIT["AU24"].keys() == {"mouthPressLeft", "mouthPressRight"}
    assert set(AU_TO_ARKIT["AU45"]) == {"eyeBlinkLeft", "eyeBlinkRight"}


@pytest.mark.parametrize("au", [a for a in AUS if a != "AU45"])
def test_readout_inverts_a_single_au(au: str) -> None:
    values = np.tile(expression_vector({au: 0.37}), (5, 1))
    assert np.allclose(au_readout(values, au), 0.37)
    assert np.allclose(au_readout(np.zeros((5, len(ARKIT52))), au), 0.0)


def test_blink_is_a_rate_not_a_pose() -> None:
    assert not expression_vector({"AU45": 1.0}).any()
    assert blink_rate({}) == 1.0 and blink_rate({"AU45": 1.0}) == 3.0


def test_prototypes_follow_emfacs() -> None:
    assert set(prototype_aus("happy")) == {"AU6", "AU12"}
    assert {"AU1", "AU4", "AU15"} <= set(prototype_aus("sad"))
    assert {"AU1", "AU2", "AU5", "AU26"} <= set(prototype_aus("surprised"))
    assert {"AU4", "AU5", "AU7"} <= set(prototype_aus("angry"))
    assert {"AU1", "AU2", "AU4", "AU5", "AU20", "AU26"} <= set(prototype_aus("fearful"))
    assert {"AU9", "AU15"} <= set(prototype_aus("disgusted"))
    assert prototype_aus("neutral") == {}
    assert set(PROTOTYPES) == set(EMOTIONS)


@pytest.mark.parametrize("emotion", EMOTIONS)
def test_sampled_instructions_vary_and_scale_with_intensity(emotion: str) -> None:
    rng = np.random.default_rng(4)
    weak = [sample_instruction(emotion, 0.25, rng) for _ in range(60)]
    strong = [sample_instruction(emotion, 0.95, rng) for _ in range(60)]
    for instr in weak + strong:
        assert instr.emotion == emotion and all(0 <= v <= 1 for v in instr.aus.values())
    if emotion == "neutral":
        assert all(i.intensity == 0 and all(v <= 0.25 for v in i.aus.values()) for i in weak + strong)
        return
    assert len({repr(quantize(i)) for i in strong}) > 15  # per-clip variation, even at the adverbs' resolution
    core = set(prototype_aus(emotion))
    assert np.mean([sum(v for k, v in i.aus.items() if k in core) for i in strong]) > \
        2.5 * np.mean([sum(v for k, v in i.aus.items() if k in core) for i in weak])
    if emotion == "contempt":
        for i in strong:  # one-sided: smile and dimple on the same side, never both sides
            sides = {k[-1] for k in i.aus if k.startswith(("AU12", "AU14"))}
            assert len(sides) == 1 and sides <= {"L", "R"}
    again = sample_instruction(emotion, 0.5, np.random.default_rng(9))
    assert again == sample_instruction(emotion, 0.5, np.random.default_rng(9))


def test_track_round_trip_and_overlap_check() -> None:
    segments = [Segment(0.0, 1.5, Instruction("happy", 0.6, {"AU12": 0.5})),
                Segment(1.5, 3.0, Instruction("sad", 0.4, {"AU15": 0.3}), "my own words")]
    data = track_to_dict(segments)
    assert data["segments"][0]["text"] == to_text(segments[0].instruction)
    assert data["segments"][1]["text"] == "my own words"
    back = track_from_dict(data)
    assert [s.instruction for s in back] == [s.instruction for s in segments]
    data["segments"][1]["start"] = 1.0
    with pytest.raises(FormatError):
        track_from_dict(data)
    with pytest.raises(FormatError):
        Segment(2.0, 1.0, Instruction())
