"""The instruction language: text → structure (what was understood, what was ignored), the exact
round trip with the generator, typos, casing, negation, sides, and the lexicon's coverage."""

from __future__ import annotations

import numpy as np
import pytest

from avi_talking.core.instructions import AUS, EMOTIONS, Instruction, normalize_au, to_text
from avi_talking.core.instructions.lexicon import (
    AU_PATTERNS,
    EMOTION_SYNONYMS,
    INTENSITY_WORDS,
    KNOWN_WORDS,
    generator_words_are_known,
    phrasings_per_au,
)
from avi_talking.core.instructions.parser import correct_word, edit_distance, parse
from avi_talking.core.instructions.schema import BILATERAL_AUS
from avi_talking.core.instructions.text import ADVERB_VALUE, adverb, quantize

V = ADVERB_VALUE  # bin centres: barely 1/14 ... extremely 13/14
D = ADVERB_VALUE["fairly"]  # an action unit without an intensity word: 0.5
B = ADVERB_VALUE["quite"]  # a plain emotion word ("sad", "scared") without one: 0.643

# (text, emotion, intensity or None to skip, {AU: value or None to only require presence}, AUs that must be absent)
CASES: list[tuple[str, str, float | None, dict[str, float | None], set[str]]] = [
    # the paper's own example and the generator's style
    ("A disappointed person speaks with fairly lifted cheek, brow quite lowered, slightly lifted inner brow, "
     "and lip mildly stretched", "sad", B, {"AU6": V["fairly"], "AU4": V["quite"], "AU1": V["slightly"],
                                           "AU20": V["mildly"]}, set()),
    ("An angry person speaks with brow quite lowered, lips strongly pressed and upper lids slightly raised.",
     "angry", B, {"AU4": V["quite"], "AU24": V["strongly"], "AU5": V["slightly"]}, set()),
    ("A person speaks with a neutral face.", "neutral", 0.0, {}, set(AUS)),
    # emotions by synonym, with their implied strength
    ("furious", "angry", V["strongly"], {}, set()),
    ("a bit annoyed", "angry", V["slightly"], {}, set()),
    ("kind of annoyed", "angry", V["mildly"], {}, set()),
    ("irritated", "angry", V["slightly"], {}, set()),
    ("She sounds ecstatic", "happy", V["extremely"], {}, set()),
    ("cheerful", "happy", B, {}, set()),
    ("joyful and relaxed", "happy", B, {}, set()),
    ("very happy", "happy", V["strongly"], {}, set()),
    ("very very angry", "angry", V["extremely"], {}, set()),
    ("not very happy", "happy", V["slightly"], {}, set()),
    ("melancholy", "sad", B, {}, set()),
    ("fairly sad", "sad", D, {}, set()),  # an explicit adverb keeps its own bin
    ("wistful", "sad", V["slightly"], {}, set()),
    ("An afraid woman speaks.", "fearful", B, {}, set()),
    ("heartbroken", "sad", V["strongly"], {}, set()),
    ("speaks sadly", "sad", B, {}, set()),
    ("gloomy voice", "sad", B, {}, set()),
    ("terrified", "fearful", V["strongly"], {}, set()),
    ("anxious", "fearful", V["slightly"], {}, set()),
    ("scared", "fearful", B, {}, set()),
    ("nervously", "fearful", V["slightly"], {}, set()),
    ("astonished", "surprised", B, {}, set()),
    ("shocked", "surprised", V["strongly"], {}, set()),
    ("taken aback", "surprised", V["slightly"], {}, set()),
    ("revolted", "disgusted", B, {}, set()),
    ("grossed out", "disgusted", B, {}, set()),
    ("scornful", "contempt", B, {}, set()),
    ("smug", "contempt", B, {}, set()),
    ("condescending tone", "contempt", B, {}, set()),
    ("calm", "neutral", 0.0, {}, set()),
    ("deadpan", "neutral", 0.0, {}, set()),
    ("matter-of-fact", "neutral", 0.0, {}, set()),
    ("poker-faced", "neutral", 0.0, {}, set()),
    ("in a rage", "angry", V["extremely"], {}, set()),
    # AU phrasings, several per AU
    ("inner brows raised", "neutral", 0.0, {"AU1": D}, {"AU2"}),
    ("raised inner eyebrows", "neutral", 0.0, {"AU1": D}, set()),
    ("outer brows raised", "neutral", 0.0, {"AU2": D}, {"AU1"}),
    ("arched eyebrows", "neutral", 0.0, {"AU2": D}, set()),
    ("raised eyebrows", "neutral", 0.0, {"AU1": D, "AU2": D}, set()),
    ("eyebrows up", "neutral", 0.0, {"AU1": D, "AU2": D}, set()),
    ("brows lifted", "neutral", 0.0, {"AU1": D, "AU2": D}, set()),
    ("brow lowered", "neutral", 0.0, {"AU4": D}, set()),
    ("furrowed brow", "neutral", 0.0, {"AU4": D}, set()),
    ("frowning brows", "neutral", 0.0, {"AU4": D}, set()),
    ("a deep frown", "neutral", 0.0, {"AU4": V["strongly"]}, set()),
    ("knitted brows", "neutral", 0.0, {"AU4": D}, set()),
    ("brows drawn together", "neutral", 0.0, {"AU4": D}, set()),
    ("scowling", "neutral", 0.0, {"AU4": D}, set()),
    ("wide eyes", "neutral", 0.0, {"AU5": D}, set()),
    ("eyes wide open", "neutral", 0.0, {"AU5": D}, set()),
    ("wide-eyed", "neutral", 0.0, {"AU5": D}, set()),
    ("upper lids raised", "neutral", 0.0, {"AU5": D}, set()),
    ("staring", "neutral", 0.0, {"AU5": D}, set()),
    ("cheeks raised", "neutral", 0.0, {"AU6": D}, set()),
    ("lifted cheeks", "neutral", 0.0, {"AU6": D}, set()),
    ("crow's feet", "neutral", 0.0, {"AU6": D}, set()),
    ("smiling eyes", "neutral", 0.0, {"AU6": D}, {"AU12"}),
    ("lids tightened", "neutral", 0.0, {"AU7": D}, set()),
    ("narrowed eyes", "neutral", 0.0, {"AU7": D}, set()),
    ("squinting", "neutral", 0.0, {"AU7": D}, set()),
    ("nose wrinkled", "neutral", 0.0, {"AU9": D}, set()),
    ("a scrunched nose", "neutral", 0.0, {"AU9": D}, set()),
    ("upper lip raised", "neutral", 0.0, {"AU10": D}, set()),
    ("curled upper lip", "neutral", 0.0, {"AU10": D}, set()),
    ("snarling", "neutral", 0.0, {"AU9": D, "AU10": D}, set()),
    ("lip corners pulled up", "neutral", 0.0, {"AU12": D}, set()),
    ("smiling", "neutral", 0.0, {"AU12": D}, set()),
    ("a big grin", "neutral", 0.0, {"AU12": V["strongly"]}, set()),
    ("a hint of a smile", "neutral", 0.0, {"AU12": V["barely"]}, set()),
    ("corners of the mouth turned up", "neutral", 0.0, {"AU12": D}, set()),
    ("a wide smile", "neutral", 0.0, {"AU12": V["strongly"]}, set()),
    ("cheeks dimpled", "neutral", 0.0, {"AU14": D}, set()),
    ("dimples", "neutral", 0.0, {"AU14": D}, set()),
    ("lip corners pulled down", "neutral", 0.0, {"AU15": D}, set()),
    ("downturned mouth", "neutral", 0.0, {"AU15": D}, set()),
    ("corners of the mouth turned down", "neutral", 0.0, {"AU15": D}, set()),
    ("a frowning mouth", "neutral", 0.0, {"AU15": D}, {"AU4"}),
    ("pouting", "neutral", 0.0, {"AU15": D, "AU17": D}, set()),
    ("chin raised", "neutral", 0.0, {"AU17": D}, set()),
    ("chin pushed up", "neutral", 0.0, {"AU17": D}, set()),
    ("lips stretched", "neutral", 0.0, {"AU20": D}, set()),
    ("lips pulled back", "neutral", 0.0, {"AU20": D}, set()),
    ("grimacing", "neutral", 0.0, {"AU20": D}, set()),
    ("lips tightened", "neutral", 0.0, {"AU23": D}, {"AU7"}),
    ("tight-lipped", "neutral", 0.0, {"AU23": D}, set()),
    ("thin lips", "neutral", 0.0, {"AU23": D}, set()),
    ("lips pressed", "neutral", 0.0, {"AU24": D}, set()),
    ("lips pressed together", "neutral", 0.0, {"AU24": D}, set()),
    ("pursed lips", "neutral", 0.0, {"AU24": D}, set()),
    ("lips parted", "neutral", 0.0, {"AU25": D}, {"AU26"}),
    ("lips slightly apart", "neutral", 0.0, {"AU25": V["slightly"]}, set()),
    ("mouth open", "neutral", 0.0, {"AU25": D, "AU26": D}, set()),
    ("gaping", "neutral", 0.0, {"AU25": D, "AU26": D}, set()),
    ("jaw dropped", "neutral", 0.0, {"AU26": D}, {"AU25"}),
    ("slack-jawed", "neutral", 0.0, {"AU26": D}, set()),
    ("jaw hanging open", "neutral", 0.0, {"AU26": D}, set()),
    ("eyes blinking", "neutral", 0.0, {"AU45": D}, set()),
    ("blinking rapidly", "neutral", 0.0, {"AU45": V["strongly"]}, set()),
    ("frequent blinks", "neutral", 0.0, {"AU45": V["strongly"]}, set()),
    ("AU4 0.7, au12 strongly", "neutral", 0.0, {"AU4": 0.7, "AU12": V["strongly"]}, set()),
    ("30% jaw drop", "neutral", 0.0, {"AU26": 0.3}, set()),
    # intensity words before, inside and after
    ("slightly furrowed brow", "neutral", 0.0, {"AU4": V["slightly"]}, set()),
    ("brows lowered strongly", "neutral", 0.0, {"AU4": V["strongly"]}, set()),
    ("brow extremely lowered", "neutral", 0.0, {"AU4": V["extremely"]}, set()),
    ("a little smile", "neutral", 0.0, {"AU12": V["slightly"]}, set()),
    ("very slightly raised eyebrows", "neutral", 0.0, {"AU1": V["barely"], "AU2": V["barely"]}, set()),
    ("smiling broadly", "neutral", 0.0, {"AU12": V["strongly"]}, set()),
    ("lips parted a little", "neutral", 0.0, {"AU25": V["slightly"]}, set()),
    # negation
    ("without a smile", "neutral", 0.0, {}, {"AU12"}),
    ("not smiling", "neutral", 0.0, {}, {"AU12"}),
    ("no frown", "neutral", 0.0, {}, {"AU4"}),
    ("doesn't frown", "neutral", 0.0, {}, {"AU4"}),
    ("lips not pressed", "neutral", 0.0, {}, {"AU24"}),
    ("happy, without a smile or a frown", "happy", B, {}, {"AU12", "AU4"}),
    ("neutral, no blinking", "neutral", 0.0, {}, {"AU45"}),
    # sides (the character's)
    ("left lip corner pulled up", "neutral", 0.0, {"AU12L": D}, {"AU12", "AU12R"}),
    ("smiling on the right", "neutral", 0.0, {"AU12R": D}, {"AU12"}),
    ("a smirk on the right side", "neutral", 0.0, {"AU12R": D, "AU14R": D}, {"AU12L"}),
    ("raised left eyebrow", "neutral", 0.0, {"AU2L": D}, {"AU1", "AU2"}),
    ("right brow lowered a little", "neutral", 0.0, {"AU4R": V["slightly"]}, {"AU4"}),
    ("a wink with the right eye", "neutral", 0.0, {"AU45R": D}, {"AU45"}),
    ("left eye closed", "neutral", 0.0, {"AU45L": D}, set()),
    ("left lip corner slightly stretched", "neutral", 0.0, {"AU20L": V["slightly"]}, set()),
    ("right cheek dimpled", "neutral", 0.0, {"AU14R": D}, set()),
    ("both lip corners pulled down", "neutral", 0.0, {"AU15": D}, {"AU15L", "AU15R"}),
    # casing and punctuation
    ("HAPPY! Big grin!", "happy", B, {"AU12": V["strongly"]}, set()),
    ("Brows LOWERED, Lips Pressed.", "neutral", 0.0, {"AU4": D, "AU24": D}, set()),
    ("eyes wide; mouth open: SHOCKED", "surprised", V["strongly"], {"AU5": D, "AU25": D, "AU26": D}, set()),
    # typos
    ("extremly angy, brow lowerd", "angry", V["extremely"], {"AU4": D}, set()),
    ("suprised with raised eyebrws", "surprised", B, {"AU1": D, "AU2": D}, set()),
    ("furowed brow, slighty smiling", "neutral", 0.0, {"AU4": D, "AU12": V["slightly"]}, set()),
    ("dissapointed", "sad", B, {}, set()),
    ("happpy person", "happy", B, {}, set()),
    ("lisp pressed", "neutral", 0.0, {"AU24": D}, set()),
    ("frigthened, jaw droped", "fearful", B, {"AU26": D}, set()),
    ("contemptous smirk", "contempt", B, {"AU12L": D, "AU14L": D}, set()),
]


