"""Vertex groups (regions by name) and landmarks (single named vertices) of the built-in head."""

from __future__ import annotations

import numpy as np

from .assembly import Rig
from .eyes import BETA_IN, BETA_OUT
from .layout import (
    K_L,
    K_U,
    P_BROW,
    P_CAVITY,
    P_EAR,
    P_EYE,
    P_LID_L,
    P_LID_U,
    P_SKIN,
    P_TEETH_L,
    P_TEETH_U,
    P_TONGUE,
    Z_M,
)
from .maths import bump
from .shape_keys import Fields


def vertex_groups(rig: Rig, f: Fields) -> dict[str, np.ndarray]:
    p, part = rig.pos, rig.part
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    skin = part == P_SKIN  # the head surface without the ears
    grid, m, cols = rig.skin_grid, rig.row_m, rig.mouth_cols
    in_mouth = cols[1:-1]
    upper_lip = np.concatenate(
        [grid[m : m + K_U + 1, in_mouth].ravel(), grid[m + 1 : m + K_U + 1, cols[[0, -1]]].ravel()]
    )
    lower_lip = np.concatenate([grid[m - K_L : m, cols].ravel(), rig.slit_lower])
    face = skin & (y < -0.035) & (z > -0.125) & (z < 0.045)
    g: dict[str, np.ndarray] = {
        "skin": skin | (part == P_EAR),
        "cranium": skin & ((z > 0.045) | ((y > 0.025) & (z > -0.06))),
        "face": face,
        "neck": skin & (z < -0.125) & ~face,
        "jaw": skin & (f.jaw_w > 0.5),
        "nose": skin & (np.abs(x) < 0.021) & (z > -0.046) & (z < 0.006) & (y < -0.080),
        "teeth_upper": part == P_TEETH_U,
        "teeth_lower": part == P_TEETH_L,
        "tongue": part == P_TONGUE,
        "mouth_cavity": part == P_CAVITY,
    }
    for sx, tag in ((1.0, "L"), (-1.0, "R")):
        this = x * sx > 0
        g[f"eyeball_{tag}"] = (part == P_EYE) & this
        g[f"eyelid_upper_{tag}"] = (part == P_LID_U) & this
        g[f"eyelid_lower_{tag}"] = (part == P_LID_L) & this
        g[f"brow_{tag}"] = (part == P_BROW) & this
        g[f"ear_{tag}"] = (part == P_EAR) & this
        g[f"cheek_{tag}"] = skin & (bump(p, (sx * 0.045, -0.062, -0.032), (0.022, 0.04, 0.028)) > 0.15)
    out = {name: np.flatnonzero(mask).astype(np.int32) for name, mask in g.items()}
    out["upper_lip"] = np.unique(upper_lip).astype(np.int32)
    out["lower_lip"] = np.unique(lower_lip).astype(np.int32)
    out["lips"] = np.union1d(out["upper_lip"], out["lower_lip"]).astype(np.int32)
    out["upper_lip_inner"] = rig.slit_upper.astype(np.int32)
    out["lower_lip_inner"] = rig.slit_lower.astype(np.int32)
    return dict(sorted(out.items()))


def landmarks(rig: Rig) -> dict[str, int]:
    p, part = rig.pos, rig.part
    grid, m, cols = rig.skin_grid, rig.row_m, rig.mouth_cols
    mid = grid[:, 0]  # the skin column on the mid-plane, bottom to top
    lm: dict[str, int] = {
        "lip_upper_mid": int(grid[m + K_U, 0]),  # upper vermilion border (the philtrum's lower end)
        "lip_lower_mid": int(grid[m - K_L, 0]),  # lower vermilion border
        "lip_upper_inner_mid": int(grid[m, 0]),  # the contact line
        "lip_lower_inner_mid": int(rig.slit_lower[len(rig.slit_lower) // 2]),
        "mouth_corner_L": int(grid[m, cols[-1]]),
        "mouth_corner_R": int(grid[m, cols[0]]),
    }
    zc = p[mid, 2]
    chin_rows = (zc < Z_M - 0.025) & (zc > -0.125)
    lm["chin"] = int(mid[chin_rows][np.argmin(p[mid[chin_rows], 1])])
    lm["menton"] = int(mid[chin_rows][np.argmin(p[mid[chin_rows], 2] + 0.3 * (p[mid[chin_rows], 1] + 0.07))])
    lm["nose_tip"] = int(mid[np.argmin(p[mid, 1])])
    bridge = (zc > -0.005) & (zc < 0.02)
    lm["nose_bridge"] = int(mid[bridge][np.argmax(p[mid[bridge], 1])])  # nasion: deepest point between the eyes
    base = (zc > Z_M + 0.010) & (zc < -0.030)
    lm["subnasale"] = int(mid[base][np.argmax(p[mid[base], 1])])
    skin_idx = np.flatnonzero(part == P_SKIN)
    for sx, tag in ((1, "L"), (-1, "R")):
        brow = np.flatnonzero((part == P_BROW) & (p[:, 0] * sx > 0))
        ends = brow[np.argsort(np.abs(p[brow, 0]))]
        for name, b in (("brow_inner", ends[0]), ("brow_outer", ends[-1])):
            d = np.linalg.norm(p[skin_idx] - p[b], axis=1)
            lm[f"{name}_{tag}"] = int(skin_idx[np.argmin(d)])
        eye = np.flatnonzero((part == P_EYE) & (p[:, 0] * sx > 0))
        lm[f"eye_center_{tag}"] = int(eye[np.argmin(p[eye, 1])])  # the pupil's centre on the cornea
        up, lo = rig.lids[(sx, True)], rig.lids[(sx, False)]
        mid_col = int(np.argmin(np.abs(up.beta)))
        lm[f"upper_lid_mid_{tag}"] = int(up.idx[up.rim_row, mid_col])
        lm[f"lower_lid_mid_{tag}"] = int(lo.idx[lo.rim_row, mid_col])
        for name, beta in (("eye_inner_corner", BETA_IN), ("eye_outer_corner", BETA_OUT)):
            lm[f"{name}_{tag}"] = int(up.idx[up.rim_row, int(np.argmin(np.abs(up.beta - beta)))])
    return lm
