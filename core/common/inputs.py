"""Input files the user names (audio, .blend, instruction tracks, transcripts, FLAME models): checked
before a byte is read, so a named pipe, a device or a runaway file fails in one line instead of blocking
the reader or filling memory."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import AviTalkError


def check_input_file(path: str | os.PathLike[str], what: str, max_bytes: int | None = None,
                     error: type[AviTalkError] = AviTalkError, limit_note: str = "") -> int:
    """Check that ``path`` is a readable regular file of at most ``max_bytes``, without blocking, and return
    its size. A named pipe, device, socket or directory is refused by its kind (opening a FIFO to read it
    would wait for a writer forever; /dev/zero never ends). ``what`` names the file in the message
    (``"blend file"``); ``error`` is the AviTalkError subclass raised. The one check for every file the
    command line and the worker open: call it before hashing or decoding a file. ``limit_note`` ends the
    message of a file over ``max_bytes`` (e.g. how to raise the limit)."""
    with open_input_file(path, what, max_bytes, error, limit_note) as fh:
        return os.fstat(fh.fileno()).st_size


@contextlib.contextmanager
def open_input_file(path: str | os.PathLike[str], what: str, max_bytes: int | None = None,
                    error: type[AviTalkError] = AviTalkError, limit_note: str = "") -> Iterator[BinaryIO]:
    """:func:`check_input_file`, then yield the file open for reading: the file checked is the file read."""
    src = Path(path)
    try:
        _refuse_kind(src, os.stat(src).st_mode, what, error)
        # O_NONBLOCK: should a FIFO be swapped in after the stat, opening it still returns at once
        fd = os.open(src, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
                     | getattr(os, "O_BINARY", 0))
    except (FileNotFoundError, NotADirectoryError):
        raise error(f"{what} {src} does not exist") from None
    except OSError as exc:
        raise error(f"cannot open {what} {src}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        _refuse_kind(src, st.st_mode, what, error)
        if max_bytes is not None and st.st_size > max_bytes:
            raise error(f"{what} {src} is {fmt_bytes(st.st_size)}, over the {fmt_bytes(max_bytes)} limit{limit_note}")
        if getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh


def _refuse_kind(src: Path, mode: int, what: str, error: type[AviTalkError]) -> None:
    if stat.S_ISREG(mode):
        return
    kind = ("a directory" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "something else")
    raise error(f"{what} {src} is {kind}, not a regular file")


def fmt_bytes(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
