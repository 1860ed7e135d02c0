"""Eyes: eyeball spheres (iris and pupil materials) and, per eye, an upper and a lower eyelid shell slightly
larger than the eyeball whose borders tuck into the skin; the lid edge curves that the skin's eye openings
and the eyelid keys follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layout import (
    EYE_R,
    LID_R_IN,
    LID_R_LO,
    LID_R_UP,
    M_EYE_WHITE,
    M_HAIR,
    M_IRIS,
    M_LID,
    M_PUPIL,
    P_EYE,
    P_LID_L,
    P_LID_U,
)
from .maths import smoothstep
from .mesh import MeshBuilder, fan, grid_quads

BETA_IN, BETA_OUT = -50.0, 66.0  # canthi azimuths (deg, + outward): the lids wrap round the eyeball
ALPHA_UP0, ALPHA_LO0 = 24.0, -27.0  # lid edge elevations over the pupil (deg)
ALPHA_TOP, ALPHA_BOT = 78.0, -74.0  # lid shell far borders (tucked into the skin)


def _canthus_alpha(beta: np.ndarray) -> np.ndarray:
    t = np.clip((beta - BETA_IN) / (BETA_OUT - BETA_IN), 0, 1)
    return -1.0 + 4.5 * t  # the outer corner sits a little higher


def lid_opening(beta: np.ndarray) -> np.ndarray:
    """1 at the middle of the eye opening (azimuth beta, deg), falling to 0 at the corners and beyond."""
    s = (2 * beta - (BETA_OUT + BETA_IN)) / (BETA_OUT - BETA_IN)
    return np.clip(1 - s**2, 0, 1)


def lid_edges(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rest elevations (deg) of the upper and lower lid edges at azimuth beta (deg, + outward)."""
    s = (2 * beta - (BETA_OUT + BETA_IN)) / (BETA_OUT - BETA_IN)
    inside = lid_opening(beta)
    meet = _canthus_alpha(beta)
    s_up = s + 0.18 * inside  # the upper lid peaks a little toward the nose
    up = meet + (ALPHA_UP0 - meet) * np.clip(1 - s_up**2, 0, 1) ** 0.55
    lo = meet + (ALPHA_LO0 - meet) * inside**0.75
    return up, lo


def sphere_dirs(alpha: np.ndarray, beta: np.ndarray, outward: float) -> np.ndarray:
    a, b = np.radians(alpha), np.radians(beta)
    return np.stack([outward * np.cos(a) * np.sin(b), -np.cos(a) * np.cos(b), np.sin(a)], axis=-1)


@dataclass
class Lid:
    idx: np.ndarray  # [rows, cols] vertex indices, row 0 = the rim (inner roll)
    alpha: np.ndarray  # [rows, cols] rest elevations (deg)
    beta: np.ndarray  # [cols]
    radius: np.ndarray  # [rows, cols]
    edge: np.ndarray  # [cols] rest edge elevation
    rim_row: int  # the row with the lowest (upper lid) / highest (lower lid) point of the margin
    upper: bool


def build_lid(mesh: MeshBuilder, centre: np.ndarray, upper: bool) -> Lid:
    n_cols = 25
    beta = np.linspace(BETA_IN - 10.0, BETA_OUT + 14.0, n_cols)
    e_up, e_lo = lid_edges(beta)
    edge = e_up if upper else e_lo
    sg = 1.0 if upper else -1.0
    r_out = LID_R_UP if upper else LID_R_LO
    far = ALPHA_TOP if upper else ALPHA_BOT
    # rim roll (inside -> edge -> outer face), then the shell toward the far border
    rim_alpha = np.array([0.6, -1.3, 0.5]) * sg
    rim_r = np.array([LID_R_IN, 0.5 * (LID_R_IN + r_out), r_out])
    v = np.linspace(0, 1, 8)[1:]
    shell = edge[None, :] + sg * 2.0 + (far - edge - sg * 2.0)[None, :] * v[:, None] ** 1.15
    alpha = np.concatenate([edge[None, :] + rim_alpha[:, None], shell])
    radius = np.concatenate([np.broadcast_to(rim_r[:, None], (3, n_cols)), np.full((len(v), n_cols), r_out)])
    # beyond the eye corners the shell dives under the skin (toward the eyeball)
    dive = smoothstep(BETA_OUT, BETA_OUT + 13.0, beta) + smoothstep(BETA_IN, BETA_IN - 9.0, beta)
    radius = radius - (radius - (EYE_R - 0.0008)) * dive[None, :]
    dirs = sphere_dirs(alpha, np.broadcast_to(beta, alpha.shape), 1.0)
    pts = centre + radius[..., None] * dirs
    part = P_LID_U if upper else P_LID_L
    idx = mesh.add(pts.reshape(-1, 3), part).reshape(alpha.shape)
    # columns go outward (+X), rows away from the rim: up for the upper lid (normal = out x up = forward)
    quads = grid_quads(idx, wrap=False)
    if not upper:
        quads = quads[:, ::-1]
    mats = np.full(len(quads), M_LID)
    # lash line: the front of the margin and a thin band above it (below it on the lower lid)
    mats[n_cols - 1 : (3 if upper else 2) * (n_cols - 1)] = M_HAIR
    mesh.faces(quads, mats)
    return Lid(idx, alpha, beta, radius, edge, 1, upper)


def build_eyeball(mesh: MeshBuilder, centre: np.ndarray) -> None:
    gam = np.radians([4.0, 7.0, 10.0, 14.0, 19.0, 24.0, 28.0, 34.0, 44.0, 58.0, 76.0, 98.0, 122.0, 148.0])
    n_around = 24
    tau = np.linspace(0, 2 * np.pi, n_around, endpoint=False)
    # the cornea bulges a little over the iris
    radius = EYE_R + 0.0005 * np.cos(np.clip(gam / np.radians(31.0), 0, 1) * np.pi / 2) ** 2
    sg, cg = np.sin(gam)[:, None], np.cos(gam)[:, None]
    dirs = np.stack([sg * np.cos(tau), -cg * np.ones_like(tau), sg * np.sin(tau)], axis=-1)
    pts = centre + radius[:, None, None] * dirs
    idx = mesh.add(pts.reshape(-1, 3), P_EYE).reshape(len(gam), n_around)
    front = mesh.add(centre + [0.0, -(EYE_R + 0.0005), 0.0], P_EYE)[0]
    back = mesh.add(centre + [0.0, EYE_R, 0.0], P_EYE)[0]
    # rings go backward; tau runs +X -> +Z: seen from the front that is counter-clockwise -> reverse
    quads = grid_quads(idx, wrap=True)[:, ::-1]
    mid = np.degrees(0.5 * (gam[:-1] + gam[1:]))
    mats = np.repeat(np.where(mid < 10.0, M_PUPIL, np.where(mid < 28.0, M_IRIS, M_EYE_WHITE)), n_around)
    mesh.faces(quads, mats)
    mesh.faces(fan(int(front), idx[0], pole_after=False)[:, ::-1], M_PUPIL)
    mesh.faces(fan(int(back), idx[-1], pole_after=True)[:, ::-1], M_EYE_WHITE)
