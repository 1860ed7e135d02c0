"""pocketsphinx phones against espeak-ng's true phoneme times, and the espeak-ng binding itself."""

from __future__ import annotations

import warnings
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from avi_talking.core.audio.loader import from_samples, load_audio
from avi_talking.core.common.errors import AviTalkError
from avi_talking.core.lipsync.phone_timing import (
    PhoneWarning,
    align_phones,
    read_transcript,
    recognize_phones,
    split_points,
    tokenize,
)
from avi_talking.core.phonemes import SILENCE, Phone, ipa_to_arpabet, normalize_arpabet

from conftest import SpokenClip, match_labels


def _tiles(phones: list[Phone], duration: float) -> bool:
    ok = phones[0].start == 0.0 and abs(phones[-1].end - duration) < 1e-6
    return ok and all(abs(a.end - b.start) < 1e-9 and a.end > a.start for a, b in pairwise(phones))


def test_forced_alignment_matches_true_phone_times(spoken: SpokenClip) -> None:
    audio = load_audio(spoken.path)
    got = [p for p in align_phones(audio, spoken.text) if p.label != SILENCE]
    truth = [p for p in spoken.speech.phones if p.label != SILENCE]  # type: ignore[attr-defined]
    pairs = match_labels([p.label for p in truth], [p.label for p in got])
    assert len(pairs) >= 0.85 * len(truth)
    errors = np.array([got[j].start - truth[i].start for i, j in pairs])
    assert np.median(np.abs(errors)) < 0.03  # seconds


def test_alignment_tiles_the_clip(spoken: SpokenClip) -> None:
    audio = load_audio(spoken.path)
    phones = align_phones(audio, spoken.text)
    assert _tiles(phones, audio.duration)
    assert {"P", "B", "M"} <= {p.label for p in phones}


def test_recognition_without_transcript(spoken: SpokenClip) -> None:
    audio = load_audio(spoken.path)
    phones = recognize_phones(audio)
    assert _tiles(phones, audio.duration)
    speech = [p for p in phones if p.label != SILENCE]
    assert len(speech) >= 15
    assert recognize_phones(audio) == phones  # deterministic


def test_out_of_vocabulary_words_get_espeak_pronunciations() -> None:
    from avi_talking.core.tts import espeak

    text = "Bob met the zorblax by the map"
    speech = espeak.synthesize(text, rate=150)
    audio = from_samples(speech.samples, speech.sr)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PhoneWarning)  # no fallback to recognition allowed
        phones = align_phones(audio, text)
    labels = " ".join(p.label for p in phones if p.label != SILENCE)
    assert "DH AH Z OW R B L AE K S B AY" in labels


def test_transcript_argument_reads_files(tmp_path: Path) -> None:
    f = tmp_path / "lines.txt"
    f.write_text("Hello there, world!\n", encoding="utf-8")
    assert read_transcript(str(f)) == "Hello there, world!\n"
    assert read_transcript("just words") == "just words"
    with pytest.raises(AviTalkError, match="does not exist"):
        read_transcript(str(tmp_path / "missing.txt"))
    assert tokenize("It's 42 o'clock, Bob!") == ["it's", "42", "o'clock", "bob"]


def test_empty_transcript_is_an_error(spoken: SpokenClip) -> None:
    with pytest.raises(AviTalkError, match="empty"):
        align_phones(load_audio(spoken.path), " ,.; ")


def test_long_audio_is_cut_into_utterances() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.1, 16000 * 50).astype(np.float32)
    x[16000 * 15 : 16000 * 15 + 3200] = 0.0  # a 200 ms pause at 15 s
    pieces = split_points(x, 16000, max_seconds=20.0)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(x)
    assert all(a[1] == b[0] for a, b in pairwise(pieces))
    assert all(b - a <= 20 * 16000 for a, b in pieces)
    assert 15 * 16000 <= pieces[0][1] <= 15 * 16000 + 3200  # the first cut falls in the pause


