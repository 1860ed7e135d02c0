"""How much a FLAME model or landmark file may ask for, checked before anything is allocated.

The largest real arrays are FLAME's ``shapedirs`` (5023 × 3 × 400 float64, 48 MB) and ``posedirs``
(5023 × 3 × 36); a whole FLAME 2020/2023 pickle is about 55 MB and holds a few hundred pickle opcodes.
The caps leave room for bigger variants while keeping a hostile file from making us allocate gigabytes:
every shape is checked against them *before* memory is reserved, and what one load builds is summed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..common.errors import FormatError

MIB = 1 << 20
MAX_FILE_BYTES = 128 * MIB  # a FLAME model file (about 55 MB for the real ones)
MAX_LANDMARK_FILE_BYTES = 16 * MIB  # landmark embeddings are kilobytes
MAX_JSON_BYTES = 64 * MIB  # a JSON sequence (json.loads makes several times its size in Python objects)
MAX_ARRAY_BYTES = 128 * MIB  # one array (shapedirs is 48 MB)
MAX_TOTAL_BYTES = 512 * MIB  # everything one load builds, copies and conversions included
MAX_OPCODES = 100_000  # a FLAME pickle has a few hundred; scanning this many takes about 0.2 s
MAX_NDIM = 32  # numpy's own limit
MAX_ARCHIVE_MEMBERS = 256  # a FLAME .npz has about ten


def check_file_size(path: Path, limit: int, what: str) -> int:
    """The size of ``path``, refusing files larger than ``limit`` before they are read."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FormatError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    if size > limit:
        raise FormatError(f"{path.name} is {size / MIB:.0f} MB, more than a {what} can be "
                          f"({limit // MIB} MB): is it the right file?")
    return size


def checked_shape(shape: object, source: str) -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative ints; anything else (bools, floats, huge numbers) is refused
    without ever formatting it (a 5000-digit int cannot even be printed)."""
    if not isinstance(shape, tuple | list) or len(shape) > MAX_NDIM:
        raise FormatError(f"{source}: an array has an invalid shape")
    dims: list[int] = []
    for n in shape:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 0 <= n < 1 << 62:
            raise FormatError(f"{source}: an array has an invalid shape")
        dims.append(int(n))
    return tuple(dims)


def array_bytes(shape: Sequence[int], itemsize: int, source: str) -> int:
    """Bytes of an array of ``shape`` (already checked) × ``itemsize``, refused above :data:`MAX_ARRAY_BYTES`."""
    count = 1
    for n in shape:
        count *= n  # Python ints: no overflow, and every factor is below the cap
    nbytes = count * itemsize
    if nbytes > MAX_ARRAY_BYTES:
        raise FormatError(f"{source} declares an array larger than {MAX_ARRAY_BYTES // MIB} MB, more than a FLAME "
                          "file holds: refused before allocating it")
    return nbytes


class Budget:
    """Bytes one load has built so far; :meth:`charge` refuses going past :data:`MAX_TOTAL_BYTES`."""

    def __init__(self, source: str, limit: int = MAX_TOTAL_BYTES) -> None:
        self.source = source
        self.limit = limit
        self.used = 0

    def charge(self, nbytes: int) -> None:
        if nbytes > MAX_ARRAY_BYTES:
            raise FormatError(f"{self.source} builds an array larger than {MAX_ARRAY_BYTES // MIB} MB, more than a "
                              "FLAME file holds: refused before allocating it")
        self.used += nbytes
        if self.used > self.limit:
            raise FormatError(f"{self.source} builds more than {self.limit // MIB} MB of arrays, far more than a "
                              "FLAME file holds: refused")


def bounded_asarray(value: object, source: str, dtype: Any = None) -> np.ndarray:
    """``np.asarray(value, dtype)``, refused when the result (or its float64 conversion, which the readers
    all make) would be larger than one array may be.

    A pickle can hold one large array a thousand times in a list at the cost of a few bytes per
    reference, and ``np.asarray`` would copy every one. The estimate follows shared objects once
    (sizes are memoised by identity), so it costs no more than the structure's distinct objects."""
    if _estimated_bytes(value, {}, 0) > MAX_ARRAY_BYTES:
        raise FormatError(f"{source} holds an array larger than {MAX_ARRAY_BYTES // MIB} MB once assembled or "
                          "converted to float64, more than a FLAME file holds: refused")
    return np.asarray(value, dtype=dtype)


def _estimated_bytes(value: object, sizes: dict[int, int], depth: int) -> int:
    """At least what ``np.asarray(value)`` allocates (8 bytes per item, more for arrays and text)."""
    if isinstance(value, np.ndarray):
        return max(int(value.nbytes), 8 * int(value.size))
    if isinstance(value, str | bytes):
        return 4 * len(value) + 8
    if not isinstance(value, list | tuple) or depth > MAX_NDIM:
        return 8
    key = id(value)
    if key not in sizes:
        sizes[key] = 0  # a cycle counts as nothing more (numpy refuses it anyway)
        total = 0
        for item in value:
            total += _estimated_bytes(item, sizes, depth + 1)
            if total > MAX_ARRAY_BYTES:
                break  # enough to refuse
        sizes[key] = total
    return sizes[key]


def shown(value: object) -> str:
    """A file's value for an error message, without printing megabytes (or a 5000-digit integer)."""
    if isinstance(value, str) and len(value) <= 40:
        return repr(value)
    return f"a {type(value).__name__}"
