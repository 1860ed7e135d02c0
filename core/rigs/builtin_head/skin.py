"""Skin: the signed-distance field sampled along rays from a vertical axis inside the head.

Horizontal rays for the face band, fanning up/down for the crown and the chin/neck. This gives a structured
quad grid whose rows and columns line up with the features: one grid row is the lip contact line and is
*split* between the mouth corners (upper and lower lip get their own vertices), the lip-band rows follow the
vermilion outline, and lip relief is added along the rays. Inside the eye openings the skin is pulled back
behind the eyeball.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .eyes import lid_edges
from .layout import (
    CARVE_R,
    EYE_GAP,
    EYE_X,
    H_NOM_L,
    H_NOM_U,
    K_L,
    K_U,
    LID_R_IN,
    M_LIPS,
    M_SKIN,
    MOUTH_PHI,
    N_MOUTH,
    P_SKIN,
    Y_AXIS,
    Z_HI,
    Z_LO,
    Z_M,
)
from .maths import catmull, smoothstep
from .mesh import MeshBuilder, fan, grid_quads
from .sdf import front_hit, raycast


def _graded(a: float, b: float, spacing: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Points from a to b (both included) whose local spacing follows ``spacing(x)``."""
    xs = np.linspace(a, b, 4001)
    dens = 1.0 / spacing(xs)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.abs(np.diff(xs)))])
    n = max(1, int(round(cum[-1])))
    out = np.interp(np.linspace(0.0, cum[-1], n + 1), cum, xs)
    out[0], out[-1] = a, b
    return out


@dataclass
class Skin:
    grid: np.ndarray  # [R, C] vertex index (row Z_M holds the upper copies inside the mouth)
    lower_slit: np.ndarray  # [2 N_MOUTH - 1] lower copies, signed columns -(N_MOUTH-1) .. N_MOUTH-1
    row_m: int
    mouth_cols: np.ndarray  # grid column index for signed columns -N_MOUTH .. N_MOUTH
    eye_y: float


def _columns() -> np.ndarray:
    step0 = MOUTH_PHI / N_MOUTH

    def spacing(phi: np.ndarray) -> np.ndarray:
        return step0 + (np.radians(11.0) - step0) * smoothstep(np.radians(22.0), np.radians(115.0), phi)

    half = np.concatenate([np.linspace(0.0, MOUTH_PHI, N_MOUTH + 1), _graded(MOUTH_PHI, np.pi, spacing)[1:]])
    return np.concatenate([half, -half[-2:0:-1]])  # C = 2 * (len(half) - 1), mirror(j) = (C - j) % C


def _rows() -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per row: origin height, elevation (rad), nominal height in the band (NaN in the caps); row index of Z_M."""

    def mid_spacing(z: np.ndarray) -> np.ndarray:
        s = np.full_like(z, 0.0038)
        s = np.minimum(s, 0.0014 + 0.0024 * smoothstep(0.011, 0.024, np.abs(z - 0.002)))  # eyes
        s = np.minimum(s, 0.0013 + 0.0025 * smoothstep(0.0, 0.02, np.abs(z - Z_M) - 0.009))  # mouth
        s = np.minimum(s, 0.0016 + 0.0022 * smoothstep(0.003, 0.012, np.abs(z + 0.036)))  # nose base
        return s

    up_lip = Z_M + H_NOM_U * np.arange(K_U + 1) / K_U
    lo_lip = Z_M - H_NOM_L * np.arange(K_L + 1) / K_L
    above = _graded(Z_M + H_NOM_U, Z_HI, mid_spacing)
    below = _graded(Z_M - H_NOM_L, Z_LO, mid_spacing)
    band = np.concatenate([below[::-1][:-1], lo_lip[::-1][:-1], up_lip[:-1], above])

    def bot_spacing(e: np.ndarray) -> np.ndarray:
        return np.radians(2.8) + np.radians(7.0) * smoothstep(np.radians(-40.0), np.radians(-70.0), e)

    def top_spacing(e: np.ndarray) -> np.ndarray:
        return np.radians(2.5) + np.radians(8.0) * smoothstep(np.radians(8.0), np.radians(55.0), e)

    bot = _graded(-np.pi / 2, 0.0, bot_spacing)[1:-1]
    top = _graded(0.0, np.pi / 2, top_spacing)[1:-1]
    oz = np.concatenate([np.full(len(bot), Z_LO), band, np.full(len(top), Z_HI)])
    el = np.concatenate([bot, np.zeros(len(band)), top])
    nominal = np.concatenate([np.full(len(bot), np.nan), band, np.full(len(top), np.nan)])
    row_m = len(bot) + int(np.argmin(np.abs(band - Z_M)))
    return oz, el, nominal, row_m


def upper_red_height(u: np.ndarray) -> np.ndarray:
    """Upper vermilion height (m) at mouth parameter u (0 centre, +-1 corners); nominal outside the mouth."""
    a = np.abs(u)
    inside = np.clip(1.0 - a**2, 0.0, 1.0)
    h = 0.0024 + 0.0060 * inside**0.6
    h = h + 0.0009 * np.exp(-(((a - 0.24) / 0.11) ** 2)) - 0.0006 * np.exp(-((a / 0.09) ** 2))  # cupid's bow
    t = smoothstep(1.0, 1.8, a)
    return h * (1 - t) + H_NOM_U * t


def lower_red_height(u: np.ndarray) -> np.ndarray:
    a = np.abs(u)
    inside = np.clip(1.0 - a**2, 0.0, 1.0)
    h = 0.0024 + 0.0080 * inside**0.55
    t = smoothstep(1.0, 1.8, a)
    return h * (1 - t) + H_NOM_L * t


def _warp_band(z: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Move the lip-band rows so that the vermilion borders follow the lip outline."""
    dz = z - Z_M
    hu, hl = upper_red_height(u), lower_red_height(u)
    span_u, span_l = H_NOM_U + 0.010, H_NOM_L + 0.010
    up = np.where(dz <= H_NOM_U, dz / H_NOM_U * hu, hu + (dz - H_NOM_U) / (span_u - H_NOM_U) * (span_u - hu))
    lo = np.where(-dz <= H_NOM_L, dz / H_NOM_L * hl, -hl + (dz + H_NOM_L) / (span_l - H_NOM_L) * (span_l - hl))
    out = np.where(dz >= 0, np.where(dz < span_u, up, dz), np.where(-dz < span_l, lo, dz))
    return Z_M + out


