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
import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ChecksumError, MalformedFileError, UnsafeFormatError, WeightsError

if TYPE_CHECKING:
    import numpy as np

LOADABLE_SUFFIXES: tuple[str, ...] = (".safetensors", ".npz", ".json")
_MAX_HEADER = 100 * 1024 * 1024  # a safetensors header larger than this is not a real model
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
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedFileError(f"{name} is not valid UTF-8 JSON: {exc}") from None


def parse_npz(data: bytes, name: str = "file") -> dict[str, np.ndarray]:
    import numpy as np

    if data[:2] != b"PK":
        # An .npz is a zip archive; anything else (a bare .npy, a pickle renamed .npz) is refused.
        if data[:1] == b"\x80":
            raise UnsafeFormatError(f"refusing {name}: it is a pickle, not an .npz archive")
        raise MalformedFileError(f"{name} is not an .npz (zip) archive")
    arrays: dict[str, np.ndarray] = {}
    try:
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
    except (OSError, EOFError, KeyError) as exc:
        raise MalformedFileError(f"{name} is not a valid .npz: {exc}") from None
    return arrays


def parse_safetensors(data: bytes, name: str = "file") -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Parse the safetensors layout: u64 header length, JSON header, one contiguous byte buffer."""
    import numpy as np

    def bad(why: str) -> MalformedFileError:
        return MalformedFileError(f"{name} is not a valid .safetensors file: {why}")

    if len(data) < 8:
        raise bad("too short")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(_MAX_HEADER, len(data) - 8):
        raise bad("header length out of range")
    try:
        header = json.loads(data[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad("header is not JSON") from None
    if not isinstance(header, dict):
        raise bad("header is not an object")
    body = memoryview(data)[8 + header_len:]

    metadata_raw = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata_raw, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata_raw.items()):
        raise bad("__metadata__ must map strings to strings")

    arrays: dict[str, np.ndarray] = {}
    spans: list[tuple[int, int]] = []
    for key, info in header.items():
        if not isinstance(info, dict):
            raise bad(f"entry {key!r} is not an object")
        dtype_name = info.get("dtype")
        shape = info.get("shape")
        offsets = info.get("data_offsets")
        if dtype_name not in _DTYPES:
            raise bad(f"tensor {key!r} has unsupported dtype {dtype_name!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise bad(f"tensor {key!r} has an invalid shape")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= len(body)):
            raise bad(f"tensor {key!r} has invalid data offsets")
        dtype = np.dtype(_DTYPES[dtype_name])
        count = math.prod(shape)
        begin, end = offsets
        if end - begin != count * dtype.itemsize:
            raise bad(f"tensor {key!r}: {end - begin} bytes for shape {shape} of {dtype_name}")
        array = np.frombuffer(body, dtype=dtype, count=count, offset=begin).reshape(shape).copy()
        if dtype_name == "BF16":
            # bfloat16 is the top half of a float32.
            array = (array.astype(np.uint32) << 16).view(np.float32)
        arrays[key] = array
        spans.append((begin, end))

    # The format forbids holes and overlaps: the buffer must be covered exactly once.
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            raise bad("tensor data overlaps or leaves holes")
        position = end
    if position != len(body):
        raise bad("trailing bytes after the last tensor")
    return arrays, dict(metadata_raw)
