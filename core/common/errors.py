"""User-facing errors: the CLI prints them as one line ``error: ...`` and exits with code 2."""

from __future__ import annotations


class AviTalkError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # Keep the message on one line: it is printed as-is after "error: ".
        super().__init__(" ".join(str(message).split()))


class AudioError(AviTalkError):
    """The audio file cannot be used."""


class FormatError(AviTalkError):
    """A data file (animation, instruction track, weights) is malformed."""
