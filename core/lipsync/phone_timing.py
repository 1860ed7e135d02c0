"""Timed ARPAbet phones from pocketsphinx: phone recognition by default, forced alignment when the
user gives a transcript.

pocketsphinx's US-English model ships in its PyPI wheel, so this runs offline. Two things matter in
practice (measured on espeak-ng speech, which otherwise fails to align): the decoder wants leading
and trailing silence to anchor its <s>/</s> states, and it degrades on loud or clipped input. So the
signal is level-normalised and padded with low-level noise before decoding, and times are shifted
back afterwards.
"""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.loader import Audio
from ..common.errors import AviTalkError
from ..common.progress import ProgressFn, null_progress
from ..phonemes import SILENCE, VOWELS, Phone, normalize_arpabet

FRAME_RATE = 100.0  # pocketsphinx frames per second
PAD_SECONDS = 0.5
_TARGET_RMS = 10 ** (-22 / 20)
_PEAK_LIMIT = 0.7
# Against espeak-ng's own phoneme events, aligned boundaries come out 9 ms early (median; median
# absolute error 11 ms over 18 sentences at 130-220 wpm). That is under a third of a frame and
# lips lead the sound anyway, so no correction is applied.
TIME_OFFSET = 0.0

# The first (word-level) alignment pass must run without the flat-lexicon and best-path rescoring
# passes: with them the search often stops after the first word. Wider beams are the next try; the
# last one also drops the filler (silence/noise) models between words, which on some voices
# (high-pitched espeak-ng variants: 20 of 87 clips of a corpus test split) swallow speech so the
# search never reaches the end. Pauses then fold into the phones around them; voice activity still
# closes the mouth there.
_WIDE = {"beam": 1e-100, "wbeam": 1e-80, "pbeam": 1e-100, "lpbeam": 1e-80, "lponlybeam": 1e-80}
_ALIGN_PASSES: tuple[dict[str, Any], ...] = (
    {"fwdflat": False, "bestpath": False},
    {"fwdflat": False, "bestpath": False, **_WIDE},
    {"fwdflat": False, "bestpath": False, "fsgusefiller": False, **_WIDE},
)


class PhoneWarning(UserWarning):
    """Phones could not be found the preferred way; a fallback was used."""


NO_POCKETSPHINX = ("the procedural model times its phones with pocketsphinx, which this Python does not have: "
                   "pip install pocketsphinx, or use --model stage2")


def _pocketsphinx() -> Any:
    """The pocketsphinx module, or a one-line error (Blender's own Python has none)."""
    try:
        import pocketsphinx
    except ImportError:
        raise AviTalkError(NO_POCKETSPHINX) from None
    return pocketsphinx


def _model_files() -> dict[str, str]:
    get_model_path = _pocketsphinx().get_model_path
    return {
        "hmm": get_model_path("en-us/en-us"),
        "dict": get_model_path("en-us/cmudict-en-us.dict"),
        "phone_lm": get_model_path("en-us/en-us-phone.lm.bin"),
    }


def _decoder(**options: Any) -> Any:
    ps = _pocketsphinx()
    files = _model_files()
    config = ps.Config(hmm=files["hmm"], dict=files["dict"], loglevel="FATAL", **options)
    return ps.Decoder(config)


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
    pronunciations from espeak-ng when it is installed.

    The whole clip is aligned first; when that fails, sentence by sentence on pieces cut at the
    clip's longest pauses; when that fails too, phone recognition (with a warning)."""
    words = tokenize(transcript)
    if not words:
        raise AviTalkError("the transcript is empty")
    if audio.is_silent:
        raise AviTalkError("cannot align a transcript to silent audio")
    phones = force_align(audio, transcript, progress)
    if phones is not None:
        progress("phones", 1.0)
        return phones
    warnings.warn(PhoneWarning("the transcript could not be aligned to the audio; timing its phones by "
                               "phone recognition instead"), stacklevel=2)
    return guided_recognition(audio, words, progress)


