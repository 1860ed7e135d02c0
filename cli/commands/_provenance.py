"""The training command as a model card records it: absolute paths are cut to their last component, so a
card committed with shipped weights names ``--corpus c10``, not a folder on the machine that trained it."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence


def portable_command(words: Sequence[str] | None = None, prefix: str = "avitalk") -> str:
    argv = list(sys.argv[1:] if words is None else words)
    kept = [_portable(w) for w in argv]
    return " ".join([prefix, *(shlex.quote(w) for w in kept)]).strip()


def _portable(word: str) -> str:
    if "=" in word and word.startswith("--"):  # --corpus=/abs/dir
        flag, _, value = word.partition("=")
        return f"{flag}={_portable(value)}"
    if os.path.isabs(word):
        return os.path.basename(word.rstrip("/")) or word
    return word