def test_the_suite_is_large_enough() -> None:
    assert len(CASES) >= 100


@pytest.mark.parametrize("text, emotion, intensity, aus, absent", CASES, ids=[c[0][:40] for c in CASES])
def test_phrasings(text: str, emotion: str, intensity: float | None, aus: dict[str, float | None],
                   absent: set[str]) -> None:
    result = parse(text)
    got = result.instruction
    assert got.emotion == emotion, (text, got, result.understood)
    if intensity is not None:
        assert got.intensity == pytest.approx(intensity), (text, got)
    for au, value in aus.items():
        assert au in got.aus, (text, got, result.understood)
        if value is not None:
            assert got.aus[au] == pytest.approx(value), (text, au, got)
    for au in absent:
        assert au not in got.aus, (text, au, got)
    assert result.understood  # every case says something
    for span in result.understood:
        assert 0 <= span.start < span.end <= len(text) and span.meaning


def _random_instruction(rng: np.random.Generator) -> Instruction:
    emotion = EMOTIONS[int(rng.integers(len(EMOTIONS)))]
    names = rng.choice(len(AUS), int(rng.integers(0, 8)), replace=False)
    values = {AUS[k]: float(rng.choice([rng.random(), rng.integers(0, 8) / 7, 0.015])) for k in names}
    return Instruction(emotion, float(rng.random()), values)