def _lip_relief(u: np.ndarray, dz: np.ndarray, lateral: np.ndarray) -> np.ndarray:
    """Forward offset (m) of the lips and the skin around them. ``lateral``: distance (m) beyond the corner."""
    a = np.abs(u)
    inside = np.clip(1.0 - a**2, 0.0, 1.0)
    hu, hl = upper_red_height(u), lower_red_height(u)
    contact = 0.0004 * inside**0.5
    vu, vl = np.clip(dz, 0, None) / hu, np.clip(-dz, 0, None) / hl
    prof_u = catmull(vu, [0.0, 0.2, 0.45, 0.85, 1.0, 1.4, 2.8], [0.0, 0.62, 1.0, 0.86, 0.80, 0.50, 0.0])
    prof_l = catmull(vl, [0.0, 0.2, 0.5, 0.85, 1.0, 1.5, 2.2, 3.2], [0.0, 0.66, 1.0, 0.66, 0.45, -0.35, -0.28, 0.0])
    off_u = 0.0040 * inside**0.45 * prof_u + contact * (1 - smoothstep(0.0, 0.5, vu))
    off_l = 0.0047 * inside**0.40 * prof_l + contact * (1 - smoothstep(0.0, 0.5, vl))
    off = np.where(dz >= 0, off_u, off_l)
    # the corners sit in a small dimple (commissure)
    off -= 0.0014 * np.exp(-((lateral / 0.005) ** 2) - ((dz / 0.004) ** 2))
    # philtrum groove between the upper vermilion border and the nose
    x_mm = u * MOUTH_PHI * 0.09
    off -= (
        0.0006
        * np.exp(-((x_mm / 0.0035) ** 2))
        * smoothstep(0.5 * hu, hu + 0.003, dz)
        * (1 - smoothstep(0.014, 0.022, dz))
    )
    return off


