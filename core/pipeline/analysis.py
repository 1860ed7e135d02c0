"""Everything derived from the audio alone — the front end and, for the procedural model, phone timing —
re-used when only the synthesis settings (instructions, seed, strengths) change."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..audio.features import Features, extract_features
from ..audio.loader import Audio
from ..common.progress import ProgressFn, null_progress, scaled
from ..lipsync.phone_timing import align_phones, recognize_phones
from ..phonemes import SILENCE, Phone


@dataclass
class Analysis:
    audio: Audio
    features: Features
    phones: list[Phone]
    phone_source: str
    timings: dict[str, float] = field(default_factory=dict)
    # stage 2's audio encodings of this clip, per (model id, device, runtime, fps): a re-bake with other
    # instructions or another seed re-uses them instead of encoding the audio again
    encodings: dict[tuple[str, str, str, float], Any] = field(default_factory=dict)


def analyze_audio(audio: Audio, fps: float, transcript: str | None = None,
                  progress: ProgressFn = null_progress, with_phones: bool = True) -> Analysis:
    """Front end, and phone timing unless ``with_phones`` is False (stage 2 hears the audio itself)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    features = extract_features(audio, fps)
    timings["features"] = time.perf_counter() - t0
    progress("features", 0.1)
    if not with_phones:
        return Analysis(audio, features, [], "not used", timings)
    t0 = time.perf_counter()
    phone_progress = scaled(progress, 0.1, 0.95)
    if audio.is_silent:
        phones, source = [Phone(SILENCE, 0.0, audio.duration)], "silence"
    elif transcript is not None:
        phones, source = align_phones(audio, transcript, phone_progress), "alignment"
    else:
        phones, source = recognize_phones(audio, phone_progress), "recognition"
    timings["phones"] = time.perf_counter() - t0
    return Analysis(audio, features, phones, source, timings)
