"""espeak-ng through its C library (ctypes): speech with exact phoneme times.

``espeak-ng --pho`` needs MBROLA, which is absent, so phoneme timing comes from the library's
phoneme events (sample-accurate positions). The library keeps global state: one initialisation per
process, and every call holds a lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import faulthandler
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..common.errors import AviTalkError
from ..phonemes import SILENCE, Phone, ipa_to_arpabet

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_INIT_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_SSML = 0x10
_EV_LIST_TERMINATED, _EV_WORD, _EV_SENTENCE, _EV_PHONEME = 0, 1, 2, 7
_PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}
# espeak-ng 1.51 can die inside the library (a general protection fault Python cannot catch) when a voice variant
# with its own pitch envelope speaks low and wide: measured, en-us+rob at pitch 16 or 0 with a range of 80 or more
# on "George will deliver it honestly." (range 70 and the default 50 speak it). Such a call is first tried in a
# forked copy of the process; if the copy dies, the text is spoken with a narrower range.
_PROBE_ABOVE = 50  # ranges above this are tried in a forked copy first (the default range is never probed)
_NARROWER = (70, 50)


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass
class Speech:
    """Synthesised speech: int16-range float32 samples scaled to ±1, and its timed phones."""

    samples: np.ndarray
    sr: int
    phones: list[Phone]  # ARPAbet labels, SIL for pauses, covering [0, duration]
    ipa: list[tuple[str, float]] = field(default_factory=list)  # raw (IPA, start) events
    words: list[tuple[int, float]] = field(default_factory=list)  # (text position, start)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sr


class _Engine:
    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as exc:
            raise AviTalkError(
                "espeak-ng library not found; install it (Debian: apt-get install espeak-ng)"
            ) from exc
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        options = _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT
        self.sr = int(self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, options))
        if self.sr <= 0:
            raise AviTalkError("espeak-ng failed to initialise (is espeak-ng-data installed?)")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str, int]] = []
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav: Any, n: int, events: Any) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EV_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EV_PHONEME:
                self._events.append((_EV_PHONEME, ev.id.string.decode("utf-8", "replace"), ev.sample))
            elif ev.type == _EV_WORD:
                self._events.append((_EV_WORD, str(ev.text_position), ev.sample))
            i += 1
        return 0

    def speak(self, text: str, voice: str, params: dict[str, int], ssml: bool) -> Speech:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise AviTalkError(f"espeak-ng has no voice {voice!r}")
        for key, value in params.items():
            self.lib.espeak_SetParameter(_PARAM[key], int(value), 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8") + b"\0"
        flags = _CHARS_UTF8 | (_SSML if ssml else 0)
        if self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, flags, None, None) != 0:
            raise AviTalkError("espeak-ng could not synthesise the text")
        self.lib.espeak_Synchronize()
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        samples = pcm.astype(np.float32) / 32768.0
        return _timed(samples, self.sr, self._events)

    def phonemize(self, text: str, voice: str) -> str:
        """IPA for ``text`` without synthesising audio (espeak_TextToPhonemes, clause by clause)."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise AviTalkError(f"espeak-ng has no voice {voice!r}")
        fn = self.lib.espeak_TextToPhonemes
        fn.restype = ctypes.c_char_p
        fn.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        buffer = ctypes.c_char_p(text.encode("utf-8"))
        pointer = ctypes.pointer(buffer)
        parts: list[str] = []
        ipa_with_space = 0x02 | (ord(" ") << 8)  # bit 1: IPA; bits 8-23: separator between phonemes
        while buffer.value:
            out = fn(pointer, _CHARS_UTF8, ipa_with_space)
            if out:
                parts.append(out.decode("utf-8", "replace"))
        return " ".join(parts)


def _timed(samples: np.ndarray, sr: int, events: list[tuple[int, str, int]]) -> Speech:
    """Turn phoneme start events into (label, start, end) phones that tile the whole clip."""
    duration = len(samples) / sr
    starts: list[tuple[str, float]] = []
    ipa: list[tuple[str, float]] = []
    words: list[tuple[int, float]] = []
    for kind, value, sample in events:
        t = min(max(sample / sr, 0.0), duration)
        if kind == _EV_WORD:
            words.append((int(value), t))
            continue
        ipa.append((value, t))
        arpa = ipa_to_arpabet(value) or (SILENCE,)
        # a symbol that maps to two phones (e.g. "ts") shares its slot; the next event ends it
        for k, label in enumerate(arpa):
            starts.append((label, t + 1e-4 * k))
    phones: list[Phone] = []
    if not starts or starts[0][1] > 0.0:
        starts.insert(0, (SILENCE, 0.0))
    for (label, t0), nxt in zip(starts, [*starts[1:], (SILENCE, duration)], strict=True):
        t1 = nxt[1]
        if t1 <= t0:
            continue
        if phones and phones[-1].label == label == SILENCE:
            phones[-1] = Phone(SILENCE, phones[-1].start, t1)
        else:
            phones.append(Phone(label, t0, t1))
    # espeak emits the final pause event before the audio tail; trailing samples are silence
    if phones and phones[-1].end < duration:
        phones.append(Phone(SILENCE, phones[-1].end, duration))
    return Speech(samples, sr, phones, ipa, words)


_engine: _Engine | None = None
_lock = threading.Lock()


def available() -> bool:
    try:
        with _lock:
            _get()
        return True
    except AviTalkError:
        return False


def _get() -> _Engine:
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine


def word_to_arpabet(word: str, voice: str = "en-us") -> tuple[str, ...]:
    """ARPAbet pronunciation of a word (used for words missing from the aligner's dictionary)."""
    with _lock:
        ipa = _get().phonemize(word, voice)
    phones: list[str] = []
    for symbol in ipa.split():
        phones.extend(ipa_to_arpabet(symbol))
    return tuple(phones)


def synthesize(
    text: str,
    *,
    voice: str = "en-us",
    rate: int = 170,
    pitch: int = 50,
    pitch_range: int = 50,
    volume: int = 100,
    word_gap: int = 0,
    ssml: bool = False,
) -> Speech:
    """Speak ``text``; rate in words per minute (80–450), pitch and range 0–100, volume 0–200,
    word_gap in units of 10 ms. ``voice`` is an espeak-ng voice name, optionally with a variant
    (``en-us+f3``)."""
    params = {"rate": rate, "pitch": pitch, "range": pitch_range, "volume": volume, "wordgap": word_gap}
    with _lock:
        engine = _get()
        for narrower in (pitch_range, *(r for r in _NARROWER if r < pitch_range)):
            params["range"] = narrower
            if narrower <= _PROBE_ABOVE or _survives(engine, text, voice, params, ssml):
                break
        return engine.speak(text, voice, params, ssml)


def _survives(engine: _Engine, text: str, voice: str, params: dict[str, int], ssml: bool) -> bool:
    """Whether speaking this leaves the process alive, tried in a forked copy (whose synthesis state is its own, so
    the parent's next utterance is what it would have been). Without fork (Windows) the call is not probed."""
    if not hasattr(os, "fork"):
        return True
    pid = os.fork()
    if pid == 0:  # the copy: speak, then leave at once (no atexit handlers, no flushing of the parent's buffers)
        faulthandler.disable()  # its death is expected: no traceback dump on the shared stderr
        try:
            engine.speak(text, voice, params, ssml)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return not os.WIFSIGNALED(status)
