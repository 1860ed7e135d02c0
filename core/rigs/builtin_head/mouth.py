"""Mouth: a loft of rings from the lip slit inward (inner lips, gum lines, palate and floor) that closes in a
dark bag, so an open mouth shows no hole. Teeth are rounded boxes on two dental arches; the tongue lies on the
floor.
"""

from __future__ import annotations

import numpy as np

from .layout import (
    ARCH_A,
    ARCH_B,
    M_LIPS,
    M_MOUTH,
    M_TEETH,
    M_TONGUE,
    N_MOUTH,
    P_CAVITY,
    P_TEETH_L,
    P_TEETH_U,
    P_TONGUE,
    Z_M,
)
from .maths import unit
from .mesh import MeshBuilder, fan, grid_quads
from .skin import Skin


def _arch(t: np.ndarray, y_front: float, shrink: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Dental arch (a half ellipse) at parameter t (rad, 0 = front middle, + toward +X): points, outward normals."""
    a, b = ARCH_A - shrink, ARCH_B - shrink
    pts = np.stack([a * np.sin(t), y_front + b * (1 - np.cos(t)), np.zeros_like(t)], axis=-1)
    nrm = unit(np.stack([b * np.sin(t), -a * np.cos(t), np.zeros_like(t)], axis=-1))
    return pts, nrm


def _arch_param(arc: np.ndarray, shrink: float = 0.0) -> np.ndarray:
    """Arch parameter t at arc length ``arc`` (m) from the middle."""
    t = np.linspace(0, np.pi / 2 + 0.4, 2001)
    p, _ = _arch(t, 0.0, shrink)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))])
    return np.interp(arc, s, t)


# per tooth from the middle outward: width along the arch, labio-lingual thickness, biting edge height
# relative to the lip line (the lower incisors sit behind the upper ones and overlap them a little)
_UPPER_TEETH = ((0.0082, 0.0066, -0.0016), (0.0063, 0.0060, -0.0010), (0.0074, 0.0076, -0.0019),
                (0.0066, 0.0085, -0.0011), (0.0063, 0.0085, -0.0009))  # fmt: skip
_LOWER_TEETH = ((0.0053, 0.0056, 0.0006), (0.0058, 0.0058, 0.0005), (0.0067, 0.0070, 0.0010),
                (0.0068, 0.0075, 0.0008), (0.0068, 0.0078, 0.0007))  # fmt: skip
TOOTH_ROOT = 0.0125  # every tooth reaches this far past the occlusal plane (hidden above the gum line)


def _tooth(mesh: MeshBuilder, centre: np.ndarray, tangent: np.ndarray, normal: np.ndarray, width: float,
           thick: float, edge_z: float, upper: bool) -> None:  # fmt: skip
    """A rounded box tooth: edge_z is the biting edge height, the root reaches past the gum line."""
    n_around, rings = 8, 5
    tau = np.linspace(0, 2 * np.pi, n_around, endpoint=False)
    cs, sn = np.cos(tau), np.sin(tau)
    sq_c = np.sign(cs) * np.abs(cs) ** 0.45
    sq_s = np.sign(sn) * np.abs(sn) ** 0.45
    sgn = 1.0 if upper else -1.0
    root_z = Z_M + sgn * TOOTH_ROOT
    heights = np.linspace(0.0, 1.0, rings)  # 0 = biting edge, 1 = root end
    z_levels = edge_z + (root_z - edge_z) * (0.06 + 0.94 * heights**1.3)
    taper_t = 0.45 + 0.55 * np.sqrt(heights)  # thin biting edge
    taper_w = 0.86 + 0.14 * np.sqrt(heights)
    pts = []
    for zl, tt, tw in zip(z_levels, taper_t, taper_w, strict=True):
        ring = centre + np.outer(sq_c * 0.5 * width * tw, tangent) + np.outer(sq_s * 0.5 * thick * tt, normal)
        ring[:, 2] = zl
        pts.append(ring)
    body = np.concatenate(pts)
    edge_pole = centre.copy()
    edge_pole[2] = edge_z
    root_pole = centre.copy()
    root_pole[2] = root_z + sgn * 0.0005
    part = P_TEETH_U if upper else P_TEETH_L
    idx = mesh.add(body, part, side=1 if upper else -1).reshape(rings, n_around)
    e = mesh.add(edge_pole, part, 1 if upper else -1)[0]
    r = mesh.add(root_pole, part, 1 if upper else -1)[0]
    # rings go from the edge toward the root: 'up' for the upper teeth, 'down' for the lower ones
    quads = grid_quads(idx, wrap=True)
    tris = np.concatenate([fan(int(e), idx[0], pole_after=False), fan(int(r), idx[-1], pole_after=True)])
    if np.cross(tangent, normal)[2] * sgn < 0:  # keep normals outward whatever the frame handedness
        quads, tris = quads[:, ::-1], tris[:, ::-1]
    mesh.faces(quads, M_TEETH)
    mesh.faces(tris, M_TEETH)


def build_teeth(mesh: MeshBuilder, y_front_u: float) -> tuple[float, float]:
    """Both dental arches; returns the arch parameter just behind the last tooth (upper, lower)."""
    ends = []
    for upper, table, y_front, shrink in ((True, _UPPER_TEETH, y_front_u, 0.0),
                                          (False, _LOWER_TEETH, y_front_u + 0.0022, 0.0016)):  # fmt: skip
        widths = np.array([w for w, *_ in table])
        starts = np.concatenate([[0.0], np.cumsum(widths)[:-1]])
        mids = starts + 0.5 * widths
        t_mid = _arch_param(mids, shrink)
        for side in (1.0, -1.0):
            pts, nrm = _arch(side * t_mid, y_front, shrink)
            for k, (width, thick, edge) in enumerate(table):
                tangent = unit(np.cross(np.array([0.0, 0.0, 1.0]), nrm[k]))
                centre = pts[k] - nrm[k] * 0.5 * thick
                centre[2] = 0.0
                _tooth(mesh, centre, tangent, nrm[k], width * 0.97, thick, Z_M + edge, upper)
        ends.append(float(_arch_param(np.array([widths.sum()]), shrink)[0]))
    return ends[0], ends[1]


def _ring_psi(ring0: np.ndarray, x_corner: float, n_up: int) -> np.ndarray:
    """Angle around the mouth opening for the slit ring: 0 left corner, pi/2 top, pi right, -pi/2 bottom."""
    x = np.clip(ring0[:, 0] / x_corner, -1, 1)
    psi = np.arccos(x)
    psi[n_up + 2 :] *= -1  # lower copies
    psi[n_up + 1] = np.pi
    return psi


def build_mouth(mesh: MeshBuilder, skin: Skin, y_front_u: float, t_end: tuple[float, float]) -> np.ndarray:
    """Loft from the lip slit into a closed bag. Returns the ring index per new vertex (-1 for the pole)."""
    pos = np.concatenate(mesh.pos)
    n = N_MOUTH
    grid, m = skin.grid, skin.row_m
    # ring 0: left corner, upper copies left->right, right corner, lower copies right->left
    upper = grid[m, (np.arange(n - 1, -n, -1)) % grid.shape[1]]
    lower = skin.lower_slit  # signed columns -(n-1) .. n-1 = right -> left
    ring0 = np.concatenate([[grid[m, n]], upper, [grid[m, -n % grid.shape[1]]], lower])
    p0 = pos[ring0]
    x_corner = float(p0[0, 0])
    psi = _ring_psi(p0, x_corner, len(upper))
    s = np.sin(psi)
    up = s > 1e-9
    sgn = np.sign(np.where(np.abs(s) < 1e-9, 0.0, s))
    g = np.abs(s)
    y_front_l = y_front_u + 0.0022

    def arch_ring(t_max: float, inward: float, height: float) -> np.ndarray:
        """A ring along the dental arches (upper half on the upper arch), ``inward`` behind their labial face."""
        t = (1 - 2 * np.abs(psi) / np.pi) * t_max
        out = np.empty((len(psi), 3))
        for is_up, yf, shrink in ((True, y_front_u, 0.0), (False, y_front_l, 0.0016)):
            sel = up if is_up else ~up
            pts, nrm = _arch(t[sel], yf, shrink)
            out[sel] = pts - nrm * inward
        out[:, 2] = Z_M + sgn * height * g**0.28
        return out

    p1 = p0 + np.stack([np.zeros_like(g), np.full_like(g, 0.0028), sgn * 0.0016 * g**0.6], axis=-1)
    p3 = arch_ring(max(t_end) + 0.12, -0.0014, 0.0098)  # buccal gum line, in front of the teeth
    p2 = 0.5 * (p1 + p3)
    p2[:, 2] = Z_M + sgn * 0.0050 * g**0.5
    front = np.abs(p2[:, 0]) < ARCH_A * 0.98
    arch_y = np.where(up, y_front_u, y_front_l) + ARCH_B * (1 - np.sqrt(1 - np.clip(p2[:, 0] / ARCH_A, -1, 1) ** 2))
    p2[:, 1] = np.where(front, np.minimum(p2[:, 1], arch_y - 0.0009), p2[:, 1])
    p4 = arch_ring(max(t_end) + 0.12, 0.0095, 0.0098)  # lingual gum line, behind the teeth
    c5 = np.cos(psi)
    p5 = np.stack([0.017 * np.sign(c5) * np.abs(c5) ** 0.7, np.full_like(g, y_front_u + 0.046),
                   Z_M + sgn * 0.0125 * g**0.5], axis=-1)  # fmt: skip
    p6 = np.stack([0.010 * np.sign(c5) * np.abs(c5) ** 0.7, np.full_like(g, y_front_u + 0.057),
                   Z_M + sgn * 0.0075 * g**0.5], axis=-1)  # fmt: skip
    rings = [ring0]
    ring_of: list[np.ndarray] = []
    sides = np.where(np.abs(s) < 1e-9, 0, np.where(up, 1, -1))
    for k, pk in enumerate((p1, p2, p3, p4, p5, p6), start=1):
        rings.append(mesh.add(pk, P_CAVITY, side=sides))
        ring_of.append(np.full(len(pk), k))
    pole = mesh.add(np.array([0.0, y_front_u + 0.061, Z_M]), P_CAVITY)
    ring_of.append(np.array([-1]))
    mats = (M_LIPS, M_LIPS, M_MOUTH, M_MOUTH, M_MOUTH, M_MOUTH)
    for k in range(len(rings) - 1):
        a, b = rings[k], rings[k + 1]
        quads = np.stack([a, np.roll(a, -1), np.roll(b, -1), b], axis=-1)
        mesh.faces(quads, mats[k])
    mesh.faces(fan(int(pole[0]), rings[-1], pole_after=True), M_MOUTH)
    return np.concatenate(ring_of)


def build_tongue(mesh: MeshBuilder, y_front_u: float) -> np.ndarray:
    """Tongue on the mouth floor; returns each vertex's length parameter s (0 tip .. 1 root)."""
    n_s, n_w = 13, 16
    s = np.linspace(0, 1, n_s + 2)[1:-1]
    w = np.linspace(0, 2 * np.pi, n_w, endpoint=False)
    y_tip, length = y_front_u + 0.0098, 0.048
    half_w = 0.0165 * np.sin(np.pi * s) ** 0.45 * (0.82 + 0.18 * s)
    half_h = 0.0068 * np.sin(np.pi * s) ** 0.55
    zc = Z_M - 0.0090 - 0.010 * s**2
    cw, sw = np.cos(w), np.sin(w)
    x = np.outer(half_w, np.sign(cw) * np.abs(cw) ** 0.8)
    z = zc[:, None] + np.outer(half_h, np.where(sw > 0, sw, 0.55 * sw))
    y = np.broadcast_to((y_tip + length * s)[:, None], x.shape)
    idx = mesh.add(np.stack([x, y, z], axis=-1).reshape(-1, 3), P_TONGUE, side=-1).reshape(n_s, n_w)
    tip = mesh.add(np.array([0.0, y_tip - 0.0004, Z_M - 0.0080]), P_TONGUE, side=-1)
    root = mesh.add(np.array([0.0, y_tip + length + 0.001, zc[-1]]), P_TONGUE, side=-1)
    # columns run +X -> +Z -> -X (counter-clockwise seen from the front), rows go backward (+Y)
    mesh.faces(grid_quads(idx, wrap=True)[:, ::-1], M_TONGUE)
    mesh.faces(fan(int(tip[0]), idx[0], pole_after=True), M_TONGUE)
    mesh.faces(fan(int(root[0]), idx[-1], pole_after=False), M_TONGUE)
    return np.concatenate([np.repeat(s, n_w), [0.0, 1.0]])
