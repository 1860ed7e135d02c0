"""ARKit-52 → FLAME: each ARKit channel expressed as FLAME expression coefficients plus a jaw rotation,
a ``[52, N + 3]`` matrix, so the default model's ARKit output bakes onto FLAME heads.

The method is deformation transfer (the idea behind SAiD's BlendVOCA), using only the user's FLAME file
and, optionally, a landmark embedding for it:

1. **Correspond the heads.** The built-in head's named landmarks are matched with the iBUG-68 points of the
   FLAME landmark embedding (``landmarks.IBUG68``), and the built-in eyeball centres with FLAME's eye joints.
   A similarity (Umeyama) plus a biharmonic RBF warp (φ(r) = r with an affine part) fitted on those points
   carries the built-in head's skin onto the FLAME template. Without an embedding only the eyes anchor a
   similarity (axes by convention, scale from the eye distance), refined by scaled ICP on the face.
2. **Transfer each ARKit shape.** Every FLAME vertex takes the displacement of its nearest warped built-in
   skin vertices (inverse-distance weights over 4), rotated and scaled by the similarity. Jaw and non-jaw
   vertices are matched only among themselves (FLAME's jaw skinning weight > 0.5 ↔ the built-in ``jaw``
   group), so the lips never swap sides. FLAME's eyeballs are left out (its eyes turn with joints), and
   vertices far from the built-in face count less, then not at all.
3. **Project.** For each shape, regularised least squares over FLAME's expression basis and the jaw
   rotation: a joint linear solve at rest, then Gauss–Newton through FLAME's real skinning (with pose
   correctives) for the shapes that move the jaw.

The matrix is cached per FLAME file (and landmark file) as an ``.npz`` keyed by their sha256.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..animation import Animation
from ..arkit import ARKIT52
from ..common.errors import AviTalkError, FormatError
from ..common.fileio import atomic_output
from ..rigs.builtin_head import FORMAT_VERSION, HeadMesh, build_head
from .channels import make_animation
from .landmarks import IBUG68, LandmarkEmbedding
from .loading import JOINT_NAMES, FlameModel
from .model import FLAME_TO_BLENDER, evaluate, flame_to_blender, vertex_transforms

METHOD_VERSION = 1
ALPHA = 1e-5  # ridge weight, relative to the mean diagonal of the normal matrix
NEIGHBOURS = 4
FAR = 0.25  # beyond this fraction of the eye distance a FLAME vertex gets no built-in displacement
JAW = JOINT_NAMES.index("jaw")
EYES = (JOINT_NAMES.index("left_eye"), JOINT_NAMES.index("right_eye"))
JAW_ONLY_WARNING = ("no landmark embedding for the FLAME model: of the ARKit → FLAME retarget only the jaw is "
                    "trustworthy (pass --landmarks, e.g. DECA's landmark_embedding.npy)")


@dataclass(frozen=True)
class ArkitToFlame:
    """The retarget: ``flame_values = arkit_values @ matrix`` (expression columns, then jaw rx ry rz)."""

    matrix: np.ndarray  # [52, N + 3] float32
    residual: np.ndarray  # [52]: |fit - transferred| / |transferred| per ARKit shape
    with_landmarks: bool
    model_sha256: str = ""
    landmarks_sha256: str = ""

    @property
    def n_expression(self) -> int:
        return int(self.matrix.shape[1]) - 3

    @property
    def note(self) -> str | None:
        return None if self.with_landmarks else JAW_ONLY_WARNING

    def apply(self, anim: Animation) -> Animation:
        """An ``arkit52`` Animation → a ``flame`` Animation at the same frame rate."""
        if anim.space != "arkit52":
            raise AviTalkError(f"only ARKit-52 animations can be retargeted to FLAME, not {anim.space!r}")
        by_lower = {c.lower(): i for i, c in enumerate(anim.channels)}
        weights = np.zeros((anim.n_frames, len(ARKIT52)), dtype=np.float64)
        for k, name in enumerate(ARKIT52):
            column = by_lower.get(name.lower())
            if column is not None:
                weights[:, k] = anim.values[:, column]
        flame = weights @ self.matrix.astype(np.float64)
        meta = dict(anim.meta)
        meta["retarget"] = {"from": "arkit52", "method": f"avi-talking deformation transfer v{METHOD_VERSION}",
                            "landmarks": self.with_landmarks, "flame_sha256": self.model_sha256}
        return make_animation(anim.fps, flame[:, : self.n_expression], {"jaw": flame[:, self.n_expression :]}, meta)


# ---- public entry points --------------------------------------------------------------------------------


def arkit_to_flame(model: FlameModel, embedding: LandmarkEmbedding | None = None, *,
                   cache_dir: str | os.PathLike[str] | None = None) -> ArkitToFlame:
    """The retarget for ``model``, from the cache when this model/landmark pair was solved before."""
    if not model.sha256:
        return solve(model, embedding)
    tag = f"{METHOD_VERSION}:{FORMAT_VERSION}:{model.sha256}:{embedding.sha256 if embedding else 'none'}"
    key = hashlib.sha256(tag.encode()).hexdigest()[:24]
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"arkit_to_flame_{key}.npz"
    cached = _read_cache(path, model, embedding)
    if cached is not None:
        return cached
    result = solve(model, embedding)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, matrix=result.matrix, residual=result.residual,
                     with_landmarks=np.bool_(result.with_landmarks), model_sha256=np.array(result.model_sha256),
                     landmarks_sha256=np.array(result.landmarks_sha256))
    except (OSError, AviTalkError) as exc:  # a read-only cache only costs the solve next time
        warnings.warn(f"could not cache the FLAME retarget in {folder}: {exc}", stacklevel=2)
    return result


def default_cache_dir() -> Path:
    from ...weights_fetcher.cache import ENV_CACHE_DIR, user_cache_dir

    env = os.environ.get(ENV_CACHE_DIR, "").strip()
    return (Path(env).expanduser() if env else user_cache_dir()) / "flame"


def _read_cache(path: Path, model: FlameModel, embedding: LandmarkEmbedding | None) -> ArkitToFlame | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            result = ArkitToFlame(data["matrix"].astype(np.float32), data["residual"],
                                  bool(data["with_landmarks"]), str(data["model_sha256"]),
                                  str(data["landmarks_sha256"]))
    except (OSError, ValueError, KeyError):
        return None
    expected = embedding.sha256 if embedding else ""
    if (result.model_sha256 != model.sha256 or result.landmarks_sha256 != expected
            or result.matrix.shape != (len(ARKIT52), model.n_expression + 3)):
        return None
    return result


def solve(model: FlameModel, embedding: LandmarkEmbedding | None = None, *, alpha: float = ALPHA) -> ArkitToFlame:
    """Work the retarget out (a few seconds for FLAME 2020/2023; see the module docstring). ``alpha`` is
    the ridge weight relative to the normal matrix's mean diagonal."""
    head = build_head()
    align = _align(head, model, embedding)
    idx, fit_w, displacements = _transfer(head, model, align)
    matrix, residual = _project(model, idx, fit_w, displacements, alpha)
    return ArkitToFlame(matrix.astype(np.float32), residual, embedding is not None, model.sha256,
                        embedding.sha256 if embedding else "")


