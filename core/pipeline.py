"""Audio file → Animation: the one path the CLI, the worker and the add-on all call."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from .animation import Animation, normalize_fps
from .arkit import ARKIT52
from .audio import DEFAULT_MAX_SECONDS, Audio, load_audio
from .errors import AviTalkError
from .features import Features, extract_features
from .phonemes import SILENCE, Phone
from .phones import align_phones, recognize_phones
from .procedural import ProceduralSettings, synthesize
from .progress import ProgressFn, null_progress, scaled

MODELS = ("procedural",)


@dataclass(frozen=True)
class GenerateOptions:
    fps: float = 30.0
    seed: int = 0
    transcript: str | None = None
    model: str = "procedural"
    max_seconds: float = DEFAULT_MAX_SECONDS
    lips: float = 1.0
    expression: float = 1.0
    blinks: float = 1.0


@dataclass
class Analysis:
    """Everything derived from the audio alone; re-used when only the synthesis settings change."""

    audio: Audio
    features: Features
    phones: list[Phone]
    phone_source: str
    timings: dict[str, float] = field(default_factory=dict)


def analyze_audio(audio: Audio, fps: float, transcript: str | None = None,
                  progress: ProgressFn = null_progress) -> Analysis:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    features = extract_features(audio, fps)
    timings["features"] = time.perf_counter() - t0
    progress("features", 0.1)
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


def synthesize_animation(analysis: Analysis, options: GenerateOptions) -> Animation:
    if options.model not in MODELS:
        raise AviTalkError(f"unknown model {options.model!r} (available: {', '.join(MODELS)})")
    t0 = time.perf_counter()
    settings = ProceduralSettings(options.seed, options.lips, options.expression, options.blinks)
    values = synthesize(analysis.phones, analysis.features, settings)
    analysis.timings["synthesis"] = time.perf_counter() - t0
    audio = analysis.audio
    meta = {
        "generator": f"avi_talking {__version__}",
        "model": options.model,
        "seed": options.seed,
        "instructions": [],
        "audio": audio.path.name if audio.path else None,
        "audio_sha256": audio.sha256,
        "duration": round(audio.duration, 6),
        "phones": analysis.phone_source,
        "settings": {"lips": options.lips, "expression": options.expression, "blinks": options.blinks},
        "warnings": list(audio.warnings),
    }
    return Animation(analysis.features.fps, ARKIT52, values, "arkit52", meta)


def generate(audio_path: str | Path, options: GenerateOptions | None = None,
             progress: ProgressFn = null_progress) -> tuple[Animation, Analysis]:
    """Load ``audio_path`` and synthesise its Animation. Raises AviTalkError on bad input."""
    options = options or GenerateOptions()
    fps = normalize_fps(options.fps)
    t0 = time.perf_counter()
    audio = load_audio(audio_path, max_seconds=options.max_seconds)
    load_time = time.perf_counter() - t0
    progress("audio", 0.02)
    analysis = analyze_audio(audio, fps, options.transcript, scaled(progress, 0.02, 0.95))
    analysis.timings["load"] = load_time
    animation = synthesize_animation(analysis, options)
    progress("done", 1.0)
    return animation, analysis
