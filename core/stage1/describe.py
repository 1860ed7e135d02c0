"""What the optional LLM is told about a segment: a prosody summary in human units, the predictor's
emotion probabilities and suggestion, and words from pocketsphinx when there are any."""

from __future__ import annotations

import numpy as np

from ..audio.loader import Audio
from ..instructions.llm import AudioDescription
from ..instructions.text import to_text
from .features import STAT_NAMES
from .predict import SegmentPrediction

_I = {name: k for k, name in enumerate(STAT_NAMES)}


def prosody_summary(features: np.ndarray, f0_reference: float = 100.0) -> dict[str, float]:
    """Readable numbers from a segment's features (its own statistics, the first half of the vector);
    ``f0_reference``: the recording's median F0 in Hz, which the F0 statistics are relative to."""
    f = np.asarray(features, np.float64)
    return {
        "median_pitch_hz": round(float(f0_reference * 2 ** (f[_I["f0_rel_p50"]] / 12.0)), 1),
        "pitch_range_semitones": round(float(f[_I["f0_range"]]), 2),
        "pitch_movement_semitones_per_10ms": round(float(f[_I["f0_delta"]]), 3),
        "syllables_per_second": round(float(f[_I["nuclei_rate"]]), 2),
        "loudness_range_db": round(float(f[_I["energy_range"]]), 1),
        "loudness_vs_loudest_part_db": round(float(f[_I["energy_rel"]]), 1),
        "pauses_per_second": round(float(f[_I["pause_rate"]]), 2),
        "spectral_tilt": round(float(f[_I["tilt_mean"]]), 2),
        "voiced_share": round(float(f[_I["voiced_ratio"]]), 2),
    }


def describe(prediction: SegmentPrediction, transcript: str | None = None) -> AudioDescription:
    summary = prosody_summary(prediction.features, prediction.f0_reference)
    return AudioDescription(prediction.start, prediction.end, summary,
                            dict(prediction.emotion_probabilities), prediction.text or to_text(prediction.instruction),
                            transcript, prediction.features)


def transcribe(audio: Audio, start: float, end: float) -> str | None:
    """pocketsphinx's words for [start, end) with its US-English language model (None when it hears none, or
    where pocketsphinx is not installed: the words only add to a description, as in Blender's own Python)."""
    try:
        from pocketsphinx import Config, Decoder, get_model_path
    except ImportError:
        return None

    from ..lipsync.phone_timing import prepare_pcm

    a, b = int(start * audio.sr), int(end * audio.sr)
    piece = audio.samples[a:b]
    if len(piece) < audio.sr // 10:
        return None
    config = Config(hmm=get_model_path("en-us/en-us"), lm=get_model_path("en-us/en-us.lm.bin"),
                    dict=get_model_path("en-us/cmudict-en-us.dict"), loglevel="FATAL")
    decoder = Decoder(config)
    decoder.start_utt()
    decoder.process_raw(prepare_pcm(piece, audio.sr), full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    words = " ".join(w for w in (hyp.hypstr.split() if hyp is not None else []) if not w.startswith(("<", "[")))
    return words or None
