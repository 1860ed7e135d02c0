"""Atomic output: results are written to a temporary file beside the target, then renamed into place,
so a failure never leaves a partial output file behind."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import AviTalkError, FormatError


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_json(path: Path, what: str) -> Any:
    """A JSON file someone gave us (a model card, an instruction track): one-line FormatError naming
    ``what`` when it is missing or not JSON."""
    if not path.is_file():
        raise FormatError(f"no {what} at {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{what} {path} is not valid JSON: {exc}") from None


def read_json_card(path: Path, what: str, fmt: str) -> dict[str, Any]:
    """A JSON object whose ``format`` field must be ``fmt`` (every card this project writes has one)."""
    card = read_json(path, what)
    if not isinstance(card, dict) or card.get("format") != fmt:
        raise FormatError(f"{path} is not a {what} (format {fmt!r})")
    return card


def check_writable_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise AviTalkError(f"output folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise AviTalkError(f"output folder {folder} is not writable")


def check_output_path(path: str | os.PathLike[str], suffixes: tuple[str, ...]) -> Path:
    """Validate an output path before any work is done (so bad arguments fail fast)."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise AviTalkError(f"output {out} must end in one of {', '.join(suffixes)}")
    if out.is_dir():
        raise AviTalkError(f"output {out} is a directory")
    check_writable_folder(out.parent if str(out.parent) else Path("."))
    return out


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` only on success."""
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise AviTalkError(f"nothing was written to {target}")
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
