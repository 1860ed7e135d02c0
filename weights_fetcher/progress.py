"""Progress events from a fetch, and a plain-text renderer for terminals and logs (stdlib only).

The fetcher reports :class:`ProgressEvent` objects to a callback; the CLI draws them with
:class:`TextProgress`, the Blender preferences store them for their timer to show."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

# Stages, in the order a fetch goes through them.
WAITING = "waiting"      # another process is downloading the same file
DOWNLOAD = "download"    # bytes are arriving (done/total are bytes)
RETRY = "retry"          # a transient failure; the next attempt resumes
VERIFY = "verify"        # hashing the complete file
DONE = "done"


@dataclass(frozen=True)
class ProgressEvent:
    asset: str
    stage: str
    done: int = 0
    total: int = 0
    message: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0


ProgressCallback = Callable[[ProgressEvent], None]


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # unreachable; keeps type checkers content


class TextProgress:
    """A one-line bar redrawn in place on a TTY; otherwise a plain line every ``interval`` seconds
    (and at each change of stage), so logs stay readable."""

    def __init__(self, stream: TextIO, tty: bool | None = None, width: int = 30,
                 interval: float = 2.0) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.width = width
        self.interval = interval
        self._last_time = 0.0
        self._last_stage = ""
        self._start = time.monotonic()
        self._start_bytes = 0
        self._open_line = False

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        stage_changed = event.stage != self._last_stage
        if stage_changed and event.stage == DOWNLOAD:
            self._start, self._start_bytes = now, event.done
        if event.stage == DOWNLOAD and self.tty:
            if stage_changed or now - self._last_time >= 0.1 or event.done >= event.total:
                self._draw_bar(event, now)
                self._last_time = now
        elif event.stage == DOWNLOAD:
            if stage_changed or now - self._last_time >= self.interval or event.done >= event.total:
                self._line(f"{event.asset}: {event.fraction:.0%} ({human_size(event.done)} of "
                           f"{human_size(event.total)})")
                self._last_time = now
        elif event.message:
            self._line(f"{event.asset}: {event.message}")
        self._last_stage = event.stage

    def _draw_bar(self, event: ProgressEvent, now: float) -> None:
        filled = int(self.width * event.fraction)
        elapsed = now - self._start
        rate = (event.done - self._start_bytes) / elapsed if elapsed > 0.2 else 0.0
        speed = f" {human_size(rate)}/s" if rate else ""
        bar = "#" * filled + "-" * (self.width - filled)
        text = (f"\r{event.asset} [{bar}] {event.fraction:4.0%} "
                f"{human_size(event.done)}/{human_size(event.total)}{speed}")
        self.stream.write(text.ljust(79))
        self.stream.flush()
        self._open_line = True

    def _line(self, text: str) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False