def eye_opening(p: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """0 inside the (left) eye opening, 1 outside it, smooth in between; by direction from the eye centre."""
    d = p - centre
    beta = np.degrees(np.arctan2(d[:, 0], -d[:, 1]))  # + outward (+X)
    alpha = np.degrees(np.arctan2(d[:, 2], np.hypot(d[:, 0], d[:, 1])))
    reach_a = np.where(alpha > 0.5, 44.0, 36.0)  # the upper lid shows more than the lower one
    reach_b = np.where(beta > 5.0, 76.0, 58.0)  # the inner corner stays partly tucked under the skin
    across = np.clip(np.abs(beta - 5.0) / reach_b, 0.0, 1.0)
    almond = 0.45 + 0.55 * np.sqrt(1.0 - across**2)  # the opening narrows toward the corners
    e = np.sqrt(((beta - 5.0) / reach_b) ** 2 + ((alpha - 0.5) / (reach_a * almond)) ** 2)
    t = np.maximum(
        smoothstep(0.74, 1.14, e), smoothstep(0.0155, 0.0195, np.linalg.norm(d, axis=-1))
    )  # only near the eyeball
    return np.where(d[:, 1] < 0, t, 1.0)


def _eye_carve(p: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Pull the skin inside the (left) eye opening back behind the eyelids, and behind the eyeball where the
    lids may ever part (eyeWide, eyeLookUp/Down); elsewhere the lids cover it and a shallow pocket will do."""
    d = p - centre
    r = np.linalg.norm(d, axis=-1)
    t = eye_opening(p, centre)
    beta = np.degrees(np.arctan2(d[:, 0], -d[:, 1]))
    alpha = np.degrees(np.arctan2(d[:, 2], np.hypot(d[:, 0], d[:, 1])))
    e_up, e_lo = lid_edges(beta)
    gap = np.minimum(e_up + 13.0 - alpha, alpha - (e_lo - 6.0))  # > 0 where the eyeball may show
    target = CARVE_R + (LID_R_IN + 0.0004 - CARVE_R) * smoothstep(1.0, -3.0, gap)
    r_new = target + (r - target) * t
    scale = np.where((r > target) & (t < 1.0), r_new / np.maximum(r, 1e-9), 1.0)  # exact no-op elsewhere
    return centre + d * scale[:, None]


def _eye_centre_y() -> float:
    hit = front_hit(np.array([EYE_X]), np.array([0.0]))
    return float(hit[0, 1] + EYE_GAP)


def build_skin(mesh: MeshBuilder) -> Skin:
    cols = _columns()
    oz, el, nominal, row_m = _rows()
    n_rows, n_cols = len(oz), len(cols)
    phi = np.broadcast_to(cols, (n_rows, n_cols))
    u = phi / MOUTH_PHI
    band = ~np.isnan(nominal)
    z0 = np.where(band[:, None], _warp_band(np.nan_to_num(nominal)[:, None] * np.ones(n_cols), u), oz[:, None])
    elev = np.broadcast_to(el[:, None], (n_rows, n_cols))
    direction = np.stack([np.cos(elev) * np.sin(phi), -np.cos(elev) * np.cos(phi), np.sin(elev)], axis=-1)
    origin = np.stack([np.zeros_like(z0), np.full_like(z0, Y_AXIS), z0], axis=-1)
    t = raycast(origin.reshape(-1, 3), direction.reshape(-1, 3)).reshape(n_rows, n_cols)
    # lips and their surroundings: relief along the (horizontal) rays in the band
    lateral = np.clip(np.abs(phi) - MOUTH_PHI, 0, None) * 0.085
    relief = np.where(band[:, None], _lip_relief(u, z0 - Z_M, lateral), 0.0)
    relief *= np.abs(phi) < np.radians(60)
    pts = origin + (t + relief)[..., None] * direction
    eye_y = _eye_centre_y()
    flat = pts.reshape(-1, 3)
    for sx in (1.0, -1.0):
        c = np.array([EYE_X, eye_y, 0.0])
        mirrored = flat * [sx, 1, 1]
        flat = _eye_carve(mirrored, c) * [sx, 1, 1]
    pts = flat.reshape(n_rows, n_cols, 3)

    grid = mesh.add(pts.reshape(-1, 3), P_SKIN).reshape(n_rows, n_cols)
    signed = np.arange(-N_MOUTH, N_MOUTH + 1)
    mouth_cols = signed % n_cols
    slit_cols = mouth_cols[1:-1]
    lower = mesh.add(pts[row_m, slit_cols], P_SKIN, side=-1)
    mesh.side[-2][grid[row_m, slit_cols] - grid[0, 0]] = 1  # the grid copies on the slit are the upper lip

    # faces: the band just below the slit uses the lower copies
    below_idx = grid.copy()
    below_idx[row_m, slit_cols] = lower
    quads_lo = grid_quads(below_idx[: row_m + 1], wrap=True)
    quads_hi = grid_quads(grid[row_m:], wrap=True)
    mats_lo = np.full(len(quads_lo), M_SKIN)
    mats_hi = np.full(len(quads_hi), M_SKIN)
    # vermilion: faces inside the mouth columns within the lip rows
    col_in_mouth = np.zeros(n_cols, dtype=bool)
    col_in_mouth[mouth_cols[:-1]] = True  # column j and j+1 both inside [-N, N]
    rows_lo = np.repeat(np.arange(row_m), n_cols)
    cols_lo = np.tile(np.arange(n_cols), row_m)
    mats_lo[(rows_lo >= row_m - K_L) & col_in_mouth[cols_lo]] = M_LIPS
    rows_hi = np.repeat(np.arange(n_rows - 1 - row_m), n_cols)
    cols_hi = np.tile(np.arange(n_cols), n_rows - 1 - row_m)
    mats_hi[(rows_hi < K_U) & col_in_mouth[cols_hi]] = M_LIPS
    mesh.faces(quads_lo, mats_lo)
    mesh.faces(quads_hi, mats_hi)

    # poles: the neck cut and the crown
    bottom = mesh.add(
        origin[0, 0] + raycast(origin[0, :1], np.array([[0.0, 0.0, -1.0]]))[0] * np.array([0, 0, -1.0]), P_SKIN
    )
    top_dir = np.array([[0.0, 0.0, 1.0]])
    top_origin = np.array([[0.0, Y_AXIS, Z_HI]])
    top = mesh.add(top_origin + raycast(top_origin, top_dir)[:, None] * top_dir, P_SKIN)
    mesh.faces(fan(int(bottom[0]), grid[0], pole_after=False), M_SKIN)
    mesh.faces(fan(int(top[0]), grid[-1], pole_after=True), M_SKIN)
    return Skin(grid, lower, row_m, mouth_cols, eye_y)
