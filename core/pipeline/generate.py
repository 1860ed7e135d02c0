"""Audio file → Animation: the one path the CLI, the worker and the add-on all call."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...version import __version__
from ..animation import Animation, normalize_fps
from ..arkit import ARKIT52
from ..audio.features import Features, extract_features
from ..audio.loader import DEFAULT_MAX_SECONDS, Audio, load_audio
from ..common.errors import AviTalkError
from ..common.progress import ProgressFn, null_progress, scaled
from ..instructions import Instruction, Segment
from ..lipsync.phone_timing import align_phones, recognize_phones
from ..lipsync.procedural import ProceduralSettings, synthesize
from ..phonemes import SILENCE, Phone

MODELS = ("stage2", "procedural")
CLI_DEFAULT_MODEL = "stage2"  # the command line uses the trained model; the API keeps the torch-free baseline


@dataclass(frozen=True)
class GenerateOptions:
    fps: float = 30.0
    seed: int = 0
    transcript: str | None = None
    model: str = "procedural"  # "procedural", "stage2", or the path of stage-2 weights
    max_seconds: float = DEFAULT_MAX_SECONDS
    lips: float = 1.0
    expression: float = 1.0
    blinks: float = 1.0
    instructions: tuple[Segment, ...] | None = None  # an instruction track (stage 2)
    instruction_text: str | None = None  # one instruction for the whole clip (stage 2)
    device: str = "cpu"  # where stage 2 runs: "cpu", "cuda", "cuda:N" (resolve "auto" with stage2.runtime)

    @property
    def is_procedural(self) -> bool:
        return self.model == "procedural"


@dataclass
class Analysis:
    """Everything derived from the audio alone; re-used when only the synthesis settings change."""

    audio: Audio
    features: Features
    phones: list[Phone]
    phone_source: str
    timings: dict[str, float] = field(default_factory=dict)
    # stage 2's audio encodings of this clip, per (model id, device, fps): a re-bake with other
    # instructions or another seed re-uses them instead of encoding the audio again
    encodings: dict[tuple[str, str, float], Any] = field(default_factory=dict)


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


def check_model(model: str) -> None:
    if model not in MODELS and not Path(model).exists():
        raise AviTalkError(f"unknown model {model!r}: use {' or '.join(MODELS)}, or the path of stage-2 weights")


def synthesize_animation(analysis: Analysis, options: GenerateOptions) -> Animation:
    check_model(options.model)
    if not options.is_procedural:
        return _synthesize_stage2(analysis, options)
    if options.instructions is not None or options.instruction_text is not None:
        warnings.warn("the procedural model does not follow instructions: --instructions/--text are ignored",
                      stacklevel=2)
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


# Below this (duration-weighted) calibrated confidence, stage 1's silent choice is flagged: with 8 emotions
# chance is 0.125, and real voices land at 0.16-0.24 (docs/instructions.md).
LOW_CONFIDENCE = 0.3


def resolve_instructions(audio: Audio, options: GenerateOptions) -> tuple[list[Segment], str, list[float]]:
    """The instruction segments stage 2 follows, where they came from — the track given, the ``--text``
    parsed into one instruction over the whole clip, stage 1's prediction, or (while no stage-1 model is
    installed) a neutral instruction, with a warning — and stage 1's confidence per segment (else empty)."""
    if options.instructions is not None and options.instruction_text is not None:
        raise AviTalkError("give either an instruction track or an instruction text, not both")
    if options.instructions is not None:
        if not options.instructions:
            raise AviTalkError("the instruction track has no segments")
        return list(options.instructions), "track", []
    if options.instruction_text is not None:
        return [Segment(0.0, max(audio.duration, 1e-3), parse_instruction(options.instruction_text),
                        options.instruction_text.strip())], "text", []
    from ..stage1.predict import predict

    predicted = predict(audio)
    if predicted:
        confidence = [p.confidence for p in predicted]
        span = [p.end - p.start for p in predicted]
        overall = float(np.average(confidence, weights=span)) if sum(span) > 0 else float(np.mean(confidence))
        if overall < LOW_CONFIDENCE:
            first = predicted[0].segment().text
            warnings.warn(f"stage 1 is unsure of the instructions it chose (confidence {overall:.2f}; first: "
                          f"{first!r}): check them with 'avitalk analyze' and pass --instructions, or give --text",
                          stacklevel=2)
        return [p.segment() for p in predicted], "stage 1", confidence
    warnings.warn("no stage-1 model is installed: a neutral instruction is used (give --text or --instructions)",
                  stacklevel=2)
    return [Segment(0.0, max(audio.duration, 1e-3), Instruction())], "neutral (no stage 1)", []


