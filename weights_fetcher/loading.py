"""Open asset files without ever running code from them.

Only three formats are accepted: ``.safetensors`` (header parsed here with ``json`` + ``struct``, so
neither torch nor the safetensors package is needed — Blender's Python has neither), ``.npz`` through
``numpy.load(allow_pickle=False)``, and ``.json``. Pickle-based files (``.pkl``, ``.pt``, ``.bin``,
``.ckpt``) can execute arbitrary code when loaded and are refused.

The file is read once; its sha256 is checked on exactly those bytes before they are parsed, so nothing
can change between verification and use. numpy is imported lazily (only here, only for tensors)."""

from __future__ import annotations

import hashlib
import io
import struct
import tokenize
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ChecksumError, MalformedFileError, UnsafeFormatError, WeightsError
from .untrusted_json import decode_json, show

if TYPE_CHECKING:
    import numpy as np

LOADABLE_SUFFIXES: tuple[str, ...] = (".safetensors", ".npz", ".json")
_MAX_HEADER = 100 * 1024 * 1024  # a safetensors header larger than this is not a real model
_MAX_DIMS = 32  # numpy's limit (1.x); real tensors have a handful
# safetensors dtype → numpy dtype string (little-endian, as the format prescribes).
_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1",
    "BOOL": "?",
    "BF16": "<u2",  # read as raw 16-bit words, widened to float32 below
}


@dataclass
class LoadedFile:
    """What :func:`load_file` returns. ``arrays`` for tensor formats, ``data`` for JSON."""

    path: Path
    format: str  # "safetensors" | "npz" | "json"
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)  # safetensors "__metadata__"
    data: Any = None


def check_loadable(path: str | Path) -> str:
    """Return the format name for ``path`` or raise :class:`UnsafeFormatError`."""
    suffix = Path(path).suffix.lower()
    if suffix not in LOADABLE_SUFFIXES:
        raise UnsafeFormatError(
            f"refusing to load {Path(path).name}: only {', '.join(LOADABLE_SUFFIXES)} files are loaded "
            "(pickle-based files such as .pkl, .pt, .bin or .ckpt can run code; convert them to "
            ".safetensors or .npz first)")
    return suffix[1:]


