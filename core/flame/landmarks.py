"""FLAME landmark embeddings (face index + barycentric weights per landmark) and how the built-in head's
named landmarks correspond to the 68-point iBUG scheme those embeddings follow.

Accepted files:

- DECA/EMOCA ``landmark_embedding.npy``: a pickled dict inside an ``.npy``. It is read with the restricted
  unpickler (its torch-tensor entries, the dynamic contour, become inert placeholders and are not used).
  ``full_lmk_faces_idx``/``full_lmk_bary_coords`` (68 points) are preferred, else the ``static_*`` 51.
- FLAME's ``flame_static_embedding.pkl``: ``lmk_face_idx``/``lmk_b_coords`` (51 points: iBUG 17..67).
- A plain ``.npz`` or ``.json`` with ``lmk_face_idx`` [L] and ``lmk_b_coords`` [L, 3], L = 68 or 51 — the
  pickle-free way to pass either of the above (see docs/flame.md for the one-line conversion).

Every form is bounded before it is read (:data:`~.limits.MAX_LANDMARK_FILE_BYTES`; ``.npy``/``.npz``
headers through :mod:`.safe_npz`, pickles through the restricted unpickler).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..common.errors import FormatError
from ..common.fileio import sha256_file
from .limits import MAX_LANDMARK_FILE_BYTES, MIB, Budget, bounded_asarray, check_file_size
from .safe_npz import read_npy, read_npz
from .safe_pickle import TORCH_PLACEHOLDERS, load_pickle

SUFFIXES = (".npy", ".npz", ".pkl", ".json")
_WHAT = "landmark file"
_BUILD_LIMIT = 64 * MIB  # what reading one landmark file may build (real ones hold kilobytes)

# Built-in head landmark → the iBUG-68 points (0-based) whose mean is the same anatomical spot. iBUG
# numbers the subject's right side first: 36-41 is the right eye, 48 the right mouth corner.
IBUG68: dict[str, tuple[int, ...]] = {
    "menton": (8,),
    "brow_outer_R": (17,), "brow_inner_R": (21,), "brow_inner_L": (22,), "brow_outer_L": (26,),
    "nose_bridge": (27,), "nose_tip": (30,), "subnasale": (33,),
    "eye_outer_corner_R": (36,), "upper_lid_mid_R": (37, 38), "eye_inner_corner_R": (39,),
    "lower_lid_mid_R": (40, 41),
    "eye_inner_corner_L": (42,), "upper_lid_mid_L": (43, 44), "eye_outer_corner_L": (45,),
    "lower_lid_mid_L": (46, 47),
    "mouth_corner_R": (48,), "lip_upper_mid": (51,), "mouth_corner_L": (54,), "lip_lower_mid": (57,),
    "lip_upper_inner_mid": (62,), "lip_lower_inner_mid": (66,),
}  # fmt: skip


@dataclass(frozen=True)
class LandmarkEmbedding:
    """68 iBUG landmarks on a FLAME mesh; ``known[i]`` is False for points the file does not have (the
    jaw contour, 0-16, when only the 51 static points are given)."""

    faces: np.ndarray  # [68] int64
    bary: np.ndarray  # [68, 3] float64
    known: np.ndarray  # [68] bool
    name: str = ""
    sha256: str = ""

    def points(self, vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        """Landmark positions ``[68, 3]`` on a mesh (rows of unknown points are NaN)."""
        corners = vertices[triangles[np.where(self.known, self.faces, 0)]]  # [68, 3, 3]
        out = np.einsum("lk,lkc->lc", self.bary, corners)
        out[~self.known] = np.nan
        return out


def load_embedding(path: str | Path, n_faces: int | None = None) -> LandmarkEmbedding:
    src = Path(path).expanduser()
    if not src.is_file():
        raise FormatError(f"landmark file {src} does not exist")
    suffix = src.suffix.lower()
    if suffix not in SUFFIXES:
        raise FormatError(f"landmark file {src.name} must be one of {', '.join(SUFFIXES)}")
    if suffix == ".json":
        check_file_size(src, MAX_LANDMARK_FILE_BYTES, _WHAT)
        try:
            data = json.loads(src.read_text(encoding="utf-8"))
        except (ValueError, OSError, RecursionError) as exc:  # RecursionError: [[[[... nested thousands deep
            raise FormatError(f"{src.name} is not readable JSON ({type(exc).__name__})") from exc
    elif suffix == ".npz":
        data = read_npz(src, max_bytes=MAX_LANDMARK_FILE_BYTES, what=_WHAT, budget=Budget(src.name, _BUILD_LIMIT))
    elif suffix == ".pkl":
        data = load_pickle(src, TORCH_PLACEHOLDERS, max_bytes=MAX_LANDMARK_FILE_BYTES, what=_WHAT,
                           budget=Budget(src.name, _BUILD_LIMIT))
    else:
        data = _read_npy(src)
    if not isinstance(data, dict):
        raise FormatError(f"{src.name} is not a landmark embedding (expected a dict of arrays)")
    with np.errstate(all="ignore"):  # bad values are refused explicitly, without numpy's warnings first
        faces, bary = _pick(data, src.name)
        emb = _to_68(faces, bary, src.name, n_faces)
    return LandmarkEmbedding(emb.faces, emb.bary, emb.known, src.name, sha256_file(src))


def _read_npy(src: Path) -> Any:
    """An ``.npy``: plain arrays directly; a pickled object (DECA's dict) through the restricted unpickler."""
    budget = Budget(src.name, _BUILD_LIMIT)

    def unpickle(payload: bytes) -> Any:
        return load_pickle(src, TORCH_PLACEHOLDERS, data=payload, budget=budget)

    holder = read_npy(src, max_bytes=MAX_LANDMARK_FILE_BYTES, what=_WHAT, budget=budget, pickled=unpickle)
    if isinstance(holder, np.ndarray) and holder.dtype == object and holder.size == 1:
        return holder.reshape(()).item()
    return holder


def _pick(data: dict[str, Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    for faces_key, bary_key in (("full_lmk_faces_idx", "full_lmk_bary_coords"),
                                ("static_lmk_faces_idx", "static_lmk_bary_coords"),
                                ("lmk_face_idx", "lmk_b_coords")):
        if faces_key in data and bary_key in data:
            if "landmark_indices" in data:
                raise FormatError(f"{name} is a MediaPipe embedding; an iBUG-68 (or 51) embedding is needed")
            try:
                faces = bounded_asarray(data[faces_key], name)
                bary = bounded_asarray(data[bary_key], name)
                whole = faces.dtype.kind in "iu" or (faces.dtype.kind == "f" and bool(np.isfinite(faces).all())
                                                     and bool((faces == np.round(faces)).all()))
                if not whole or bary.dtype.kind not in "iuf":  # complex, text, objects
                    raise TypeError(f"dtypes {faces.dtype.str}/{bary.dtype.str}")
                return faces.astype(np.int64).reshape(-1), bary.astype(np.float64).reshape(-1, 3)
            except (TypeError, ValueError, OverflowError, RecursionError) as exc:
                raise FormatError(f"{name}: {faces_key!r}/{bary_key!r} are not numeric arrays") from exc
    raise FormatError(f"{name} has no landmark embedding (lmk_face_idx + lmk_b_coords, or DECA's "
                      "full_/static_lmk_* arrays)")


def _to_68(faces: np.ndarray, bary: np.ndarray, name: str, n_faces: int | None) -> LandmarkEmbedding:
    if len(faces) != len(bary) or len(faces) not in (51, 68):
        raise FormatError(f"{name} has {len(faces)} landmarks with {len(bary)} weights; expected 68 or 51 "
                          "(the iBUG scheme)")
    if not np.isfinite(bary).all() or np.abs(bary.sum(axis=1) - 1.0).max() > 1e-3:
        raise FormatError(f"{name}: barycentric weights must be finite and sum to 1")
    if faces.min() < 0 or (n_faces is not None and faces.max() >= n_faces):
        raise FormatError(f"{name} refers to triangles the FLAME model does not have: is it for another model?")
    out_f = np.zeros(68, dtype=np.int64)
    out_b = np.zeros((68, 3), dtype=np.float64)
    known = np.zeros(68, dtype=bool)
    start = 68 - len(faces)  # the 51 static points are iBUG 17..67
    out_f[start:], out_b[start:], known[start:] = faces, bary, True
    return LandmarkEmbedding(out_f, out_b, known, name)


def check_against(emb: LandmarkEmbedding, n_faces: int) -> None:
    if emb.faces[emb.known].max(initial=0) >= n_faces:
        raise FormatError(f"{emb.name} refers to triangles the FLAME model does not have: is it for another model?")
