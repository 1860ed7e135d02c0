"""numpy's pickle reconstructors, rewritten so that nothing a pickle says reaches numpy unchecked.

numpy rebuilds a dtype from whatever state tuple the pickle gives it (``dtype.__setstate__``) and trusts
it: a state with an object field whose flags claim it holds no objects makes numpy read file bytes as
object pointers, and touching the array crashes the process (in Blender: the artist's unsaved work).
So the pickle only *names* what it wants and this module builds it:

- ``numpy.dtype(code, align, copy)`` and its state become a :class:`DtypeRecipe`. The code must be a
  plain bool/int/uint/float/complex code (or ``O``) and the state exactly what numpy writes for such a
  type: a byte order, no subarray, names, fields or metadata, the type's own flags. The dtype is made
  afresh from the code; the state tuple is never handed to numpy.
- ``_reconstruct(ndarray, ...)`` plus the array state, and protocol 5's ``_frombuffer``, become an
  :class:`ArrayHolder`. Its shape is checked against :mod:`.limits` before anything is allocated; numeric
  data must be exactly shape × itemsize bytes; an object array (DECA's dict inside an ``.npy``) is filled
  from the pickle's list of objects, never from bytes.
- ``scalar(dtype, bytes)``: numeric types only, exactly one item's bytes.

No real ndarray or dtype is ever on the unpickler's stack, so a pickle cannot reach their methods.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from ..common.errors import FormatError
from .limits import Budget, array_bytes, checked_shape, shown

_TYPE_CODE = re.compile(r"[biufc][0-9]{1,2}|O[48]?")
_PLAIN_KINDS = frozenset("biufc")
_BYTE_ORDERS = frozenset("<>|=")


class DtypeRecipe:
    """What ``numpy.dtype`` is in a pickle: a checked type code; :attr:`dtype` is always made afresh."""

    __slots__ = ("dtype",)
    dtype: np.dtype[Any]

    def __new__(cls, code: object = None, align: object = False, copy: object = False) -> DtypeRecipe:
        obj = object.__new__(cls)
        obj.dtype = _fresh_dtype(code)
        return obj

    def __init__(self, code: object = None, align: object = False, copy: object = False) -> None:
        pass  # all done in __new__ (NEWOBJ calls only __new__)

    def __setstate__(self, state: object) -> None:
        self.dtype = _checked_state(self.dtype, state)


def _fresh_dtype(code: object) -> np.dtype[Any]:
    if not isinstance(code, str) or not _TYPE_CODE.fullmatch(code):
        raise FormatError(f"the pickle asks for numpy type {shown(code)}, which no FLAME file holds (only plain "
                          "numbers): refused")
    try:
        dtype = np.dtype(code)
    except TypeError as exc:
        raise FormatError(f"the pickle asks for an unknown numpy type {code!r}") from exc
    if dtype.kind not in _PLAIN_KINDS | {"O"} or dtype.fields is not None or dtype.subdtype is not None:
        raise FormatError(f"the pickle asks for numpy type {code!r}, which no FLAME file holds: refused")
    return dtype


def _checked_state(dtype: np.dtype[Any], state: object) -> np.dtype[Any]:
    """The dtype with the state's byte order, if the state is what numpy writes for a plain type."""
    if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)):
        raise FormatError("the pickle gives a numpy type an unreadable state: refused before numpy saw it")
    order, subarray, names, fields, elsize, alignment, flags = state[1:8]
    plain = (isinstance(order, str) and order in _BYTE_ORDERS and subarray is None and names is None
             and fields is None and elsize in (-1, dtype.itemsize) and alignment in (-1, dtype.alignment)
             and type(flags) is int and flags == dtype.flags and (len(state) == 8 or state[8] is None))
    if not plain:
        # fields, names, a subarray or foreign flags: how a forged pickle makes numpy read bytes as pointers
        raise FormatError("the pickle gives a numpy type a structure of its own (fields, subarrays or flags "
                          "numpy would not write): refused before numpy saw it")
    if dtype.kind == "O" or order in "|=" or dtype.itemsize == 1:
        return dtype
    return dtype.newbyteorder(order)


