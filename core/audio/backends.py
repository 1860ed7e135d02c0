"""Which audio libraries this Python has, and which of them the loader may use.

``AVITALK_AUDIO_BACKEND`` (or ``load_audio(backend=...)``) picks:

- ``auto`` (the default): soundfile and soxr where they import (the command line's install), else the numpy
  WAV reader and the numpy resampler, with Blender's ``aud`` for the other formats (Blender's own Python);
- ``soundfile``: soundfile (and ffmpeg for MP3 libsndfile cannot read) with soxr, or an error without them;
- ``numpy``: the numpy WAV reader and resampler; other formats through ``aud`` where it imports;
- ``aud``: every format through ``aud``, resampled in numpy (for tests and comparisons).
"""

from __future__ import annotations

import importlib
import os

from ..common.errors import AudioError

ENV = "AVITALK_AUDIO_BACKEND"
BACKENDS = ("auto", "soundfile", "numpy", "aud")
_IMPORTED: set[str] = set()


def requested_backend(explicit: str | None = None) -> str:
    """The backend asked for (argument, else the environment variable, else ``auto``), checked."""
    value = explicit if explicit is not None else os.environ.get(ENV, "")
    choice = value.strip().lower() or "auto"
    if choice not in BACKENDS:
        where = "backend" if explicit is not None else ENV
        raise AudioError(f"{where}={value!r} is not an audio backend: use {', '.join(BACKENDS)}")
    return choice


def importable(name: str) -> bool:
    """Whether ``import name`` works (soundfile raises OSError when libsndfile itself is missing). Only a
    success is remembered: ``aud`` appears once bpy is imported."""
    if name in _IMPORTED:
        return True
    try:
        importlib.import_module(name)
    except (ImportError, OSError):
        return False
    _IMPORTED.add(name)
    return True


def has_soundfile() -> bool:
    return importable("soundfile")


def has_soxr() -> bool:
    return importable("soxr")


def has_aud() -> bool:
    """Blender's Audaspace module: built into Blender's Python (and into the bpy module once it is imported)."""
    return importable("aud")


def use_soxr(backend: str | None = None) -> bool:
    """Resample with soxr: under ``auto`` when it imports, always under ``soundfile`` (an error without it)."""
    choice = requested_backend(backend)
    if choice == "soundfile":
        if not has_soxr():
            raise AudioError(f"{ENV}=soundfile needs soxr, which is not installed: pip install soxr")
        return True
    return choice == "auto" and has_soxr()
