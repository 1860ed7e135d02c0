"""A restricted unpickler for the research world's pickles (FLAME models, landmark embeddings).

``pickle.load`` runs whatever callable a file names, so a model file from the internet could run code.
Before the unpickler sees a byte, :func:`.pickle_scan.scan` dry-runs the opcodes (opcode count, memo
indices, dict keys). The unpickler then resolves only an explicit allow-list of (module, name) pairs and
refuses everything else *before anything is called*:

- numpy's reconstructors (``_reconstruct``, ``scalar``, ``_frombuffer``), ``ndarray`` and ``dtype``,
  each replaced by the checked rewrite in :mod:`.pickle_numpy` (a forged dtype state never reaches numpy);
- ``copy_reg._reconstructor`` / ``copyreg._reconstructor`` (protocol 0/1 objects), replaced by a version
  that builds only the stand-ins below; ``object``; ``set``/``frozenset`` of plain strings and numbers;
  and the two ways Python 3 writes bytes at protocol 2: ``bytes()`` with no argument (empty bytes) and
  ``_codecs.encode(text, 'latin1')``;
- chumpy's ``Ch``, ``Select``, ``Reshape`` and ``transpose`` and scipy.sparse's ``csc/csr/coo_matrix``,
  each mapped to an inert stand-in that only records its pickled state; :func:`materialise` then turns
  them into plain numpy arrays. Neither chumpy nor scipy is imported.

What a load may build is bounded by :mod:`.limits` (per array and in total, checked before allocating).
Files written by Python 2 (the FLAME pickles) are read with ``encoding='latin1'``.
"""

from __future__ import annotations

import io
import pickle
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..common.errors import FormatError
from .limits import MAX_FILE_BYTES, Budget, bounded_asarray, check_file_size, checked_shape, shown
from .pickle_numpy import NDARRAY, ArrayHolder, DtypeRecipe, numpy_callables
from .pickle_scan import scan

MAX_DEPTH = 64  # nesting of containers/stand-ins accepted when materialising
# Errors numpy and the unpickler raise on malformed input; each becomes a one-line FormatError.
_MALFORMED = (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError, AttributeError,
              MemoryError, OverflowError, UnicodeError, RecursionError)


class UnsafePickleError(FormatError):
    """The pickle names a callable outside the allow-list (it could run code)."""


# ---- stand-ins -----------------------------------------------------------------------------------------


class _StandIn:
    """Takes the place of a third-party class: records the pickled state and nothing else."""

    pickled_as = ""
    state: Any

    def __new__(cls, *args: object, **kwargs: object) -> _StandIn:  # NEWOBJ passes the class's args
        obj = object.__new__(cls)
        obj.state = {}
        return obj

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        # (dict, slots) tuples come from classes with __slots__; only the dict part matters here
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict | type(None)):
            state = state[0] or {}
        self.state = state


class ChumpyArray(_StandIn):
    pickled_as = "chumpy.ch.Ch"


class ChumpySelect(_StandIn):
    pickled_as = "chumpy.reordering.Select"


class ChumpyReshape(_StandIn):
    pickled_as = "chumpy.reordering.Reshape"


class ChumpyTranspose(_StandIn):
    pickled_as = "chumpy.reordering.transpose"


class SparseMatrix(_StandIn):
    pickled_as = "scipy.sparse matrix"
    fmt = ""  # newer scipy keeps the format in the class only


class SparseCSC(SparseMatrix):
    fmt = "csc"


class SparseCSR(SparseMatrix):
    fmt = "csr"


class SparseCOO(SparseMatrix):
    fmt = "coo"


class _Inert:
    """What an allowed-but-unused callable (a torch tensor in a landmark file) turns into."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __setstate__(self, state: Any) -> None:
        pass


def _inert(name: str) -> Callable[..., _Inert]:
    def build(*args: object, **kwargs: object) -> _Inert:
        return _Inert(name)

    return build


_STAND_INS: tuple[type[_StandIn], ...] = (ChumpyArray, ChumpySelect, ChumpyReshape, ChumpyTranspose, SparseCSC,
                                          SparseCSR, SparseCOO)


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` limited to stand-ins built on ``object`` (no constructor of the file's choice)."""
    if cls not in _STAND_INS or base is not object or state is not None:
        raise UnsafePickleError(f"the pickle rebuilds {shown(getattr(cls, '__name__', cls))} in an unsupported way")
    return cls.__new__(cls)