def parse_instruction(text: str) -> Instruction:
    """``--text``: free text → one instruction, through the instruction parser; what it could not use is
    reported as warnings."""
    if not text.strip():
        raise AviTalkError("the instruction text is empty")
    try:
        from ..instructions.parser import parse
    except ImportError as exc:
        raise AviTalkError("--text needs the instruction parser (core/instructions/parser.py), which is "
                           "not installed; give an instruction track with --instructions") from exc
    result = parse(text)
    if result.empty:
        raise AviTalkError(f"nothing in the instruction text {text.strip()[:60]!r} was understood "
                           "(try e.g. 'A happy person speaks with lip corners strongly pulled up.')")
    for note in result.warnings:
        warnings.warn(f"instruction text: {note}", stacklevel=2)
    if result.ignored:
        words = ", ".join(repr(i.word) for i in result.ignored[:6])
        warnings.warn(f"instruction text: ignored {words}", stacklevel=2)
    return result.instruction


def _synthesize_stage2(analysis: Analysis, options: GenerateOptions) -> Animation:
    from ..stage2.runtime import load_stage2

    model = load_stage2(None if options.model == "stage2" else options.model, options.device)
    if options.transcript is not None:
        warnings.warn("stage 2 hears the audio only: --transcript is used by --model procedural", stacklevel=2)
    audio = analysis.audio
    segments, source, confidence = resolve_instructions(audio, options)
    t0 = time.perf_counter()
    key = (model.id, options.device, analysis.features.fps)
    prepared = analysis.encodings.get(key)
    if prepared is None:
        prepared = analysis.encodings[key] = model.prepare(audio, analysis.features.fps)
    animation = model.animate(prepared, segments, options.seed, options.lips, options.expression, options.blinks)
    analysis.timings["synthesis"] = time.perf_counter() - t0
    meta: dict[str, Any] = {
        "generator": f"avi_talking {__version__}",
        **animation.meta,
        "instruction_source": source,
        "stage1_confidence": [round(c, 4) for c in confidence],  # per segment, when stage 1 chose them
        "audio": audio.path.name if audio.path else None,
        "audio_sha256": audio.sha256,
        "duration": round(audio.duration, 6),
        "phones": analysis.phone_source,
        "warnings": list(audio.warnings),
    }
    animation.meta = meta
    return animation


def generate(audio_path: str | Path, options: GenerateOptions | None = None,
             progress: ProgressFn = null_progress) -> tuple[Animation, Analysis]:
    """Load ``audio_path`` and synthesise its Animation. Raises AviTalkError on bad input."""
    options = options or GenerateOptions()
    fps = normalize_fps(options.fps)
    check_model(options.model)
    if not options.is_procedural:  # missing torch or bad weights fail before any work
        from ..stage2.runtime import load_stage2

        load_stage2(None if options.model == "stage2" else options.model, options.device)
    t0 = time.perf_counter()
    audio = load_audio(audio_path, max_seconds=options.max_seconds)
    load_time = time.perf_counter() - t0
    progress("audio", 0.02)
    analysis = analyze_audio(audio, fps, options.transcript, scaled(progress, 0.02, 0.95),
                             with_phones=options.is_procedural)
    analysis.timings["load"] = load_time
    animation = synthesize_animation(analysis, options)
    progress("done", 1.0)
    return animation, analysis
