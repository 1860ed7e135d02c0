"""A small synthetic FLAME-format model for the tests (the real FLAME files are licence-gated).

It has FLAME's key structure and dtypes (float64 arrays, ``shapedirs`` [V, 3, 300 + N], ``posedirs``
[V, 3, 36], a 5-joint ``kintree_table`` with the root's parent 2**32 - 1, ``f`` uint32, a sparse
``J_regressor`` in the pickle) on a few hundred vertices. The mesh is the built-in head's skin, lids and
eyeballs decimated by vertex clustering (each template vertex *is* a built-in vertex) and moved into
FLAME's frame (Y up, face +Z) by a known similarity. Its expression basis is planted: every ARKit shape
of the built-in head, carried over with that similarity, equals the FLAME displacement of a known
(expression, jaw rotation) pair — the mapping the retargeting solver must recover. Joints are regressed
from vertices no ARKit shape moves (ears, neck), so they do not follow expressions.

Writers produce the file variants users have: ``.npz``, a Python-2-style chumpy ``.pkl`` (written without
chumpy or scipy: stand-in classes are pickled under chumpy's and scipy's names, byte strings as Python 2
``str``), landmark embeddings in DECA's ``.npy`` dict form, FLAME's static-embedding ``.pkl``, ``.npz``
and ``.json`` — and a malicious pickle.
"""

from __future__ import annotations

import copyreg
import functools
import json
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avi_talking.core.arkit import ARKIT52
from avi_talking.core.flame.landmarks import IBUG68
from avi_talking.core.flame.model import FLAME_TO_BLENDER
from avi_talking.core.flame.rotations import rodrigues
from avi_talking.core.rigs.builtin_head import build_head

N_EXPRESSION = 60
VOXEL = 0.016
SCALE = 1.07
OFFSET = np.array([0.004, -0.012, 0.021])
ROOT_PARENT = 4294967295  # how the FLAME pickles mark the root (uint32 -1)
# The jaw pose planted for the jaw shapes (axis-angle, radians, FLAME frame); every other shape is expression.
PLANTED_JAW = {"jawOpen": (0.2, 0.0, 0.0), "jawLeft": (0.0, 0.06, 0.0), "jawRight": (0.0, -0.06, 0.0),
               "jawForward": (-0.03, 0.0, 0.0)}


def _rotation() -> np.ndarray:
    """A small tilt, so nothing relies on the two heads sharing axes."""
    return rodrigues(np.array([-0.04, 0.07, 0.02]))


@dataclass(frozen=True)
class SyntheticFlame:
    arrays: dict[str, np.ndarray]  # the FLAME keys, as in the real files
    source: np.ndarray  # [V] built-in vertex index of each template vertex
    planted: np.ndarray  # [52, N + 3] expression + jaw rotation per ARKit shape
    identifiable: np.ndarray  # [52] bool: shapes that move the face outside the eyeballs
    embedding: dict[str, np.ndarray]  # lmk_face_idx [68], lmk_b_coords [68, 3]

    @property
    def n_vertices(self) -> int:
        return int(self.arrays["v_template"].shape[0])


def to_flame_frame(points_blender: np.ndarray) -> np.ndarray:
    """The known similarity from the built-in head's frame (Blender) into the synthetic FLAME frame."""
    flame_axes = np.asarray(points_blender, dtype=np.float64) @ FLAME_TO_BLENDER  # inverse axis change
    return SCALE * flame_axes @ _rotation().T + OFFSET


def _labels(head: Any) -> np.ndarray:
    """Part label per built-in vertex: -1 excluded, 0 skin, 1 jaw skin, 2/3 eyeball L/R, 4..7 lids."""
    label = np.full(head.n_vertices, -1, dtype=np.int64)
    g = head.groups
    label[g["skin"]] = 0
    label[np.intersect1d(g["skin"], g["jaw"])] = 1
    label[g["eyeball_L"]], label[g["eyeball_R"]] = 2, 3
    for i, name in enumerate(("eyelid_upper_L", "eyelid_lower_L", "eyelid_upper_R", "eyelid_lower_R")):
        label[g[name]] = 4 + i
    return label


