"""What a job needs from the Python that runs it, and what this Python lacks of that.

The default path — stage 1, stage 2 on the numpy runtime, WAV audio — needs numpy alone, so it runs inside
Blender's own Python. A job goes to a worker process only for what Blender's Python cannot do: stage 2's torch
runtime (and CUDA), the procedural model (pocketsphinx), and audio formats neither Blender's ``aud`` nor this
Python can decode. ``missing`` tells the caller which, with the reason, so the caller can say it in its own
words (the add-on names a preference; the command line names a package)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..audio.backends import has_aud, has_soundfile
from ..pipeline.options import GenerateOptions


@dataclass(frozen=True)
class Need:
    module: str  # the import name this Python must have
    why: str  # what needs it, in plain words ("stage 2's torch runtime")


def needs(op: str, params: dict[str, Any]) -> list[Need]:
    """The modules a protocol operation needs (beyond numpy, which every one needs)."""
    found: list[Need] = []
    if op == "generate":
        options = GenerateOptions.from_params(params.get("options", {}))
        if options.is_procedural:
            found.append(Need("pocketsphinx", "the procedural model's phone timing"))
        elif options.runtime == "torch" or options.device.startswith("cuda"):
            found.append(Need("torch", "stage 2's torch runtime" + (" on CUDA" if "cuda" in options.device else "")))
    elif op == "align_words":
        found.append(Need("pocketsphinx", "aligning the transcript's words"))
    audio = params.get("audio")
    if op in ("generate", "analyze", "align_words") and isinstance(audio, str) and Path(audio).suffix.lower() != ".wav":
        if not has_aud():  # Blender's own decoder reads FLAC, Ogg and MP3 wherever the add-on runs
            found.append(Need("soundfile", f"decoding {Path(audio).suffix.lower()} audio"))
    return found


def importable(module: str) -> bool:
    if module == "soundfile":
        return has_soundfile()  # libsndfile missing raises OSError: not "installed" either
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(op: str, params: dict[str, Any]) -> list[Need]:
    """What this Python lacks for the operation ([] when it can run here). Bad options raise AviTalkError."""
    return [need for need in needs(op, params) if not importable(need.module)]


def describe(lacking: list[Need]) -> str:
    """'torch (for stage 2's torch runtime)', joined."""
    if not lacking:
        return ""
    return ", ".join(f"{need.module} (for {need.why})" for need in lacking)
