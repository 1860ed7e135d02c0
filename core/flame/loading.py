"""Load and validate the user's FLAME model file: a chumpy-era ``.pkl`` (through the restricted unpickler,
never ``pickle.load``) or a converted ``.npz`` (through :mod:`.safe_npz`: headers checked, never unpickled).
Both are bounded by :mod:`.limits` before anything is allocated.

A FLAME file holds ``v_template`` [V, 3], ``shapedirs`` [V, 3, 300 + N] (300 identity components, then N
expression components), ``posedirs`` [V, 3, 9·(J-1)], ``J_regressor`` [J, V] (a scipy sparse matrix in the
pickles), ``weights`` [V, J], ``kintree_table`` [2, J] and ``f`` [F, 3]. FLAME 2020/2023: V = 5023,
F = 9976, N = 100, J = 5 (root, neck, jaw, left eye, right eye).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..common.errors import FormatError
from ..common.fileio import sha256_file
from .limits import MAX_ARRAY_BYTES, MAX_FILE_BYTES, bounded_asarray
from .safe_npz import read_npz
from .safe_pickle import load_pickle

SUFFIXES = (".pkl", ".npz")
N_SHAPE = 300
JOINT_NAMES: tuple[str, ...] = ("root", "neck", "jaw", "left_eye", "right_eye")
REQUIRED = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


@dataclass(frozen=True, eq=False)
class FlameModel:
    """A validated FLAME model (float64 arrays, read-only). Coordinates are FLAME's: metres, +Y up, the
    face toward +Z, the subject's left toward +X."""

    v_template: np.ndarray  # [V, 3]
    shapedirs: np.ndarray  # [V, 3, n_shape + n_expression]
    posedirs: np.ndarray  # [V, 3, 9 * (J - 1)]
    j_regressor: np.ndarray  # [J, V], dense
    weights: np.ndarray  # [V, J]
    parents: np.ndarray  # [J] int64, -1 for the root
    faces: np.ndarray  # [F, 3] int64
    n_shape: int
    name: str = "FLAME"
    sha256: str = ""

    @property
    def n_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def n_expression(self) -> int:
        return int(self.shapedirs.shape[2]) - self.n_shape

    @property
    def n_joints(self) -> int:
        return int(self.parents.shape[0])

    @property
    def exprdirs(self) -> np.ndarray:
        """The expression basis ``[V, 3, N]`` (a view)."""
        return self.shapedirs[:, :, self.n_shape :]

    @functools.cached_property
    def joint_exprdirs(self) -> np.ndarray:
        """How the regressed joints move per expression coefficient ``[J, 3, N]``."""
        return np.einsum("jv,vck->jck", self.j_regressor, self.exprdirs)

    def rest_joints(self, vertices: np.ndarray | None = None) -> np.ndarray:
        """Joint positions ``[J, 3]`` regressed from ``vertices`` (default: the template)."""
        return self.j_regressor @ (self.v_template if vertices is None else vertices)


def load_flame(path: str | os.PathLike[str]) -> FlameModel:
    """Read a FLAME ``.pkl`` or ``.npz``; every problem is a one-line :class:`FormatError`."""
    src = Path(path).expanduser()
    if not src.is_file():
        raise FormatError(f"FLAME model {src} does not exist")
    suffix = src.suffix.lower()
    if suffix not in SUFFIXES:
        raise FormatError(f"FLAME model {src.name} must be a .pkl or .npz file")
    return _cached_load(str(src.resolve()), src.stat().st_mtime_ns, src.stat().st_size)


@functools.lru_cache(maxsize=2)  # the add-on and the CLI may ask for the same file several times
def _cached_load(path: str, mtime_ns: int, size: int) -> FlameModel:
    src = Path(path)
    raw = _read_npz(src) if src.suffix.lower() == ".npz" else _read_pickle(src)
    model = validate_arrays(raw, src.name)
    return dataclasses.replace(model, name=src.stem, sha256=sha256_file(src))


def _read_pickle(src: Path) -> dict[str, Any]:
    data = load_pickle(src, max_bytes=MAX_FILE_BYTES, what="FLAME model file")
    if not isinstance(data, dict):
        raise FormatError(f"{src.name} is not a FLAME model (it holds a {type(data).__name__}, not a dict)")
    return data


def _read_npz(src: Path) -> dict[str, Any]:
    return dict(read_npz(src, max_bytes=MAX_FILE_BYTES, what="FLAME model file"))


def _array(data: dict[str, Any], key: str, source: str, ndim: int, kind: str = "f") -> np.ndarray:
    try:
        arr = bounded_asarray(data[key], source)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise FormatError(f"{source}: {key!r} is not an array ({type(exc).__name__})") from exc
    if arr.dtype == object or arr.dtype.kind not in ("f", "i", "u", "b"):
        raise FormatError(f"{source}: {key!r} is not numeric (dtype {arr.dtype.str[:40]})")
    if arr.ndim != ndim:
        raise FormatError(f"{source}: {key!r} has shape {arr.shape}, expected {ndim} dimensions")
    if kind == "f":
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all():
            raise FormatError(f"{source}: {key!r} contains NaN or infinity")
    elif arr.dtype.kind == "f" and not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
        raise FormatError(f"{source}: {key!r} must hold whole numbers (indices)")
    return arr