def sha256_bytes(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def read_checked(path: str | Path, sha256: str | None = None) -> bytes:
    """Read a whole file and, when ``sha256`` is given, check it (raises :class:`ChecksumError`)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except IsADirectoryError:
        raise WeightsError(f"{p} is a folder, not a file") from None
    except OSError as exc:
        raise WeightsError(f"cannot read {p}: {exc.strerror or exc}") from None
    if sha256 is not None:
        actual = sha256_bytes(data)
        if actual != sha256:
            raise ChecksumError(f"sha256 mismatch for {p.name}: expected {sha256}, got {actual}")
    return data


def load_file(path: str | Path, sha256: str | None = None) -> LoadedFile:
    """Check the format, read, verify (if ``sha256`` is given) and parse one asset file."""
    p = Path(path)
    fmt = check_loadable(p)
    data = read_checked(p, sha256)
    if fmt == "json":
        return LoadedFile(p, fmt, data=parse_json(data, p.name))
    if fmt == "npz":
        return LoadedFile(p, fmt, arrays=parse_npz(data, p.name))
    arrays, metadata = parse_safetensors(data, p.name)
    return LoadedFile(p, fmt, arrays=arrays, metadata=metadata)


def parse_json(data: bytes, name: str = "file") -> Any:
    return decode_json(data, name, MalformedFileError)


def parse_npz(data: bytes, name: str = "file") -> dict[str, np.ndarray]:
    import numpy as np

    if data[:2] != b"PK":
        # An .npz is a zip archive; anything else (a bare .npy, a pickle renamed .npz) is refused.
        if data[:1] == b"\x80":
            raise UnsafeFormatError(f"refusing {name}: it is a pickle, not an .npz archive")
        raise MalformedFileError(f"{name} is not an .npz (zip) archive")
    arrays: dict[str, np.ndarray] = {}
    try:
        _check_npz_sizes(data, name)
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            for key in archive.files:
                value = archive[key]
                # NpzFile hands back members that are not .npy files as raw bytes: refuse them.
                if not isinstance(value, np.ndarray):
                    raise MalformedFileError(f"{name}: member {key!r} is not a .npy array")
                arrays[key] = value
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise UnsafeFormatError(f"refusing {name}: it holds pickled object arrays") from None
        raise MalformedFileError(f"{name} is not a valid .npz: {exc}") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError,
            RuntimeError, SyntaxError, tokenize.TokenError) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression method;
        # SyntaxError, TokenError: numpy parses the .npy header as a Python literal.
        raise MalformedFileError(f"{name} is not a valid .npz: {type(exc).__name__}: {exc}") from None
    return arrays


def _check_npz_sizes(data: bytes, name: str) -> None:
    """Refuse a member whose .npy header promises more bytes than the member holds, before numpy
    allocates the array it promises (a 100-byte file could otherwise ask for terabytes)."""
    import numpy as np
    from numpy.lib import format as npy_format

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                prefix = member.read(len(npy_format.MAGIC_PREFIX) + 2)  # magic, major, minor
                if len(prefix) < 8 or prefix[:6] != npy_format.MAGIC_PREFIX:
                    # numpy would hand the whole member back as bytes (however large): refuse now.
                    raise MalformedFileError(f"{name}: member {show(info.filename)} is not a .npy array")
                if prefix[6] == 1:
                    shape, _, dtype = npy_format.read_array_header_1_0(member)
                else:
                    shape, _, dtype = npy_format.read_array_header_2_0(member)
            if dtype.hasobject:
                continue  # refused as a pickle by numpy itself
            # numpy's header parser accepts any literal tuple: ``(True,)`` or ``(-1,)`` would reach reshape
            if not all(type(dim) is int and dim >= 0 for dim in shape):
                raise MalformedFileError(f"{name}: member {show(info.filename)} declares the shape {show(shape)}")
            needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if needed > info.file_size:
                raise MalformedFileError(f"{name}: member {show(info.filename)} declares {needed} bytes of data "
                                         f"but holds {info.file_size}")


def _element_count(shape: list[int], limit: int) -> int | None:
    """The product of ``shape``, or None when it exceeds ``limit`` (stops early: no huge numbers)."""
    if 0 in shape:
        return 0
    count = 1
    for dim in shape:
        count *= dim
        if count > limit:
            return None
    return count


def parse_safetensors(data: bytes, name: str = "file") -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Parse the safetensors layout: u64 header length, JSON header, one contiguous byte buffer.

    Everything the header says is checked against the file before anything is allocated: offsets
    inside the buffer, sizes equal to shape x dtype, the buffer covered exactly once. So the arrays
    made are at most the file's own bytes (BF16 is widened to float32, twice its bytes)."""
    import numpy as np

    def bad(why: str) -> MalformedFileError:
        return MalformedFileError(f"{name} is not a valid .safetensors file: {why}")

    if len(data) < 8:
        raise bad("too short")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(_MAX_HEADER, len(data) - 8):
        raise bad(f"header length {header_len} out of range (the file has {len(data)} bytes)")
    header = decode_json(data[8:8 + header_len], f"{name} is not a valid .safetensors file: its header",
                         MalformedFileError)
    if not isinstance(header, dict):
        raise bad("header is not an object")
    body = memoryview(data)[8 + header_len:]

    metadata_raw = header.pop("__metadata__", None)
    if metadata_raw is None:
        metadata_raw = {}
    if not isinstance(metadata_raw, dict) or not all(isinstance(v, str) for v in metadata_raw.values()):
        raise bad("__metadata__ must map strings to strings")

    # First check every entry, then the layout, and only then copy bytes.
    entries: list[tuple[str, str, list[int], int, int]] = []
    for key, info in header.items():
        shown = show(key)
        if not isinstance(info, dict):
            raise bad(f"entry {shown} is not an object")
        dtype_name = info.get("dtype")
        shape = info.get("shape")
        offsets = info.get("data_offsets")
        if not isinstance(dtype_name, str) or dtype_name not in _DTYPES:
            raise bad(f"tensor {shown} has unsupported dtype {show(dtype_name)}")
        # type() is int: True/False are ints to isinstance, and never a dimension or an offset.
        if (not isinstance(shape, list) or len(shape) > _MAX_DIMS
                or not all(type(d) is int and d >= 0 for d in shape)):
            raise bad(f"tensor {shown} has an invalid shape")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(o) is int for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= len(body)):
            raise bad(f"tensor {shown} has invalid data offsets")
        begin, end = offsets
        itemsize = np.dtype(_DTYPES[dtype_name]).itemsize
        count = _element_count(shape, len(body) // itemsize)
        if count is None or end - begin != count * itemsize:
            raise bad(f"tensor {shown}: {end - begin} bytes for shape {_short_shape(shape)} of {dtype_name}")
        entries.append((key, dtype_name, shape, begin, end))

    # The format forbids holes and overlaps: the buffer must be covered exactly once.
    position = 0
    for _, _, _, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != position:
            raise bad("tensor data overlaps or leaves holes")
        position = end
    if position != len(body):
        raise bad("trailing bytes after the last tensor")

    arrays: dict[str, np.ndarray] = {}
    for key, dtype_name, shape, begin, end in entries:
        dtype = np.dtype(_DTYPES[dtype_name])
        flat = np.frombuffer(body, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=begin)
        if dtype_name == "BF16":
            # bfloat16 is the top half of a float32 (widened while 1-D: a 0-d result would be a scalar).
            flat = (flat.astype(np.uint32) << 16).view(np.float32)
        else:
            flat = flat.copy()  # own the memory: the file's bytes can then be freed
        try:
            arrays[key] = flat.reshape(shape)
        except ValueError as exc:  # an empty shape too large for numpy to index
            raise bad(f"tensor {show(key)}: {exc}") from None
    return arrays, dict(metadata_raw)


def _short_shape(shape: list[int]) -> str:
    text = str(shape)
    return text if len(text) <= 80 else text[:77] + "..."
