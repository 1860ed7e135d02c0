"""Silence what native libraries print straight onto file descriptors 1/2 (libmpg123's warnings,
Blender's "Info: Saved as ..."): the CLI's own output is a contract (one-line errors, `wrote X`)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_fd(fd: int) -> Iterator[None]:
    """Point ``fd`` at /dev/null for the duration (Python-level writes are flushed first)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = os.dup(fd)
    except OSError:  # no such descriptor (e.g. a GUI app): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
            try:
                yield
            finally:
                os.dup2(saved, fd)
    finally:
        os.close(saved)
