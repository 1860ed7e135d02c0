"""Decoding through Blender's Audaspace (the ``aud`` module): FLAC, Ogg, MP3 (and WAV encodings the numpy
reader does not decode) inside Blender's own Python, where soundfile is missing. Audaspace decodes with the
FFmpeg that Blender ships. Core does not import ``aud``: ``backends.aud_module`` gives the module the host
provided or loaded (the PyPI ``bpy`` 4.2 module has no Audaspace; ``bpy`` 5.0 loads it when imported).

Only files whose first bytes name a container we accept are handed over (FFmpeg would otherwise probe
any format, playlists that open other files among them), and Audaspace reads the file the loader checked
and holds open (``/proc/self/fd/N`` where there is one; elsewhere the absolute path, whose identity is
compared with the open file afterwards). Audaspace has no block reader that keeps sample positions exact,
so the whole clip is decoded at once: its size is checked against the duration limit (from the header's
length) and against ``MAX_DECODED_BYTES`` before ``data()`` allocates it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..common.errors import AudioError
from ..common.quiet import quiet_fd
from .backends import aud_module
from .limits import BLOCK_SAMPLES, check_header

__all__ = ["ACCEPTED_KINDS", "MAX_DECODED_BYTES", "decode_with_aud"]

ACCEPTED_KINDS = ("WAV", "FLAC", "Ogg", "MP3", "AIFF")  # as the loader sniffs them
MAX_DECODED_BYTES = 1 << 30  # float32 at the source rate and width: 30 min of 48 kHz stereo is 0.7 GB


def decode_with_aud(src: Path, fh: BinaryIO, kind: str | None, max_seconds: float
                    ) -> tuple[Iterator[np.ndarray], int, int, str]:
    """(float32 blocks [frames, channels], rate, channels, format) of the open file ``fh`` via ``aud``.
    Raises AudioError (one line) for anything it cannot or will not decode."""
    aud = aud_module()
    if aud is None:
        raise AudioError("Blender's aud module is not available in this Python")
    if kind not in ACCEPTED_KINDS:
        raise AudioError(f"{src.name} is not an audio file this tool can read (supported: WAV, FLAC, OGG, MP3)")
    where = _readable_path(src, fh)
    try:
        with quiet_fd(1), quiet_fd(2):  # FFmpeg and Audaspace print their complaints
            sound = aud.Sound.file(where)
            rate_f, channels = sound.specs
            frames = int(sound.length)  # from the header (an estimate for MP3)
    except _aud_error(aud):
        raise AudioError(f"{src.name} looks like {kind} but its header is truncated or corrupt") from None
    rate = int(rate_f)
    if rate != rate_f:
        raise AudioError(f"{src.name}: sample rate {rate_f} Hz is not a whole number")
    check_header(src.name, frames, rate, int(channels), max_seconds)
    need = frames * int(channels) * 4
    if need > MAX_DECODED_BYTES:
        raise AudioError(f"{src.name}: decoding it through Blender's audio module needs {need / 1e9:.1f} GB of "
                         "memory; convert it to WAV (read in blocks) or install soundfile")
    data = _decode(src, sound, kind, _aud_error(aud))
    _same_file(src, fh, where)
    return _blocks(data), rate, int(channels), f"{kind} (aud)"


def _aud_error(aud: Any) -> type[Exception]:
    """``aud.error``: what Audaspace raises for a file it cannot read."""
    error = getattr(aud, "error", Exception)
    return error if isinstance(error, type) and issubclass(error, Exception) else Exception


def _decode(src: Path, sound: Any, kind: str, aud_error: type[Exception]) -> np.ndarray:
    try:
        with quiet_fd(1), quiet_fd(2):
            data = np.asarray(sound.data(), dtype=np.float32)
    except (aud_error, MemoryError, ValueError) as exc:
        raise AudioError(f"{src.name}: {kind} audio data is corrupt ({_first_line(exc)})") from None
    if data.ndim != 2 or data.shape[0] == 0:
        raise AudioError(f"{src.name} contains no audio samples")
    return data


def _readable_path(src: Path, fh: BinaryIO) -> str:
    """A name under which Audaspace opens this very file: never a relative path (FFmpeg would read
    ``concat:...`` or ``http:...`` as a protocol)."""
    proc = f"/proc/self/fd/{fh.fileno()}"
    if os.path.exists(proc):
        return proc
    return os.path.abspath(src)


def _same_file(src: Path, fh: BinaryIO, where: str) -> None:
    try:
        st = os.stat(where)
    except OSError:
        st = None
    held = os.fstat(fh.fileno())
    if st is None or (st.st_dev, st.st_ino) != (held.st_dev, held.st_ino):
        raise AudioError(f"audio file {src} was replaced while it was being read")


def _blocks(data: np.ndarray) -> Iterator[np.ndarray]:
    step = max(1, BLOCK_SAMPLES // data.shape[1])
    for a in range(0, len(data), step):
        yield data[a : a + step]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
