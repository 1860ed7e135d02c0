"""Brows are raised strips on the skin; the ears are rimmed cushions whose front edges sink into the head.
Only the left ones are built here; the right ones are their mirror copies."""

from __future__ import annotations

import numpy as np

from .layout import EAR, M_HAIR, M_SKIN, P_BROW, P_EAR
from .maths import catmull, smoothstep
from .mesh import MeshBuilder, fan, grid_quads
from .sdf import front_hit, surface_normal


def build_ear(mesh: MeshBuilder) -> None:
    """Left ear: a cushion with a raised rim (helix) and a hollow bowl, its front edge sunk into the head."""
    n_u, n_v = 20, 6
    u = np.linspace(0, 2 * np.pi, n_u, endpoint=False)  # around the outline, 0 = front edge, pi/2 = top
    v = np.linspace(0, 1, n_v + 1)[1:]  # from the middle to the rim
    # outline in the ear plane (w back from the attachment line, h up): taller than wide, narrower lobe
    w_mid = 0.0205
    w_out = w_mid - 0.0145 * np.cos(u) * (0.9 + 0.1 * np.sin(u))
    h_out = 0.031 * np.sin(u) * np.where(np.sin(u) < 0, 0.8, 1.0)
    rim = smoothstep(0.55, 0.95, v) * (1 - smoothstep(0.95, 1.0, v))
    outer = 0.0012 + 0.0042 * rim + 0.0014 * (1 - v)  # the outer face stands off the base plane
    inner = np.full_like(v, -0.0035)
    ww = w_mid + np.outer(v, w_out - w_mid)
    hh = np.outer(v, h_out)
    faces = [np.stack([np.broadcast_to(off[:, None], ww.shape), ww, hh], axis=-1) for off in (inner, outer)]
    local = np.concatenate([faces[0], faces[1][::-1]])  # rows: inner middle .. rim, outer rim .. middle
    flare = np.radians(27.0)  # the back of the ear stands off the head
    rot = np.array([[np.cos(flare), np.sin(flare), 0.0], [-np.sin(flare), np.cos(flare), 0.0], [0.0, 0.0, 1.0]])
    idx = mesh.add(EAR + local.reshape(-1, 3) @ rot.T, P_EAR).reshape(local.shape[:2])
    mesh.faces(grid_quads(idx, wrap=True), M_SKIN)
    poles = np.array([[-0.0035, w_mid, 0.0], [0.0026, w_mid, 0.0]]) @ rot.T + EAR
    mid_in, mid_out = mesh.add(poles, P_EAR)
    mesh.faces(fan(int(mid_in), idx[0], pole_after=False), M_SKIN)
    mesh.faces(fan(int(mid_out), idx[-1], pole_after=True), M_SKIN)


# the left brow's middle line: knots from its inner end (near the nose) to its tail
_BROW_KX = [0.0125, 0.022, 0.033, 0.044, 0.0545]
_BROW_KZ = [0.0200, 0.0245, 0.0272, 0.0266, 0.0222]


def _brow_line(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return catmull(s * 4, [0, 1, 2, 3, 4], _BROW_KX), catmull(s * 4, [0, 1, 2, 3, 4], _BROW_KZ)


def brow_height(ax: np.ndarray) -> np.ndarray:
    """Rest height (z) of the brow's middle line at lateral distance ``ax`` = |x| (held flat past its ends)."""
    xs, zs = _brow_line(np.linspace(0, 1, 201))
    return np.interp(ax, xs, zs)


def build_brow(mesh: MeshBuilder) -> None:
    """Left brow: a raised strip on the skin whose long edges sink under it."""
    n_s, n_t = 16, 7
    s = np.linspace(0, 1, n_s)
    xs, zs = _brow_line(s)
    width = catmull(s, [0.0, 0.25, 0.7, 1.0], [0.0085, 0.0078, 0.0060, 0.0028])
    dx, dz = np.gradient(xs), np.gradient(zs)
    nx, nz = -dz / np.hypot(dx, dz), dx / np.hypot(dx, dz)  # points up
    t = np.linspace(-1, 1, n_t)
    px = xs[:, None] + nx[:, None] * t[None, :] * 0.5 * width[:, None]
    pz = zs[:, None] + nz[:, None] * t[None, :] * 0.5 * width[:, None]
    surf = front_hit(px.ravel(), pz.ravel())
    normal = surface_normal(surf)
    lift = (0.0013 * (1 - t**2) ** 0.5 - 0.0004)[None, :] * (0.65 + 0.35 * (1 - s))[:, None]
    pts = surf + normal * lift.reshape(-1, 1)
    idx = mesh.add(pts, P_BROW).reshape(n_s, n_t)
    # rows along the brow (outward, +X), columns across it (up): normal = up x out -> flip
    quads = grid_quads(idx.T, wrap=False)
    mesh.faces(quads[:, ::-1], M_HAIR)