def _latin1_encode(text: object, encoding: object = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 uses it for bytes at protocol 2 (latin-1 only)."""
    if not isinstance(encoding, str) or encoding.replace("_", "-").lower() not in ("latin1", "latin-1",
                                                                                   "iso-8859-1"):
        raise UnsafePickleError(f"the pickle encodes text with {shown(encoding)}, which only code would do")
    if not isinstance(text, str):
        raise UnsafePickleError(f"the pickle encodes {shown(text)} as text, which only code would do")
    return text.encode("latin-1")


def _empty_bytes(*args: object) -> bytes:
    """``bytes()`` as Python 3 writes an empty bytes at protocol 2; with an argument it could allocate anything."""
    if args:
        raise UnsafePickleError("the pickle calls bytes() with an argument, which only code would do")
    return b""


# What a dict key or set member may be (the scan checks the opcodes; these check the calls).
_PLAIN = (str, bytes, bool, type(None), float, int)


def _plain_items(items: object, what: str) -> list[Any]:
    if not isinstance(items, list | tuple | set | frozenset | str | bytes):
        raise UnsafePickleError(f"the pickle builds a {what} from {shown(items)}, which no FLAME file does")
    out = list(items)
    if not all(isinstance(x, _PLAIN) and (not isinstance(x, int) or -(1 << 63) <= x < (1 << 64)) for x in out):
        raise UnsafePickleError(f"the pickle builds a {what} of objects that are not plain strings or numbers")
    return out


def _plain_set(items: object = ()) -> set[Any]:
    return set(_plain_items(items, "set"))


def _plain_frozenset(items: object = ()) -> frozenset[Any]:
    return frozenset(_plain_items(items, "frozenset"))


def _plain_ordered_dict(pairs: object = ()) -> OrderedDict[Any, Any]:
    """``collections.OrderedDict`` (torch's pickles use one), with plain keys only."""
    if not isinstance(pairs, list | tuple) or not all(isinstance(p, list | tuple) and len(p) == 2 for p in pairs):
        raise UnsafePickleError("the pickle builds an OrderedDict from something other than key-value pairs")
    _plain_items([p[0] for p in pairs], "OrderedDict")
    return OrderedDict((p[0], p[1]) for p in pairs)


def _allow_list(budget: Budget) -> dict[tuple[str, str], Any]:
    numpy_made = numpy_callables(budget)
    allowed: dict[tuple[str, str], Any] = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):  # the module moved in numpy 2
        allowed[(mod, "_reconstruct")] = numpy_made["_reconstruct"]
        allowed[(mod, "scalar")] = numpy_made["scalar"]
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(mod, "_frombuffer")] = numpy_made["_frombuffer"]
    allowed[("numpy", "ndarray")] = NDARRAY
    allowed[("numpy", "dtype")] = DtypeRecipe
    for mod in ("__builtin__", "builtins"):
        allowed[(mod, "object")] = object
        allowed[(mod, "set")] = _plain_set
        allowed[(mod, "frozenset")] = _plain_frozenset
        allowed[(mod, "bytes")] = _empty_bytes
    for mod in ("copy_reg", "copyreg"):
        allowed[(mod, "_reconstructor")] = _reconstructor
    allowed[("_codecs", "encode")] = _latin1_encode
    allowed[("chumpy.ch", "Ch")] = ChumpyArray
    allowed[("chumpy.reordering", "Select")] = ChumpySelect
    allowed[("chumpy.reordering", "Reshape")] = ChumpyReshape
    allowed[("chumpy.reordering", "transpose")] = ChumpyTranspose
    for cls in (SparseCSC, SparseCSR, SparseCOO):
        for mod in (f"scipy.sparse.{cls.fmt}", f"scipy.sparse._{cls.fmt}", "scipy.sparse"):
            allowed[(mod, f"{cls.fmt}_matrix")] = cls
    return allowed


