"""The built-in preview head: a stylised adult head made entirely by code, with the 52 ARKit shape keys.

Axes and units follow Blender: metres, +Z up, the face looks toward -Y, the character's left is +X.
The eye centres sit at z = 0; the head is about 0.23 m from crown to chin.

How it is made (numpy only):

* **Skin** - a signed-distance field (smooth unions of ellipsoids and capsules) is sampled along rays
  from a vertical axis inside the head: horizontal rays for the face band, fanning up/down for the
  crown and the chin/neck. This gives a structured quad grid whose rows and columns line up with the
  features: one grid row is the lip contact line and is *split* between the mouth corners (upper and
  lower lip get their own vertices), the lip-band rows follow the vermilion outline, and lip relief is
  added along the rays. Inside the eye openings the skin is pulled back behind the eyeball.
* **Mouth** - a loft of rings from the lip slit inward (inner lips, gum lines, palate and floor) that
  closes in a dark bag, so an open mouth shows no hole. Teeth are rounded boxes on two dental arches;
  the tongue lies on the floor.
* **Eyes** - eyeball spheres (iris and pupil materials) and, per eye, an upper and a lower eyelid
  shell slightly larger than the eyeball whose borders tuck into the skin. Brows are raised strips; the
  ears are rimmed cushions whose front edges sink into the head.
* **Shape keys** - each key is a displacement field: smooth compact region masks times a displacement,
  rigid rotations for the jaw (about a hinge near the ear) and the eyeballs, and angular remaps on the
  eyelid spheres. Only the character's-left keys are authored; the right ones are their exact mirror
  images, and symmetric keys are symmetrised, so every Left/Right pair mirrors bit for bit.

The lip gap (:func:`lip_gap_mm`) is the project's lip-closure measure and is exact for this mesh. Keys
that part the lips on their own: jawOpen, mouthFunnel, mouthLowerDown*, mouthUpperUp*. mouthClose cancels
jawOpen on the lips (jawOpen = mouthClose = a keeps them sealed for any a). tongueOut moves only the tongue:
it slides out through the lip slit, so it never changes the lip gap by itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..arkit import ARKIT52

FORMAT_VERSION = 1
"""Bumped whenever the vertex order, the groups or the key fields change (stored on the Blender object)."""

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

RIGHT_OF = {name: name.replace("Left", "Right") for name in ARKIT52 if "Left" in name}

# =========================================================================================================
# Public data
# =========================================================================================================


@dataclass(frozen=True, eq=False)
class HeadMesh:
    """The built-in head. All arrays are read-only (the mesh is cached and shared).

    ``face_indices`` holds the polygon loops back to back (``face_sizes`` vertices each), ready for
    Blender's ``foreach_set``. ``shape_keys`` maps each ARKit name to its float32 ``[N, 3]`` deltas (views
    into ``key_matrix``, ``[52, N, 3]`` in ARKIT52 order). ``groups`` maps a region name to vertex indices;
    ``upper_lip_inner``/``lower_lip_inner`` are the lip contact lines, ordered from the character's left
    (+X) to the right (-X) and paired index by index (coincident at rest). ``mirror[i]`` is the vertex that
    is the mirror image of vertex ``i`` across x = 0.

    Landmarks: ``lip_upper_mid``/``lip_lower_mid`` are the vermilion borders on the mid-plane (the outer lip
    contour), ``lip_*_inner_mid`` the contact line there; ``chin`` is the front-most point of the chin and
    ``menton`` its bottom; ``eye_center_*`` is the pupil's centre on the cornea; ``upper/lower_lid_mid_*`` the
    lid margins above/below it; ``brow_inner/outer_*`` skin vertices under the ends of the brows.
    """

    vertices: np.ndarray
    face_sizes: np.ndarray
    face_indices: np.ndarray
    face_material: np.ndarray
    materials: tuple[tuple[str, tuple[float, float, float, float]], ...]
    groups: dict[str, np.ndarray]
    shape_keys: dict[str, np.ndarray]
    landmarks: dict[str, int]
    key_matrix: np.ndarray
    mirror: np.ndarray

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def n_faces(self) -> int:
        return int(self.face_sizes.shape[0])

    def loop_starts(self) -> np.ndarray:
        """Index of each polygon's first loop in ``face_indices``."""
        return np.concatenate([[0], np.cumsum(self.face_sizes)[:-1]]).astype(np.int32)

    def polygons(self) -> list[np.ndarray]:
        """The polygons as a list of vertex-index arrays (convenient, not fast)."""
        return np.split(self.face_indices, np.cumsum(self.face_sizes)[:-1])


# =========================================================================================================
# Small math
# =========================================================================================================