def _cluster(head: Any, label: np.ndarray, forced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertex clustering: cluster id per built-in vertex (-1 excluded) and one representative per cluster."""
    pos = head.vertices.astype(np.float64)
    keep = np.flatnonzero(label >= 0)
    cells = np.floor(pos[keep] / VOXEL).astype(np.int64)
    keys = np.concatenate([cells, label[keep, None]], axis=1)
    _, cid = np.unique(keys, axis=0, return_inverse=True)
    cid = cid.ravel()
    # a cluster holding several landmarks is split so that each landmark stays a vertex of its own
    next_id = int(cid.max()) + 1
    forced_set = np.intersect1d(forced, keep)
    pos_in_keep = {v: i for i, v in enumerate(keep)}
    for c in np.unique(cid[[pos_in_keep[v] for v in forced_set]]):
        members = np.flatnonzero(cid == c)
        marks = [m for m in members if keep[m] in forced_set]
        if len(marks) < 2:
            continue
        d = np.linalg.norm(pos[keep[members]][:, None] - pos[keep[marks]][None], axis=2)
        nearest = np.argmin(d, axis=1)
        for n in range(1, len(marks)):
            cid[members[nearest == n]] = next_id
            next_id += 1
    _, cid = np.unique(cid, return_inverse=True)
    cluster = np.full(head.n_vertices, -1, dtype=np.int64)
    cluster[keep] = cid
    reps = np.empty(cid.max() + 1, dtype=np.int64)
    for c in range(len(reps)):
        members = keep[cid == c]
        marks = np.intersect1d(members, forced_set)
        if len(marks):
            reps[c] = marks[0]
        else:
            centre = pos[members].mean(axis=0)
            reps[c] = members[np.argmin(np.linalg.norm(pos[members] - centre, axis=1))]
    return cluster, reps


def _faces(head: Any, cluster: np.ndarray) -> np.ndarray:
    seen: set[tuple[int, ...]] = set()
    out: list[tuple[int, int, int]] = []
    for poly in head.polygons():
        for i in range(1, len(poly) - 1):
            tri = cluster[[poly[0], poly[i], poly[i + 1]]]
            if (tri < 0).any() or len(set(tri.tolist())) < 3:
                continue
            key = tuple(sorted(tri.tolist()))
            if key not in seen:
                seen.add(key)
                out.append((int(tri[0]), int(tri[1]), int(tri[2])))
    return np.array(out, dtype=np.uint32)


def _smooth_fields(pos: np.ndarray, n: int, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """``[V, 3, n]`` smooth random displacement fields (random Fourier features of the position)."""
    centred = (pos - pos.mean(axis=0)) / np.ptp(pos, axis=0).max()
    out = np.empty((len(pos), 3, n))
    for k in range(n):
        freq = rng.normal(0.0, 3.0, size=(4, 3))
        phase = rng.uniform(0, 2 * np.pi, size=4)
        amp = rng.normal(0.0, 1.0, size=(4, 3))
        out[:, :, k] = np.sin(centred @ freq.T + phase) @ amp
    return amplitude * out / np.abs(out).max(axis=(0, 1), keepdims=True)


def _lbs(rest: np.ndarray, rot: np.ndarray, joints: np.ndarray, parents: np.ndarray, weights: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex blended skinning transform (A [V, 3, 3], t [V, 3]) for one pose (rotation vectors [J, 3]).
    Written independently of core.flame.model so that the fixture also checks it."""
    mats = rodrigues(rot)
    g_rot, g_pos = [np.eye(3)] * len(parents), [np.zeros(3)] * len(parents)
    for j, p in enumerate(parents):
        if p < 0:
            g_rot[j], g_pos[j] = mats[j], joints[j]
        else:
            g_rot[j] = g_rot[p] @ mats[j]
            g_pos[j] = g_pos[p] + g_rot[p] @ (joints[j] - joints[p])
    rot_w = np.stack(g_rot)
    trans = np.stack(g_pos) - np.einsum("jab,jb->ja", rot_w, joints)
    return np.einsum("vj,jab->vab", weights, rot_w), weights @ trans


@functools.cache
def synthetic_flame(n_expression: int = N_EXPRESSION, seed: int = 7) -> SyntheticFlame:
    head = build_head()
    rng = np.random.default_rng(seed)
    label_all = _labels(head)
    landmark_vertices = np.array([head.landmarks[name] for name in IBUG68], dtype=np.int64)
    cluster, reps = _cluster(head, label_all, landmark_vertices)
    faces = _faces(head, cluster)
    src_pos = head.vertices[reps].astype(np.float64)
    label = label_all[reps]
    v_template = to_flame_frame(src_pos)
    n_vert = len(reps)

    # joints, regressed from vertices that no ARKit shape moves
    still = np.abs(head.key_matrix[:, reps]).max(axis=(0, 2)) < 1e-9
    skin = label == 0
    z = src_pos[:, 2]
    sets = {
        0: still & skin & (z < -0.17),  # root: the base of the neck
        1: still & skin & (z < -0.12) & (z > -0.16),  # neck: a ring around the neck
        2: still & np.isin(reps, np.concatenate([head.groups["ear_L"], head.groups["ear_R"]])),  # jaw hinge
        3: label == 2,  # left eye (+X, the subject's left)
        4: label == 3,
    }
    j_regressor = np.zeros((5, n_vert))
    for j, members in sets.items():
        assert members.sum() >= 3, f"joint {j} has too few vertices"
        j_regressor[j, members] = 1.0 / members.sum()
    for j, side in ((3, "L"), (4, "R")):  # eye joints at the centre of the built-in eyeball, exactly
        members = np.flatnonzero(sets[j])
        centre = to_flame_frame(head.vertices[head.groups[f"eyeball_{side}"]].astype(np.float64).mean(axis=0))
        system = np.concatenate([v_template[members].T, np.ones((1, len(members)))])
        j_regressor[j] = 0.0
        j_regressor[j, members] = np.linalg.lstsq(system, np.append(centre, 1.0), rcond=None)[0]
    parents = np.array([-1, 0, 1, 1, 1])
    joints = j_regressor @ v_template

    weights = np.zeros((n_vert, 5))
    root_w = np.clip((-0.155 - z) / 0.03, 0.0, 1.0) * (label <= 1)
    weights[:, 0] = root_w
    weights[:, 1] = 1.0 - root_w
    jaw = label == 1
    weights[jaw, 2], weights[jaw, 1] = 0.9, 0.1 - root_w[jaw] * 0.1
    weights[jaw, 0] = root_w[jaw] * 0.1
    chin = jaw & (z < -0.1) & (root_w == 0)  # the chin follows the jaw alone
    weights[chin] = [0, 0, 1, 0, 0]
    weights[label == 2] = [0, 0, 0, 1, 0]
    weights[label == 3] = [0, 0, 0, 0, 1]

    posedirs = np.zeros((n_vert, 3, 36))
    posedirs[:, :, :18] = _smooth_fields(v_template, 18, 0.004, rng)  # neck and jaw correctives; eyes none
    posedirs[j_regressor.any(axis=0)] = 0.0  # keeps the joints independent of expressions
    shape_dirs = _smooth_fields(v_template, 300, 0.01, rng) / np.sqrt(1 + np.arange(300) / 10.0)

    # ARKit shapes carried into the FLAME frame (rotation and scale of the similarity)
    rot = SCALE * _rotation() @ FLAME_TO_BLENDER.T
    d = np.einsum("ab,kvb->kva", rot, head.key_matrix[:, reps].astype(np.float64))  # [52, V, 3]
    eyeball = label >= 2
    eyeball &= label <= 3
    identifiable = np.abs(d[:, ~eyeball]).max(axis=(1, 2)) > 1e-7
    planted = np.zeros((52, n_expression + 3))
    coeffs = rng.normal(0.0, 0.8, size=(52, n_expression))
    coeffs[~identifiable] = 0.0
    planted[:, :n_expression] = coeffs
    targets = np.zeros((52, n_vert, 3))  # what E · e_k must equal for each shape
    for k, name in enumerate(ARKIT52):
        theta = np.zeros((5, 3))
        if name in PLANTED_JAW:
            theta[2] = PLANTED_JAW[name]
            planted[k, n_expression:] = PLANTED_JAW[name]
        feature = (rodrigues(theta)[1:] - np.eye(3)).reshape(-1)
        a, t = _lbs(v_template, theta, joints, parents, weights)
        # FLAME: v = A (v0 + E e + posedirs·f) + t must equal v0 + d  =>  E e = A^-1 (v0 + d - t) - v0 - posedirs·f
        wanted = np.linalg.solve(a, (v_template + d[k] - t)[..., None])[..., 0]
        targets[k] = wanted - v_template - posedirs @ feature
    targets[:, eyeball] = 0.0  # FLAME's eyes turn with joints, not expressions
    ident = np.flatnonzero(identifiable)
    g = targets[ident].reshape(len(ident), -1).T  # [3V, P]
    # Shapes whose fields are linearly dependent on the built-in head (mouthLeft = -mouthRight) must
    # have coefficients with the same dependency, or no solver could tell the plant from its twin.
    u, sv, _ = np.linalg.svd(g[np.repeat(~eyeball, 3)].T @ g[np.repeat(~eyeball, 3)])
    null = u[:, sv < 1e-12 * sv[0]]
    coeffs[ident] -= null @ (null.T @ coeffs[ident])
    planted[:, :n_expression] = coeffs
    c = coeffs[ident]  # [P, N]
    exprdirs = (g @ np.linalg.pinv(c.T)).reshape(n_vert, 3, n_expression)  # E · c_k = g_k for every shape
    shapedirs = np.concatenate([shape_dirs, exprdirs], axis=2)

    faces_of_vertex = {}
    for fi, tri in enumerate(faces):
        for v in tri:
            faces_of_vertex.setdefault(int(v), (fi, int(np.flatnonzero(tri == v)[0])))
    lmk_faces = np.zeros(68, dtype=np.int64)
    lmk_bary = np.full((68, 3), 1.0 / 3.0)
    for name, ibug in IBUG68.items():
        vert = int(np.flatnonzero(reps == head.landmarks[name])[0])
        fi, corner = faces_of_vertex[vert]
        for i in ibug:
            lmk_faces[i] = fi
            lmk_bary[i] = np.eye(3)[corner]

    arrays = {
        "v_template": v_template,
        "shapedirs": shapedirs,
        "posedirs": posedirs,
        "J_regressor": j_regressor,
        "weights": weights,
        "kintree_table": np.array([[ROOT_PARENT, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
        "f": faces,
        "J": joints,
    }
    return SyntheticFlame(arrays, reps, planted, identifiable,
                          {"lmk_face_idx": lmk_faces, "lmk_b_coords": lmk_bary})


# ---- writers --------------------------------------------------------------------------------------------


def write_npz(path: Path, synth: SyntheticFlame | None = None) -> Path:
    synth = synth or synthetic_flame()
    np.savez(path, **synth.arrays)
    return path


class _ChumpyCh:
    """Pickles as ``chumpy.ch.Ch`` with the state chumpy writes (its __dict__ without caches)."""

    pickle_as = ("chumpy.ch", "Ch")

    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def __reduce_ex__(self, protocol: Any) -> Any:
        state = {"_dirty_vars": set(), "_itr": None, "_make_dense": False, "_make_sparse": False,
                 "_depends_on_deps": {}, "x": self.x}
        return copyreg.__newobj__, (type(self),), state


class _ChumpySelect:
    pickle_as = ("chumpy.reordering", "Select")

    def __init__(self, a: _ChumpyCh, idxs: np.ndarray, shape: tuple[int, ...]) -> None:
        self.a, self.idxs, self.shape = a, idxs, shape

    def __reduce_ex__(self, protocol: Any) -> Any:
        state = {"_dirty_vars": set(), "_itr": None, "_make_dense": False, "_make_sparse": False,
                 "_depends_on_deps": {}, "a": self.a, "idxs": self.idxs, "preferred_shape": self.shape}
        return copyreg.__newobj__, (type(self),), state


class _CscMatrix:
    """Pickles as scipy's ``csc_matrix`` (the old module path, as in the FLAME pickles)."""

    pickle_as = ("scipy.sparse.csc", "csc_matrix")

    def __init__(self, dense: np.ndarray) -> None:
        self.dense = dense

    def __reduce_ex__(self, protocol: Any) -> Any:
        rows, cols = self.dense.shape
        nz_cols, nz_rows = np.nonzero(self.dense.T)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(nz_cols, minlength=cols))]).astype(np.int32)
        state = {"_shape": (rows, cols), "maxprint": 50, "format": "csc", "_has_sorted_indices": True,
                 "data": self.dense[nz_rows, nz_cols], "indices": nz_rows.astype(np.int32), "indptr": indptr}
        return copyreg.__newobj__, (type(self),), state


class _Python2Pickler(pickle._Pickler):  # type: ignore[misc]  # the pure-Python pickler can be extended
    """Writes bytes and ASCII text as Python 2 ``str`` and the stand-ins under their third-party names."""

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def save_py2_str(self, obj: bytes | str) -> None:
        data = obj if isinstance(obj, bytes) else obj.encode("ascii")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    def save_text(self, obj: str) -> None:
        if obj.isascii():
            self.save_py2_str(obj)
        else:
            pickle._Pickler.save_str(self, obj)  # type: ignore[attr-defined]

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_text

    def save_global(self, obj: Any, name: str | None = None) -> None:
        spec = getattr(obj, "pickle_as", None)
        if isinstance(obj, type) and spec is not None:
            self.write(pickle.GLOBAL + f"{spec[0]}\n{spec[1]}\n".encode("ascii"))
            self.memoize(obj)
            return
        super().save_global(obj, name)


def python2_pickle(obj: Any) -> bytes:
    import io

    buf = io.BytesIO()
    _Python2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def write_pkl(path: Path, synth: SyntheticFlame | None = None) -> Path:
    """A chumpy-era FLAME pickle: Ch arrays, a Select, a sparse J_regressor, Python 2 strings."""
    synth = synth or synthetic_flame()
    a = synth.arrays
    posedirs = _ChumpyCh(a["posedirs"].ravel())
    data = {
        "f": a["f"],
        "J_regressor": _CscMatrix(a["J_regressor"]),
        "kintree_table": a["kintree_table"],
        "J": _ChumpyCh(a["J"]),
        "weights": _ChumpyCh(a["weights"]),
        "posedirs": _ChumpySelect(posedirs, np.arange(a["posedirs"].size), a["posedirs"].shape),
        "v_template": _ChumpyCh(a["v_template"]),
        "shapedirs": _ChumpyCh(a["shapedirs"]),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
    path.write_bytes(python2_pickle(data))
    return path


def write_landmarks(path: Path, synth: SyntheticFlame | None = None, with_torch: bool = False) -> Path:
    """The embedding in the form the suffix implies: DECA ``.npy`` dict, static ``.pkl``, ``.npz``, ``.json``."""
    emb = (synth or synthetic_flame()).embedding
    faces, bary = emb["lmk_face_idx"], emb["lmk_b_coords"]
    suffix = path.suffix
    if suffix == ".npy":
        dynamic_f, dynamic_b = np.zeros((79, 17), dtype=np.int64), np.full((79, 17, 3), 1 / 3)
        if with_torch:
            import torch

            dynamic_f, dynamic_b = torch.from_numpy(dynamic_f), torch.from_numpy(dynamic_b)
        deca = {"static_lmk_faces_idx": faces[17:], "static_lmk_bary_coords": bary[17:],
                "dynamic_lmk_faces_idx": dynamic_f, "dynamic_lmk_bary_coords": dynamic_b,
                "full_lmk_faces_idx": faces[None], "full_lmk_bary_coords": bary[None]}
        np.save(path, np.array(deca, dtype=object), allow_pickle=True)
    elif suffix == ".pkl":
        path.write_bytes(python2_pickle({"lmk_face_idx": faces[17:].astype(np.uint32),
                                         "lmk_b_coords": bary[17:]}))
    elif suffix == ".npz":
        np.savez(path, lmk_face_idx=faces, lmk_b_coords=bary)
    else:
        path.write_text(json.dumps({"lmk_face_idx": faces.tolist(), "lmk_b_coords": bary.tolist()}))
    return path


class _Evil:
    def __init__(self, func: Any, arg: str) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self) -> Any:
        return self.func, (self.arg,)


def write_malicious_pickle(path: Path, marker: Path, how: str = "os.system") -> Path:
    """A 'model' whose unpickling would create ``marker`` (through os.system, eval or exec)."""
    if how == "os.system":
        payload: Any = _Evil(os.system, f"touch {marker}")
    elif how == "eval":
        payload = _Evil(eval, f"open({str(marker)!r}, 'w').close()")
    else:
        payload = _Evil(exec, f"open({str(marker)!r}, 'w').close()")
    arrays = dict(synthetic_flame().arrays)
    arrays["v_template"] = payload
    path.write_bytes(pickle.dumps(arrays, protocol=2))
    return path


# ---- small models and forged pickles ----------------------------------------------------------------------


@functools.cache
def small_flame(n_faces: int = 12, n_expression: int = 4) -> SyntheticFlame:
    """The synthetic model cut down to its first ``n_faces`` triangles (a few dozen vertices, 300 + N
    components): the same keys, dtypes and pickle structure, small enough to mutate thousands of times."""
    full = synthetic_flame()
    a = full.arrays
    faces = a["f"][:n_faces].astype(np.int64)
    used, remapped = np.unique(faces, return_inverse=True)
    j_regressor = a["J_regressor"][:, used]
    v_template = a["v_template"][used]
    arrays = {
        "v_template": v_template,
        "shapedirs": a["shapedirs"][used][:, :, :300 + n_expression],
        "posedirs": a["posedirs"][used],
        "J_regressor": j_regressor,
        "weights": a["weights"][used],
        "kintree_table": a["kintree_table"],
        "f": remapped.reshape(-1, 3).astype(np.uint32),
        "J": j_regressor @ v_template,
    }
    embedding = {"lmk_face_idx": np.arange(68, dtype=np.int64) % n_faces,
                 "lmk_b_coords": np.tile([0.2, 0.3, 0.5], (68, 1))}
    return SyntheticFlame(arrays, full.source[used], full.planted[:, :n_expression + 3],
                          full.identifiable, embedding)


def named(module: str, name: str) -> type:
    """A class that pickles as the global ``module.name`` (through :func:`python2_pickle`; nothing of the
    module is imported): how the tests spell any callable a hostile pickle could name."""
    return type(name, (), {"pickle_as": (module, name)})


class Reduce:
    """Pickles as ``func(*args)`` (REDUCE), then BUILD with ``state`` when one is given."""

    def __init__(self, func: type, args: tuple[Any, ...], state: Any = None) -> None:
        self.func, self.args, self.state = func, args, state

    def __reduce__(self) -> Any:
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


NP_DTYPE = named("numpy", "dtype")
NP_NDARRAY = named("numpy", "ndarray")
NP_RECONSTRUCT = named("numpy.core.multiarray", "_reconstruct")
NP_SCALAR = named("numpy.core.multiarray", "scalar")
NP_FROMBUFFER = named("numpy.core.numeric", "_frombuffer")


def dtype_pickle(code: str, order: str = "<", names: Any = None, fields: Any = None, elsize: int = -1,
                 alignment: int = -1, flags: int | None = None, subarray: Any = None) -> Reduce:
    """``numpy.dtype(code)`` with the state tuple numpy writes, each part replaceable (to forge it)."""
    if flags is None:
        flags = 63 if code.startswith("O") else 0
    return Reduce(NP_DTYPE, (code, False, True), (3, order, subarray, names, fields, elsize, alignment, flags))


def array_pickle(dtype: Any, shape: tuple[int, ...], data: Any, fortran: bool = False) -> Reduce:
    """An ndarray as numpy pickles it: ``_reconstruct(ndarray, (0,), b'b')`` + (1, shape, dtype, fortran, data)."""
    return Reduce(NP_RECONSTRUCT, (NP_NDARRAY, (0,), b"b"), (1, shape, dtype, fortran, data))


def _object_field_dtype(flags: int = 0) -> Reduce:
    """The forged dtype of the issue: a float64 code whose state gives it an object field and flags 0
    ("holds no objects"), so numpy would read the array's bytes as object pointers."""
    return dtype_pickle("f8", "|", names=("a",), fields={"a": (dtype_pickle("O8", "|"), 0)}, elsize=8,
                        alignment=8, flags=flags)


FORGED = ("object-field", "object-flags-0", "object-from-bytes", "structured-void", "subarray", "void-scalar",
          "object-scalar", "frombuffer-object", "ndarray-call", "huge-shape")


def forged_value(kind: str) -> Any:
    """A pickled value that crashes (or exhausts memory in) a loader that trusts numpy's pickle
    reconstructors; every one must be refused before numpy materialises anything."""
    pointers = b"\x41" * 16  # what numpy would dereference as two object pointers
    if kind == "object-field":
        return array_pickle(_object_field_dtype(), (2,), pointers)
    if kind == "object-flags-0":  # an object dtype claiming flags 0 ("no objects"), its data raw bytes
        return array_pickle(dtype_pickle("O8", "|", flags=0), (2,), pointers)
    if kind == "object-from-bytes":  # an honest object dtype, its data raw bytes instead of a list
        return array_pickle(dtype_pickle("O8", "|"), (2,), pointers)
    if kind == "structured-void":
        fields = {"a": (dtype_pickle("i8"), 0), "b": (dtype_pickle("O8", "|"), 8)}
        return array_pickle(dtype_pickle("V16", "|", names=("a", "b"), fields=fields, elsize=16, alignment=8),
                            (1,), pointers)
    if kind == "subarray":
        return array_pickle(dtype_pickle("f8", subarray=(dtype_pickle("O8", "|"), (2,)), elsize=16), (1,), pointers)
    if kind == "void-scalar":
        fields = {"a": (dtype_pickle("O8", "|"), 0)}
        return Reduce(NP_SCALAR, (dtype_pickle("V8", "|", names=("a",), fields=fields, elsize=8, alignment=8),
                                  pointers[:8]))
    if kind == "object-scalar":  # numpy's scalar() would read the bytes as a pointer
        return Reduce(NP_SCALAR, (dtype_pickle("O8", "|"), pointers[:8]))
    if kind == "frombuffer-object":
        return Reduce(NP_FROMBUFFER, (pointers, _object_field_dtype(), (2,), "C"))
    if kind == "ndarray-call":  # numpy.ndarray((133e6, 3)) would reserve 3.2 GB
        return Reduce(NP_NDARRAY, ((133_333_334, 3),))
    if kind == "huge-shape":  # a 3.2 GB float64 array claimed with no data behind it
        return array_pickle(dtype_pickle("f8"), (133_333_334, 3), b"")
    raise ValueError(kind)


def write_forged_flame(path: Path, kind: str, key: str = "v_template") -> Path:
    """The small FLAME model as a Python-2 pickle with ``key`` replaced by :func:`forged_value`."""
    data: dict[str, Any] = dict(small_flame().arrays)
    data[key] = forged_value(kind)
    path.write_bytes(python2_pickle(data))
    return path


def write_forged_landmarks(path: Path, kind: str) -> Path:
    """A landmark file whose barycentric weights are :func:`forged_value`: FLAME's static-embedding
    ``.pkl``, or DECA's ``.npy`` (an object-array header followed by the pickle)."""
    emb = small_flame().embedding
    data = {"lmk_face_idx": emb["lmk_face_idx"], "lmk_b_coords": forged_value(kind)}
    if path.suffix == ".pkl":
        path.write_bytes(python2_pickle(data))
        return path
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": ()})
    holder = array_pickle(dtype_pickle("O8", "|"), (), [data])  # np.save's 0-d object array holding the dict
    path.write_bytes(buf.getvalue() + python2_pickle(holder))
    return path


# ---- files that ask for too much ----------------------------------------------------------------------------


def npy_bytes(header: dict[str, Any], data: bytes = b"") -> bytes:
    """An ``.npy`` with any header numpy's writer accepts (the shape is not checked against the data)."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + data


def zip_directory_bomb(n_entries: int, stated_entries: int | None = None) -> bytes:
    """A zip that is nothing but a central directory of ``n_entries`` tiny records (46 bytes each): zipfile
    builds an object per record before anything else can be checked."""
    record = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)
    directory = (record + b"x") * n_entries
    stated = n_entries if stated_entries is None else stated_entries
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, min(stated, 0xFFFF), min(stated, 0xFFFF), len(directory), 0, 0)
    return directory + end


def colliding_int_pairs(n: int) -> list[tuple[int, int]]:
    """``n`` distinct (a, b) tuples with one and the same hash (CPython's tuple hash is not keyed): as
    dict keys they make building the dict quadratic."""
    mask = (1 << 64) - 1
    p1, p2, p5 = 11400714785074694791, 14029467366897019727, 2870177450012600261
    inverse = pow(p2, -1, 1 << 64)
    target, pairs, a = 0x5EED, [], 0
    while len(pairs) < n:
        a += 1
        lane = (p5 + (hash(a) & mask) * p2) & mask
        acc = ((((lane << 31) | (lane >> 33)) & mask) * p1) & mask
        b = ((target - acc) * inverse) & mask
        if b < (1 << 61) - 1:  # hash(b) == b for these
            pairs.append((a, b))
    assert len({hash(p) for p in pairs[:3]}) == 1
    return pairs


def write_bombs(folder: Path) -> dict[str, tuple[Path, str, str]]:
    """Small files that ask a loader for gigabytes or minutes: name → (path, reader, expected message)."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[Path, str, str]] = {}

    def add(name: str, data: bytes, reader: str, message: str) -> None:
        path = folder / name
        path.write_bytes(data)
        out[name] = (path, reader, message)

    small = small_flame()
    add("memo_index.pkl", b"\x80\x02N" + b"r" + struct.pack("<I", 0x3FFFFFF0) + b".", "flame", "memo index")
    add("ndarray_call.pkl", _forged_bytes("ndarray-call"), "flame", "numpy.ndarray directly")
    add("claims_3gb.pkl", _forged_bytes("huge-shape"), "flame", "larger than 128 MB")
    sparse = Reduce(named("scipy.sparse.csc", "csc_matrix"), (),
                    {"_shape": (60_000, 60_000), "format": "csc", "data": np.zeros(0), "indices": np.zeros(0, np.int32),
                     "indptr": np.zeros(60_001, np.int32)})
    add("sparse_29gb.pkl", python2_pickle({**small.arrays, "J_regressor": sparse}), "flame", "larger than 128 MB")
    # written opcode by opcode: building the dict here would itself take seconds
    entries = b"".join(pickle.dumps(pair, protocol=2)[2:-1] + b"N" for pair in colliding_int_pairs(10_000))
    add("colliding_keys.pkl", b"\x80\x02}(" + entries + b"u.", "flame", "dict keys")
    add("many_opcodes.pkl", b"\x80\x02(" + b"N" * 300_000 + b"l.", "flame", "opcodes")
    shared = {**small.arrays, "v_template": [np.zeros(125_000)] * 3000}  # one 1 MB array, 3 GB as a list
    add("shared_3gb.pkl", pickle.dumps(shared, protocol=2), "flame", "once assembled")
    member = npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (133_333_334, 3)}, b"\0" * 16)
    add("claims_3gb.npz", _zip({"v_template.npy": member}), "flame", "larger than 128 MB")
    add("directory_bomb.npz", zip_directory_bomb(20_000), "flame", "lists more files")
    add("directory_bomb_lying.npz", zip_directory_bomb(20_000, stated_entries=2), "flame", "lists more files")
    add("claims_3gb.npy", npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (68, 5_000_000)}),
        "landmarks", "larger than 128 MB")
    add("truncated_claim.npy", npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (68, 3)}, b"\0" * 8),
        "landmarks", "more data than the file holds")
    return out


def _forged_bytes(kind: str) -> bytes:
    data: dict[str, Any] = dict(small_flame().arrays)
    data["v_template"] = forged_value(kind)
    return python2_pickle(data)


def _zip(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()