# torch tensors in a pickled landmark dict (DECA's dynamic contour) become inert placeholders: the
# static/full embeddings it also holds are plain arrays, and nothing of torch is ever called.
TORCH_PLACEHOLDERS: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _inert("torch tensor"),
    ("torch._utils", "_rebuild_tensor"): _inert("torch tensor"),
    ("torch._utils", "_rebuild_parameter"): _inert("torch parameter"),
    ("torch.storage", "_load_from_bytes"): _inert("torch storage"),
    ("collections", "OrderedDict"): _plain_ordered_dict,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the allow-listed globals; everything else raises :class:`UnsafePickleError`."""

    def __init__(self, fh: io.BufferedIOBase, source: str, budget: Budget,
                 extra: Mapping[tuple[str, str], Any] | None = None) -> None:
        super().__init__(fh, encoding="latin1")
        self._source = source
        self._allowed = _allow_list(budget)
        if extra:
            self._allowed.update(extra)

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except (KeyError, TypeError):
            raise UnsafePickleError(
                f"{self._source} wants to call {_short_name(module)}.{_short_name(name)}, which is not allowed in "
                "a model file (refused before anything ran: it could execute code)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._source} uses persistent ids (a torch.save file?), which are not supported")


def load_pickle(path: Path, extra: Mapping[tuple[str, str], Any] | None = None, data: bytes | None = None, *,
                max_bytes: int = MAX_FILE_BYTES, what: str = "FLAME model file", budget: Budget | None = None
                ) -> Any:
    """Unpickle ``path`` (or ``data``, read from it by the caller) with :class:`RestrictedUnpickler` and
    :func:`materialise` the result, building at most what ``budget`` allows. Every problem is a one-line
    :class:`FormatError`."""
    name = path.name
    if data is None:
        check_file_size(path, max_bytes, what)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise FormatError(f"cannot read {name}: {exc.strerror or exc}") from exc
    else:
        raw = data
    budget = budget or Budget(name)
    try:
        with warnings.catch_warnings():  # protocol 0 strings with odd escapes warn, then are refused or read
            warnings.simplefilter("ignore", DeprecationWarning)
            scan(raw, name)
            obj = RestrictedUnpickler(io.BytesIO(raw), name, budget, extra).load()
        return materialise(obj, name, budget)
    except FormatError as exc:
        if str(exc).startswith("the pickle"):  # raised where the file's name is not known
            raise type(exc)(f"{name}: {exc}") from exc
        raise
    except _MALFORMED as exc:
        detail = "it ends early" if isinstance(exc, EOFError) else f"{type(exc).__name__}: {_short_text(exc)}"
        raise FormatError(f"{name} is not a readable pickle (truncated or corrupt? {detail})") from exc


def _short_name(text: object) -> str:
    return text[:80] if isinstance(text, str) else "?"


def _short_text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except ValueError:  # e.g. an exception holding an int too long to print
        return type(exc).__name__
    return text.splitlines()[0][:160] if text else ""


# ---- stand-ins → numpy -------------------------------------------------------------------------------


def materialise(obj: Any, source: str, budget: Budget | None = None) -> Any:
    """Replace stand-ins and array holders by numpy arrays throughout dicts, lists and tuples."""
    return _Materialiser(source, budget or Budget(source)).convert(obj, 0)


class _Materialiser:
    def __init__(self, source: str, budget: Budget) -> None:
        self.source = source
        self.budget = budget
        # results by id: a pickle can share one object many times (a chain of lists each holding the
        # previous one twice is tiny on disk and 2**64 paths long); every input object stays alive meanwhile
        self.done: dict[int, Any] = {}

    def convert(self, obj: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise FormatError(f"{self.source} nests its data too deeply")
        if isinstance(obj, str | bytes | int | float | type(None)):
            return obj
        key = id(obj)
        if key not in self.done:
            self.done[key] = self._convert(obj, depth)
        return self.done[key]

    def _convert(self, obj: Any, depth: int) -> Any:
        if isinstance(obj, ArrayHolder):
            if obj.array is None:
                raise FormatError(f"{self.source} holds an array without contents")
            obj = obj.array
        if isinstance(obj, np.ndarray):
            if obj.dtype != object:
                return obj
            self.budget.charge(8 * obj.size)
            out = np.empty(obj.size, dtype=object)
            for i, item in enumerate(obj.ravel()):
                out[i] = self.convert(item, depth + 1)
            return out.reshape(obj.shape)
        if isinstance(obj, DtypeRecipe):
            return obj.dtype
        if isinstance(obj, dict):  # keys are plain strings and numbers (the scan refuses others)
            return {k: self.convert(v, depth + 1) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.convert(x, depth + 1) for x in obj)
        if isinstance(obj, _StandIn):
            return self._array_of(obj, depth)
        return obj

    def _array_of(self, obj: _StandIn, depth: int) -> np.ndarray:
        state = obj.state
        if not isinstance(state, dict):
            raise FormatError(f"{self.source}: a {obj.pickled_as} object has no readable state")

        def part(key: str) -> np.ndarray:
            if key not in state:
                raise FormatError(f"{self.source}: a {obj.pickled_as} object lacks {key!r}")
            return bounded_asarray(self.convert(state[key], depth + 1), self.source)

        try:
            if isinstance(obj, ChumpyArray):
                return part("x")
            if isinstance(obj, ChumpySelect):
                a, idxs = part("a"), part("idxs")
                self.budget.charge(a.nbytes + idxs.size * (8 + a.itemsize))  # ravel, index copy, result
                out = a.ravel()[idxs.astype(np.int64).ravel()]
                shape = state.get("preferred_shape")
                return out.reshape(shape) if shape is not None else out
            if isinstance(obj, ChumpyReshape):
                a = part("a")
                self.budget.charge(a.nbytes)  # reshape copies what is not contiguous
                return a.reshape(state["newshape"])
            if isinstance(obj, ChumpyTranspose):
                a = part("a")
                self.budget.charge(a.nbytes)
                return np.ascontiguousarray(np.transpose(a, axes=state.get("axes")))
            if isinstance(obj, SparseMatrix):
                return _dense_from_sparse(state, obj.fmt, part, self.source, self.budget)
        except FormatError:
            raise
        except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError) as exc:
            raise FormatError(f"{self.source}: cannot rebuild a {obj.pickled_as} object "
                              f"({type(exc).__name__}: {_short_text(exc)})") from exc
        raise FormatError(f"{self.source}: unsupported object {obj.pickled_as}")


def _dense_from_sparse(state: dict[str, Any], fmt: str, part: Callable[[str], np.ndarray], source: str,
                       budget: Budget) -> np.ndarray:
    """A dense array from scipy's pickled csc/csr/coo state (``_shape`` or old ``shape``, data, indices...)."""
    shape = checked_shape(state.get("_shape", state.get("shape")), source)
    if len(shape) != 2:
        raise FormatError(f"{source}: a sparse matrix has no valid shape")
    rows, cols = shape
    budget.charge(rows * cols * 8)  # refused before np.zeros when the dense matrix would be too large
    stated = state.get("format", fmt)  # old scipy stored it per object
    fmt = stated if isinstance(stated, str) else ""
    data = part("data")
    budget.charge(data.size * 16)  # float64 values and their owners
    data = data.astype(np.float64).ravel()
    dense = np.zeros((rows, cols), dtype=np.float64)
    if fmt == "coo":
        coords = part("coords") if state.get("coords") is not None else None  # newer scipy: (row, col)
        r = _indices(coords[0] if coords is not None else part("row"), budget)
        c = _indices(coords[1] if coords is not None else part("col"), budget)
    elif fmt in ("csc", "csr"):
        indices, indptr = _indices(part("indices"), budget), _indices(part("indptr"), budget)
        major = cols if fmt == "csc" else rows
        if indptr.size != major + 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != data.size:
            raise FormatError(f"{source}: a {fmt} sparse matrix has inconsistent index pointers")
        if indices.size != data.size:
            raise FormatError(f"{source}: a {fmt} sparse matrix has {indices.size} indices for {data.size} values")
        owner = np.repeat(np.arange(major, dtype=np.int64), np.diff(indptr))
        r, c = (indices, owner) if fmt == "csc" else (owner, indices)
    else:
        raise FormatError(f"{source}: unsupported sparse format {shown(stated)}")
    if r.size != data.size or c.size != data.size:
        raise FormatError(f"{source}: a sparse matrix has mismatched coordinates")
    if data.size and (r.min() < 0 or c.min() < 0 or r.max() >= rows or c.max() >= cols):
        raise FormatError(f"{source}: a sparse matrix has indices outside its {rows}x{cols} shape")
    np.add.at(dense, (r, c), data)  # duplicates add up, as in scipy
    return dense


def _indices(values: Iterable[Any], budget: Budget) -> np.ndarray:
    arr = bounded_asarray(values, budget.source)
    budget.charge(arr.size * 8)
    return arr.astype(np.int64).ravel()
