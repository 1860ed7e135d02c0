"""Files in and out. Atomic output: results are written to a temporary file beside the target, then
renamed into place, so a failure never leaves a partial output file behind. Safe JSON input: the JSON
files users hand over (instruction tracks, model cards) are read with a size cap and refusals of what
would make the parser or the program misbehave, then checked against a ``jsonspec`` schema."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from .errors import AviTalkError, FormatError
from .jsonspec import Invalid, JsonPath, Spec, invalid, show_value, validate


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


MAX_JSON_BYTES = 4 * 1024 * 1024  # a model card is tens of kB; instruction tracks ask for more (track.py)
MAX_JSON_DEPTH = 20  # our files nest 4-6 levels deep
MAX_INT_DIGITS = 30  # a seed or a byte count; Python refuses to read ints of more than 4300 digits anyway
MAX_NUMBER_CHARS = 64  # the longest float text a writer of ours makes is about 25 characters
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # a "\\ud800" escape decodes to a lone surrogate: not text


class _Refused:
    """Stands in for a number that json.loads read but we refuse; the scan reports it with its path."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _TwiceKeyed(dict[str, Any]):
    """An object that gave one key twice (which value was meant?); the scan reports it with its path."""

    twice = ""


def _int(text: str) -> int | _Refused:
    digits = len(text.lstrip("-"))
    return _Refused(f"is a number with {digits} digits") if digits > MAX_INT_DIGITS else int(text)


def _float(text: str) -> float | _Refused:
    if len(text) > MAX_NUMBER_CHARS:
        return _Refused(f"is a number written with {len(text)} characters")
    value = float(text)
    return value if math.isfinite(value) else _Refused(f"is {text}, too large a number (it overflows)")


def _constant(name: str) -> _Refused:
    return _Refused(f"is {name}, which is not a number (JSON has no NaN or Infinity)")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    seen: set[str] = set()
    flagged = _TwiceKeyed(out)
    flagged.twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
    return flagged


def parse_json_text(data: bytes, where: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON bytes → value, refusing what a file of ours never holds: NaN/Infinity, numbers too long to
    be real, a key given twice, lone surrogates, nesting deeper than ``max_depth``. One-line FormatError
    naming ``where`` (and the JSON path of the bad value)."""
    try:
        text = data.decode("utf-8-sig")  # a leading BOM is tolerated: Windows editors write one
    except UnicodeDecodeError as exc:
        raise FormatError(f"{where} is not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant,
                           object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{where} is not valid JSON: {exc}") from None
    except RecursionError:
        raise FormatError(f"{where} is nested far too deeply (at most {max_depth} levels are read)") from None
    try:
        _scan(value, max_depth)
    except Invalid as exc:
        raise invalid(where, exc.path, exc.reason) from None
    return value


def _scan(root: Any, max_depth: int) -> None:
    """Walk the parsed value without recursion (one iterator per open container, so memory grows with
    the depth, not the size) and raise Invalid at the first refused value."""
    stack: list[tuple[Iterator[tuple[str | int, Any]], JsonPath]] = []

    def visit(value: Any, path: JsonPath) -> None:
        if isinstance(value, _Refused):
            raise Invalid(path, value.reason)
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise Invalid(path, "holds a lone surrogate escape (such as \\ud800), which is not text")
        elif isinstance(value, dict | list):
            if len(stack) >= max_depth:
                raise Invalid(path, f"is nested more than {max_depth} levels deep")
            if isinstance(value, dict):
                if isinstance(value, _TwiceKeyed):
                    raise Invalid(path, f"has the key {show_value(value.twice)} twice")
                bad = next((k for k in value if _SURROGATE.search(k)), None)
                if bad is not None:
                    raise Invalid((*path, bad), "is a key with a lone surrogate escape, which is not text")
                stack.append((iter(value.items()), path))
            else:
                stack.append((iter(enumerate(value)), path))

    visit(root, ())
    while stack:
        items, path = stack[-1]
        depth = len(stack)
        for key, child in items:
            visit(child, (*path, key))
            if len(stack) > depth:
                break  # descend into the container just opened; come back to this one later
        else:
            stack.pop()


def read_json(path: Path, what: str, spec: Spec | None = None, max_bytes: int = MAX_JSON_BYTES,
              max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON file someone gave us (a model card, an instruction track), read safely: its size is
    checked before it is read, then ``parse_json_text``, then ``spec`` when given. Every problem is a
    one-line FormatError naming ``what``, the file and, for a bad value, its JSON path."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"no {what} at {path}")
    where = f"{what} {path}"
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)  # never more, whatever the file system says its size is
    except OSError as exc:
        raise FormatError(f"cannot read {where}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise FormatError(f"{where} is larger than {_size(max_bytes)}, the most a {what} may be")
    value = parse_json_text(data, where, max_depth)
    return value if spec is None else validate(value, spec, where)


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def read_json_card(path: Path, what: str, fmt: str, spec: Spec | None = None,
                   max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """A JSON object whose ``format`` field must be ``fmt`` (every card this project writes has one),
    then checked against ``spec`` when given."""
    card = read_json(path, what, max_bytes=max_bytes)
    if not isinstance(card, dict) or card.get("format") != fmt:
        raise FormatError(f"{path} is not a {what} (format {fmt!r})")
    return card if spec is None else dict(validate(card, spec, f"{what} {path}"))


def confined_file(folder: Path, name: str, what: str) -> Path:
    """The file ``name`` (as a card gives it) inside ``folder``: '/'-separated, relative, without '..',
    and not leading out of the folder through a symbolic link. Returns the resolved path."""
    rel = PurePosixPath(name)
    if (not name or "\\" in name or "\0" in name or rel.is_absolute() or PureWindowsPath(name).drive
            or ".." in rel.parts):
        raise FormatError(f"{what} {show_value(name)} must be a relative path inside {folder} (no '..', "
                          "no absolute path)")
    base = Path(folder).resolve()
    target = (base / rel).resolve()
    if not target.is_relative_to(base):
        raise FormatError(f"{what} {show_value(name)} leads outside {folder} through a symbolic link")
    return target


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