def _ss(e0: float | np.ndarray, e1: float | np.ndarray, x: float | np.ndarray) -> np.ndarray:
    """Smoothstep from e0 to e1 (either order)."""
    span = np.asarray(e1 - e0, dtype=np.float64)
    span = np.where(np.abs(span) < 1e-12, 1e-12, span)  # a zero-width step
    t = np.clip((np.asarray(x, dtype=np.float64) - e0) / span, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _bump(p: np.ndarray, centre: tuple[float, float, float], radii: tuple[float, float, float]) -> np.ndarray:
    """Compact smooth ellipsoidal bump: 1 at the centre, 0 outside the ellipsoid (C1 at its border)."""
    d2 = (((p - np.asarray(centre)) / np.asarray(radii)) ** 2).sum(axis=-1)
    return np.clip(1.0 - d2, 0.0, None) ** 2


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _graded(a: float, b: float, spacing: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Points from a to b (both included) whose local spacing follows ``spacing(x)``."""
    xs = np.linspace(a, b, 4001)
    dens = 1.0 / spacing(xs)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.abs(np.diff(xs)))])
    n = max(1, int(round(cum[-1])))
    out = np.interp(np.linspace(0.0, cum[-1], n + 1), cum, xs)
    out[0], out[-1] = a, b
    return out


def _catmull(x: np.ndarray, kx: list[float], ky: list[float]) -> np.ndarray:
    """C1 piecewise-cubic through the knots (Catmull-Rom slopes, flat ends), constant outside."""
    kxa, kya = np.asarray(kx), np.asarray(ky)
    slopes = np.zeros_like(kya)
    slopes[1:-1] = (kya[2:] - kya[:-2]) / (kxa[2:] - kxa[:-2])
    xc = np.clip(x, kxa[0], kxa[-1])
    i = np.clip(np.searchsorted(kxa, xc, side="right") - 1, 0, len(kxa) - 2)
    h = kxa[i + 1] - kxa[i]
    t = (xc - kxa[i]) / h
    h00, h10, h01, h11 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2
    return h00 * kya[i] + h10 * h * slopes[i] + h01 * kya[i + 1] + h11 * h * slopes[i + 1]


def _rot_x(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def _rot_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


# =========================================================================================================
# Signed distance field of the head (before lips, eye openings and details)
# =========================================================================================================


def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("...i,...i->...", v, v))


def _sd_ellipsoid(p: np.ndarray, c: tuple[float, float, float], r: tuple[float, float, float]) -> np.ndarray:
    """Approximate distance to an ellipsoid (exact on the surface, a close bound near it)."""
    ra = np.asarray(r)
    q = (p - np.asarray(c)) / ra
    k0 = _norm(q)
    k1 = _norm(q / ra)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def _sd_capsule(
    p: np.ndarray, a: tuple[float, float, float], b: tuple[float, float, float], ra: float, rb: float
) -> np.ndarray:
    """Capsule from a to b whose radius goes linearly from ra to rb."""
    aa, ba = np.asarray(a), np.asarray(b) - np.asarray(a)
    pa = p - aa
    h = np.clip((pa @ ba) / (ba @ ba), 0.0, 1.0)
    return _norm(pa - h[..., None] * ba) - (ra + (rb - ra) * h)


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _head_sdf(p: np.ndarray) -> np.ndarray:
    """Distance-like field, negative inside. Paired features use |x| so the field is exactly symmetric."""
    q = p * [-1.0, 1.0, 1.0]
    np.maximum(q, p, out=q, where=[True, False, False])  # q = (|x|, y, z)
    d = _sd_ellipsoid(p, (0.0, 0.016, 0.040), (0.076, 0.095, 0.078))  # cranium
    d = _smin(d, _sd_ellipsoid(p, (0.0, -0.020, -0.020), (0.057, 0.062, 0.058)), 0.03)  # midface
    d = _smin(d, _sd_ellipsoid(p, (0.0, -0.024, -0.066), (0.056, 0.054, 0.042)), 0.025)  # lower face
    d = _smin(d, _sd_ellipsoid(q, (0.034, -0.046, -0.044), (0.026, 0.026, 0.028)), 0.022)  # cheeks
    d = _smin(d, _sd_ellipsoid(q, (0.040, -0.026, -0.038), (0.026, 0.036, 0.036)), 0.03)  # side of the face
    d = _smin(d, _sd_ellipsoid(p, (0.0, -0.055, -0.062), (0.031, 0.033, 0.030)), 0.018)  # muzzle (teeth)
    d = _smin(d, _sd_ellipsoid(p, (0.0, -0.066, -0.100), (0.020, 0.018, 0.014)), 0.016)  # chin
    d = _smin(d, _sd_capsule(q, (0.054, 0.002, -0.082), (0.020, -0.064, -0.104), 0.011, 0.010), 0.022)  # jaw
    d = _smin(d, _sd_capsule(q, (0.059, 0.010, -0.028), (0.054, 0.002, -0.082), 0.011, 0.011), 0.022)
    d = _smin(d, _sd_ellipsoid(q, (0.049, -0.040, -0.012), (0.020, 0.020, 0.014)), 0.025)  # cheekbone
    d = _smin(d, _sd_capsule(q, (0.0, -0.077, 0.020), (0.050, -0.052, 0.026), 0.0095, 0.0080), 0.012)  # brow
    d = _smin(d, _sd_capsule(p, (0.0, -0.080, 0.008), (0.0, -0.101, -0.027), 0.0062, 0.0085), 0.008)
    d = _smin(d, _sd_ellipsoid(p, (0.0, -0.101, -0.031), (0.0105, 0.0105, 0.0095)), 0.005)  # nose tip
    d = _smin(d, _sd_ellipsoid(q, (0.0135, -0.088, -0.037), (0.0085, 0.0095, 0.0070)), 0.006)  # alae
    d = _smin(d, _sd_capsule(p, (0.0, 0.026, -0.060), (0.0, 0.030, -0.30), 0.051, 0.053), 0.03)  # neck
    return -_smin(-d, p[..., 2] + 0.19, 0.012)  # the neck is cut flat at z = -0.19, with a rounded edge


def _raycast(origin: np.ndarray, direction: np.ndarray, t_max: float = 0.22) -> np.ndarray:
    """Distance along each ray to the *outermost* crossing of the surface.

    Sphere tracing inward from ``t_max`` (the field is a distance bound up to a small factor); where a step
    lands inside, the crossing is bracketed and refined by regula falsi (Illinois variant)."""
    n = len(origin)
    t = np.full(n, t_max)
    t_out, f_out = np.full(n, t_max), np.full(n, 1.0)  # last point known to be outside, and its value
    f_in = np.zeros(n)
    todo = np.arange(n)
    bracket = np.zeros(n, dtype=bool)
    for _ in range(120):  # grazing rays creep along in small steps; the rest finish in about ten
        if not len(todo):
            break
        f = _head_sdf(origin[todo] + t[todo, None] * direction[todo])
        inside = f < 0
        bracket[todo[inside]] = True
        f_in[todo[inside]] = f[inside]
        keep = ~inside & (f >= 2e-6)
        todo, f = todo[keep], f[keep]
        t_out[todo], f_out[todo] = t[todo], f
        t[todo] = np.maximum(t[todo] - np.maximum(0.9 * f, 4e-4), 0.0)
    sel = np.flatnonzero(bracket)
    lo, hi, f_lo, f_hi = t[sel], t_out[sel], f_in[sel], f_out[sel]
    o, d = origin[sel], direction[sel]
    side = np.zeros(len(sel))
    for _ in range(6):
        mid = lo + (hi - lo) * (-f_lo) / np.maximum(f_hi - f_lo, 1e-12)
        f_mid = _head_sdf(o + mid[:, None] * d)
        inside = f_mid < 0
        # Illinois: if the same end is kept twice, halve the other end's value so the interval shrinks
        f_hi = np.where(inside & (side < 0), 0.5 * f_hi, f_hi)
        f_lo = np.where(~inside & (side > 0), 0.5 * f_lo, f_lo)
        lo, f_lo = np.where(inside, mid, lo), np.where(inside, f_mid, f_lo)
        hi, f_hi = np.where(inside, hi, mid), np.where(inside, f_hi, f_mid)
        side = np.where(inside, -1.0, 1.0)
    t[sel] = lo + (hi - lo) * (-f_lo) / np.maximum(f_hi - f_lo, 1e-12)
    return t


def _sdf_normal(p: np.ndarray) -> np.ndarray:
    e = 1e-4
    g = np.stack(
        [_head_sdf(p + d) - _head_sdf(p - d) for d in (np.array([e, 0, 0]), np.array([0, e, 0]), np.array([0, 0, e]))],
        axis=-1,
    )
    return _unit(g)


def _front_hit(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Points on the field surface seen straight from the front (rays along +Y)."""
    origin = np.stack([x, np.full_like(x, -0.2), z], axis=-1)
    direction = np.tile([0.0, 1.0, 0.0], (len(x), 1))
    t = 0.2 + 0.05 - _raycast(origin + 0.25 * direction, -direction, t_max=0.25)
    return origin + t[:, None] * direction


# =========================================================================================================
# Mesh accumulator
# =========================================================================================================


class _Mesh:
    def __init__(self) -> None:
        self.pos: list[np.ndarray] = []
        self.part: list[np.ndarray] = []
        self.side: list[np.ndarray] = []
        self.n = 0
        self.polys: list[np.ndarray] = []
        self.mats: list[np.ndarray] = []

    def add(self, pts: np.ndarray, part: int, side: int | np.ndarray = 0) -> np.ndarray:
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
        idx = np.arange(self.n, self.n + len(pts))
        self.pos.append(pts)
        self.part.append(np.full(len(pts), part, dtype=np.int8))
        self.side.append(np.broadcast_to(np.asarray(side, dtype=np.int8), (len(pts),)).copy())
        self.n += len(pts)
        return idx

    def faces(self, polys: np.ndarray, material: int | np.ndarray) -> None:
        polys = np.asarray(polys, dtype=np.int64)
        self.polys.append(polys)
        self.mats.append(np.broadcast_to(np.asarray(material, dtype=np.int32), (len(polys),)).copy())


def _grid_quads(idx: np.ndarray, wrap: bool) -> np.ndarray:
    """Quads of a [rows, cols] index grid; rows go 'up', columns 'right' (normal = right x up)."""
    a = idx[:-1]
    b = np.roll(idx, -1, axis=1)[:-1] if wrap else idx[:-1, 1:]
    c = np.roll(idx, -1, axis=1)[1:] if wrap else idx[1:, 1:]
    d = idx[1:]
    if not wrap:
        a, d = a[:, :-1], d[:, :-1]
    return np.stack([a, b, c, d], axis=-1).reshape(-1, 4)


def _fan(pole: int, ring: np.ndarray, pole_after: bool) -> np.ndarray:
    """Triangles joining a closed ring to a pole; ``pole_after``: the pole lies 'up' from the ring."""
    nxt = np.roll(ring, -1)
    p = np.full_like(ring, pole)
    return np.stack([ring, nxt, p], axis=-1) if pole_after else np.stack([p, nxt, ring], axis=-1)


# =========================================================================================================
# Skin
# =========================================================================================================


@dataclass
class _Skin:
    grid: np.ndarray  # [R, C] vertex index (row Z_M holds the upper copies inside the mouth)
    lower_slit: np.ndarray  # [2 N_MOUTH - 1] lower copies, signed columns -(N_MOUTH-1) .. N_MOUTH-1
    row_m: int
    mouth_cols: np.ndarray  # grid column index for signed columns -N_MOUTH .. N_MOUTH
    eye_y: float


def _columns() -> np.ndarray:
    step0 = MOUTH_PHI / N_MOUTH

    def spacing(phi: np.ndarray) -> np.ndarray:
        return step0 + (np.radians(11.0) - step0) * _ss(np.radians(22.0), np.radians(115.0), phi)

    half = np.concatenate([np.linspace(0.0, MOUTH_PHI, N_MOUTH + 1), _graded(MOUTH_PHI, np.pi, spacing)[1:]])
    return np.concatenate([half, -half[-2:0:-1]])  # C = 2 * (len(half) - 1), mirror(j) = (C - j) % C


def _rows() -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per row: origin height, elevation (rad), nominal height in the band (NaN in the caps); row index of Z_M."""

    def mid_spacing(z: np.ndarray) -> np.ndarray:
        s = np.full_like(z, 0.0038)
        s = np.minimum(s, 0.0014 + 0.0024 * _ss(0.011, 0.024, np.abs(z - 0.002)))  # eyes
        s = np.minimum(s, 0.0013 + 0.0025 * _ss(0.0, 0.02, np.abs(z - Z_M) - 0.009))  # mouth
        s = np.minimum(s, 0.0016 + 0.0022 * _ss(0.003, 0.012, np.abs(z + 0.036)))  # nose base
        return s

    up_lip = Z_M + H_NOM_U * np.arange(K_U + 1) / K_U
    lo_lip = Z_M - H_NOM_L * np.arange(K_L + 1) / K_L
    above = _graded(Z_M + H_NOM_U, Z_HI, mid_spacing)
    below = _graded(Z_M - H_NOM_L, Z_LO, mid_spacing)
    band = np.concatenate([below[::-1][:-1], lo_lip[::-1][:-1], up_lip[:-1], above])

    def bot_spacing(e: np.ndarray) -> np.ndarray:
        return np.radians(2.8) + np.radians(7.0) * _ss(np.radians(-40.0), np.radians(-70.0), e)

    def top_spacing(e: np.ndarray) -> np.ndarray:
        return np.radians(2.5) + np.radians(8.0) * _ss(np.radians(8.0), np.radians(55.0), e)

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
    t = _ss(1.0, 1.8, a)
    return h * (1 - t) + H_NOM_U * t


def lower_red_height(u: np.ndarray) -> np.ndarray:
    a = np.abs(u)
    inside = np.clip(1.0 - a**2, 0.0, 1.0)
    h = 0.0024 + 0.0080 * inside**0.55
    t = _ss(1.0, 1.8, a)
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
    prof_u = _catmull(vu, [0.0, 0.2, 0.45, 0.85, 1.0, 1.4, 2.8], [0.0, 0.62, 1.0, 0.86, 0.80, 0.50, 0.0])
    prof_l = _catmull(vl, [0.0, 0.2, 0.5, 0.85, 1.0, 1.5, 2.2, 3.2], [0.0, 0.66, 1.0, 0.66, 0.45, -0.35, -0.28, 0.0])
    off_u = 0.0040 * inside**0.45 * prof_u + contact * (1 - _ss(0.0, 0.5, vu))
    off_l = 0.0047 * inside**0.40 * prof_l + contact * (1 - _ss(0.0, 0.5, vl))
    off = np.where(dz >= 0, off_u, off_l)
    # the corners sit in a small dimple (commissure)
    off -= 0.0014 * np.exp(-((lateral / 0.005) ** 2) - ((dz / 0.004) ** 2))
    # philtrum groove between the upper vermilion border and the nose
    x_mm = u * MOUTH_PHI * 0.09
    off -= 0.0006 * np.exp(-((x_mm / 0.0035) ** 2)) * _ss(0.5 * hu, hu + 0.003, dz) * (1 - _ss(0.014, 0.022, dz))
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
    t = np.maximum(_ss(0.74, 1.14, e), _ss(0.0155, 0.0195, np.linalg.norm(d, axis=-1)))  # only near the eyeball
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
    target = CARVE_R + (LID_R_IN + 0.0004 - CARVE_R) * _ss(1.0, -3.0, gap)
    r_new = target + (r - target) * t
    scale = np.where((r > target) & (t < 1.0), r_new / np.maximum(r, 1e-9), 1.0)  # exact no-op elsewhere
    return centre + d * scale[:, None]


def _eye_centre_y() -> float:
    hit = _front_hit(np.array([EYE_X]), np.array([0.0]))
    return float(hit[0, 1] + EYE_GAP)


def _build_skin(mesh: _Mesh) -> _Skin:
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
    t = _raycast(origin.reshape(-1, 3), direction.reshape(-1, 3)).reshape(n_rows, n_cols)
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
    quads_lo = _grid_quads(below_idx[: row_m + 1], wrap=True)
    quads_hi = _grid_quads(grid[row_m:], wrap=True)
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
        origin[0, 0] + _raycast(origin[0, :1], np.array([[0.0, 0.0, -1.0]]))[0] * np.array([0, 0, -1.0]), P_SKIN
    )
    top_dir = np.array([[0.0, 0.0, 1.0]])
    top_origin = np.array([[0.0, Y_AXIS, Z_HI]])
    top = mesh.add(top_origin + _raycast(top_origin, top_dir)[:, None] * top_dir, P_SKIN)
    mesh.faces(_fan(int(bottom[0]), grid[0], pole_after=False), M_SKIN)
    mesh.faces(_fan(int(top[0]), grid[-1], pole_after=True), M_SKIN)
    return _Skin(grid, lower, row_m, mouth_cols, eye_y)


# =========================================================================================================
# Mouth: inner lips, gums, palate/floor bag, teeth, tongue
# =========================================================================================================


def _arch(t: np.ndarray, y_front: float, shrink: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Dental arch (a half ellipse) at parameter t (rad, 0 = front middle, + toward +X): points, outward normals."""
    a, b = ARCH_A - shrink, ARCH_B - shrink
    pts = np.stack([a * np.sin(t), y_front + b * (1 - np.cos(t)), np.zeros_like(t)], axis=-1)
    nrm = _unit(np.stack([b * np.sin(t), -a * np.cos(t), np.zeros_like(t)], axis=-1))
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


def _tooth(mesh: _Mesh, centre: np.ndarray, tangent: np.ndarray, normal: np.ndarray, width: float,
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
    quads = _grid_quads(idx, wrap=True)
    tris = np.concatenate([_fan(int(e), idx[0], pole_after=False), _fan(int(r), idx[-1], pole_after=True)])
    if np.cross(tangent, normal)[2] * sgn < 0:  # keep normals outward whatever the frame handedness
        quads, tris = quads[:, ::-1], tris[:, ::-1]
    mesh.faces(quads, M_TEETH)
    mesh.faces(tris, M_TEETH)


def _build_teeth(mesh: _Mesh, y_front_u: float) -> tuple[float, float]:
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
                tangent = _unit(np.cross(np.array([0.0, 0.0, 1.0]), nrm[k]))
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


def _build_mouth(mesh: _Mesh, skin: _Skin, y_front_u: float, t_end: tuple[float, float]) -> np.ndarray:
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
    mesh.faces(_fan(int(pole[0]), rings[-1], pole_after=True), M_MOUTH)
    return np.concatenate(ring_of)


def _build_tongue(mesh: _Mesh, y_front_u: float) -> np.ndarray:
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
    mesh.faces(_grid_quads(idx, wrap=True)[:, ::-1], M_TONGUE)
    mesh.faces(_fan(int(tip[0]), idx[0], pole_after=True), M_TONGUE)
    mesh.faces(_fan(int(root[0]), idx[-1], pole_after=False), M_TONGUE)
    return np.concatenate([np.repeat(s, n_w), [0.0, 1.0]])


# =========================================================================================================
# Eyes, eyelids, brows
# =========================================================================================================

BETA_IN, BETA_OUT = -50.0, 66.0  # canthi azimuths (deg, + outward): the lids wrap round the eyeball
ALPHA_UP0, ALPHA_LO0 = 24.0, -27.0  # lid edge elevations over the pupil (deg)
ALPHA_TOP, ALPHA_BOT = 78.0, -74.0  # lid shell far borders (tucked into the skin)


def _canthus_alpha(beta: np.ndarray) -> np.ndarray:
    t = np.clip((beta - BETA_IN) / (BETA_OUT - BETA_IN), 0, 1)
    return -1.0 + 4.5 * t  # the outer corner sits a little higher


def lid_edges(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rest elevations (deg) of the upper and lower lid edges at azimuth beta (deg, + outward)."""
    s = (2 * beta - (BETA_OUT + BETA_IN)) / (BETA_OUT - BETA_IN)
    inside = np.clip(1 - s**2, 0, 1)
    meet = _canthus_alpha(beta)
    s_up = s + 0.18 * inside  # the upper lid peaks a little toward the nose
    up = meet + (ALPHA_UP0 - meet) * np.clip(1 - s_up**2, 0, 1) ** 0.55
    lo = meet + (ALPHA_LO0 - meet) * inside**0.75
    return up, lo


def _sphere_dirs(alpha: np.ndarray, beta: np.ndarray, outward: float) -> np.ndarray:
    a, b = np.radians(alpha), np.radians(beta)
    return np.stack([outward * np.cos(a) * np.sin(b), -np.cos(a) * np.cos(b), np.sin(a)], axis=-1)


@dataclass
class _Lid:
    idx: np.ndarray  # [rows, cols] vertex indices, row 0 = the rim (inner roll)
    alpha: np.ndarray  # [rows, cols] rest elevations (deg)
    beta: np.ndarray  # [cols]
    radius: np.ndarray  # [rows, cols]
    edge: np.ndarray  # [cols] rest edge elevation
    rim_row: int  # the row with the lowest (upper lid) / highest (lower lid) point of the margin
    upper: bool


def _build_lid(mesh: _Mesh, centre: np.ndarray, upper: bool) -> _Lid:
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
    dive = _ss(BETA_OUT, BETA_OUT + 13.0, beta) + _ss(BETA_IN, BETA_IN - 9.0, beta)
    radius = radius - (radius - (EYE_R - 0.0008)) * dive[None, :]
    dirs = _sphere_dirs(alpha, np.broadcast_to(beta, alpha.shape), 1.0)
    pts = centre + radius[..., None] * dirs
    part = P_LID_U if upper else P_LID_L
    idx = mesh.add(pts.reshape(-1, 3), part).reshape(alpha.shape)
    # columns go outward (+X), rows away from the rim: up for the upper lid (normal = out x up = forward)
    quads = _grid_quads(idx, wrap=False)
    if not upper:
        quads = quads[:, ::-1]
    mats = np.full(len(quads), M_LID)
    # lash line: the front of the margin and a thin band above it (below it on the lower lid)
    mats[n_cols - 1 : (3 if upper else 2) * (n_cols - 1)] = M_HAIR
    mesh.faces(quads, mats)
    return _Lid(idx, alpha, beta, radius, edge, 1, upper)


def _build_eyeball(mesh: _Mesh, centre: np.ndarray) -> None:
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
    quads = _grid_quads(idx, wrap=True)[:, ::-1]
    mid = np.degrees(0.5 * (gam[:-1] + gam[1:]))
    mats = np.repeat(np.where(mid < 10.0, M_PUPIL, np.where(mid < 28.0, M_IRIS, M_EYE_WHITE)), n_around)
    mesh.faces(quads, mats)
    mesh.faces(_fan(int(front), idx[0], pole_after=False)[:, ::-1], M_PUPIL)
    mesh.faces(_fan(int(back), idx[-1], pole_after=True)[:, ::-1], M_EYE_WHITE)


def _build_ear(mesh: _Mesh) -> None:
    """Left ear: a cushion with a raised rim (helix) and a hollow bowl, its front edge sunk into the head."""
    n_u, n_v = 20, 6
    u = np.linspace(0, 2 * np.pi, n_u, endpoint=False)  # around the outline, 0 = front edge, pi/2 = top
    v = np.linspace(0, 1, n_v + 1)[1:]  # from the middle to the rim
    # outline in the ear plane (w back from the attachment line, h up): taller than wide, narrower lobe
    w_mid = 0.0205
    w_out = w_mid - 0.0145 * np.cos(u) * (0.9 + 0.1 * np.sin(u))
    h_out = 0.031 * np.sin(u) * np.where(np.sin(u) < 0, 0.8, 1.0)
    rim = _ss(0.55, 0.95, v) * (1 - _ss(0.95, 1.0, v))
    outer = 0.0012 + 0.0042 * rim + 0.0014 * (1 - v)  # the outer face stands off the base plane
    inner = np.full_like(v, -0.0035)
    ww = w_mid + np.outer(v, w_out - w_mid)
    hh = np.outer(v, h_out)
    faces = [np.stack([np.broadcast_to(off[:, None], ww.shape), ww, hh], axis=-1) for off in (inner, outer)]
    local = np.concatenate([faces[0], faces[1][::-1]])  # rows: inner middle .. rim, outer rim .. middle
    flare = np.radians(27.0)  # the back of the ear stands off the head
    rot = np.array([[np.cos(flare), np.sin(flare), 0.0], [-np.sin(flare), np.cos(flare), 0.0], [0.0, 0.0, 1.0]])
    idx = mesh.add(EAR + local.reshape(-1, 3) @ rot.T, P_EAR).reshape(local.shape[:2])
    mesh.faces(_grid_quads(idx, wrap=True), M_SKIN)
    poles = np.array([[-0.0035, w_mid, 0.0], [0.0026, w_mid, 0.0]]) @ rot.T + EAR
    mid_in, mid_out = mesh.add(poles, P_EAR)
    mesh.faces(_fan(int(mid_in), idx[0], pole_after=False), M_SKIN)
    mesh.faces(_fan(int(mid_out), idx[-1], pole_after=True), M_SKIN)


def _build_brow(mesh: _Mesh) -> None:
    """Left brow: a raised strip on the skin whose long edges sink under it."""
    n_s, n_t = 16, 7
    kx = [0.0125, 0.022, 0.033, 0.044, 0.0545]
    kz = [0.0200, 0.0245, 0.0272, 0.0266, 0.0222]
    s = np.linspace(0, 1, n_s)
    xs = _catmull(s * 4, [0, 1, 2, 3, 4], kx)
    zs = _catmull(s * 4, [0, 1, 2, 3, 4], kz)
    width = _catmull(s, [0.0, 0.25, 0.7, 1.0], [0.0085, 0.0078, 0.0060, 0.0028])
    dx, dz = np.gradient(xs), np.gradient(zs)
    nx, nz = -dz / np.hypot(dx, dz), dx / np.hypot(dx, dz)  # points up
    t = np.linspace(-1, 1, n_t)
    px = xs[:, None] + nx[:, None] * t[None, :] * 0.5 * width[:, None]
    pz = zs[:, None] + nz[:, None] * t[None, :] * 0.5 * width[:, None]
    surf = _front_hit(px.ravel(), pz.ravel())
    normal = _sdf_normal(surf)
    lift = (0.0013 * (1 - t**2) ** 0.5 - 0.0004)[None, :] * (0.65 + 0.35 * (1 - s))[:, None]
    pts = surf + normal * lift.reshape(-1, 1)
    idx = mesh.add(pts, P_BROW).reshape(n_s, n_t)
    # rows along the brow (outward, +X), columns across it (up): normal = up x out -> flip
    quads = _grid_quads(idx.T, wrap=False)
    mesh.faces(quads[:, ::-1], M_HAIR)


# =========================================================================================================
# Assembly
# =========================================================================================================


@dataclass
class _Rig:
    """Everything the shape-key fields need, per vertex (float64 rest positions)."""

    pos: np.ndarray
    part: np.ndarray
    side: np.ndarray
    ring: np.ndarray  # cavity ring (0 for the slit skin, -1 elsewhere)
    tongue_s: np.ndarray  # tongue length parameter, NaN elsewhere
    mirror: np.ndarray
    lids: dict[tuple[int, bool], _Lid]  # (eye sign, upper) -> lid
    eye_centre: np.ndarray  # left eye centre
    x_corner: float
    y_corner: float
    y_lip: float  # contact line depth at x = 0
    slit_upper: np.ndarray  # contact line, left -> right
    slit_lower: np.ndarray
    skin_grid: np.ndarray
    row_m: int
    mouth_cols: np.ndarray  # skin grid columns of the signed mouth columns -N_MOUTH .. N_MOUTH


def _mirror_map(pos: np.ndarray, part: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Index of each vertex's mirror image across x = 0 (same part and lip side, position within 0.1 um).

    Positions are quantised twice, the second time on a half-shifted grid, so that two values an ulp
    apart on either side of a cell border still pair up."""
    n = len(pos)
    mirror = np.full(n, -1, dtype=np.int64)
    sign = np.where(np.abs(pos[:, 0]) < 1e-9, 0, np.sign(pos[:, 0])).astype(np.int64)
    todo = np.arange(n)
    for offset in (0.0, 0.5):
        q = np.floor(np.abs(pos[todo]) * [1e7, 0, 0] + pos[todo] * [0, 1e7, 1e7] + offset).astype(np.int64)
        keys = list(zip(part[todo].tolist(), side[todo].tolist(), sign[todo].tolist(), *q.T.tolist(), strict=True))
        table = dict(zip(keys, todo.tolist(), strict=True))
        for key, i in zip(keys, todo.tolist(), strict=True):
            j = table.get((key[0], key[1], -key[2], *key[3:]))
            if j is not None:
                mirror[i] = j
        todo = np.flatnonzero(mirror < 0)
        if not len(todo):
            break
    ok = not len(todo) and np.array_equal(mirror[mirror], np.arange(n))
    if not ok or np.abs(pos[mirror] * [-1, 1, 1] - pos).max() > 1e-7:
        raise AssertionError("built-in head is not mirror-symmetric")
    return mirror


def _symmetrise(pos: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    mirrored = pos[mirror] * [-1.0, 1.0, 1.0]
    return 0.5 * (pos + mirrored)


def _mirror_copy(mesh: _Mesh, first: int, last: int) -> int:
    """Append the mirror image (x -> -x) of vertices [first, last) and of their faces; returns the index shift."""
    shift = mesh.n - first
    start = 0
    blocks = []
    for k, block in enumerate(mesh.pos):
        if start >= first and start + len(block) <= last:
            blocks.append(k)
        start += len(block)
    for k in blocks:
        mesh.add(mesh.pos[k] * [-1.0, 1.0, 1.0], int(mesh.part[k][0]), mesh.side[k])
    for k in range(len(mesh.polys)):
        polys = mesh.polys[k]
        if polys.min() >= first and polys.max() < last:
            mesh.faces(polys[:, ::-1] + shift, mesh.mats[k])
    return shift


def _assemble() -> tuple[_Mesh, _Rig]:
    mesh = _Mesh()
    skin = _build_skin(mesh)
    pos = np.concatenate(mesh.pos)
    n, m, n_cols = N_MOUTH, skin.row_m, skin.grid.shape[1]
    slit_up = skin.grid[m, np.arange(n - 1, -n, -1) % n_cols]
    slit_lo = skin.lower_slit[::-1]
    y_lip = float(pos[skin.grid[m, 0], 1])
    y_front_u = y_lip + 0.0072  # labial face of the upper incisors
    t_end = _build_teeth(mesh, y_front_u)
    first_cavity = mesh.n
    ring_of = _build_mouth(mesh, skin, y_front_u, t_end)
    first_tongue = mesh.n
    tongue_s = _build_tongue(mesh, y_front_u)

    eye_c = np.array([EYE_X, skin.eye_y, 0.0])
    first_eye = mesh.n
    _build_eyeball(mesh, eye_c)
    lid_up = _build_lid(mesh, eye_c, upper=True)
    lid_lo = _build_lid(mesh, eye_c, upper=False)
    _build_brow(mesh)
    _build_ear(mesh)
    shift = _mirror_copy(mesh, first_eye, mesh.n)
    lids = {(1, True): lid_up, (1, False): lid_lo}
    for (sx, upper), lid in list(lids.items()):
        lids[(-sx, upper)] = _Lid(lid.idx + shift, lid.alpha, lid.beta, lid.radius, lid.edge, lid.rim_row, upper)

    pos = np.concatenate(mesh.pos)
    part = np.concatenate(mesh.part)
    side = np.concatenate(mesh.side)
    ring = np.full(len(pos), -1, dtype=np.int64)
    ring[slit_up] = 0
    ring[slit_lo] = 0
    ring[first_cavity:first_tongue] = ring_of
    tongue = np.full(len(pos), np.nan)
    tongue[first_tongue : first_tongue + len(tongue_s)] = tongue_s
    mirror = _mirror_map(pos, part, side)
    pos = _symmetrise(pos, mirror)
    rig = _Rig(
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


# =========================================================================================================
# Shape keys
# =========================================================================================================

# how much the general facial fields move each cavity ring (0 = the slit itself)
_RING_FOLLOW = {0: 1.0, 1: 1.0, 2: 0.85, 3: 0.35, 4: 0.08, 5: 0.0, 6: 0.0, -1: 0.0}


class _Fields:
    """Per-vertex rest quantities and masks shared by the key fields (all float64)."""

    def __init__(self, rig: _Rig) -> None:
        self.rig = rig
        p = rig.pos
        self.p = p
        self.x, self.y, self.z = p[:, 0], p[:, 1], p[:, 2]
        self.p_abs = np.abs(p) * [1, 0, 0] + p * [0, 1, 1]  # (|x|, y, z) for masks that cover both sides
        self.n = len(p)
        part = rig.part
        self.cavity = part == P_CAVITY
        self.skinlike = (part == P_SKIN) | (part == P_BROW) | (part == P_EAR)
        # how strongly the facial (skin) fields move each vertex
        soft = np.zeros(self.n)
        soft[self.skinlike] = 1.0
        soft[self.cavity] = [_RING_FOLLOW[int(k)] for k in rig.ring[self.cavity]]
        lid_follow = np.zeros(self.n)
        for lid in rig.lids.values():
            rows = np.linspace(0.15, 1.0, lid.idx.shape[0]) ** 0.7  # the margin follows least
            lid_follow[lid.idx] = rows[:, None]
        self.lid_follow = lid_follow
        self.soft = soft
        self.soft_lids = soft + lid_follow
        self.front = 1.0 - _ss(-0.05, -0.03, self.y)  # excludes the back of the head at the same heights
        self.xc = rig.x_corner
        self.dz = self.z - Z_M
        self.u = self.x / self.xc
        self.hu = upper_red_height(self.u)
        self.hl = lower_red_height(self.u)
        self.beyond = np.clip(np.abs(self.x) - self.xc, 0.0, None)  # lateral distance past the corners
        self.side = rig.side.astype(np.float64)
        self.jaw_w = self._jaw_weight()

    # ---- masks ----------------------------------------------------------------------------------------

    def upness(self, slope: float = 0.6) -> np.ndarray:
        """1 on the upper lip side of the mouth line, 0 below; sharp between the corners, soft outside."""
        b = 5e-5 + slope * self.beyond
        return _ss(-b, b, self.dz + 2.0 * b * self.side)

    def lip_window(self, pad: float = 0.010, up: float = 0.012, down: float = 0.016) -> np.ndarray:
        """1 over the lips (corner to corner, vermilion heights), fading over ``pad``/``up``/``down``."""
        wx = 1.0 - _ss(self.xc, self.xc + pad, np.abs(self.x))
        wz = np.where(
            self.dz >= 0,
            1.0 - _ss(self.hu, self.hu + up, self.dz),
            1.0 - _ss(self.hl, self.hl + down, -self.dz),
        )
        return wx * wz * self.front * self.soft

    def _jaw_weight(self) -> np.ndarray:
        beyond = self.beyond
        z_sep = Z_M + 0.55 * beyond  # the jaw/cheek divide rises from the mouth corner toward the ear
        b = 5e-5 + 0.45 * beyond
        w = 1.0 - _ss(-b, b, self.z - z_sep + 2.0 * b * self.side)
        w *= 1.0 - _ss(HINGE[1] - 0.02, HINGE[1] + 0.015, self.y)  # nothing behind the hinge
        w *= _ss(-0.165, -0.118, self.z)  # the throat stretches
        part = self.rig.part
        w *= (part == P_SKIN) | (part == P_BROW)  # not the ears
        w[self.cavity] = np.where(self.side[self.cavity] < 0, 1.0, np.where(self.side[self.cavity] > 0, 0.0, 0.5))
        w[part == P_TEETH_L] = 1.0
        w[part == P_TONGUE] = 0.8  # it hangs from the hyoid as well as from the jaw
        return w

    def jaw_rotation(self, deg: float) -> np.ndarray:
        rot = _rot_x(deg)
        rel = self.p - HINGE
        return self.jaw_w[:, None] * (rel @ rot.T - rel)

    # ---- eyes -----------------------------------------------------------------------------------------

    def lid_remap(self, upper: bool, new_edge: np.ndarray) -> np.ndarray:
        """Left lid moved so that its edge sits at ``new_edge`` (deg per lid column); the far border stays."""
        lid = self.rig.lids[(1, upper)]
        far = ALPHA_TOP if upper else ALPHA_BOT
        scale = (far - new_edge) / (far - lid.edge)
        alpha = far - (far - lid.alpha) * scale[None, :]
        beta = np.broadcast_to(lid.beta, alpha.shape)
        new = self.rig.eye_centre + lid.radius[..., None] * _sphere_dirs(alpha, beta, 1.0)
        out = np.zeros((self.n, 3))
        out[lid.idx.ravel()] = (new - self.p[lid.idx]).reshape(-1, 3)
        return out

    def lid_edges(self, upper: bool) -> tuple[np.ndarray, np.ndarray]:
        lid = self.rig.lids[(1, upper)]
        return lid_edges(lid.beta)

    def eye_rotation(self, rot: np.ndarray) -> np.ndarray:
        sel = (self.rig.part == P_EYE) & (self.x > 0)
        rel = self.p[sel] - self.rig.eye_centre
        out = np.zeros((self.n, 3))
        out[sel] = rel @ rot.T - rel
        return out


def _field(mask: np.ndarray, vec: tuple[float, float, float]) -> np.ndarray:
    return mask[:, None] * np.asarray(vec)[None, :]


def _author_keys(f: _Fields) -> dict[str, np.ndarray]:
    """The character's-left keys and the symmetric keys (Right ones are made by mirroring)."""
    k: dict[str, np.ndarray] = {}
    x, dz = f.x, f.dz
    up = f.upness()
    lo = 1.0 - up
    lips = f.lip_window()
    xc, yc = f.xc, f.rig.y_corner
    corner = (xc, yc, Z_M)
    soft = f.soft
    left_eye = f.rig.eye_centre

    # ---- jaw ----
    lower_lip = lips * lo * f.front
    # the jaw rotates about the hinge while the condyles glide forward, so the chin drops more than it recedes
    k["jawOpen"] = (
        f.jaw_rotation(JAW_OPEN_DEG)
        + _field(f.jaw_w, (0.0, -0.008, 0.0))
        + _field(lower_lip * (1 - _ss(0.0, 0.02, -dz)), (0, 0, -0.002))
    )
    k["jawForward"] = _field(f.jaw_w, (0.0, -0.006, 0.0))
    yaw = (f.p - HINGE) @ (_rot_z(4.0) - np.eye(3)).T  # the chin swings a little more than the hinge
    k["jawLeft"] = _field(f.jaw_w, (0.004, 0.0, 0.0)) + f.jaw_w[:, None] * yaw

    # mouthClose: cancels the jaw's opening on the lips (so jawOpen = mouthClose = a keeps them sealed) and
    # moves both lips together toward the middle of the opening.
    seal = np.where(f.cavity, soft * (f.rig.ring <= 2), f.lip_window(pad=0.012, up=0.010, down=0.018))
    drop_mid = k["jawOpen"][f.rig.slit_lower[len(f.rig.slit_lower) // 2]]
    k["mouthClose"] = seal[:, None] * (-k["jawOpen"] + 0.38 * drop_mid[None, :])

    # ---- lips, both sides ----
    cu = np.clip(1 - f.u**2, 0, 1)  # 1 in the middle of the mouth, 0 at the corners
    opening = np.sqrt(cu)
    vu = np.clip(dz / f.hu, 0, 3)
    vl = np.clip(-dz / f.hl, 0, 3)
    near_contact = np.where(dz >= 0, 1 - 0.5 * _ss(0, 1, vu), 1 - 0.5 * _ss(0, 1, vl))
    funnel = lips * (0.0045 + 0.0025 * near_contact)  # forward, the contact most (the lips flare)
    k["mouthFunnel"] = (
        _field(funnel, (0, -1, 0))
        + _field(lips * -0.22 * x * (1 - _ss(xc, xc + 0.01, np.abs(x))), (1, 0, 0))
        + _field(lips * up * opening * near_contact, (0, 0, 0.0028))
        + _field(lips * lo * opening * near_contact, (0, 0, -0.0034))
    )
    k["mouthPucker"] = (
        _field(lips * (0.0065 + 0.0025 * near_contact), (0, -1, 0))
        + _field(lips * -0.36 * x * (1 - _ss(xc, xc + 0.012, np.abs(x))), (1, 0, 0))
        + _field(lips * up * _ss(0.2, 1.0, vu), (0, 0, 0.0010))
        + _field(lips * lo * _ss(0.2, 1.0, vl), (0, 0, -0.0010))
    )
    roll_l = lips * lo * (1 - _ss(1.0, 2.2, vl))
    k["mouthRollLower"] = _field(roll_l, (0, 0.0042, 0)) + _field(roll_l * (0.0012 + 0.0016 * _ss(0, 1, vl)), (0, 0, 1))
    roll_u = lips * up * (1 - _ss(1.0, 2.2, vu))
    k["mouthRollUpper"] = _field(roll_u, (0, 0.0042, 0)) + _field(
        roll_u * (0.0012 + 0.0016 * _ss(0, 1, vu)), (0, 0, -1)
    )
    chin = _bump(f.p, (0.0, f.rig.y_lip + 0.012, Z_M - 0.032), (0.032, 0.04, 0.026)) * soft * f.front
    k["mouthShrugLower"] = (
        _field(chin, (0, -0.0015, 0.0035))
        + _field(lips * lo * (1 - _ss(0.8, 2.0, vl)), (0, -0.0015, 0.0030))
        + _field(lips * up * (1 - _ss(0.0, 1.2, vu)), (0, 0, 0.0015))
    )
    upper_zone = lips * up * (1 - _ss(0.6, 2.6, vu))
    k["mouthShrugUpper"] = _field(upper_zone, (0, -0.0015, 0.0030)) + _field(
        lips * lo * (1 - _ss(0.0, 1.0, vl)), (0, -0.0010, 0.0030)
    )

    # ---- lips, left side ----
    press_side = _ss(-0.018, 0.014, x)
    tight = f.lip_window(pad=0.006, up=0.008, down=0.010) * press_side
    thin_u = -0.45 * np.minimum(dz, f.hu) * (1 - _ss(f.hu, f.hu + 0.008, dz)) * up
    thin_l = 0.45 * np.minimum(-dz, f.hl) * (1 - _ss(f.hl, f.hl + 0.008, -dz)) * lo
    k["mouthPressLeft"] = _field(tight * (thin_u + thin_l), (0, 0, 1)) + _field(tight, (0, 0.0015, 0))
    open_side = _ss(-0.036, 0.018, x)
    lower_zone = f.lip_window(pad=0.010, up=0.0, down=0.016) * lo
    k["mouthLowerDownLeft"] = _field(lower_zone * open_side, (0, -0.0010, -0.0055))
    upper_lift = f.lip_window(pad=0.010, up=0.014, down=0.0) * up
    k["mouthUpperUpLeft"] = _field(upper_lift * open_side, (0, -0.0005, 0.0050))
    region = f.lip_window(pad=0.022, up=0.020, down=0.022)
    k["mouthLeft"] = _field(region, (0.0070, 0, 0)) + _field(region * np.clip(x / xc, -1.5, 1.5), (0, 0.0016, 0))

    def at_corner(offset: tuple[float, float, float], radii: tuple[float, float, float]) -> np.ndarray:
        c = (corner[0] + offset[0], corner[1] + offset[1], corner[2] + offset[2])
        return _bump(f.p, c, radii) * soft * f.front

    cheek_l = _bump(f.p, (0.040, yc + 0.004, Z_M + 0.030), (0.022, 0.03, 0.02)) * soft
    k["mouthSmileLeft"] = _field(
        at_corner((0.004, 0.004, 0.004), (0.026, 0.03, 0.024)), (0.0040, 0.0035, 0.0065)
    ) + _field(cheek_l, (0.0010, -0.0012, 0.0030))
    k["mouthFrownLeft"] = _field(at_corner((0.002, 0.0, -0.007), (0.022, 0.03, 0.024)), (0.0015, -0.0005, -0.0055))
    k["mouthDimpleLeft"] = _field(at_corner((0.002, 0.0, 0.0), (0.017, 0.03, 0.016)), (0.0025, 0.0045, 0.0))
    k["mouthStretchLeft"] = _field(at_corner((0.003, 0.0, -0.004), (0.024, 0.03, 0.026)), (0.0065, 0.0015, -0.0025))

    # ---- cheeks, nose ----
    puff = _bump(f.p_abs, (0.046, -0.058, Z_M + 0.018), (0.028, 0.035, 0.032))
    k["cheekPuff"] = _field(puff * soft * np.sign(x), (0.0095, 0, 0)) + _field(puff * soft, (0, -0.0035, 0.0))
    squint_c = _bump(f.p, (0.040, left_eye[1] - 0.008, -0.026), (0.026, 0.035, 0.020))
    k["cheekSquintLeft"] = _field(squint_c * f.soft_lids, (0.0005, -0.0012, 0.0050))
    sneer = _bump(f.p, (0.014, -0.090, -0.032), (0.014, 0.035, 0.022)) * soft
    sneer_up = _bump(f.p, (0.012, -0.084, -0.008), (0.012, 0.035, 0.016)) * soft
    sneer_lip = lips * up * _ss(0.6, 1.2, vu) * _ss(-0.01, 0.02, x)
    k["noseSneerLeft"] = (
        _field(sneer, (0.0008, -0.0004, 0.0035)) + _field(sneer_up, (0, 0, 0.0015)) + _field(sneer_lip, (0, 0, 0.0015))
    )

    # ---- brows (they carry the upper lids' far borders along) ----
    brow_l = _bump(f.p, (0.030, -0.080, 0.024), (0.032, 0.045, 0.022)) * f.soft_lids
    glabella = _bump(f.p, (0.010, -0.086, 0.018), (0.015, 0.04, 0.018)) * f.soft_lids
    k["browDownLeft"] = _field(brow_l, (-0.0030, -0.0010, -0.0055)) + _field(glabella, (-0.0020, -0.0005, -0.0030))
    inner = _bump(f.p_abs, (0.016, -0.08, 0.030), (0.020, 0.045, 0.032))
    k["browInnerUp"] = _field(inner * f.soft_lids, (0, 0, 0.0070))
    outer = _bump(f.p, (0.046, -0.07, 0.028), (0.022, 0.045, 0.030)) * f.soft_lids
    k["browOuterUpLeft"] = _field(outer, (0, 0, 0.0065))

    # ---- tongue ----
    s = np.nan_to_num(f.rig.tongue_s, nan=1.0)
    reach = np.clip(1.0 - s, 0.0, 1.0) ** 1.2 * (f.rig.part == P_TONGUE)
    # the tongue only: it slides out through the lip slit (a real opening), the lips stay as they are;
    # with jawOpen it rises over the lower incisors
    k["tongueOut"] = _field(reach, (0.0, -0.032, 0.0085)) + _field(reach * -0.18 * x, (1, 0, 0))

    # ---- eyes (left) ----
    up_e, lo_e = f.lid_edges(True)
    k["eyeBlinkLeft"] = f.lid_remap(True, lo_e - 2.5) + f.lid_remap(False, lo_e + 1.5)
    k["eyeSquintLeft"] = (
        f.lid_remap(False, np.minimum(lo_e + 11.0, up_e - 4.0))
        + f.lid_remap(True, up_e - 3.0)
        + _field(_bump(f.p, (0.034, left_eye[1] - 0.01, -0.018), (0.02, 0.03, 0.014)) * soft, (0, -0.0005, 0.0015))
    )
    k["eyeWideLeft"] = f.lid_remap(True, up_e + 11.0) + f.lid_remap(False, lo_e - 1.5)
    k["eyeLookUpLeft"] = f.eye_rotation(_rot_x(-25.0)) + f.lid_remap(True, up_e + 6.0) + f.lid_remap(False, lo_e + 3.0)
    k["eyeLookDownLeft"] = (
        f.eye_rotation(_rot_x(28.0))
        + f.lid_remap(True, np.maximum(up_e - 14.0, lo_e + 4.0))
        + f.lid_remap(False, lo_e - 4.0)
    )
    k["eyeLookInLeft"] = f.eye_rotation(_rot_z(-28.0))
    k["eyeLookOutLeft"] = f.eye_rotation(_rot_z(28.0))
    return k


SYMMETRIC = (
    "jawOpen", "jawForward", "mouthClose", "mouthFunnel", "mouthPucker", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "browInnerUp", "cheekPuff", "tongueOut",
)  # fmt: skip


def _mirror_delta(d: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    return d[mirror] * [-1.0, 1.0, 1.0]


def _shape_keys(rig: _Rig) -> np.ndarray:
    """[52, N, 3] float64 deltas in ARKIT52 order; Right = mirror(Left) exactly, symmetric keys symmetrised."""
    authored = _author_keys(_Fields(rig))
    out = np.zeros((len(ARKIT52), len(rig.pos), 3))
    for i, name in enumerate(ARKIT52):
        if name in SYMMETRIC:
            d = authored[name]
            out[i] = 0.5 * (d + _mirror_delta(d, rig.mirror))
        elif name.endswith("Right") and name not in authored:
            out[i] = _mirror_delta(authored[name.replace("Right", "Left")], rig.mirror)
        else:
            out[i] = authored[name]
    return out


# =========================================================================================================
# Groups, landmarks, public API
# =========================================================================================================


def _groups(rig: _Rig, f: _Fields) -> dict[str, np.ndarray]:
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
        g[f"cheek_{tag}"] = skin & (_bump(p, (sx * 0.045, -0.062, -0.032), (0.022, 0.04, 0.028)) > 0.15)
    out = {name: np.flatnonzero(mask).astype(np.int32) for name, mask in g.items()}
    out["upper_lip"] = np.unique(upper_lip).astype(np.int32)
    out["lower_lip"] = np.unique(lower_lip).astype(np.int32)
    out["lips"] = np.union1d(out["upper_lip"], out["lower_lip"]).astype(np.int32)
    out["upper_lip_inner"] = rig.slit_upper.astype(np.int32)
    out["lower_lip_inner"] = rig.slit_lower.astype(np.int32)
    return dict(sorted(out.items()))


def _landmarks(rig: _Rig) -> dict[str, int]:
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


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.cache
def build_head() -> HeadMesh:
    """Build (once per process) and return the built-in head. Deterministic; about 0.2 s."""
    mesh, rig = _assemble()
    fields = _Fields(rig)
    keys = _shape_keys(rig).astype(np.float32)
    sizes = np.concatenate([np.full(len(p), p.shape[1], dtype=np.int32) for p in mesh.polys])
    indices = np.concatenate([p.ravel() for p in mesh.polys]).astype(np.int32)
    mats = np.concatenate(mesh.mats).astype(np.int32)
    _readonly(keys)
    groups = {k: _readonly(v) for k, v in _groups(rig, fields).items()}
    return HeadMesh(
        vertices=_readonly(rig.pos.astype(np.float32)),
        face_sizes=_readonly(sizes),
        face_indices=_readonly(indices),
        face_material=_readonly(mats),
        materials=MATERIALS,
        groups=groups,
        shape_keys={name: keys[i] for i, name in enumerate(ARKIT52)},
        landmarks=_landmarks(rig),
        key_matrix=keys,
        mirror=_readonly(rig.mirror.astype(np.int32)),
    )


def deform(head: HeadMesh, values: np.ndarray, indices: np.ndarray | None = None) -> np.ndarray:
    """Vertex positions for ARKit weights: ``[52] -> [N, 3]`` or a batch ``[T, 52] -> [T, N, 3]`` (float32).

    Linear blend shapes, exactly what Blender shows for the same key values. ``indices`` restricts the
    output to those vertices (``[.., len(indices), 3]``). Memory: a batch costs ``T * n * 12`` bytes, about
    0.15 MB per frame for the whole head (1800 frames: ~270 MB), so pass ``indices`` for long batches.
    """
    w = np.asarray(values, dtype=np.float32)
    if w.shape[-1:] != (len(ARKIT52),) or w.ndim not in (1, 2):
        raise ValueError(f"expected weights of shape [52] or [T, 52], got {w.shape}")
    keys = head.key_matrix if indices is None else head.key_matrix[:, np.asarray(indices)]
    rest = head.vertices if indices is None else head.vertices[np.asarray(indices)]
    flat = keys.reshape(len(ARKIT52), -1)
    out = (np.atleast_2d(w) @ flat).reshape(-1, *rest.shape) + rest[None]
    return out[0] if w.ndim == 1 else out


@functools.cache
def _gap_model() -> tuple[np.ndarray, np.ndarray]:
    """Rest vertical gaps and per-key gap changes of the contact pairs in the central 60 % of the mouth."""
    head = build_head()
    up, lo = head.groups["upper_lip_inner"], head.groups["lower_lip_inner"]
    left = head.vertices[head.landmarks["mouth_corner_L"], 0]
    right = head.vertices[head.landmarks["mouth_corner_R"], 0]
    centre, width = 0.5 * (left + right), left - right
    central = np.abs(head.vertices[up, 0] - centre) <= 0.3 * width
    up, lo = up[central], lo[central]
    rest = (head.vertices[up, 2] - head.vertices[lo, 2]).astype(np.float64)
    change = (head.key_matrix[:, up, 2] - head.key_matrix[:, lo, 2]).astype(np.float64)  # [52, P]
    return _readonly(rest), _readonly(change)


def lip_gap_mm(values: np.ndarray) -> np.ndarray:
    """Lip opening (mm) for ARKit weights ``[T, 52]`` -> ``[T]`` (a ``[52]`` vector gives a 0-d array).

    The smallest vertical distance between the paired upper and lower lip contact vertices over the
    central 60 % of the mouth width, clipped at 0 (lips pressed into each other count as closed). Exact for
    this mesh's linear blend shapes; it touches only the contact vertices, so 1800 frames take about a
    millisecond.
    """
    w = np.asarray(values, dtype=np.float64)
    if w.shape[-1:] != (len(ARKIT52),) or w.ndim not in (1, 2):
        raise ValueError(f"expected weights of shape [52] or [T, 52], got {w.shape}")
    rest, change = _gap_model()
    gaps = rest[None, :] + np.atleast_2d(w) @ change
    out = np.clip(gaps.min(axis=1), 0.0, None) * 1000.0
    return out[0] if w.ndim == 1 else out
