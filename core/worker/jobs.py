"""What the worker does for each request, with the per-audio cache that lets a re-bake after editing only
the instruction text skip the audio analysis.

The cache is keyed by the audio file's sha256: the decoded audio, the stage-1 analysis, and the front end
(with stage 2's audio encodings, see ``pipeline.Analysis.encodings``) per frame rate and transcript. It
lives as long as the worker (or, in-process, the add-on session) and holds a few clips at most."""

from __future__ import annotations

import platform
import sys
import time
import traceback
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...version import __version__
from ..common.errors import AviTalkError
from ..common.fileio import sha256_file
from ..common.progress import Cancelled, ProgressFn, scaled

MAX_CACHED_CLIPS = 4


def probe() -> dict[str, Any]:
    """What this Python can run: the project's version, torch and CUDA."""
    info: dict[str, Any] = {"python": sys.executable, "python_version": platform.python_version(),
                            "avi_talking": __version__, "torch": None, "cuda": False, "cuda_device": None}
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


class _Clip:
    """Everything cached for one audio file."""

    def __init__(self, audio: Any) -> None:
        self.audio = audio
        self.stage1: dict[str, Any] | None = None
        self.analyses: dict[tuple[float, str | None, bool], Any] = {}


class AnalysisCache:
    def __init__(self, max_clips: int = MAX_CACHED_CLIPS) -> None:
        self.max_clips = max_clips
        self._clips: OrderedDict[str, _Clip] = OrderedDict()

    def clip(self, path: str, max_seconds: float) -> tuple[_Clip, bool]:
        """The cached clip of ``path`` (True) or a freshly loaded one (False)."""
        from ..audio.loader import load_audio

        try:
            digest: str | None = sha256_file(path)
        except OSError:
            digest = None  # load_audio says what is wrong with the path
        if digest is not None and digest in self._clips:
            clip = self._clips[digest]
            if clip.audio.duration <= max_seconds:
                self._clips.move_to_end(digest)
                return clip, True
        audio = load_audio(path, max_seconds=max_seconds)
        clip = _Clip(audio)
        self._clips[audio.sha256] = clip
        while len(self._clips) > self.max_clips:
            self._clips.popitem(last=False)
        return clip, False

    def __len__(self) -> int:
        return len(self._clips)


class JobRunner:
    """Runs protocol operations; shared by the worker process and the in-process client."""

    def __init__(self) -> None:
        self.cache = AnalysisCache()

    def run(self, op: str, params: dict[str, Any], progress: ProgressFn) -> tuple[dict[str, Any], list[str]]:
        """``(result, warnings)``; raises AviTalkError (one line) on bad input, Cancelled when stopped."""
        handlers: dict[str, Callable[[dict[str, Any], ProgressFn], dict[str, Any]]] = {
            "probe": lambda _params, _progress: probe(), "analyze": self.analyze, "generate": self.generate}
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
        from ..audio.loader import DEFAULT_MAX_SECONDS
        from ..stage1.predict import load_predictor

        predictor = load_predictor(params.get("weights"))
        clip, _ = self.cache.clip(_audio_param(params), float(params.get("max_seconds", DEFAULT_MAX_SECONDS)))
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

    def generate(self, params: dict[str, Any], progress: ProgressFn) -> dict[str, Any]:
        """Audio (+ instructions) → an animation file (``params["output"]``, .npz)."""
        from ..animation import normalize_fps
        from ..audio.loader import DEFAULT_MAX_SECONDS
        from ..instructions import track_from_dict
        from ..pipeline.generate import GenerateOptions, analyze_audio, check_model, synthesize_animation
        from ..stage2.runtime import load_stage2, resolve_device

        output = params.get("output")
        if not output or Path(str(output)).suffix.lower() != ".npz":
            raise AviTalkError("generate needs an output path ending in .npz")
        segments = params.get("segments")
        model = str(params.get("model", "stage2"))
        check_model(model)
        options = GenerateOptions(
            fps=normalize_fps(float(params.get("fps", 30.0))), seed=int(params.get("seed", 0)),
            transcript=params.get("transcript") or None, model=model,
            max_seconds=float(params.get("max_seconds", DEFAULT_MAX_SECONDS)),
            lips=float(params.get("lips", 1.0)), expression=float(params.get("expression", 1.0)),
            blinks=float(params.get("blinks", 1.0)),
            instructions=tuple(track_from_dict({"segments": segments})) if segments is not None else None,
            instruction_text=params.get("instruction_text") or None,
            device=resolve_device(str(params.get("device", "auto"))) if model != "procedural" else "cpu")
        if not options.is_procedural:  # missing torch or bad weights fail before any audio work
            load_stage2(None if model == "stage2" else model, options.device)
        progress("model", 0.05)
        clip, audio_cached = self.cache.clip(_audio_param(params), options.max_seconds)
        progress("audio", 0.1)
        key = (options.fps, options.transcript if options.is_procedural else None, options.is_procedural)
        analysis = clip.analyses.get(key)
        reused = analysis is not None
        if analysis is None:
            analysis = analyze_audio(clip.audio, options.fps, options.transcript, scaled(progress, 0.1, 0.6),
                                     with_phones=options.is_procedural)
            clip.analyses[key] = analysis
        progress("analysis", 0.6)
        encodings = len(analysis.encodings)
        t0 = time.perf_counter()
        animation = synthesize_animation(analysis, options)
        reused = reused and len(analysis.encodings) == encodings  # no new audio encoding either
        progress("synthesis", 0.95)
        animation.save(str(output))
        progress("done", 1.0)
        return {"animation": str(output), "reused_analysis": reused, "audio_cached": audio_cached,
                "synthesis_seconds": round(time.perf_counter() - t0, 4), "device": options.device,
                "model": model, "audio_warnings": list(clip.audio.warnings)}


def _audio_param(params: dict[str, Any]) -> str:
    audio = params.get("audio")
    if not audio:
        raise AviTalkError("no audio file given")
    return str(audio)


def describe_failure(exc: BaseException) -> str:
    """One line for the user; the traceback of an unexpected failure goes to stderr."""
    if isinstance(exc, AviTalkError):
        return str(exc)
    if isinstance(exc, ImportError):
        return (f"the worker's Python lacks a module ({exc.name or exc}): install the project there "
                "(pip install 'avi-talking[models]') or pick another Python in the preferences")
    if isinstance(exc, Cancelled):
        return "cancelled"
    traceback.print_exc(file=sys.stderr)
    return " ".join(f"unexpected error: {type(exc).__name__}: {exc}".split())
