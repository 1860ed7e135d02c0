"""The corpus's other speech engines (Piper, flite, festival) and the augmentations that make clips
sound recorded: real synthesis, real codecs, the phone times checked against the audio itself."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soxr

from avi_talking.core.common.errors import AviTalkError
from avi_talking.core.corpus import augment
from avi_talking.core.corpus.build import parse_engine_share
from avi_talking.core.phonemes import ARPABET, SILENCE, VOWELS, Phone
from avi_talking.core.tts import cli_engines, espeak, piper_voice

pytestmark = pytest.mark.skipif(not espeak.available(), reason="espeak-ng is not installed (the set-up installs it)")
SENTENCE = "Bob bought a big map of Paris, and Pam put it by the barn."


def _energy_in(speech: espeak.Speech, phones: list[Phone]) -> float:
    x = speech.samples.astype(np.float64)
    parts = [x[int(p.start * speech.sr) : int(p.end * speech.sr)] for p in phones]
    parts = [q for q in parts if len(q)]
    return float(np.mean(np.concatenate(parts) ** 2)) if parts else 0.0


def _check_speech(speech: espeak.Speech) -> None:
    """Phones tile the audio, use the ARPAbet set, say every word's bilabials, and sit where the sound is:
    the edge pauses are far quieter than the vowels."""
    duration = len(speech.samples) / speech.sr
    assert speech.phones[0].start == 0.0 and abs(speech.phones[-1].end - duration) < 1e-3
    pairs = zip(speech.phones, speech.phones[1:], strict=False)
    assert all(a.end == pytest.approx(b.start, abs=1e-6) for a, b in pairs)
    assert {p.label for p in speech.phones} <= set(ARPABET) | {SILENCE}
    labels = [p.label for p in speech.phones if p.label != SILENCE]
    assert sum(lab in ("B", "P", "M") for lab in labels) >= 8  # Bob bought big map Paris Pam put by barn
    edges = [p for p in (speech.phones[0], speech.phones[-1]) if p.label == SILENCE and p.duration > 0.03]
    vowels = [p for p in speech.phones if p.label in VOWELS]
    assert edges and _energy_in(speech, edges) < 0.05 * _energy_in(speech, vowels)


@pytest.mark.skipif(not cli_engines.available("flite"), reason="flite not installed")
@pytest.mark.parametrize("voice", cli_engines.FLITE_VOICES)
def test_flite_voices_give_true_phone_times(voice: str) -> None:
    _check_speech(cli_engines.flite(SENTENCE, voice))


@pytest.mark.skipif(not cli_engines.available("festival"), reason="festival not installed")
@pytest.mark.parametrize("voice", sorted(cli_engines.FESTIVAL_VOICES))
def test_festival_voices_give_true_phone_times(voice: str) -> None:
    _check_speech(cli_engines.festival(SENTENCE, voice))


@pytest.mark.skipif(not cli_engines.available("flite"), reason="flite not installed")
def test_flite_prosody_controls_move_rate_and_pitch() -> None:
    slow = cli_engines.flite(SENTENCE, "slt", rate=0.7)
    fast = cli_engines.flite(SENTENCE, "slt", rate=1.4)
    assert len(slow.samples) > 1.6 * len(fast.samples)
    with pytest.raises(AviTalkError):
        cli_engines.flite(SENTENCE, "nobody")


@pytest.mark.skipif(not piper_voice.available(), reason="the corpus extra (piper-tts) is not installed")
def test_piper_gives_true_phone_times_and_repeats_itself_in_a_fresh_process() -> None:
    speech = piper_voice.synthesize(SENTENCE)
    _check_speech(speech)
    code = ("import hashlib; from avi_talking.core.tts import piper_voice as p; "
            f"print(hashlib.sha256(p.synthesize({SENTENCE!r}).samples.tobytes()).hexdigest())")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(runs) == 1


def test_piper_tokens_merge_marks_into_their_neighbours() -> None:
    # "^ b ˈ a ɪ ː <space> m ." : the stress mark's time goes to the vowel, the length mark's to the
    # phone before it, the space is shared, "aɪ" is one diphthong, start/end/punctuation are pauses
    tokens = [("^", 100), ("b", 50), ("ˈ", 30), ("a", 40), ("ɪ", 40), ("ː", 20), (" ", 20), ("m", 60), (".", 80)]
    phones = piper_voice.timed_tokens(tokens, 1000)
    assert [(p.label, round(p.start * 1000), round(p.end * 1000)) for p in phones] == [
        ("SIL", 0, 100), ("B", 100, 150), ("AY", 150, 290), ("M", 290, 360), ("SIL", 360, 440)]


def test_engine_share_is_checked() -> None:
    assert parse_engine_share("espeak=0.5,piper=0.5") == {"espeak": 0.5, "piper": 0.5}
    for bad in ("espeak", "espeak=x", "mbrola=1", "espeak=-1", "piper=1", "espeak=nan"):
        with pytest.raises(AviTalkError):
            parse_engine_share(bad)


def _clean() -> tuple[np.ndarray, list[Phone]]:
    s = espeak.synthesize(SENTENCE, voice="en-us")
    x = np.asarray(soxr.resample(s.samples, s.sr, 16000), np.float64)
    pad = np.zeros(8000)
    inner = [Phone(p.label, p.start + 0.5, p.end + 0.5) for p in s.phones]
    if inner[0].label == SILENCE:  # one pause before the sentence, as the corpus's tiling makes
        inner[0] = Phone(SILENCE, 0.0, inner[0].end)
    else:
        inner.insert(0, Phone(SILENCE, 0.0, 0.5))
    phones = inner + [Phone(SILENCE, inner[-1].end, (len(x) + 16000) / 16000)]
    return np.concatenate([pad, x, pad]), phones


def _lag(x: np.ndarray, y: np.ndarray, reach: int = 400) -> int:
    """Lag (samples) of y behind x, from the loudness envelopes (robust to pitch and phase changes)."""
    def env(z: np.ndarray) -> np.ndarray:
        return np.convolve(np.abs(z), np.ones(64) / 64, mode="same")
    a, b = env(x), env(y)
    scores = [float(np.dot(a[max(0, -k) : len(a) - max(0, k)], b[max(0, k) : len(b) - max(0, -k)]))
              for k in range(-reach, reach + 1)]
    return int(np.argmax(scores)) - reach


@pytest.mark.parametrize("name", ["vtlp", "pitch", "eq", "mp3", "ogg"])
def test_voice_and_channel_augmentations_keep_time(name: str) -> None:
    x, _ = _clean()
    y = {"vtlp": lambda: augment.vtlp(x, 1.1), "pitch": lambda: augment.pitch_shift(x, 2.5),
         "eq": lambda: augment.eq(x, [6.0, -6.0, 3.0, 0.0, -9.0, 9.0]), "mp3": lambda: augment.codec(x, "mp3"),
         "ogg": lambda: augment.codec(x, "ogg")}[name]()
    assert len(y) == len(x) and np.all(np.isfinite(y))
    assert abs(_lag(x, y)) <= 160  # within 10 ms, under a third of a 30 fps frame
    assert 0.3 < np.std(y) / np.std(x) < 3.0
    assert not np.allclose(y, x, atol=1e-3 * np.max(np.abs(x)))  # it did change the sound


def test_speed_perturbation_moves_the_phone_times_with_the_audio() -> None:
    x, phones = _clean()
    y, moved, segments = augment.speed(x.astype(np.float32), phones, [(0.0, phones[-1].end)], 1.1)
    assert len(y) / 16000 == pytest.approx(len(x) / 16000 / 1.1, abs=2e-3)
    assert moved[-1].end == segments[-1][1] == pytest.approx(len(y) / 16000)
    first = next(p for p in phones if p.label != SILENCE)
    assert next(p for p in moved if p.label != SILENCE).start == pytest.approx(first.start / 1.1)
    speech = espeak.Speech(y, 16000, moved)
    assert _energy_in(speech, [moved[0]]) < 0.05 * _energy_in(speech, [p for p in moved if p.label in VOWELS])


def test_breaths_and_clicks_fall_in_pauses_only() -> None:
    x, phones = _clean()
    speech_mask = np.zeros(len(x), bool)
    for p in phones:
        if p.label != SILENCE:
            speech_mask[int(p.start * 16000) : int(p.end * 16000)] = True
    breathed = 0
    for seed in range(8):
        diff = augment.breaths(x, phones, -12.0, True, np.random.default_rng(seed)) - x
        assert np.abs(diff[speech_mask]).max() == 0.0
        breathed += bool(np.abs(diff[: int(phones[0].end * 16000)]).max() > 0.0)
    assert breathed >= 3  # most takes breathe before the sentence


def test_hot_level_clips_and_quiet_level_is_quiet() -> None:
    x, phones = _clean()
    rng = np.random.default_rng(0)
    hot = augment.apply(x, {"level_dbfs": -20.0, "peak_dbfs": 6.0}, rng)
    assert np.mean(np.abs(hot.astype(np.int32)) >= 32767) > 0.001
    quiet = augment.apply(x, {"level_dbfs": -40.0}, rng)
    assert 20 * np.log10(np.sqrt(augment.speech_power(quiet / 32768.0))) == pytest.approx(-40.0, abs=1.0)