# ---- 1. correspondence and alignment (all in Blender's frame: Z up, face toward -Y) ---------------------------


@dataclass(frozen=True)
class _Alignment:
    scale: float
    rotation: np.ndarray  # [3, 3]
    offset: np.ndarray  # [3]
    centres: np.ndarray  # [L, 3] RBF centres (after the similarity); empty without an RBF
    rbf: np.ndarray  # [L, 3]
    affine: np.ndarray  # [4, 3]
    eye_distance: float  # on the FLAME template

    def similar(self, points: np.ndarray) -> np.ndarray:
        return self.scale * points @ self.rotation.T + self.offset

    def __call__(self, points: np.ndarray) -> np.ndarray:
        p = self.similar(points)
        if not len(self.centres):
            return p
        phi = np.linalg.norm(p[:, None] - self.centres[None], axis=2)
        return phi @ self.rbf + np.concatenate([np.ones((len(p), 1)), p], axis=1) @ self.affine


def _similarity(src: np.ndarray, dst: np.ndarray, weight: np.ndarray | None = None
                ) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted Umeyama: ``s, R, t`` minimising Σ w |s R src + t - dst|²."""
    w = np.ones(len(src)) if weight is None else np.asarray(weight, dtype=np.float64)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    x, y = src - mu_s, dst - mu_d
    cov = (y * w[:, None]).T @ x
    u, sing, vt = np.linalg.svd(cov)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ d @ vt
    scale = float(np.trace(np.diag(sing) @ d) / (w @ np.sum(x * x, axis=1)))
    return scale, rot, mu_d - scale * rot @ mu_s


def _eye_centres(head: HeadMesh) -> np.ndarray:
    return np.stack([head.vertices[head.groups[f"eyeball_{s}"]].astype(np.float64).mean(axis=0) for s in "LR"])


def _correspondences(head: HeadMesh, model: FlameModel, embedding: LandmarkEmbedding | None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Matching points (built-in head, FLAME template), both in Blender's frame."""
    joints = flame_to_blender(model.rest_joints())
    src, dst = [*_eye_centres(head)], [joints[EYES[0]], joints[EYES[1]]]
    if embedding is not None:
        points = flame_to_blender(embedding.points(model.v_template, model.faces))
        for name, ibug in IBUG68.items():
            if embedding.known[list(ibug)].all():
                src.append(head.vertices[head.landmarks[name]].astype(np.float64))
                dst.append(points[list(ibug)].mean(axis=0))
    return np.array(src), np.array(dst)


