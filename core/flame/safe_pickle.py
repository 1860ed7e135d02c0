"""A restricted unpickler for the research world's pickles (FLAME models, landmark embeddings).

``pickle.load`` runs whatever callable a file names, so a model file from the internet could run code.
This unpickler resolves only an explicit allow-list of (module, name) pairs and refuses everything else
*before anything is called*:

- numpy's own reconstructors (``_reconstruct``, ``scalar``, ``_frombuffer``), ``ndarray`` and ``dtype``;
- ``copy_reg._reconstructor`` / ``copyreg._reconstructor`` (protocol 0/1 objects), replaced by a version
  that builds only the stand-ins below, ``object``, ``set``/``frozenset`` and ``_codecs.encode`` for latin-1
  (how Python 3 writes bytes at protocol 2);
- chumpy's ``Ch``, ``Select``, ``Reshape`` and ``transpose`` and scipy.sparse's ``csc/csr/coo_matrix``,
  each mapped to an inert stand-in that only records its pickled state; :func:`materialise` then turns
  them into plain numpy arrays. Neither chumpy nor scipy is imported.

Files written by Python 2 (the FLAME pickles) are read with ``encoding='latin1'``.
"""

from __future__ import annotations

import importlib
import io
import pickle
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..common.errors import FormatError

MAX_DEPTH = 64  # nesting of containers/stand-ins accepted when materialising
MAX_DENSE = 50_000_000  # entries of a sparse matrix made dense (FLAME's J_regressor has 25 115)


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
        raise UnsafePickleError(f"the pickle rebuilds {getattr(cls, '__name__', cls)!r} in an unsupported way")
    return cls.__new__(cls)


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 uses it for bytes at protocol 2 (latin-1 only)."""
    if encoding.replace("_", "-").lower() not in ("latin1", "latin-1", "iso-8859-1") or not isinstance(text, str):
        raise UnsafePickleError(f"the pickle encodes text with {encoding!r}")
    return text.encode("latin-1")


def _numpy_callables() -> dict[str, Any]:
    """numpy's own reconstructors, found from numpy itself (their module moved in numpy 2)."""
    return {
        "_reconstruct": np.empty(0).__reduce__()[0],
        "scalar": np.float64(0).__reduce__()[0],
    }


def _numpy_numeric() -> Any:
    try:
        return importlib.import_module("numpy._core.numeric")  # numpy 2
    except ImportError:
        return importlib.import_module("numpy.core.numeric")


