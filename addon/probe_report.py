"""What the last *Test Worker* press found, kept for the preferences to draw. A leaf, so the preferences
(drawn) and the worker session (which reads the preferences and runs the test) need not import each other."""

from __future__ import annotations

_last: tuple[str, bool] | None = None


def last_probe() -> tuple[str, bool] | None:
    """(text, success) of the last test, or None before the first."""
    return _last


def record_probe(text: str, ok: bool) -> None:
    global _last
    _last = (text, ok)