def _align(head: HeadMesh, model: FlameModel, embedding: LandmarkEmbedding | None) -> _Alignment:
    src, dst = _correspondences(head, model, embedding)
    eye_distance = float(np.linalg.norm(dst[0] - dst[1]))
    if eye_distance <= 0:
        raise FormatError("the FLAME model's eye joints coincide: cannot place the face")
    empty = np.zeros((0, 3))
    if embedding is None:
        scale, rot, offset = _icp(head, model, src, dst)
        return _Alignment(scale, rot, offset, empty, empty, np.zeros((4, 3)), eye_distance)
    scale, rot, offset = _similarity(src, dst)
    angle = math.degrees(math.acos(np.clip((np.trace(rot) - 1) / 2, -1.0, 1.0)))
    mapped = scale * src @ rot.T + offset
    misfit = float(np.sqrt(np.mean(np.sum((mapped - dst) ** 2, axis=1)))) / eye_distance
    if angle > 45 or misfit > 0.5:
        raise FormatError(f"the landmark file {embedding.name} does not fit this FLAME model (rotated {angle:.0f}°, "
                          f"misfit {misfit:.0%} of the eye distance): is it for another FLAME version?")
    if misfit > 0.15:
        warnings.warn(f"the landmarks fit the FLAME model loosely ({misfit:.0%} of the eye distance)", stacklevel=3)
    centres, weights, affine = _fit_rbf(mapped, dst)
    return _Alignment(scale, rot, offset, centres, weights, affine, eye_distance)