class ArrayHolder:
    """An array under construction: :meth:`__setstate__` checks the state and builds :attr:`array`."""

    __slots__ = ("array", "_budget")

    def __init__(self, budget: Budget, array: np.ndarray | None = None) -> None:
        self._budget = budget
        self.array = array

    def __setstate__(self, state: object) -> None:
        if self.array is not None:
            raise FormatError(f"{self._budget.source} sets an array's contents twice")
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4):
            raise FormatError(f"{self._budget.source} holds an array with an unreadable state")
        shape, recipe, fortran, data = state
        self.array = build_array(shape, recipe, "F" if fortran else "C", data, self._budget)


def build_array(shape: object, recipe: object, order: str, data: object, budget: Budget) -> np.ndarray:
    """A new native-byte-order array of ``shape`` from ``data``, everything checked first."""
    source = budget.source
    if not isinstance(recipe, DtypeRecipe):
        raise FormatError(f"{source} holds an array whose dtype is not a numpy type")
    dims = checked_shape(shape, source)
    dtype = recipe.dtype
    if dtype.kind == "O":
        return _object_array(dims, order, data, budget)
    nbytes = array_bytes(dims, dtype.itemsize, source)
    raw = _raw_bytes(data, nbytes, source)
    budget.charge(nbytes)
    if dtype.kind == "b":  # any non-zero byte is True, as numpy reads it
        flat = np.frombuffer(raw, dtype=np.uint8) != 0
    else:
        flat = np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))
    return flat.reshape(dims, order="F" if order == "F" else "C")


def _raw_bytes(data: object, nbytes: int, source: str) -> bytes:
    if not isinstance(data, bytes | bytearray | str):
        raise FormatError(f"{source} holds a numeric array whose data are not bytes")
    if len(data) != nbytes:  # a Python 2 str holds one latin-1 character per byte
        raise FormatError(f"{source} holds an array whose data do not match its shape")
    if isinstance(data, str):
        try:
            return data.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise FormatError(f"{source} holds an array whose data are not bytes") from exc
    return bytes(data)


def _object_array(dims: tuple[int, ...], order: str, items: object, budget: Budget) -> np.ndarray:
    """An object array from the list a pickle stores for one (never from bytes: they would be pointers)."""
    if not isinstance(items, list) or len(items) != math.prod(dims):
        raise FormatError(f"{budget.source} holds an object array that is not a list of its items: refused")
    budget.charge(8 * len(items))
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out.reshape(dims, order="F" if order == "F" else "C")


class _NdarrayName:
    """``numpy.ndarray`` in a pickle: only ever the first argument of ``_reconstruct``, never called."""

    __slots__ = ()

    def __call__(self, *args: object, **kwargs: object) -> None:
        raise FormatError("the pickle calls numpy.ndarray directly (it could allocate any amount of memory or "
                          "read memory it does not own): refused")

    def __setstate__(self, state: object) -> None:
        raise FormatError("the pickle changes numpy.ndarray itself: refused")


NDARRAY = _NdarrayName()


def numpy_callables(budget: Budget) -> dict[str, Callable[..., Any]]:
    """The reconstructors numpy's pickles name, bound to one load's :class:`Budget`."""

    def reconstruct(subtype: object, shape: object, typecode: object) -> ArrayHolder:
        if subtype is not NDARRAY:
            raise FormatError(f"{budget.source} rebuilds an array subclass, which no FLAME file holds: refused")
        return ArrayHolder(budget)

    def scalar(recipe: object, data: object) -> Any:
        if not isinstance(recipe, DtypeRecipe) or recipe.dtype.kind == "O":
            raise FormatError(f"{budget.source} holds a numpy scalar of a type no FLAME file holds: refused")
        return build_array((), recipe, "C", data, budget)[()]

    def frombuffer(buffer: object, recipe: object, shape: object, order: object) -> ArrayHolder:
        if order not in ("C", "F") or (isinstance(recipe, DtypeRecipe) and recipe.dtype.kind == "O"):
            raise FormatError(f"{budget.source} holds a buffer array that numpy would not write: refused")
        return ArrayHolder(budget, build_array(shape, recipe, str(order), buffer, budget))

    return {"_reconstruct": reconstruct, "scalar": scalar, "_frombuffer": frombuffer}
