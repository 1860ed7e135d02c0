"""Atomic output: results are written to a temporary file beside the target, then renamed into place,
so a failure never leaves a partial output file behind."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
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


def file_identity(path: str | os.PathLike[str]) -> tuple[object, ...]:
    """What makes two paths one file: its device and inode when it exists (so symlinks, hard links, bind
    mounts and ``..`` all count), else its resolved path."""
    p = Path(path)
    try:
        st = os.stat(p)
    except (OSError, ValueError):  # not there (yet), or a path the OS cannot take
        return ("path", str(p.resolve()))
    return ("inode", st.st_dev, st.st_ino)


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """``samefile`` when both exist, the same resolved path otherwise."""
    return file_identity(a) == file_identity(b)


def refuse_inputs_as_outputs(outputs: Iterable[tuple[str, str | os.PathLike[str]]],
                             inputs: Iterable[tuple[str, str | os.PathLike[str] | None]]) -> None:
    """Refuse, before any work, an output that is (or resolves to) one of the inputs, so a run can never
    replace the user's own file with its result. Both are ``(what, path)`` pairs; a ``None`` input is skipped."""
    given = {file_identity(path): (what, path) for what, path in inputs if path is not None}
    for out_what, out in outputs:
        hit = given.get(file_identity(out))
        if hit is not None:
            raise AviTalkError(f"{out_what} {out} is the {hit[0]} {hit[1]}: refusing to write over an input "
                               "(choose another output name or folder)")


def check_output_path(path: str | os.PathLike[str], suffixes: tuple[str, ...],
                      inputs: Iterable[tuple[str, str | os.PathLike[str] | None]] = ()) -> Path:
    """Validate an output path before any work is done (so bad arguments fail fast): its suffix, that it
    is not a directory or other non-file, that its folder is writable, and that it is none of ``inputs``
    (``(what, path)`` pairs, see :func:`refuse_inputs_as_outputs`)."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise AviTalkError(f"output {out} must end in one of {', '.join(suffixes)}")
    if out.is_dir():
        raise AviTalkError(f"output {out} is a directory")
    if out.exists() and not out.is_file():
        raise AviTalkError(f"output {out} exists and is not a regular file")
    check_writable_folder(out.parent if str(out.parent) else Path("."))
    refuse_inputs_as_outputs([("output", out)], inputs)
    return out


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` only on success.

    The result gets the permissions ``open(path, "w")`` would give it: an existing target's mode, else
    0o666 less the umask (the placeholder is created with mode 0o666 so the kernel applies the umask,
    unlike ``tempfile.mkstemp``'s 0o600)."""
    target = Path(path)
    tmp, mode = _create_placeholder(target)
    try:
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise AviTalkError(f"nothing was written to {target}")
        with contextlib.suppress(FileNotFoundError):
            mode = os.stat(target).st_mode & 0o777  # open("w") keeps an existing file's mode
        os.chmod(tmp, mode)  # also when the writer replaced the placeholder (Blender saves a new file)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _create_placeholder(target: Path) -> tuple[Path, int]:
    """An empty new file beside ``target`` (hidden, random name) and the mode the umask gave it."""
    for _ in range(100):
        tmp = target.parent / f".{target.stem}.{secrets.token_hex(4)}.tmp{target.suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        try:
            return tmp, stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
    raise AviTalkError(f"could not create a temporary file in {target.parent}")
