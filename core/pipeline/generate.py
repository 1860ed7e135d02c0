"""Audio file → Animation: the one generation path. The command line calls it directly, the worker (and the
add-on's in-process client) call it with their analysis cache, ``worker.remote`` sends its options over the
wire to a worker that calls it."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...version import __version__
from ..animation import Animation
from ..arkit import ARKIT52
from ..audio.loader import load_audio
from ..common.progress import ProgressFn, null_progress, scaled
from ..lipsync.procedural import ProceduralSettings, synthesize
from .analysis import Analysis, analyze_audio
from .cache import AnalysisCache, AnalysisKey
from .instruction_choice import resolve_instructions
from .options import GenerateOptions


@dataclass
class Generation:
    """One generated take and what it cost."""

    animation: Animation
    analysis: Analysis
    device: str  # where the synthesis ran ("cpu" for the procedural model)
    audio_cached: bool = False  # the decoded audio came from the cache
    reused_analysis: bool = False  # neither the front end nor stage 2's audio encoding ran again


def resolve_device(options: GenerateOptions) -> str:
    """The concrete device stage 2 runs on (``auto`` resolved); the procedural model always runs on the CPU."""
    if options.is_procedural:
        return "cpu"
    from ..stage2.runtime import resolve_device as resolve

    return resolve(options.device)


def synthesize_animation(analysis: Analysis, options: GenerateOptions) -> Animation:
    """The animation of an analysed clip (the audio is not read or analysed again)."""
    if not options.is_procedural:
        return _synthesize_stage2(analysis, options, resolve_device(options))
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
        "audio_decoder": f"{audio.decoder}+{audio.resampler}",  # which libraries read the audio
        "duration": round(audio.duration, 6),
        "phones": analysis.phone_source,
        "settings": {"lips": options.lips, "expression": options.expression, "blinks": options.blinks},
        "warnings": list(audio.warnings),
    }
    # the baseline has no head motion: its animation has the 52 face channels only, whatever --head says
    return Animation(analysis.features.fps, ARKIT52, values, "arkit52", meta)


def _synthesize_stage2(analysis: Analysis, options: GenerateOptions, device: str) -> Animation:
    from ..stage2.runtime import load_stage2

    model = load_stage2(options.weights, device, options.runtime)
    if options.transcript is not None:
        warnings.warn("stage 2 hears the audio only: --transcript is used by --model procedural", stacklevel=2)
    audio = analysis.audio
    segments, source, confidence = resolve_instructions(audio, options)
    t0 = time.perf_counter()
    key = (model.id, device, model.runtime, analysis.features.fps)
    prepared = analysis.encodings.get(key)
    if prepared is None:
        prepared = analysis.encodings[key] = model.prepare(audio, analysis.features.fps)
    animation = model.animate(prepared, segments, options.seed, options.lips, options.expression, options.blinks,
                              options.head)
    analysis.timings["synthesis"] = time.perf_counter() - t0
    meta: dict[str, Any] = {
        "generator": f"avi_talking {__version__}",
        **animation.meta,
        "instruction_source": source,
        "stage1_confidence": [round(c, 4) for c in confidence],  # per segment, when stage 1 chose them
        "audio": audio.path.name if audio.path else None,
        "audio_sha256": audio.sha256,
        "audio_decoder": f"{audio.decoder}+{audio.resampler}",  # which libraries read the audio
        "duration": round(audio.duration, 6),
        "phones": analysis.phone_source,
        "warnings": list(audio.warnings),
    }
    animation.meta = meta
    return animation


def generate(audio_path: str | Path, options: GenerateOptions | None = None, progress: ProgressFn = null_progress,
             cache: AnalysisCache | None = None) -> Generation:
    """Load ``audio_path`` and synthesise its Animation. Raises AviTalkError on bad input, before any audio
    work when the model cannot load. With a ``cache``, the audio and its analysis are taken from it (and kept
    in it) when the same file is generated again."""
    options = options or GenerateOptions()
    device = resolve_device(options)
    if not options.is_procedural:  # missing torch or bad weights fail before any audio work
        from ..stage2.runtime import load_stage2

        load_stage2(options.weights, device, options.runtime)
    progress("model", 0.02)
    t0 = time.perf_counter()
    analysis: Analysis | None = None
    audio_cached = False
    if cache is not None:
        clip, audio_cached = cache.clip(str(audio_path), options.max_seconds)
        audio = clip.audio
        key: AnalysisKey = (options.fps, options.transcript if options.is_procedural else None,
                            options.is_procedural)
        analysis = clip.analyses.get(key)
    else:
        audio = load_audio(audio_path, max_seconds=options.max_seconds)
    load_time = time.perf_counter() - t0
    progress("audio", 0.05)
    reused = analysis is not None
    if analysis is None:
        analysis = analyze_audio(audio, options.fps, options.transcript, scaled(progress, 0.05, 0.6),
                                 with_phones=options.is_procedural)
        analysis.timings["load"] = load_time
        if cache is not None:
            clip.analyses[key] = analysis
    progress("analysis", 0.6)
    encodings = len(analysis.encodings)
    animation = synthesize_animation(analysis, options)
    reused = reused and len(analysis.encodings) == encodings  # no new audio encoding either
    progress("done", 1.0)
    return Generation(animation, analysis, device, audio_cached, reused)
