"""Materials, per-vertex part labels and the head's dimensions.

Axes and units follow Blender: metres, +Z up, the face looks toward -Y, the character's left is +X.
The eye centres sit at z = 0; the head is about 0.23 m from crown to chin.
"""

from __future__ import annotations

import numpy as np

# ---- materials ------------------------------------------------------------------------------------------

MATERIALS: tuple[tuple[str, tuple[float, float, float, float]], ...] = (
    ("skin", (0.80, 0.58, 0.48, 1.0)),
    ("lips", (0.68, 0.33, 0.32, 1.0)),
    ("mouth_interior", (0.17, 0.045, 0.05, 1.0)),
    ("teeth", (0.90, 0.88, 0.80, 1.0)),
    ("tongue", (0.72, 0.32, 0.34, 1.0)),
    ("eye_white", (0.90, 0.89, 0.86, 1.0)),
    ("iris", (0.20, 0.36, 0.50, 1.0)),
    ("pupil", (0.01, 0.01, 0.01, 1.0)),
    ("brow_hair", (0.13, 0.08, 0.05, 1.0)),
    ("eyelid", (0.78, 0.55, 0.46, 1.0)),
)
(M_SKIN, M_LIPS, M_MOUTH, M_TEETH, M_TONGUE, M_EYE_WHITE, M_IRIS, M_PUPIL, M_HAIR, M_LID) = range(10)

# ---- parts (internal per-vertex labels) -----------------------------------------------------------------

P_SKIN, P_CAVITY, P_TEETH_U, P_TEETH_L, P_TONGUE, P_EYE, P_LID_U, P_LID_L, P_BROW, P_EAR = range(10)

# ---- layout (metres) ------------------------------------------------------------------------------------

Z_M = -0.066  # lip contact line (stomion) height; the eye centres are at z = 0
Y_AXIS = 0.008  # the vertical axis the skin rays start from
Z_LO, Z_HI = -0.098, 0.040  # the horizontal-ray band; below and above, rays fan down/up
MOUTH_PHI = np.radians(15.5)  # mouth-corner angle seen from the axis
N_MOUTH = 10  # skin columns from the mouth centre to one corner
H_NOM_U, K_U = 0.0085, 8  # nominal upper vermilion height and its rows
H_NOM_L, K_L = 0.0100, 9  # nominal lower vermilion height and its rows

EYE_X = 0.031  # eye centres at (+-EYE_X, eye_y, 0)
EYE_R = 0.012  # eyeball radius
EYE_GAP = 0.0135  # eye centre behind the (uncarved) skin surface in front of it
LID_R_UP, LID_R_LO, LID_R_IN = 0.0140, 0.0134, 0.0123  # eyelid shell radii (outer up/low, rim inside)
CARVE_R = 0.0105  # the skin inside the eye opening is pulled back to this radius (inside the eyeball)

HINGE = np.array([0.0, 0.002, -0.026])  # jaw hinge (temporomandibular joint) on the mid-plane
JAW_OPEN_DEG = 14.0

ARCH_A, ARCH_B = 0.0262, 0.030  # dental arch (half ellipse): half width and depth
EAR = np.array([0.0668, 0.004, -0.014])  # where the (left) ear's front edge meets the head

# The head turns about the top of the neck (roughly the atlas joint: below the ears, at the neck column's
# middle front to back); the whole mesh, neck stub included, turns rigidly about it.
NECK_PIVOT = np.array([0.0, 0.027, -0.08])
