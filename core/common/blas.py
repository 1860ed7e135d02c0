"""numpy's OpenBLAS held to one thread for a block. Its multi-threaded kernels sum in another order on some CPUs
(measured on an AMD EPYC, OpenBLAS 0.3.23 with Haswell kernels: a 97×16 @ 16×128 float32 product differs in its last
bits on 1 and 2 threads, whatever the inner length), and a take must not depend on the machine's cores. Best effort:
a numpy whose OpenBLAS cannot be found (another BLAS, as in some Blender builds) is left as it is."""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
from collections.abc import Callable, Iterator
from functools import cache

import numpy as np


@cache
def _openblas() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """(get, set) of the thread count of the OpenBLAS numpy loaded (dlopen of a loaded path returns that library)."""
    here = os.path.dirname(np.__file__)
    paths = glob.glob(os.path.join(os.path.dirname(here), "numpy.libs", "libopenblas*"))
    paths += glob.glob(os.path.join(here, ".dylibs", "libopenblas*"))
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("64_", ""):  # numpy's 64-bit-integer build suffixes its symbols
            get = getattr(lib, f"openblas_get_num_threads{suffix}", None)
            put = getattr(lib, f"openblas_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                return get, put
    return None


def blas_threads() -> int | None:
    """OpenBLAS's thread count now (None where it cannot be found)."""
    found = _openblas()
    return int(found[0]()) if found else None


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    found = _openblas()
    if found is None:
        yield
        return
    get, put = found
    before = int(get())
    put(1)
    try:
        yield
    finally:
        put(before)
