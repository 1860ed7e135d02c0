"""Progress reporting shared by the CLI (a bar on stderr), the worker protocol and the add-on.

Work reports ``(stage, fraction)`` with ``fraction`` the overall completion in 0..1. A reporter may
raise ``Cancelled`` to stop the work between steps.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

ProgressFn = Callable[[str, float], None]


class Cancelled(Exception):
    """Raised from a progress callback to stop the work."""


def null_progress(stage: str, fraction: float) -> None:
    return None


def scaled(report: ProgressFn, start: float, end: float) -> ProgressFn:
    """A callback that maps a sub-task's 0..1 onto [start, end] of the parent's progress."""

    def inner(stage: str, fraction: float) -> None:
        report(stage, start + (end - start) * min(max(fraction, 0.0), 1.0))

    return inner


class TextBar:
    """A one-line bar, redrawn in place on a terminal; silent when the stream is not a terminal."""

    def __init__(self, stream: TextIO | None = None, width: int = 30, min_interval: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.min_interval = min_interval
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._shown = False

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if fraction < 1.0 and now - self._last < self.min_interval:
            return
        self._last = now
        filled = int(round(self.width * min(max(fraction, 0.0), 1.0)))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {100 * fraction:5.1f}% {stage:<24}")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False
