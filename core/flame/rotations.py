"""Rotation conversions for FLAME joints (axis-angle ↔ matrix ↔ quaternion / Euler / 6-d), vectorised.

Axis-angle ("rotation vector") is FLAME's pose format: the direction is the axis, the length the angle in
radians. Euler orders follow Blender: ``'XYZ'`` rotates about X first, then Y, then Z (R = Rz·Ry·Rx), all
about the parent's fixed axes.
"""

from __future__ import annotations

import numpy as np

EULER_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")
_SMALL = 1e-8


def _skew(v: np.ndarray) -> np.ndarray:
    out = np.zeros((*v.shape[:-1], 3, 3), dtype=np.float64)
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


def rodrigues(rotvec: np.ndarray) -> np.ndarray:
    """Rotation matrices ``[..., 3, 3]`` from rotation vectors ``[..., 3]`` (exact near zero too)."""
    r = np.asarray(rotvec, dtype=np.float64)
    theta2 = np.sum(r * r, axis=-1)
    theta = np.sqrt(theta2)
    small = theta < 1e-4
    safe = np.where(small, 1.0, theta)
    # sin(t)/t and (1 - cos t)/t^2, with their Taylor series where t is tiny
    a = np.where(small, 1.0 - theta2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(safe)) / (safe * safe))
    k = _skew(r)
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def matrix_to_axis_angle(matrix: np.ndarray) -> np.ndarray:
    """Rotation vectors ``[..., 3]`` from rotation matrices (angles in [0, π])."""
    m = np.asarray(matrix, dtype=np.float64)
    return quaternion_to_axis_angle(matrix_to_quaternion(m))


def matrix_to_quaternion(matrix: np.ndarray) -> np.ndarray:
    """Unit quaternions ``[..., 4]`` (w, x, y, z) with w >= 0, by the numerically stable branch choice."""
    m = np.asarray(matrix, dtype=np.float64)
    flat = m.reshape(-1, 3, 3)
    out = np.empty((flat.shape[0], 4), dtype=np.float64)
    for n, r in enumerate(flat):
        trace = r[0, 0] + r[1, 1] + r[2, 2]
        if trace > 0:
            s = 2.0 * np.sqrt(1.0 + trace)
            q = (0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s)
        else:
            i = int(np.argmax([r[0, 0], r[1, 1], r[2, 2]]))
            j, k = (i + 1) % 3, (i + 2) % 3
            s = 2.0 * np.sqrt(max(1.0 + r[i, i] - r[j, j] - r[k, k], 0.0))
            vec = np.empty(3)
            vec[i] = 0.25 * s
            vec[j] = (r[j, i] + r[i, j]) / s
            vec[k] = (r[k, i] + r[i, k]) / s
            q = ((r[k, j] - r[j, k]) / s, *vec)
        out[n] = q
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    out[out[:, 0] < 0] *= -1.0
    return out.reshape(*m.shape[:-2], 4)


def axis_angle_to_quaternion(rotvec: np.ndarray) -> np.ndarray:
    """Unit quaternions ``[..., 4]`` (w, x, y, z) from rotation vectors; w >= 0 for angles up to π."""
    r = np.asarray(rotvec, dtype=np.float64)
    theta = np.linalg.norm(r, axis=-1)
    half = 0.5 * theta
    small = theta < 1e-4
    safe = np.where(small, 1.0, theta)
    scale = np.where(small, 0.5 - theta * theta / 48.0, np.sin(half) / safe)  # sin(t/2)/t
    return np.concatenate([np.cos(half)[..., None], r * scale[..., None]], axis=-1)


def quaternion_to_axis_angle(quat: np.ndarray) -> np.ndarray:
    """Rotation vectors from quaternions ``[..., 4]`` (w, x, y, z; normalised here)."""
    q = np.asarray(quat, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., :1] < 0, -q, q)
    vec = q[..., 1:]
    sin_half = np.linalg.norm(vec, axis=-1)
    angle = 2.0 * np.arctan2(sin_half, q[..., 0])
    small = sin_half < _SMALL
    scale = np.where(small, 2.0, angle / np.where(small, 1.0, sin_half))
    return vec * scale[..., None]


