"""Evaluate a FLAME model: identity and expression blend shapes, pose correctives and linear blend
skinning over the kinematic tree. numpy by default; :func:`evaluate_torch` does the same in torch
(imported only when called) and returns numpy, for checking and for batch work where torch is present.

FLAME's recipe, per frame:

1. ``v_shaped = v_template + shapedirs · [shape, expression]``; joints ``J = J_regressor · v_shaped``.
2. Rotation matrices ``R_j`` from the rotation vectors; ``pose_feature`` = the entries of ``R_j - I`` for
   joints 1..J-1, row-major, concatenated (36 values for FLAME); ``v_posed = v_shaped + posedirs · pose_feature``.
3. World transforms down the tree ``G_j = G_parent · [R_j | J_j - J_parent]``; the skinning transform of a
   vertex is ``Σ_j weights[v, j] · G_j · [I | -J_j]`` applied to ``v_posed``.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from .loading import FlameModel
from .rotations import rodrigues

# FLAME (Y up, face +Z) → Blender (Z up, face -Y): (x, y, z) → (x, -z, y). A rotation about X by +90°.
FLAME_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def flame_to_blender(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) @ FLAME_TO_BLENDER.T


def blender_to_flame(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) @ FLAME_TO_BLENDER


def pose_feature(rotations: np.ndarray) -> np.ndarray:
    """``[..., J, 3, 3]`` rotation matrices → ``[..., 9·(J-1)]`` corrective weights (root excluded)."""
    r = np.asarray(rotations, dtype=np.float64)
    return (r[..., 1:, :, :] - np.eye(3)).reshape(*r.shape[:-3], -1)


def corrective_weights(pose: np.ndarray) -> np.ndarray:
    """Pose-corrective weights ``[T, 9·(J-1)]`` for rotation vectors ``[T, J, 3]``."""
    return pose_feature(rodrigues(pose))


def _frames(expression: np.ndarray | None, pose: np.ndarray | None, model: FlameModel) -> tuple[np.ndarray, np.ndarray]:
    exp = None if expression is None else np.asarray(expression, dtype=np.float64)
    rot = None if pose is None else np.asarray(pose, dtype=np.float64)
    if exp is not None and exp.ndim == 1:
        exp = exp[None]
    if rot is not None and rot.ndim == 2:
        rot = rot[None]
    n = max(len(exp) if exp is not None else 1, len(rot) if rot is not None else 1)
    if exp is None:
        exp = np.zeros((n, 0))
    if rot is None:
        rot = np.zeros((n, model.n_joints, 3))
    if exp.shape[1] > model.n_expression:
        raise ValueError(f"{exp.shape[1]} expression coefficients for a model with {model.n_expression}")
    if rot.shape[1:] != (model.n_joints, 3):
        raise ValueError(f"pose has shape {rot.shape}, expected [T, {model.n_joints}, 3]")
    if len(exp) != len(rot) and 1 not in (len(exp), len(rot)):
        raise ValueError(f"{len(exp)} expression frames but {len(rot)} pose frames")
    return np.broadcast_to(exp, (n, exp.shape[1])), np.broadcast_to(rot, (n, *rot.shape[1:]))


def evaluate(
    model: FlameModel,
    expression: np.ndarray | None = None,
    pose: np.ndarray | None = None,
    shape: np.ndarray | None = None,
    *,
    indices: np.ndarray | None = None,
    joints_follow_expression: bool = True,
) -> np.ndarray:
    """Vertices ``[T, V, 3]`` (FLAME frame, float64) for expression ``[T, N']`` (N' <= N; the rest are zero),
    rotation vectors ``pose`` ``[T, J, 3]`` (root first) and identity ``shape`` ``[S']``.

    ``indices`` limits the output to those vertices (joints still come from the whole mesh).
    ``joints_follow_expression=False`` keeps the joints where the neutral face puts them, which is what
    a Blender armature does (FLAME itself regresses them from the expressive face)."""
    exp, rot = _frames(expression, pose, model)
    idx = np.arange(model.n_vertices) if indices is None else np.asarray(indices, dtype=np.int64)
    base = _shaped(model, shape)
    v_shaped = base[idx][None] + np.einsum("vck,tk->tvc", model.exprdirs[idx, :, : exp.shape[1]], exp)
    mats = rodrigues(rot)
    v_posed = v_shaped + np.einsum("vck,tk->tvc", model.posedirs[idx], pose_feature(mats))
    blend = vertex_transforms(model, rot, exp, shape, indices=idx, joints_follow_expression=joints_follow_expression)
    return np.einsum("tvab,tvb->tva", blend[..., :3], v_posed) + blend[..., 3]


def vertex_transforms(
    model: FlameModel,
    pose: np.ndarray,
    expression: np.ndarray | None = None,
    shape: np.ndarray | None = None,
    *,
    indices: np.ndarray | None = None,
    joints_follow_expression: bool = True,
) -> np.ndarray:
    """The blended skinning transform ``[T, V', 3, 4]`` of each vertex: posed = ``M[:, :3] · v_posed + M[:, 3]``."""
    exp, rot = _frames(expression, pose, model)
    idx = np.arange(model.n_vertices) if indices is None else np.asarray(indices, dtype=np.int64)
    joints0 = model.j_regressor @ _shaped(model, shape)
    if joints_follow_expression and exp.shape[1]:
        joints = joints0[None] + np.einsum("jck,tk->tjc", model.joint_exprdirs[:, :, : exp.shape[1]], exp)
    else:
        joints = np.broadcast_to(joints0, (len(exp), *joints0.shape))
    transforms = _skinning_transforms(rodrigues(rot), joints, model.parents)  # [T, J, 3, 4]
    return np.einsum("vj,tjab->tvab", model.weights[idx], transforms)


def _shaped(model: FlameModel, shape: np.ndarray | None) -> np.ndarray:
    if shape is None:
        return np.asarray(model.v_template)
    beta = np.asarray(shape, dtype=np.float64).ravel()
    if beta.size > model.n_shape:
        raise ValueError(f"{beta.size} shape coefficients for a model with {model.n_shape}")
    return model.v_template + model.shapedirs[:, :, : beta.size] @ beta


def _skinning_transforms(mats: np.ndarray, joints: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Per-joint ``[T, J, 3, 4]`` transforms taking rest-pose points to posed points."""
    n_frames, n_joints = mats.shape[:2]
    rot_world = np.empty_like(mats)
    pos_world = np.empty((n_frames, n_joints, 3))
    for j in range(n_joints):
        p = parents[j]
        if p < 0:
            rot_world[:, j] = mats[:, j]
            pos_world[:, j] = joints[:, j]
        else:
            rot_world[:, j] = rot_world[:, p] @ mats[:, j]
            offset = joints[:, j] - joints[:, p]
            pos_world[:, j] = pos_world[:, p] + np.einsum("tab,tb->ta", rot_world[:, p], offset)
    out = np.empty((n_frames, n_joints, 3, 4))
    out[..., :3] = rot_world
    out[..., 3] = pos_world - np.einsum("tjab,tjb->tja", rot_world, joints)
    return out


# ---- torch ------------------------------------------------------------------------------------------------


def torch_available() -> bool:
    try:
        importlib.import_module("torch")
    except ImportError:
        return False
    return True


def evaluate_torch(
    model: FlameModel,
    expression: np.ndarray | None = None,
    pose: np.ndarray | None = None,
    shape: np.ndarray | None = None,
    *,
    dtype: str = "float64",
) -> np.ndarray:
    """:func:`evaluate` computed with torch (CPU), same conventions; returns numpy ``[T, V, 3]``."""
    torch: Any = importlib.import_module("torch")
    exp_np, rot_np = _frames(expression, pose, model)
    tdt = getattr(torch, dtype)

    def t(a: np.ndarray) -> Any:
        return torch.tensor(np.array(a, dtype=np.float64), dtype=tdt)  # a copy: model arrays are read-only

    base = t(_shaped(model, shape))
    exp, rot = t(exp_np), t(rot_np)
    dirs = t(model.exprdirs[:, :, : exp.shape[1]])
    v_shaped = base[None] + torch.einsum("vck,tk->tvc", dirs, exp)
    joints = torch.einsum("jv,tvc->tjc", t(model.j_regressor), v_shaped)
    # Rodrigues: R = I + sin(θ) K + (1 - cos θ) K², with K the skew matrix of the unit axis
    angle = torch.linalg.norm(rot, dim=-1, keepdim=True)
    axis = rot / angle.clamp_min(1e-12)
    zero = torch.zeros_like(axis[..., 0])
    k = torch.stack([zero, -axis[..., 2], axis[..., 1], axis[..., 2], zero, -axis[..., 0],
                     -axis[..., 1], axis[..., 0], zero], dim=-1).reshape(*axis.shape[:-1], 3, 3)
    sin, cos = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=tdt)
    mats = eye + sin * k + (1 - cos) * (k @ k)
    feature = (mats[:, 1:] - eye).reshape(mats.shape[0], -1)
    v_posed = v_shaped + torch.einsum("vck,tk->tvc", t(model.posedirs), feature)
    n_joints = mats.shape[1]
    rot_world: list[Any] = []
    pos_world: list[Any] = []
    for j in range(n_joints):
        p = int(model.parents[j])
        if p < 0:
            rot_world.append(mats[:, j])
            pos_world.append(joints[:, j])
        else:
            rot_world.append(rot_world[p] @ mats[:, j])
            pos_world.append(pos_world[p] + torch.einsum("tab,tb->ta", rot_world[p], joints[:, j] - joints[:, p]))
    rw, pw = torch.stack(rot_world, 1), torch.stack(pos_world, 1)
    trans = pw - torch.einsum("tjab,tjb->tja", rw, joints)
    weights = t(model.weights)
    blend_r = torch.einsum("vj,tjab->tvab", weights, rw)
    blend_t = torch.einsum("vj,tja->tva", weights, trans)
    out = torch.einsum("tvab,tvb->tva", blend_r, v_posed) + blend_t
    return np.asarray(out.detach().cpu().numpy(), dtype=np.float64)
