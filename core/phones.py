"""Timed ARPAbet phones from pocketsphinx: phone recognition by default, forced alignment when the
user gives a transcript.

pocketsphinx's US-English model ships in its PyPI wheel, so this runs offline. Two things matter in
practice (measured on espeak-ng speech, which otherwise fails to align): the decoder wants leading
and trailing silence to anchor its <s>/</s> states, and it degrades on loud or clipped input. So the
signal is level-normalised and padded with low-level noise before decoding, and times are shifted
back afterwards.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from .audio import Audio
from .errors import AviTalkError
from .phonemes import SILENCE, Phone, normalize_arpabet
from .progress import ProgressFn, null_progress

FRAME_RATE = 100.0  # pocketsphinx frames per second
PAD_SECONDS = 0.5
_TARGET_RMS = 10 ** (-22 / 20)
_PEAK_LIMIT = 0.7
# Against espeak-ng's own phoneme events, aligned boundaries come out 9 ms early (median; median
# absolute error 11 ms over 18 sentences at 130-220 wpm). That is under a third of a frame and
# lips lead the sound anyway, so no correction is applied.
TIME_OFFSET = 0.0

# The first (word-level) alignment pass must run without the flat-lexicon and best-path rescoring
# passes: with them the search often stops after the first word. Wider beams are the fallback.
_ALIGN_PASSES: tuple[dict[str, Any], ...] = (
    {"fwdflat": False, "bestpath": False},
    {"fwdflat": False, "bestpath": False, "beam": 1e-100, "wbeam": 1e-80, "pbeam": 1e-100, "lpbeam": 1e-80,
     "lponlybeam": 1e-80},
)


class PhoneWarning(UserWarning):
    """Phones could not be found the preferred way; a fallback was used."""


def _model_files() -> dict[str, str]:
    from pocketsphinx import get_model_path

    return {
        "hmm": get_model_path("en-us/en-us"),
        "dict": get_model_path("en-us/cmudict-en-us.dict"),
        "phone_lm": get_model_path("en-us/en-us-phone.lm.bin"),
    }


def _decoder(**options: Any) -> Any:
    from pocketsphinx import Config, Decoder

    files = _model_files()
    config = Config(hmm=files["hmm"], dict=files["dict"], loglevel="FATAL", **options)
    return Decoder(config)


def prepare_pcm(samples: np.ndarray, sr: int = 16000) -> bytes:
    """16 kHz int16 PCM, level-normalised, with noise padding on both sides."""
    if sr != 16000:
        raise AviTalkError("phone decoding needs 16 kHz audio")
    x = samples.astype(np.float64)
    loud = np.abs(x) > 1e-4
    rms = float(np.sqrt(np.mean(x[loud] ** 2))) if loud.any() else 0.0
    if rms > 0:
        x = x * (_TARGET_RMS / rms)
        peak = float(np.max(np.abs(x)))
        if peak > _PEAK_LIMIT:
            x *= _PEAK_LIMIT / peak
    rng = np.random.default_rng(0)  # fixed: decoding must be deterministic
    pad = int(PAD_SECONDS * sr)
    noise_level = 10 ** (-70 / 20)
    padded = np.concatenate([rng.normal(0, noise_level, pad), x, rng.normal(0, noise_level, pad)])
    return np.asarray(np.clip(padded, -1, 1) * 32767, dtype="<i2").tobytes()


def recognize_phones(audio: Audio, progress: ProgressFn = null_progress) -> list[Phone]:
    """Free phone recognition with pocketsphinx's phone language model, utterance by utterance
    (long audio is cut at its quietest moments into pieces of at most ``MAX_UTTERANCE`` seconds)."""
    if audio.is_silent:
        return [Phone(SILENCE, 0.0, audio.duration)]
    # lw=1: a weak phone-LM weight recovers more phones (recall 0.50 / precision 0.55 against forced
    # alignment on real English speech; lw=3 gives 0.45 / 0.57). Wide beams for short clips.
    decoder = _decoder(lm=None, allphone=_model_files()["phone_lm"], lw=1.0, beam=1e-20, pbeam=1e-20)
    pieces = split_points(audio.samples, audio.sr)
    phones: list[Phone] = []
    for k, (a, b) in enumerate(pieces):
        decoder.start_utt()
        decoder.process_raw(prepare_pcm(audio.samples[a:b], audio.sr), full_utt=True)
        decoder.end_utt()
        segments = [(seg.word, seg.start_frame, seg.end_frame + 1) for seg in decoder.seg()]
        offset = a / audio.sr
        for phone in _to_phones(segments, (b - a) / audio.sr):
            phones.append(Phone(phone.label, phone.start + offset, phone.end + offset))
        progress("phones", (k + 1) / len(pieces))
    return _merge_silences(phones)


def split_points(samples: np.ndarray, sr: int, max_seconds: float = 20.0) -> list[tuple[int, int]]:
    """Cut points for utterance-wise decoding: at the quietest 10 ms in the last third of each
    ``max_seconds`` window, so cuts fall in pauses where there are any."""
    hop = sr // 100
    n = len(samples)
    if n <= max_seconds * sr:
        return [(0, n)]
    frames = n // hop
    level = np.sqrt(np.mean(samples[: frames * hop].reshape(frames, hop).astype(np.float64) ** 2, axis=1))
    pieces: list[tuple[int, int]] = []
    start = 0
    limit = int(max_seconds * 100)
    while frames - start // hop > limit:
        lo = start // hop + (2 * limit) // 3
        hi = start // hop + limit
        cut = (lo + int(np.argmin(level[lo:hi]))) * hop
        pieces.append((start, cut))
        start = cut
    pieces.append((start, n))
    return pieces


def _merge_silences(phones: list[Phone]) -> list[Phone]:
    merged: list[Phone] = []
    for phone in phones:
        if merged and phone.label == SILENCE == merged[-1].label:
            merged[-1] = Phone(SILENCE, merged[-1].start, phone.end)
        else:
            merged.append(phone)
    return merged


def align_phones(audio: Audio, transcript: str, progress: ProgressFn = null_progress) -> list[Phone]:
    """Forced alignment of ``transcript`` (plain text). Words missing from the dictionary get
    pronunciations from espeak-ng when it is installed."""
    words = tokenize(transcript)
    if not words:
        raise AviTalkError("the transcript is empty")
    if audio.is_silent:
        raise AviTalkError("cannot align a transcript to silent audio")
    pcm = prepare_pcm(audio.samples, audio.sr)
    for options in _ALIGN_PASSES:
        decoder = _decoder(**options)
        _add_missing_words(decoder, words)
        decoder.set_align_text(" ".join(words))
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        if decoder.hyp() is None:
            continue
        decoder.set_alignment()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        alignment = decoder.get_alignment()
        if alignment is None:
            continue
        segments = [(ph.name, ph.start, ph.start + ph.duration) for word in alignment for ph in word]
        if _covers([w.name for w in alignment], words):
            progress("phones", 1.0)
            return _to_phones(segments, audio.duration)
        progress("phones", 0.5)
    warnings.warn(PhoneWarning("the transcript could not be aligned to the audio; using phone recognition"),
                  stacklevel=2)
    return recognize_phones(audio, progress)


def read_transcript(value: str) -> str:
    """``--transcript`` takes text or the path of a UTF-8 text file."""
    path = Path(value)
    if len(value) < 4096 and path.suffix.lower() in {".txt", ".lab", ".text"}:
        if not path.is_file():
            raise AviTalkError(f"transcript file {path} does not exist")
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise AviTalkError(f"transcript file {path} is not UTF-8 text") from exc
    if len(value) < 4096 and path.is_file():
        return path.read_text(encoding="utf-8", errors="replace")
    return value


def tokenize(text: str) -> list[str]:
    """Lower-case words as the CMU dictionary spells them (apostrophes kept, digits spelled by espeak)."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower())