def test_generator_round_trips_exactly_through_the_parser() -> None:
    rng = np.random.default_rng(7)
    for _ in range(3000):
        x = _random_instruction(rng)
        text = to_text(x)
        result = parse(text)
        assert result.instruction == quantize(x), text
        assert not result.ignored and not result.warnings, (text, result.ignored, result.warnings)
        q = quantize(x)
        assert parse(to_text(q)).instruction == q  # already-quantised instructions come back exactly


def test_every_single_au_and_emotion_round_trips_at_every_level() -> None:
    for au in AUS:
        for word, value in ADVERB_VALUE.items():
            x = Instruction("neutral", 0.0, {au: value})
            assert parse(to_text(x)).instruction == x, (au, word, to_text(x))
    for emotion in EMOTIONS:
        for value in ADVERB_VALUE.values():
            x = quantize(Instruction(emotion, value, {}))
            assert parse(to_text(x)).instruction == x


def test_quantize_is_idempotent_and_uses_the_adverb_bins() -> None:
    x = Instruction("happy", 0.63, {"AU12": 0.9, "AU6": 0.01, "AU25": 0.3})
    q = quantize(x)
    assert q.intensity == ADVERB_VALUE[adverb(0.63)] and "AU6" not in q.aus
    assert quantize(q) == q
    assert quantize(Instruction("neutral", 0.4, {})).intensity == 0.0


