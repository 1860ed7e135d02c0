"""``.npy`` and ``.npz`` files a user gave us, read without trusting their headers.

``np.load(allow_pickle=False)`` never unpickles, but it believes the header: it reserves shape × itemsize
bytes before reading a single one (a member of a few bytes can declare a terabyte array), accepts
structured dtypes, and ``zipfile`` first builds an entry for every record of the archive's directory (a
small file can list millions). Here the zip directory is sized from its end record before ``zipfile``
parses it, each header is read and checked first — a plain dtype, shape × itemsize within
:mod:`.limits` and no more than the member or file really holds, everything one load builds summed — and
only then are exactly that many bytes read. Nothing here ever unpickles: object arrays are refused (the
landmark reader hands those to the restricted unpickler itself).
"""

from __future__ import annotations

import struct
import tokenize
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..common.errors import FormatError
from .limits import MAX_ARCHIVE_MEMBERS, Budget, array_bytes, check_file_size, checked_shape

# kinds np.savez writes for plain data: bool, integers, floats, complex, fixed-width text
PLAIN_KINDS = frozenset("biufcSU")
_END_RECORD = struct.Struct("<4s4H2LH")  # the zip "end of central directory" record
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_MAX_DIRECTORY = 1 << 18  # bytes of zip directory (an np.savez entry takes about 100)
# What zipfile and its decompressors raise on a corrupt archive.
_ZIP_ERRORS: tuple[type[BaseException], ...] = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError,
                                                OSError, ValueError, KeyError, IndexError, struct.error,
                                                NotImplementedError, RuntimeError, OverflowError, UnicodeError)
try:
    import lzma

    _ZIP_ERRORS += (lzma.LZMAError,)
except ImportError:  # pragma: no cover - Python built without lzma
    pass


class ObjectArray(FormatError):
    """The ``.npy`` holds pickled objects (raised before any of them is read)."""


def read_npz(path: Path, *, max_bytes: int, what: str, budget: Budget | None = None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``, by name. Every problem is a one-line :class:`FormatError`."""
    name = path.name
    size = check_file_size(path, max_bytes, what)
    budget = budget or Budget(name)
    try:
        with open(path, "rb") as fh:
            _check_directory(fh, size, name)
            with zipfile.ZipFile(fh) as archive:
                members = archive.infolist()
                if len(members) > MAX_ARCHIVE_MEMBERS:
                    raise FormatError(f"{name} holds {len(members)} files, more than a {what} has")
                arrays: dict[str, np.ndarray] = {}
                for info in members:
                    if not info.filename.endswith(".npy"):
                        continue  # np.savez writes only .npy members; anything else is not ours to read
                    with archive.open(info) as member:
                        arrays[info.filename[:-4]] = _read_array(member, info.file_size, name, budget)
                return arrays
    except ObjectArray as exc:
        raise FormatError(f"{name} stores pickled objects, which are never loaded: save plain arrays "
                          "(np.savez) instead") from exc
    except FormatError:
        raise
    except _ZIP_ERRORS as exc:
        raise FormatError(f"{name} is not a readable .npz (truncated or corrupt? {_detail(exc)})") from exc


def read_npy(path: Path, *, max_bytes: int, what: str, budget: Budget | None = None,
             pickled: Callable[[bytes], Any] | None = None) -> Any:
    """One ``.npy`` of plain data. One holding pickled objects is refused, unless ``pickled`` is given: it
    is then called with the pickle that follows the header (the restricted unpickler; never ``pickle``)."""
    name = path.name
    size = check_file_size(path, max_bytes, what)
    try:
        with open(path, "rb") as fh:
            try:
                return _read_array(fh, size, name, budget or Budget(name))
            except ObjectArray:
                if pickled is None:
                    raise FormatError(f"{name} stores pickled objects, which are never loaded: save plain "
                                      "arrays (np.save) instead") from None
                payload = fh.read()
    except FormatError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise FormatError(f"{name} is not a readable .npy ({_detail(exc)})") from exc
    return pickled(payload)


def read_header(fh: IO[bytes], source: str) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """Shape, Fortran order and dtype from an ``.npy`` header (numpy parses it with ``literal_eval``,
    at most 10 000 bytes); object dtypes raise :class:`ObjectArray`, structured ones are refused."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:  # 3.0 only exists for structured dtypes with non-latin-1 names
            raise FormatError(f"{source}: unsupported .npy format version {version}")
    except FormatError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, SyntaxError, RecursionError, MemoryError, OverflowError,
            UnicodeError, EOFError, tokenize.TokenError) as exc:  # TokenError: numpy re-tokenises old headers
        raise FormatError(f"{source} has an unreadable .npy header ({_detail(exc)})") from exc
    if dtype.kind == "O" and dtype.fields is None and dtype.subdtype is None:
        raise ObjectArray(f"{source} stores pickled objects")
    if (dtype.kind not in PLAIN_KINDS or dtype.fields is not None or dtype.subdtype is not None
            or dtype.itemsize == 0):
        raise FormatError(f"{source} holds an array of type {dtype.str[:40]}, not plain numbers: refused")
    return checked_shape(shape, source), bool(fortran), dtype


def _read_array(fh: IO[bytes], available: int, source: str, budget: Budget) -> np.ndarray:
    """Header, checks, then exactly shape × itemsize bytes (``available``: what the file or member holds)."""
    shape, fortran, dtype = read_header(fh, source)
    nbytes = array_bytes(shape, dtype.itemsize, source)
    if nbytes > available:  # the header claims more than there is: refuse before reserving it
        raise FormatError(f"{source}: an array header declares more data than the file holds (truncated?)")
    budget.charge(2 * nbytes)  # the bytes read and the array made from them
    raw = fh.read(nbytes)
    if len(raw) != nbytes:
        raise FormatError(f"{source} ends inside an array (truncated or corrupt?)")
    if dtype.kind == "b":  # any non-zero byte is True, as numpy reads it
        flat = np.frombuffer(raw, dtype=np.uint8) != 0
    else:
        flat = np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))  # a writable, native copy
    return flat.reshape(shape, order="F" if fortran else "C")


def _check_directory(fh: IO[bytes], size: int, source: str) -> None:
    """Size the zip directory from its end record, found as ``zipfile`` finds it, before ``zipfile``
    builds an entry per record (a few MB can list millions)."""
    window = min(size, _END_RECORD.size + (1 << 16))  # the most zipfile searches
    fh.seek(size - window)
    tail = fh.read(window)
    if tail[-_END_RECORD.size:][:4] == _END_SIGNATURE and tail[-2:] == b"\0\0":
        at = len(tail) - _END_RECORD.size
    else:
        at = tail.rfind(_END_SIGNATURE)
    if at < 0 or len(tail) - at < _END_RECORD.size:
        raise FormatError(f"{source} is not a readable .npz (not a zip archive: truncated or corrupt?)")
    record = _END_RECORD.unpack(tail[at:at + _END_RECORD.size])
    entries, directory = record[4], record[5]
    start = size - window + at
    if start >= 20:
        fh.seek(start - 20)
        if fh.read(4) == _ZIP64_LOCATOR:
            raise FormatError(f"{source} is a ZIP64 archive, which only files far larger than a FLAME .npz need")
    if entries > MAX_ARCHIVE_MEMBERS or directory > _MAX_DIRECTORY:
        raise FormatError(f"{source} lists more files than an .npz of FLAME data has: refused")
    fh.seek(0)


def _detail(exc: BaseException) -> str:
    try:
        text = str(exc)
    except ValueError:
        text = ""
    return text.splitlines()[0][:160] if text.strip() else type(exc).__name__