@cache
def _dictionary() -> frozenset[str]:
    words: set[str] = set()
    with open(_model_files()["dict"], encoding="utf-8") as fh:
        for line in fh:
            words.add(line.split(" ", 1)[0])
    return frozenset(words)


def _add_missing_words(decoder: Any, words: Iterable[str]) -> None:
    known = _dictionary()
    missing = sorted({w for w in words if w not in known})
    if not missing:
        return
    from .tts import espeak

    unknown: list[str] = []
    for word in missing:
        phones = espeak.word_to_arpabet(word) if espeak.available() else ()
        if phones:
            decoder.add_word(word, " ".join(phones), False)
        else:
            unknown.append(word)
    if unknown:
        raise AviTalkError(f"no pronunciation for: {', '.join(unknown[:8])} (espeak-ng would supply one)")


def _covers(aligned: list[str], words: list[str]) -> bool:
    clean = [re.sub(r"\(\d+\)$", "", w) for w in aligned if not w.startswith("<") and w != "</s>"]
    return clean == words


def _to_phones(segments: list[tuple[str, int, int]], duration: float) -> list[Phone]:
    """pocketsphinx frames (on the padded signal) → seconds on the original, tiling [0, duration]."""
    phones: list[Phone] = []
    for name, f0, f1 in segments:
        start = max(0.0, f0 / FRAME_RATE - PAD_SECONDS + TIME_OFFSET)
        end = min(duration, f1 / FRAME_RATE - PAD_SECONDS + TIME_OFFSET)
        if end <= start:
            continue
        label = normalize_arpabet(name)
        if phones and start < phones[-1].end:
            start = phones[-1].end
            if end <= start:
                continue
        if phones and start > phones[-1].end:
            phones.append(Phone(SILENCE, phones[-1].end, start))
        if phones and label == SILENCE and phones[-1].label == SILENCE:
            phones[-1] = Phone(SILENCE, phones[-1].start, end)
        else:
            phones.append(Phone(label, start, end))
    if not phones:
        return [Phone(SILENCE, 0.0, duration)]
    if phones[0].start > 0:
        phones.insert(0, Phone(SILENCE, 0.0, phones[0].start))
    if phones[-1].end < duration:
        phones.append(Phone(SILENCE, phones[-1].end, duration))
    return phones