def validate_arrays(data: dict[str, Any], source: str = "FLAME model") -> FlameModel:
    """Check keys, shapes and values of raw FLAME arrays and build a :class:`FlameModel`."""
    with np.errstate(all="ignore"):  # bad values are refused explicitly, without numpy's warnings first
        return _validated(data, source)


def _validated(data: dict[str, Any], source: str) -> FlameModel:
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise FormatError(f"{source} is not a FLAME model: missing {', '.join(repr(k) for k in missing)}")
    v_template = _array(data, "v_template", source, 2)
    n_vert = v_template.shape[0]
    if v_template.shape[1] != 3 or n_vert < 4:
        raise FormatError(f"{source}: 'v_template' has shape {v_template.shape}, expected [V, 3]")

    shapedirs = _array(data, "shapedirs", source, 3)
    n_shape = _n_shape(data.get("n_shape", N_SHAPE), source)  # converted files may state it
    if shapedirs.shape[:2] != (n_vert, 3) or shapedirs.shape[2] <= n_shape:
        raise FormatError(f"{source}: 'shapedirs' has shape {shapedirs.shape}, expected [{n_vert}, 3, "
                          f"{n_shape} shape + N expression components]")

    kintree = _array(data, "kintree_table", source, 2, kind="i")
    if kintree.shape[0] != 2 or kintree.shape[1] != len(JOINT_NAMES):
        raise FormatError(f"{source}: 'kintree_table' has shape {kintree.shape}, expected [2, 5] (FLAME's "
                          "root, neck, jaw and eye joints)")
    n_joints = kintree.shape[1]
    parents = _parents(kintree, source)

    j_regressor = _array(data, "J_regressor", source, 2)
    if j_regressor.shape != (n_joints, n_vert):
        raise FormatError(f"{source}: 'J_regressor' has shape {j_regressor.shape}, expected [{n_joints}, {n_vert}]")
    weights = _array(data, "weights", source, 2)
    if weights.shape != (n_vert, n_joints):
        raise FormatError(f"{source}: 'weights' has shape {weights.shape}, expected [{n_vert}, {n_joints}]")
    if np.abs(weights.sum(axis=1) - 1.0).max() > 1e-3 or weights.min() < -1e-6:
        raise FormatError(f"{source}: 'weights' rows must be non-negative and sum to 1")
    posedirs = _array(data, "posedirs", source, 3)
    n_pose = 9 * (n_joints - 1)
    if posedirs.shape != (n_vert, 3, n_pose):
        raise FormatError(f"{source}: 'posedirs' has shape {posedirs.shape}, expected [{n_vert}, 3, {n_pose}]")
    faces = _array(data, "f", source, 2, kind="i").astype(np.int64)
    if faces.shape[1] != 3 or len(faces) == 0:
        raise FormatError(f"{source}: 'f' has shape {faces.shape}, expected [F, 3] triangles")
    if faces.min() < 0 or faces.max() >= n_vert:
        raise FormatError(f"{source}: 'f' refers to vertices outside 0..{n_vert - 1}")

    arrays = (v_template, shapedirs, posedirs, j_regressor, weights, parents, faces)
    for arr in arrays:
        arr.setflags(write=False)
    return FlameModel(v_template, shapedirs, posedirs, j_regressor, weights, parents, faces, n_shape)


def _n_shape(value: object, source: str) -> int:
    """How many of ``shapedirs``' components are identity: one non-negative integer."""
    try:
        arr = bounded_asarray(value, source)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise FormatError(f"{source}: 'n_shape' is not a number") from exc
    if arr.dtype.kind not in ("i", "u") or arr.size != 1 or not 0 <= int(arr.reshape(-1)[0]) <= MAX_ARRAY_BYTES:
        raise FormatError(f"{source}: 'n_shape' must be a non-negative integer (the identity components)")
    return int(arr.reshape(-1)[0])


def _parents(kintree: np.ndarray, source: str) -> np.ndarray:
    """Parent index per joint from ``kintree_table``; the root's entry is -1 or 2**32 - 1 in the files."""
    n = kintree.shape[1]
    if not np.array_equal(kintree[1], np.arange(n)):
        raise FormatError(f"{source}: 'kintree_table' must list joints 0..{n - 1} in its second row")
    parents = kintree[0].astype(np.int64)
    if not (parents[0] < 0 or parents[0] >= n):
        raise FormatError(f"{source}: the first joint of 'kintree_table' must be the root")
    parents[0] = -1
    if any(not 0 <= parents[j] < j for j in range(1, n)):
        raise FormatError(f"{source}: 'kintree_table' parents must come before their children")
    return parents