def _axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros((*np.shape(angle), 3, 3), dtype=np.float64)
    i, j = (axis + 1) % 3, (axis + 2) % 3
    out[..., axis, axis] = 1.0
    out[..., i, i], out[..., i, j] = c, -s
    out[..., j, i], out[..., j, j] = s, c
    return out


def euler_to_matrix(angles: np.ndarray, order: str = "XYZ") -> np.ndarray:
    """Matrices from Euler angles ``[..., 3]`` given per axis (x, y, z) as Blender stores them."""
    a = np.asarray(angles, dtype=np.float64)
    first, second, third = ("XYZ".index(ch) for ch in order)
    return _axis_rotation(third, a[..., third]) @ _axis_rotation(second, a[..., second]) @ _axis_rotation(
        first, a[..., first]
    )


def matrix_to_euler(matrix: np.ndarray, order: str = "XYZ") -> np.ndarray:
    """Euler angles ``[..., 3]`` (per axis x, y, z) for Blender's rotation ``order``; the middle angle lies
    in [-π/2, π/2]."""
    if order not in EULER_ORDERS:
        raise ValueError(f"unknown Euler order {order!r}")
    m = np.asarray(matrix, dtype=np.float64)
    i, j, k = ("XYZ".index(ch) for ch in order)
    sign = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    out = np.empty((*m.shape[:-2], 3), dtype=np.float64)
    out[..., j] = np.arcsin(np.clip(-sign * m[..., k, i], -1.0, 1.0))
    out[..., i] = np.arctan2(sign * m[..., k, j], m[..., k, k])
    out[..., k] = np.arctan2(sign * m[..., j, i], m[..., i, i])
    return out


def rotation_6d_to_matrix(d6: np.ndarray) -> np.ndarray:
    """The continuous 6-d rotation representation (Zhou et al. 2019; rows a1, a2 as in pytorch3d) → matrices."""
    d = np.asarray(d6, dtype=np.float64)
    a1, a2 = d[..., :3], d[..., 3:6]
    n1 = np.linalg.norm(a1, axis=-1, keepdims=True)
    if np.any(n1 < _SMALL):
        raise ValueError("a 6-d rotation has a zero first vector")
    b1 = a1 / n1
    b2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    n2 = np.linalg.norm(b2, axis=-1, keepdims=True)
    if np.any(n2 < _SMALL):
        raise ValueError("a 6-d rotation has parallel vectors")
    b2 = b2 / n2
    return np.stack([b1, b2, np.cross(b1, b2)], axis=-2)


def rotation_channels(rotvec: np.ndarray, mode: str) -> np.ndarray:
    """Per-frame values for a Blender bone's ``rotation_mode`` from rotation vectors ``[T, 3]``.

    ``QUATERNION`` → ``[T, 4]`` (w, x, y, z); ``AXIS_ANGLE`` → ``[T, 4]`` (angle, x, y, z) with the axis held
    over frames where the angle is zero (so curves do not jump); an Euler order → ``[T, 3]``."""
    r = np.asarray(rotvec, dtype=np.float64).reshape(-1, 3)
    if mode == "QUATERNION":
        return axis_angle_to_quaternion(r)
    if mode == "AXIS_ANGLE":
        angle = np.linalg.norm(r, axis=1)
        axes = np.zeros_like(r)
        moving = angle > _SMALL
        axes[moving] = r[moving] / angle[moving, None]
        held = np.array([0.0, 1.0, 0.0])  # Blender's default axis
        if moving.any():
            held = axes[int(np.argmax(moving))]
        for t in range(len(r)):
            if moving[t]:
                held = axes[t]
            else:
                axes[t] = held
        return np.concatenate([angle[:, None], axes], axis=1)
    if mode in EULER_ORDERS:
        return matrix_to_euler(rodrigues(r), mode)
    raise ValueError(f"unsupported rotation mode {mode!r}")
