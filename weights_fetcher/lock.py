"""An inter-process lock on a file, so two processes (two Blenders, Blender and a CLI) never download
the same asset at once. The operating system releases it when the holder exits, even on a crash, so
there are no stale lock files to clean up.

Stdlib only (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows): Blender's bundled Python has
no ``filelock`` package, and this is the whole of what is needed here."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Protocol

from .errors import DownloadError, FetchCancelled


class CancelToken(Protocol):
    """Anything with ``is_set()``, e.g. :class:`threading.Event`."""

    def is_set(self) -> bool: ...


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    # flock (not lockf): the lock belongs to this open file description, so two threads of one
    # process that each open the file also exclude each other.
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


class FileLock:
    """Exclusive lock on ``path`` (created if needed). Use as a context manager after ``acquire``."""

    def __init__(self, path: Path, timeout: float = 3600.0, poll: float = 0.1) -> None:
        self.path = path
        self.timeout = timeout
        self.poll = poll
        self._fd: int | None = None

    def acquire(self, cancel: CancelToken | None = None,
                on_wait: Callable[[], None] | None = None) -> FileLock:
        """Block until the lock is ours. ``on_wait`` is called once if another process holds it.
        Raises ``OSError`` if the lock file cannot be created (the caller reports the folder)."""
        # O_NOFOLLOW: a symlink planted as the lock file must not create or open a file elsewhere.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        deadline = time.monotonic() + self.timeout
        waited = False
        try:
            while not _try_lock(fd):
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                if cancel is not None and cancel.is_set():
                    raise FetchCancelled("cancelled while waiting for another download of the same file")
                if time.monotonic() > deadline:
                    raise DownloadError(f"timed out after {self.timeout:.0f} s waiting for another process "
                                        f"to finish with {self.path}")
                time.sleep(self.poll)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            _unlock(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        if self._fd is None:
            self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
