"""Is this a .blend file? Checked from its first bytes before Blender is asked to open it (bpy-free).

Blender files start with ``BLENDER``: ``BLENDER-v402`` (pointer size ``_``/``-``, endianness ``v``/``V``,
three version digits) up to 4.x, ``BLENDER17-01v0500`` (header size, format version, four version digits)
from 5.0. Saved compressed they are zstd (Blender 3.0+; what bpy 5.0 writes by default — 4.2 writes them
uncompressed unless asked) or gzip (before 3.0; still read). The compressed ones are opened just far
enough to see the header inside (zstd only when the ``zstandard`` module is importable, as it is in
Blender's own Python and in the project's environments)."""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path
from typing import BinaryIO

from .errors import AviTalkError

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
_HEADER = re.compile(rb"BLENDER(?:[_-][vV](\d)(\d\d)|\d\d-\d\d[vV](\d\d)(\d\d))")
_HEADER_BYTES = 17  # long enough for both header layouts


def blend_version(fh: BinaryIO, name: str) -> tuple[int, int] | None:
    """(major, minor) of the Blender that saved the open file ``fh`` (read from its start), or None when
    that is unknown (zstd without ``zstandard``, a header cut short). One-line AviTalkError when it is not
    a .blend: no ``BLENDER`` at its start, plain or inside the gzip/zstd stream."""
    magic = fh.read(len(ZSTD_MAGIC))
    fh.seek(0)
    if not magic:
        raise AviTalkError(f"{name} is empty (0 bytes), not a .blend file")
    if magic.startswith(GZIP_MAGIC):
        head = _gunzip_head(fh, name)
    elif magic == ZSTD_MAGIC:
        try:
            import zstandard
        except ImportError:
            return None
        try:
            head = zstandard.ZstdDecompressor().stream_reader(fh).read(_HEADER_BYTES)
        except zstandard.ZstdError as exc:
            raise AviTalkError(f"{name} is a damaged compressed .blend file ({exc})") from None
    else:
        head = fh.read(_HEADER_BYTES)
    fh.seek(0)
    if not head.startswith(b"BLENDER"):
        what = "a damaged compressed .blend file" if magic.startswith((GZIP_MAGIC, ZSTD_MAGIC)) else "not a .blend file"
        raise AviTalkError(f"{name} is {what} (no BLENDER header)")
    match = _HEADER.match(head)
    if match is None:  # a header cut short, or a layout yet to come: Blender itself decides
        return None
    digits = [g for g in match.groups() if g is not None]
    return int(digits[0]), int(digits[1])


def _gunzip_head(fh: BinaryIO, name: str) -> bytes:
    try:
        with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
            return gz.read(_HEADER_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        raise AviTalkError(f"{name} is a damaged compressed .blend file ({exc})") from None


def check_blend_file(path: str | Path, what: str = "blend file") -> tuple[int, int] | None:
    """A readable regular .blend file (see :func:`blend_version`); its (major, minor) when known."""
    from .inputs import open_input_file

    src = Path(path)
    with open_input_file(src, what) as fh:
        return blend_version(fh, f"{what} {src}")