def force_align(audio: Audio, transcript: str, progress: ProgressFn = null_progress) -> list[Phone] | None:
    """Forced alignment only: the whole clip (ever wider beams), then sentence by sentence; None when the
    transcript has no dictionary words, the audio is silent, or neither reaches the end (no fallback to
    recognition, so a measure built on it never scores guessed times)."""
    words = tokenize(transcript)
    if not words or audio.is_silent:
        return None
    phones = _align_piece(audio.samples, audio.sr, words)
    progress("phones", 0.5)
    return phones if phones is not None else _align_by_sentences(audio, transcript)


def _align_piece(samples: np.ndarray, sr: int, words: list[str]) -> list[Phone] | None:
    """Align ``words`` to ``samples``, trying the passes in turn; None when none reaches the end."""
    alignment = _alignment(samples, sr, words)
    if alignment is None:
        return None
    segments = [(ph.name, ph.start, ph.start + ph.duration) for word in alignment for ph in word]
    return _to_phones(segments, len(samples) / sr)


def _alignment(samples: np.ndarray, sr: int, words: list[str]) -> Any | None:
    """pocketsphinx's word alignment (words, each iterating its phones; times in frames of the padded
    signal) from the first pass that reaches the end of ``words``; None when none does."""
    pcm = prepare_pcm(samples, sr)
    for options in _ALIGN_PASSES:
        decoder = _decoder(**options)
        _add_missing_words(decoder, words)
        decoder.set_align_text(" ".join(words))
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        if decoder.hyp() is None:
            continue
        decoder.set_alignment()  # second pass: phone-level alignment along the word path
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        alignment = decoder.get_alignment()
        if alignment is not None and _covers([w.name for w in alignment], words):
            return alignment
    return None


@dataclass(frozen=True)
class TimedWord:
    """One transcript word with its aligned times in seconds from the audio start."""

    word: str
    start: float
    end: float


def align_words(audio: Audio, transcript: str) -> list[TimedWord]:
    """When each word of ``transcript`` is spoken (forced alignment, as ``align_phones`` does it: the whole
    clip, then sentence by sentence cut at the longest pauses). Raises AviTalkError when neither aligns: a
    word marker placed by guess would mislead more than none."""
    words = tokenize(transcript)
    if not words:
        raise AviTalkError("the transcript is empty")
    if audio.is_silent:
        raise AviTalkError("cannot align a transcript to silent audio")
    timed = _timed_words(audio.samples, audio.sr, words, 0.0)
    if timed is None:
        timed = _timed_words_by_sentences(audio, transcript)
    if timed is None:
        raise AviTalkError("the transcript could not be aligned to the audio (does it say what is spoken?)")
    return timed


def _timed_words(samples: np.ndarray, sr: int, words: list[str], offset: float) -> list[TimedWord] | None:
    alignment = _alignment(samples, sr, words)
    if alignment is None:
        return None
    duration = len(samples) / sr
    timed: list[TimedWord] = []
    for word in alignment:
        name = re.sub(r"\(\d+\)$", "", word.name)
        if name.startswith(("<", "[")) or name == "</s>":  # sentence marks, silence and noise fillers
            continue
        start = min(max(0.0, word.start / FRAME_RATE - PAD_SECONDS + TIME_OFFSET), duration)
        end = min(max(start, (word.start + word.duration) / FRAME_RATE - PAD_SECONDS + TIME_OFFSET), duration)
        timed.append(TimedWord(name, round(start + offset, 4), round(end + offset, 4)))
    return timed


def _sentence_pieces(audio: Audio, transcript: str) -> list[tuple[int, int, list[str]]] | None:
    """The transcript's sentences, each with the stretch of samples it is spoken in (cut at the longest
    pauses): ``(start, end, words)``; None when there is one sentence or not enough pauses."""
    sentences = [w for w in (tokenize(s) for s in re.split(r"(?<=[.!?;:])\s+", transcript)) if w]
    if len(sentences) < 2:
        return None
    cuts = _pause_cuts(audio, len(sentences) - 1)
    if cuts is None:
        return None
    bounds = [0, *cuts, len(audio.samples)]
    return [(a, b, words) for (a, b), words in zip(itertools.pairwise(bounds), sentences, strict=True)]


