"""Which audio libraries this Python has, and which of them the loader may use.

``AVITALK_AUDIO_BACKEND`` (or ``load_audio(backend=...)``) picks:

- ``auto`` (the default): soundfile and soxr where they import (the command line's install), else the numpy
  WAV reader and the numpy resampler, with Blender's ``aud`` for the other formats (Blender's own Python);
- ``soundfile``: soxr-resampled soundfile (and ffmpeg for MP3 libsndfile cannot read), or an error without it;
- ``numpy``: the numpy WAV reader and resampler; other formats through ``aud`` where it is available;
- ``aud``: every format through ``aud``, resampled in numpy (for tests and comparisons).

Core never imports Blender's modules: ``aud`` (Blender's Audaspace) is used when the host hands it over
(``provide_aud``: the add-on does at registration) or has already loaded it (the ``bpy`` module does).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ..common.errors import AudioError

ENV = "AVITALK_AUDIO_BACKEND"
BACKENDS = ("auto", "soundfile", "numpy", "aud")
_FOUND: set[str] = set()  # only a success is remembered
_PROVIDED: dict[str, Any] = {}


def requested_backend(explicit: str | None = None) -> str:
    """The backend asked for (argument, else the environment variable, else ``auto``), checked."""
    value = explicit if explicit is not None else os.environ.get(ENV, "")
    choice = value.strip().lower() or "auto"
    if choice not in BACKENDS:
        where = "backend" if explicit is not None else ENV
        raise AudioError(f"{where}={value!r} is not an audio backend: use {', '.join(BACKENDS)}")
    return choice


def has_soundfile() -> bool:
    """soundfile imports (it raises OSError, not ImportError, when libsndfile itself is missing)."""
    if "soundfile" not in _FOUND:
        try:
            import soundfile  # noqa: F401
        except (ImportError, OSError):
            return False
        _FOUND.add("soundfile")
    return True


def has_soxr() -> bool:
    if "soxr" not in _FOUND:
        try:
            import soxr  # noqa: F401
        except (ImportError, OSError):
            return False
        _FOUND.add("soxr")
    return True


def provide_aud(module: Any) -> None:
    """Hand Blender's ``aud`` module to the loader (the add-on calls this when Blender registers it)."""
    _PROVIDED["aud"] = module


def aud_module() -> Any | None:
    """Blender's Audaspace module where the host provided or loaded it, else None."""
    return _PROVIDED.get("aud") or sys.modules.get("aud")


def has_aud() -> bool:
    return aud_module() is not None


def use_soxr(backend: str | None = None) -> bool:
    """Resample with soxr: under ``auto`` when it imports, always under ``soundfile`` (an error without it)."""
    choice = requested_backend(backend)
    if choice == "soundfile":
        if not has_soxr():
            raise AudioError(f"{ENV}=soundfile needs soxr, which is not installed: pip install soxr")
        return True
    return choice == "auto" and has_soxr()