def _fit_rbf(centres: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Biharmonic RBF with an affine part through ``centres → targets`` (tiny ridge for stability)."""
    n = len(centres)
    phi = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    poly = np.concatenate([np.ones((n, 1)), centres], axis=1)
    system = np.zeros((n + 4, n + 4))
    system[:n, :n] = phi + 1e-9 * np.eye(n)
    system[:n, n:], system[n:, :n] = poly, poly.T
    rhs = np.zeros((n + 4, 3))
    rhs[:n] = targets
    sol = np.linalg.lstsq(system, rhs, rcond=None)[0]
    return centres, sol[:n], sol[n:]


def _face_sources(head: HeadMesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Built-in vertices that carry displacements (skin and lids), their jaw flag and how much they count."""
    g = head.groups
    lids = np.concatenate([g[n] for n in ("eyelid_upper_L", "eyelid_lower_L", "eyelid_upper_R", "eyelid_lower_R")])
    idx = np.union1d(g["skin"], lids)
    face = np.concatenate([g["face"], g["jaw"], g["lips"], g["nose"], g["cheek_L"], g["cheek_R"], lids])
    region = np.where(np.isin(idx, face), 1.0, 0.25)
    region[np.isin(idx, np.concatenate([g["ear_L"], g["ear_R"]]))] = 0.0
    return idx, np.isin(idx, g["jaw"]), region


def _icp(head: HeadMesh, model: FlameModel, src_eyes: np.ndarray, dst_eyes: np.ndarray
         ) -> tuple[float, np.ndarray, np.ndarray]:
    """Eyes-only start (both heads share Blender's axes), then scaled ICP of the built-in face onto FLAME."""
    scale = float(np.linalg.norm(dst_eyes[0] - dst_eyes[1]) / np.linalg.norm(src_eyes[0] - src_eyes[1]))
    rot = np.eye(3)
    offset = dst_eyes.mean(axis=0) - scale * src_eyes.mean(axis=0)
    idx, _, region = _face_sources(head)
    face = head.vertices[idx[region >= 1.0]].astype(np.float64)
    target = flame_to_blender(model.v_template)[_eyeball_mask(model) == 0]
    for _ in range(12):
        mapped = scale * face @ rot.T + offset
        dist, near = _nearest(mapped, target, 1)
        keep = dist[:, 0] <= np.quantile(dist[:, 0], 0.8)
        src = np.concatenate([face[keep], src_eyes])
        dst = np.concatenate([target[near[keep, 0]], dst_eyes])
        weight = np.concatenate([np.ones(int(keep.sum())), np.full(2, 0.05 * keep.sum())])  # eyes stay anchors
        scale, rot, offset = _similarity(src, dst, weight)
    return scale, rot, offset


# ---- 2. transfer ----------------------------------------------------------------------------------------------


def _eyeball_mask(model: FlameModel) -> np.ndarray:
    return (model.weights[:, EYES[0]] + model.weights[:, EYES[1]] > 0.5).astype(np.int8)


def _nearest(query: np.ndarray, points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices ``[Q, k]`` of the ``k`` nearest ``points`` (brute force in chunks)."""
    k = min(k, len(points))
    dist = np.empty((len(query), k))
    index = np.empty((len(query), k), dtype=np.int64)
    sq_points = np.sum(points * points, axis=1)
    for start in range(0, len(query), 1024):
        q = query[start : start + 1024]
        d2 = np.maximum(np.sum(q * q, axis=1)[:, None] - 2 * q @ points.T + sq_points[None], 0.0)
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        rows = np.arange(len(q))[:, None]
        order = np.argsort(d2[rows, part], axis=1)
        index[start : start + len(q)] = part[rows, order]
        dist[start : start + len(q)] = np.sqrt(d2[rows, index[start : start + len(q)]])
    return dist, index


def _transfer(head: HeadMesh, model: FlameModel, align: _Alignment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FLAME vertices to fit, their weights, and the ARKit displacements ``[52, n, 3]`` there (FLAME frame)."""
    src_idx, src_jaw, src_region = _face_sources(head)
    warped = align(head.vertices[src_idx].astype(np.float64))
    target = flame_to_blender(model.v_template)
    target_jaw = model.weights[:, JAW] > 0.5
    movable = _eyeball_mask(model) == 0
    far = FAR * align.eye_distance
    eps = 1e-4 * align.eye_distance
    chosen: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    fields: list[np.ndarray] = []
    keys = head.key_matrix  # [52, N_head, 3] float32
    for side in (False, True):
        tgt = np.flatnonzero(movable & (target_jaw == side))
        pool = np.flatnonzero(src_jaw == side)
        if not len(tgt) or not len(pool):
            continue
        dist, near = _nearest(target[tgt], warped[pool], NEIGHBOURS)
        idw = 1.0 / (dist**2 + eps**2)
        idw /= idw.sum(axis=1, keepdims=True)
        verts = src_idx[pool[near]]  # [n, K] built-in vertex indices
        confidence = np.clip(1.0 - (dist[:, 0] / far) ** 2, 0.0, 1.0)
        region = np.sum(idw * src_region[pool[near]], axis=1)
        fit = confidence * region
        keep = fit > 0
        chosen.append(tgt[keep])
        weights.append(fit[keep])
        fields.append(np.einsum("nk,snkc->snc", idw[keep], keys[:, verts[keep]].astype(np.float64)))
    if not chosen or sum(len(c) for c in chosen) < 10:
        raise FormatError("the FLAME model and the built-in head could not be matched (no face region overlaps)")
    idx = np.concatenate(chosen)
    disp_blender = np.concatenate(fields, axis=1)  # [52, n, 3]
    # rotate/scale with the similarity, then Blender → FLAME axes
    linear = align.scale * align.rotation
    disp = np.einsum("ab,snb->sna", FLAME_TO_BLENDER.T @ linear, disp_blender)
    return idx, np.concatenate(weights), disp


# ---- 3. projection ----------------------------------------------------------------------------------------


def _project(model: FlameModel, idx: np.ndarray, fit_w: np.ndarray, disp: np.ndarray, alpha: float
             ) -> tuple[np.ndarray, np.ndarray]:
    n_exp = model.n_expression
    sw = np.repeat(np.sqrt(fit_w), 3)  # per coordinate
    basis = model.exprdirs[idx]  # [n, 3, N]
    rest = model.v_template[idx]

    def displaced(e: np.ndarray, theta: np.ndarray) -> np.ndarray:
        pose = np.zeros((model.n_joints, 3))
        pose[JAW] = theta
        return (evaluate(model, e, pose, indices=idx)[0] - rest).reshape(-1)

    def jaw_jacobian(e: np.ndarray, theta: np.ndarray, h: float = 1e-5) -> np.ndarray:
        cols = []
        for i in range(3):
            step = np.zeros(3)
            step[i] = h
            cols.append((displaced(e, theta + step) - displaced(e, theta - step)) / (2 * h))
        return np.stack(cols, axis=1)

    zero_e, zero_t = np.zeros(n_exp), np.zeros(3)
    jac0 = np.concatenate([basis.reshape(-1, n_exp), jaw_jacobian(zero_e, zero_t)], axis=1) * sw[:, None]
    normal0 = jac0.T @ jac0
    reg = np.empty(n_exp + 3)
    reg[:n_exp] = alpha * np.mean(np.diag(normal0)[:n_exp])
    reg[n_exp:] = alpha * np.mean(np.diag(normal0)[n_exp:])
    targets = disp.reshape(len(disp), -1)  # [52, 3n]
    params = np.linalg.solve(normal0 + np.diag(reg), jac0.T @ (targets * sw).T).T  # [52, N + 3]

    residual = np.zeros(len(disp))
    for k in range(len(disp)):
        p = params[k]
        if np.abs(p[n_exp:]).max() > 1e-3:  # the shape turns the jaw: solve through FLAME's skinning
            for _ in range(10):
                e, theta = p[:n_exp], p[n_exp:]
                r = (displaced(e, theta) - targets[k]) * sw
                pose = np.zeros((model.n_joints, 3))
                pose[JAW] = theta
                blend = vertex_transforms(model, pose, e, indices=idx)[0, :, :, :3]
                j_exp = np.einsum("vab,vbk->vak", blend, basis).reshape(-1, n_exp)
                jac = np.concatenate([j_exp, jaw_jacobian(e, theta)], axis=1) * sw[:, None]
                step = np.linalg.solve(jac.T @ jac + np.diag(reg), -(jac.T @ r + reg * p))
                p = p + step
                if np.abs(step).max() < 1e-10:
                    break
            params[k] = p
        fitted = displaced(params[k, :n_exp], params[k, n_exp:])
        norm = np.linalg.norm(targets[k] * sw)
        residual[k] = np.linalg.norm((fitted - targets[k]) * sw) / norm if norm > 1e-12 else 0.0
    return params, residual
