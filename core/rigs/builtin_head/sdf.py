"""Signed-distance field of the head (before lips, eye openings and details), ray casting onto it, normals.

The field is a smooth union of ellipsoids and capsules; paired features use |x| so it is exactly symmetric.
"""

from __future__ import annotations

import numpy as np

from .maths import unit


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


def head_sdf(p: np.ndarray) -> np.ndarray:
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


def raycast(origin: np.ndarray, direction: np.ndarray, t_max: float = 0.22) -> np.ndarray:
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
        f = head_sdf(origin[todo] + t[todo, None] * direction[todo])
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
        f_mid = head_sdf(o + mid[:, None] * d)
        inside = f_mid < 0
        # Illinois: if the same end is kept twice, halve the other end's value so the interval shrinks
        f_hi = np.where(inside & (side < 0), 0.5 * f_hi, f_hi)
        f_lo = np.where(~inside & (side > 0), 0.5 * f_lo, f_lo)
        lo, f_lo = np.where(inside, mid, lo), np.where(inside, f_mid, f_lo)
        hi, f_hi = np.where(inside, hi, mid), np.where(inside, f_hi, f_mid)
        side = np.where(inside, -1.0, 1.0)
    t[sel] = lo + (hi - lo) * (-f_lo) / np.maximum(f_hi - f_lo, 1e-12)
    return t


def surface_normal(p: np.ndarray) -> np.ndarray:
    e = 1e-4
    g = np.stack(
        [head_sdf(p + d) - head_sdf(p - d) for d in (np.array([e, 0, 0]), np.array([0, e, 0]), np.array([0, 0, e]))],
        axis=-1,
    )
    return unit(g)


def front_hit(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Points on the field surface seen straight from the front (rays along +Y)."""
    origin = np.stack([x, np.full_like(x, -0.2), z], axis=-1)
    direction = np.tile([0.0, 1.0, 0.0], (len(x), 1))
    t = 0.2 + 0.05 - raycast(origin + 0.25 * direction, -direction, t_max=0.25)
    return origin + t[:, None] * direction