def test_understood_and_ignored_spans_point_into_the_text() -> None:
    text = "A brown-haired woman, brows furowed, laughs without a smile"
    result = parse(text)
    ignored = {text[i.start:i.end] for i in result.ignored}
    assert ignored == {i.word for i in result.ignored}
    assert "brown" in ignored and "haired" in ignored  # "brown" is not taken for "brow": it completes nothing
    meanings = {text[s.start:s.end]: s.meaning for s in result.understood}
    assert any("AU4" in m for m in meanings.values())
    assert "read 'furowed' as 'furrowed'" in result.warnings
    assert result.negated == ("AU12",)
    assert result.instruction.emotion == "neutral"  # "laughs" is not a word it knows: ignored, not guessed
    assert "laughs" in ignored


def test_conflicting_and_repeated_mentions_warn() -> None:
    result = parse("happy, then sad")
    assert result.instruction.emotion == "happy"
    assert any("one emotion per segment" in w for w in result.warnings)
    result = parse("brow slightly lowered, brow strongly lowered")
    assert result.instruction.aus["AU4"] == pytest.approx(V["strongly"])
    assert any("AU4 is mentioned twice" in w for w in result.warnings)
    one_sided = parse("a smirk")
    assert set(one_sided.instruction.aus) == {"AU12L", "AU14L"}
    assert any("names no side" in w for w in one_sided.warnings)
    no_side = parse("left inner brow raised")
    assert no_side.instruction.aus == {"AU1": D} and any("no one-sided form" in w for w in no_side.warnings)


