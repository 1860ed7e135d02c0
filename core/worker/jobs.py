"""What the worker does for each request. The runner keeps a per-audio analysis cache
(``pipeline.cache``) for as long as it lives (the worker process, or in-process the add-on session), so a
re-bake after editing only the instruction text skips the audio analysis."""

from __future__ import annotations

import platform
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...version import __version__
from ..common.errors import AviTalkError
from ..common.progress import Cancelled, ProgressFn, scaled
from ..pipeline.cache import AnalysisCache

OPTIONAL_MODULES = ("torch", "soundfile", "soxr", "pocketsphinx")


def probe() -> dict[str, Any]:
    """What this Python can run: the project's version, torch and CUDA, and which optional modules import
    (``needs`` says which job needs which)."""
    from .needs import importable

    # sys.executable is None in a Blender that found no python3.11 on the PATH
    info: dict[str, Any] = {"python": sys.executable or "this process", "python_version": platform.python_version(),
                            "avi_talking": __version__, "torch": None, "cuda": False, "cuda_device": None,
                            "modules": {name: importable(name) for name in OPTIONAL_MODULES}}
    try:
        import torch
    except ImportError:
        return info
    info["torch"] = str(torch.__version__)
    try:
        if torch.cuda.is_available():
            info["cuda"] = True
            info["cuda_device"] = str(torch.cuda.get_device_name(0))
    except Exception as exc:  # a broken driver is reported, not fatal
        info["cuda_error"] = f"{type(exc).__name__}: {exc}"
    return info


class JobRunner:
    """Runs protocol operations; shared by the worker process and the in-process client."""

    def __init__(self) -> None:
        self.cache = AnalysisCache()

    def run(self, op: str, params: dict[str, Any], progress: ProgressFn) -> tuple[dict[str, Any], list[str]]:
        """``(result, warnings)``; raises AviTalkError (one line) on bad input, Cancelled when stopped."""
        handlers: dict[str, Callable[[dict[str, Any], ProgressFn], dict[str, Any]]] = {
            "probe": lambda _params, _progress: probe(), "analyze": self.analyze, "generate": self.generate,
            "align_words": self.align_words}
        handler = handlers.get(op)
        if handler is None:
            raise AviTalkError(f"unknown worker operation {op!r} (known: {', '.join(handlers)})")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = handler(params, progress)
        notes = list(dict.fromkeys(str(w.message) for w in caught))
        return result, notes

    def analyze(self, params: dict[str, Any], progress: ProgressFn) -> dict[str, Any]:
        """Stage 1: the audio's instruction segments (the editable track)."""
        from ..pipeline.options import GenerateOptions, check_duration_limit
        from ..stage1.predict import load_predictor

        weights = params.get("weights")
        if weights is not None and not isinstance(weights, str):
            raise AviTalkError("analyze's weights must be a path")
        limit = check_duration_limit(params.get("max_seconds", GenerateOptions.max_seconds))  # as generate's
        predictor = load_predictor(weights)
        clip, _ = self.cache.clip(_audio_param(params), limit)
        progress("audio", 0.1)
        cached = clip.stage1 is not None
        if clip.stage1 is None:
            result = predictor.analyze(clip.audio, scaled(progress, 0.1, 1.0))
            clip.stage1 = {"segments": [s.to_dict() for s in result.segments], "model": predictor.name,
                           "notes": [w for s in result.segments for w in s.warnings]}
        progress("done", 1.0)
        audio = clip.audio
        return {**clip.stage1, "cached": cached, "audio_sha256": audio.sha256, "duration": round(audio.duration, 6),
                "audio_warnings": list(audio.warnings)}

    def align_words(self, params: dict[str, Any], progress: ProgressFn) -> dict[str, Any]:
        """When each word of ``params["transcript"]`` is spoken (pocketsphinx forced alignment): the panel's word
        markers."""
        from ..lipsync.phone_timing import align_words
        from ..pipeline.options import GenerateOptions

        transcript = params.get("transcript")
        if not isinstance(transcript, str) or not transcript.strip():
            raise AviTalkError("no transcript to align: type what is said in the Transcript field")
        limit = params.get("max_seconds", GenerateOptions.max_seconds)
        options = GenerateOptions.from_params({"model": "procedural", "transcript": transcript,
                                               "max_seconds": limit})  # checked as generate checks them
        clip, _ = self.cache.clip(_audio_param(params), options.max_seconds)
        progress("audio", 0.1)
        words = align_words(clip.audio, transcript)
        progress("done", 1.0)
        return {"words": [{"word": w.word, "start": w.start, "end": w.end} for w in words],
                "audio_sha256": clip.audio.sha256}

    def generate(self, params: dict[str, Any], progress: ProgressFn) -> dict[str, Any]:
        """Audio + options (``GenerateOptions.to_params``) → an animation file (``params["output"]``, .npz),
        through the one generation path with this runner's analysis cache."""
        from ..pipeline.generate import generate
        from ..pipeline.options import GenerateOptions

        output = params.get("output")
        if not isinstance(output, str) or Path(output).suffix.lower() != ".npz":
            raise AviTalkError("generate needs an output path ending in .npz")
        options = GenerateOptions.from_params(params.get("options", {}))
        t0 = time.perf_counter()
        done = generate(_audio_param(params), options, scaled(progress, 0.0, 0.95), cache=self.cache)
        done.animation.save(output)
        progress("done", 1.0)
        return {"animation": output, "reused_analysis": done.reused_analysis, "audio_cached": done.audio_cached,
                "synthesis_seconds": round(time.perf_counter() - t0, 4), "device": done.device,
                "model": options.model, "audio_warnings": list(done.analysis.audio.warnings)}


def _audio_param(params: dict[str, Any]) -> str:
    audio = params.get("audio")
    if not audio or not isinstance(audio, str):
        raise AviTalkError("no audio file given")
    return str(audio)


def describe_failure(exc: BaseException, in_process: bool = False) -> str:
    """One line for the user; the traceback of an unexpected failure goes to stderr. ``in_process``: the job ran
    in the caller's own Python (inside Blender), so a missing module is that Python's, not a worker's."""
    if isinstance(exc, AviTalkError):
        return str(exc)
    if isinstance(exc, ImportError):
        if in_process:
            return f"this Python lacks a module the job needs ({exc.name or exc})"
        return (f"the worker's Python lacks a module ({exc.name or exc}): install the project there "
                "(pip install 'avi-talking[models]') or pick another Python in the preferences")
    if isinstance(exc, Cancelled):
        return "cancelled"
    traceback.print_exc(file=sys.stderr)
    return " ".join(f"unexpected error: {type(exc).__name__}: {exc}".split())