def _base_allow_list() -> dict[tuple[str, str], Any]:
    found = _numpy_callables()
    allowed: dict[tuple[str, str], Any] = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = found["_reconstruct"]
        allowed[(mod, "scalar")] = found["scalar"]
    frombuffer = getattr(_numpy_numeric(), "_frombuffer", None)
    if frombuffer is not None:
        for mod in ("numpy.core.numeric", "numpy._core.numeric"):
            allowed[(mod, "_frombuffer")] = frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    for mod in ("__builtin__", "builtins"):
        allowed[(mod, "object")] = object
        allowed[(mod, "set")] = set
        allowed[(mod, "frozenset")] = frozenset
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
    ("collections", "OrderedDict"): OrderedDict,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the allow-listed globals; everything else raises :class:`UnsafePickleError`."""

    def __init__(self, fh: io.BufferedIOBase, source: str, extra: Mapping[tuple[str, str], Any] | None = None):
        super().__init__(fh, encoding="latin1")
        self._source = source
        self._allowed = _base_allow_list()
        if extra:
            self._allowed.update(extra)

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._source} wants to call {module}.{name}, which is not allowed in a model file "
                "(refused before anything ran: it could execute code)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._source} uses persistent ids (a torch.save file?), which are not supported")


def load_pickle(path: Path, extra: Mapping[tuple[str, str], Any] | None = None, data: bytes | None = None) -> Any:
    """Unpickle ``path`` (or ``data``) with :class:`RestrictedUnpickler` and :func:`materialise` the result."""
    name = path.name
    try:
        raw = data if data is not None else path.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read {name}: {exc.strerror or exc}") from exc
    try:
        obj = RestrictedUnpickler(io.BytesIO(raw), name, extra).load()
    except FormatError:
        raise
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError, AttributeError,
            MemoryError, OverflowError, UnicodeDecodeError, RecursionError) as exc:
        detail = "it ends early" if isinstance(exc, EOFError) else f"{type(exc).__name__}: {exc}"
        raise FormatError(f"{name} is not a readable pickle (truncated or corrupt? {detail})") from exc
    return materialise(obj, name)


# ---- stand-ins → numpy -------------------------------------------------------------------------------


def materialise(obj: Any, source: str, depth: int = 0) -> Any:
    """Replace stand-ins by numpy arrays throughout dicts, lists and tuples."""
    if depth > MAX_DEPTH:
        raise FormatError(f"{source} nests its data too deeply")
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return np.array([materialise(x, source, depth + 1) for x in obj.ravel()], dtype=object).reshape(obj.shape)
        return obj
    if isinstance(obj, dict):
        return {materialise(k, source, depth + 1): materialise(v, source, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(materialise(x, source, depth + 1) for x in obj)
    if isinstance(obj, _StandIn):
        return _array_of(obj, source, depth)
    return obj


def _state(obj: _StandIn, source: str) -> dict[str, Any]:
    if not isinstance(obj.state, dict):
        raise FormatError(f"{source}: a {obj.pickled_as} object has no readable state")
    return obj.state


def _array_of(obj: _StandIn, source: str, depth: int) -> np.ndarray:
    state = _state(obj, source)

    def part(key: str) -> np.ndarray:
        if key not in state:
            raise FormatError(f"{source}: a {obj.pickled_as} object lacks {key!r}")
        return np.asarray(materialise(state[key], source, depth + 1))

    try:
        if isinstance(obj, ChumpyArray):
            return part("x")
        if isinstance(obj, ChumpySelect):
            out = part("a").ravel()[part("idxs").astype(np.int64).ravel()]
            return out.reshape(state["preferred_shape"]) if state.get("preferred_shape") is not None else out
        if isinstance(obj, ChumpyReshape):
            return part("a").reshape(state["newshape"])
        if isinstance(obj, ChumpyTranspose):
            return np.ascontiguousarray(np.transpose(part("a"), axes=state.get("axes")))
        if isinstance(obj, SparseMatrix):
            return _dense_from_sparse(state, obj.fmt, part, source)
    except FormatError:
        raise
    except (ValueError, TypeError, IndexError) as exc:
        raise FormatError(f"{source}: cannot rebuild a {obj.pickled_as} object ({exc})") from exc
    raise FormatError(f"{source}: unsupported object {obj.pickled_as}")


def _dense_from_sparse(state: dict[str, Any], fmt: str, part: Callable[[str], np.ndarray], source: str
                      ) -> np.ndarray:
    """A dense array from scipy's pickled csc/csr/coo state (``_shape`` or old ``shape``, data, indices...)."""
    shape = state.get("_shape", state.get("shape"))
    if not (isinstance(shape, tuple) and len(shape) == 2 and all(isinstance(n, int) and n >= 0 for n in shape)):
        raise FormatError(f"{source}: a sparse matrix has no valid shape")
    rows, cols = shape
    if rows * cols > MAX_DENSE:
        raise FormatError(f"{source}: a {rows}x{cols} sparse matrix is too large")
    fmt = str(state.get("format", fmt))  # old scipy stored it per object
    data = part("data").astype(np.float64).ravel()
    dense = np.zeros((rows, cols), dtype=np.float64)
    if fmt == "coo":
        coords = state.get("coords")
        r = np.asarray(coords[0] if coords is not None else part("row"), dtype=np.int64).ravel()
        c = np.asarray(coords[1] if coords is not None else part("col"), dtype=np.int64).ravel()
    elif fmt in ("csc", "csr"):
        indices = part("indices").astype(np.int64).ravel()
        indptr = part("indptr").astype(np.int64).ravel()
        major = cols if fmt == "csc" else rows
        if indptr.size != major + 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != data.size:
            raise FormatError(f"{source}: a {fmt} sparse matrix has inconsistent index pointers")
        if indices.size != data.size:
            raise FormatError(f"{source}: a {fmt} sparse matrix has {indices.size} indices for {data.size} values")
        owner = np.repeat(np.arange(major, dtype=np.int64), np.diff(indptr))
        r, c = (indices, owner) if fmt == "csc" else (owner, indices)
    else:
        raise FormatError(f"{source}: unsupported sparse format {fmt!r}")
    if r.size != data.size or c.size != data.size:
        raise FormatError(f"{source}: a sparse matrix has mismatched coordinates")
    if data.size and (r.min() < 0 or c.min() < 0 or r.max() >= rows or c.max() >= cols):
        raise FormatError(f"{source}: a sparse matrix has indices outside its {rows}x{cols} shape")
    np.add.at(dense, (r, c), data)  # duplicates add up, as in scipy
    return dense