def test_junk_is_reported_not_guessed() -> None:
    for text in ("", "   ", "zzqx blorf glimmerous", "123456", "The weather is nice today."):
        result = parse(text)
        assert result.empty and result.instruction == Instruction()
    assert [w.word for w in parse("zzqx blorf").ignored] == ["zzqx", "blorf"]


def test_typo_thresholds() -> None:
    assert edit_distance("sligthly", "slightly") == 1  # a transposition is one edit
    assert edit_distance("kitten", "sitting") == 3
    assert correct_word("angy") == "angry"  # 4 letters: one edit
    assert correct_word("frigthened") == "frightened"
    assert correct_word("xyzzy") is None
    assert correct_word("lia") is None  # 3 letters: never corrected
    assert correct_word("lias") is None  # lips or lids: ambiguous, not guessed
    assert correct_word("smile") is None  # known words are left alone


def test_lexicon_sizes_and_coverage() -> None:
    assert len({e for e, _ in EMOTION_SYNONYMS.values()}) == 8
    assert len(EMOTION_SYNONYMS) >= 100
    counts = phrasings_per_au()
    assert set(counts) == set(BILATERAL_AUS)
    assert all(n >= 2 for n in counts.values()), counts
    assert len(AU_PATTERNS) >= 80 and len(INTENSITY_WORDS) >= 60
    assert generator_words_are_known()
    assert {"barely", "slightly", "mildly", "fairly", "quite", "strongly", "extremely"} <= set(INTENSITY_WORDS)
    assert all(w == w.lower() for w in KNOWN_WORDS)


def test_facs_side_names() -> None:
    assert normalize_au("L12") == "AU12L" and normalize_au("r4") == "AU4R" and normalize_au("wink") == "AU45L"
    assert parse("AU12L").instruction.aus == {"AU12L": D}