def _timed_words_by_sentences(audio: Audio, transcript: str) -> list[TimedWord] | None:
    pieces = _sentence_pieces(audio, transcript)
    if pieces is None:
        return None
    timed: list[TimedWord] = []
    for a, b, words in pieces:
        piece = _timed_words(audio.samples[a:b], audio.sr, words, a / audio.sr)
        if piece is None:
            return None
        timed.extend(piece)
    return timed


def _align_by_sentences(audio: Audio, transcript: str) -> list[Phone] | None:
    pieces = _sentence_pieces(audio, transcript)
    if pieces is None:
        return None
    phones: list[Phone] = []
    for a, b, words in pieces:
        piece = _align_piece(audio.samples[a:b], audio.sr, words)
        if piece is None:
            return None
        offset = a / audio.sr
        phones.extend(Phone(p.label, p.start + offset, p.end + offset) for p in piece)
    return _merge_silences(phones)


def _pause_cuts(audio: Audio, count: int) -> list[int] | None:
    """Sample positions at the centres of the ``count`` longest interior pauses, in time order."""
    from ..audio.features import logmel_energy, voice_activity

    fps = 100.0
    _, _, energy = logmel_energy(audio, fps)
    voiced, _ = voice_activity(energy, fps)
    padded = np.concatenate([[True], voiced, [True]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    pauses = [(b - a, a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if a > 0 and b < len(voiced)]
    if len(pauses) < count:
        return None
    longest = sorted(pauses, reverse=True)[:count]
    return sorted(int((a + b) / 2 / fps * audio.sr) for _, a, b in longest)


def expected_phones(words: list[str]) -> list[str]:
    """The transcript's phones from the dictionary (first pronunciation; espeak-ng for unknown words)."""
    extra = _pronounce(words)
    known = _dictionary()
    phones: list[str] = []
    for word in words:
        phones.extend(normalize_arpabet(p) for p in known.get(word) or extra[word])
    return [p for p in phones if p != SILENCE]


def guided_recognition(audio: Audio, words: list[str], progress: ProgressFn = null_progress) -> list[Phone]:
    """The transcript's phones, timed by free phone recognition: the expected and the heard phone
    sequences are paired by edit distance (cheaper for phones that look alike on the lips); paired
    phones take the heard times, unpaired ones share the time between their neighbours."""
    heard = [p for p in recognize_phones(audio, progress) if p.label != SILENCE]
    expected = expected_phones(words)
    if not heard or not expected:
        return [Phone(SILENCE, 0.0, audio.duration)]
    times: list[tuple[float, float] | None] = [None] * len(expected)
    for i, j in _pair_sequences(expected, [p.label for p in heard]):
        times[i] = (heard[j].start, heard[j].end)
    i = 0
    while i < len(expected):  # spread unpaired runs over the gap between the paired phones around them
        if times[i] is not None:
            i += 1
            continue
        k = i
        while k < len(expected) and times[k] is None:
            k += 1
        before, after = times[i - 1] if i > 0 else None, times[k] if k < len(expected) else None
        lo = before[1] if before else heard[0].start
        hi = after[0] if after else heard[-1].end
        hi = max(hi, lo + 0.02 * (k - i))
        step = (hi - lo) / (k - i)
        for m in range(i, k):
            times[m] = (lo + step * (m - i), lo + step * (m - i + 1))
        i = k
    segments: list[tuple[str, float, float]] = []
    for label, span in zip(expected, times, strict=True):
        assert span is not None
        start = max(span[0], segments[-1][2] if segments else 0.0)
        end = max(span[1], start + 0.01)
        if segments and start - segments[-1][2] < _ABSORBED_GAP:  # a short gap inside speech: no pause
            segments[-1] = (segments[-1][0], segments[-1][1], start)
        segments.append((label, start, end))
    frames = [(label, round((a + PAD_SECONDS) * FRAME_RATE), round((b + PAD_SECONDS) * FRAME_RATE))
              for label, a, b in segments]
    return _to_phones(frames, audio.duration)


_ABSORBED_GAP = 0.15  # seconds between paired phones below which no pause is assumed


_MAX_PAIRING_CELLS = 20_000_000  # ~80 MB of float32: about 7 minutes of speech against itself


def _substitution_costs(a: list[str], b: list[str]) -> np.ndarray:
    """[len(a), len(b)] costs: 0 same phone, 0.3 same viseme, 0.6 both vowels or both consonants, else 0.9."""
    from .visemes import PHONE_TO_VISEME

    va = np.array([PHONE_TO_VISEME.get(p, "?") for p in a])
    vb = np.array([PHONE_TO_VISEME.get(p, "?") for p in b])
    sa = np.array([p in VOWELS for p in a])
    sb = np.array([p in VOWELS for p in b])
    cost = np.where(sa[:, None] == sb[None, :], 0.6, 0.9).astype(np.float32)
    cost[va[:, None] == vb[None, :]] = 0.3
    cost[np.array(a)[:, None] == np.array(b)[None, :]] = 0.0
    return cost


def _pair_sequences(a: list[str], b: list[str], gap: float = 0.7) -> list[tuple[int, int]]:
    """Index pairs (i, j) on the cheapest monotonic alignment of two phone sequences (edit distance,
    one numpy row at a time: the left-to-right insertions are a running minimum)."""
    n, m = len(a), len(b)
    if n == 0 or m == 0 or n * m > _MAX_PAIRING_CELLS:
        return []
    sub = _substitution_costs(a, b)
    cost = np.empty((n + 1, m + 1), np.float32)
    cost[0] = gap * np.arange(m + 1)
    ramp = gap * np.arange(m + 1, dtype=np.float32)
    for i in range(1, n + 1):
        row = np.empty(m + 1, np.float32)
        row[0] = gap * i
        row[1:] = np.minimum(cost[i - 1, 1:] + gap, cost[i - 1, :-1] + sub[i - 1])
        cost[i] = np.minimum.accumulate(row - ramp) + ramp  # cost[i, j-1] + gap chains
    pairs: list[tuple[int, int]] = []
    i, j = n, m
    while i > 0 and j > 0:
        if np.isclose(cost[i, j], cost[i - 1, j - 1] + sub[i - 1, j - 1]):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif np.isclose(cost[i, j], cost[i - 1, j] + gap):
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


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
def _dictionary() -> dict[str, tuple[str, ...]]:
    """The CMU dictionary shipped with pocketsphinx: word → first pronunciation (ARPAbet)."""
    pronunciations: dict[str, tuple[str, ...]] = {}
    with open(_model_files()["dict"], encoding="utf-8") as fh:
        for line in fh:
            word, _, phones = line.strip().partition(" ")
            if "(" not in word:  # "(2)" entries are alternative pronunciations
                pronunciations[word] = tuple(phones.split())
    return pronunciations


def _pronounce(words: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Pronunciations for words missing from the dictionary, from espeak-ng."""
    known = _dictionary()
    missing = sorted({w for w in words if w not in known})
    if not missing:
        return {}
    from ..tts import espeak

    found: dict[str, tuple[str, ...]] = {}
    unknown: list[str] = []
    for word in missing:
        phones = espeak.word_to_arpabet(word) if espeak.available() else ()
        if phones:
            found[word] = phones
        else:
            unknown.append(word)
    if unknown:
        raise AviTalkError(f"no pronunciation for: {', '.join(unknown[:8])} (espeak-ng would supply one)")
    return found


def _add_missing_words(decoder: Any, words: Iterable[str]) -> None:
    for word, phones in _pronounce(words).items():
        decoder.add_word(word, " ".join(phones), False)


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
