"""Assembly: builds every part in order (the left eye, lids, brow and ear then mirrored), symmetrises the
result and gathers the per-vertex data the shape-key fields need."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .brows_ears import build_brow, build_ear
from .eyes import Lid, build_eyeball, build_lid
from .layout import EYE_X, N_MOUTH
from .mesh import MeshBuilder
from .mirror import mirror_copy, mirror_map, symmetrise
from .mouth import build_mouth, build_teeth, build_tongue
from .skin import build_skin


@dataclass
class Rig:
    """Everything the shape-key fields need, per vertex (float64 rest positions)."""

    pos: np.ndarray
    part: np.ndarray
    side: np.ndarray
    ring: np.ndarray  # cavity ring (0 for the slit skin, -1 elsewhere)
    tongue_s: np.ndarray  # tongue length parameter, NaN elsewhere
    mirror: np.ndarray
    lids: dict[tuple[int, bool], Lid]  # (eye sign, upper) -> lid
    eye_centre: np.ndarray  # left eye centre
    x_corner: float
    y_corner: float
    y_lip: float  # contact line depth at x = 0
    slit_upper: np.ndarray  # contact line, left -> right
    slit_lower: np.ndarray
    skin_grid: np.ndarray
    row_m: int
    mouth_cols: np.ndarray  # skin grid columns of the signed mouth columns -N_MOUTH .. N_MOUTH


def assemble() -> tuple[MeshBuilder, Rig]:
    mesh = MeshBuilder()
    skin = build_skin(mesh)
    pos = np.concatenate(mesh.pos)
    n, m, n_cols = N_MOUTH, skin.row_m, skin.grid.shape[1]
    slit_up = skin.grid[m, np.arange(n - 1, -n, -1) % n_cols]
    slit_lo = skin.lower_slit[::-1]
    y_lip = float(pos[skin.grid[m, 0], 1])
    y_front_u = y_lip + 0.0072  # labial face of the upper incisors
    t_end = build_teeth(mesh, y_front_u)
    first_cavity = mesh.n
    ring_of = build_mouth(mesh, skin, y_front_u, t_end)
    first_tongue = mesh.n
    tongue_s = build_tongue(mesh, y_front_u)

    eye_c = np.array([EYE_X, skin.eye_y, 0.0])
    first_eye = mesh.n
    build_eyeball(mesh, eye_c)
    lid_up = build_lid(mesh, eye_c, upper=True)
    lid_lo = build_lid(mesh, eye_c, upper=False)
    build_brow(mesh)
    build_ear(mesh)
    shift = mirror_copy(mesh, first_eye, mesh.n)
    lids = {(1, True): lid_up, (1, False): lid_lo}
    for (sx, upper), lid in list(lids.items()):
        lids[(-sx, upper)] = Lid(lid.idx + shift, lid.alpha, lid.beta, lid.radius, lid.edge, lid.rim_row, upper)

    pos = np.concatenate(mesh.pos)
    part = np.concatenate(mesh.part)
    side = np.concatenate(mesh.side)
    ring = np.full(len(pos), -1, dtype=np.int64)
    ring[slit_up] = 0
    ring[slit_lo] = 0
    ring[first_cavity:first_tongue] = ring_of
    tongue = np.full(len(pos), np.nan)
    tongue[first_tongue : first_tongue + len(tongue_s)] = tongue_s
    mirror = mirror_map(pos, part, side)
    pos = symmetrise(pos, mirror)
    rig = Rig(
        pos=pos,
        part=part,
        side=side,
        ring=ring,
        tongue_s=tongue,
        mirror=mirror,
        lids=lids,
        eye_centre=eye_c,
        x_corner=float(pos[skin.grid[m, n], 0]),
        y_corner=float(pos[skin.grid[m, n], 1]),
        y_lip=y_lip,
        slit_upper=slit_up,
        slit_lower=slit_lo,
        skin_grid=skin.grid,
        row_m=m,
        mouth_cols=skin.mouth_cols,
    )
    return mesh, rig