def test_espeak_phones_tile_and_time_the_speech(spoken: SpokenClip) -> None:
    speech = spoken.speech
    phones = speech.phones  # type: ignore[attr-defined]
    assert _tiles(phones, speech.duration)  # type: ignore[attr-defined]
    labels = [p.label for p in phones if p.label != SILENCE]
    assert labels[:4] == ["B", "AA", "B", "M"]
    # the sentence pause is silent in the audio: energy in the SIL phone is far below speech
    samples, sr = speech.samples, speech.sr  # type: ignore[attr-defined]
    pause = max((p for p in phones[1:-1] if p.label == SILENCE), key=lambda p: p.duration)
    inside = samples[int(pause.start * sr) + 200 : int(pause.end * sr) - 200]
    assert np.sqrt(np.mean(inside**2)) < 0.1 * np.sqrt(np.mean(samples**2))


def test_ipa_and_arpabet_tables() -> None:
    assert ipa_to_arpabet("ˈaɪ") == ("AY",)
    assert ipa_to_arpabet("tʃ") == ("CH",)
    assert ipa_to_arpabet("ɑː") == ("AA",)
    assert ipa_to_arpabet("ts") == ("T", "S")
    assert ipa_to_arpabet("") == ()
    assert normalize_arpabet("AH0") == "AH"
    assert normalize_arpabet("+NSN+") == SILENCE
    assert normalize_arpabet("sil") == SILENCE


def test_guided_recognition_keeps_the_transcripts_phones(spoken: SpokenClip) -> None:
    """The fallback when alignment fails: the transcript's phones, timed by recognition."""
    from avi_talking.core.lipsync.phone_timing import expected_phones, guided_recognition
    from avi_talking.core.phonemes import BILABIALS

    audio = load_audio(spoken.path)
    words = tokenize(spoken.text)
    phones = guided_recognition(audio, words)
    assert _tiles(phones, audio.duration)
    assert [p.label for p in phones if p.label != SILENCE] == expected_phones(words)
    truth = np.array([p.centre for p in spoken.speech.phones if p.label in BILABIALS])  # type: ignore[attr-defined]
    got = np.array([p.centre for p in phones if p.label in BILABIALS])
    assert len(got) == len(truth)
    assert np.median(np.abs(got - truth)) < 0.06  # seconds: coarser than alignment, far better than nothing


def test_sequence_pairing() -> None:
    from avi_talking.core.lipsync.phone_timing import _pair_sequences

    assert _pair_sequences(["B", "AA", "B"], ["B", "AA", "B"]) == [(0, 0), (1, 1), (2, 2)]
    # an inserted phone is skipped; a lookalike (P for B) still pairs
    assert _pair_sequences(["B", "AA", "M"], ["P", "AA", "N", "M"]) == [(0, 0), (1, 1), (2, 3)]
    assert _pair_sequences([], ["AA"]) == []


def test_multi_sentence_alignment_falls_back_to_sentence_pieces() -> None:
    """Sentence-wise alignment (cut at the longest pauses) when the whole clip does not align."""
    from avi_talking.core.lipsync.phone_timing import _align_by_sentences
    from avi_talking.core.tts import espeak

    text = "Bob met Pam by the map. Maybe the baby wants more milk. We were walking home."
    speech = espeak.synthesize(text, rate=160)
    audio = from_samples(speech.samples, speech.sr)
    phones = _align_by_sentences(audio, text)
    assert phones is not None and _tiles(phones, audio.duration)
    got = [p for p in phones if p.label != SILENCE]
    truth = [p for p in speech.phones if p.label != SILENCE]
    pairs = match_labels([p.label for p in truth], [p.label for p in got])
    assert len(pairs) >= 0.85 * len(truth)
    assert np.median([abs(got[j].start - truth[i].start) for i, j in pairs]) < 0.03
