"""Shape keys: each key is a displacement field.

Smooth compact region masks times a displacement, rigid rotations for the jaw (about a hinge near the ear) and
the eyeballs, and angular remaps on the eyelid spheres. Only the character's-left keys are authored; the right
ones are their exact mirror images, and symmetric keys are symmetrised, so every Left/Right pair mirrors bit
for bit.

Keys that part the lips on their own: jawOpen, mouthFunnel, mouthLowerDown*, mouthUpperUp*. mouthClose cancels
jawOpen on the lips (jawOpen = mouthClose = a keeps them sealed for any a). tongueOut moves only the tongue: it
slides out through the lip slit, so it never changes the lip gap by itself.
"""

from __future__ import annotations

import numpy as np

from ...arkit import ARKIT52
from .assembly import Rig
from .brows_ears import brow_height
from .eyes import ALPHA_BOT, ALPHA_TOP, lid_edges, lid_opening, sphere_dirs
from .layout import HINGE, JAW_OPEN_DEG, P_BROW, P_CAVITY, P_EAR, P_EYE, P_SKIN, P_TEETH_L, P_TONGUE, Z_M
from .maths import bump, smoothstep
from .mirror import mirror_delta
from .skin import lower_red_height, upper_red_height


def _rot_x(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def _rot_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


# how much the general facial fields move each cavity ring (0 = the slit itself)
_RING_FOLLOW = {0: 1.0, 1: 1.0, 2: 0.85, 3: 0.35, 4: 0.08, 5: 0.0, 6: 0.0, -1: 0.0}


class Fields:
    """Per-vertex rest quantities and masks shared by the key fields (all float64)."""

    def __init__(self, rig: Rig) -> None:
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
        self.front = 1.0 - smoothstep(-0.05, -0.03, self.y)  # excludes the back of the head at the same heights
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
        return smoothstep(-b, b, self.dz + 2.0 * b * self.side)

    def lip_window(self, pad: float = 0.010, up: float = 0.012, down: float = 0.016) -> np.ndarray:
        """1 over the lips (corner to corner, vermilion heights), fading over ``pad``/``up``/``down``."""
        wx = 1.0 - smoothstep(self.xc, self.xc + pad, np.abs(self.x))
        wz = np.where(
            self.dz >= 0,
            1.0 - smoothstep(self.hu, self.hu + up, self.dz),
            1.0 - smoothstep(self.hl, self.hl + down, -self.dz),
        )
        return wx * wz * self.front * self.soft

    def _jaw_weight(self) -> np.ndarray:
        beyond = self.beyond
        z_sep = Z_M + 0.55 * beyond  # the jaw/cheek divide rises from the mouth corner toward the ear
        b = 5e-5 + 0.45 * beyond
        w = 1.0 - smoothstep(-b, b, self.z - z_sep + 2.0 * b * self.side)
        w *= 1.0 - smoothstep(HINGE[1] - 0.02, HINGE[1] + 0.015, self.y)  # nothing behind the hinge
        w *= smoothstep(-0.165, -0.118, self.z)  # the throat stretches
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
        new = self.rig.eye_centre + lid.radius[..., None] * sphere_dirs(alpha, beta, 1.0)
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


def _author_keys(f: Fields) -> dict[str, np.ndarray]:
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
    up_e, lo_e = f.lid_edges(True)  # rest lid edges (deg) per lid column; both lids share their columns
    lid_mid = np.sqrt(lid_opening(f.rig.lids[(1, True)].beta))  # 1 over the pupil, 0 at the eye's corners

    # ---- jaw ----
    lower_lip = lips * lo * f.front
    # the jaw rotates about the hinge while the condyles glide forward, so the chin drops more than it recedes
    k["jawOpen"] = (
        f.jaw_rotation(JAW_OPEN_DEG)
        + _field(f.jaw_w, (0.0, -0.008, 0.0))
        + _field(lower_lip * (1 - smoothstep(0.0, 0.02, -dz)), (0, 0, -0.002))
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
    near_contact = np.where(dz >= 0, 1 - 0.5 * smoothstep(0, 1, vu), 1 - 0.5 * smoothstep(0, 1, vl))
    funnel = lips * (0.0045 + 0.0025 * near_contact)  # forward, the contact most (the lips flare)
    k["mouthFunnel"] = (
        _field(funnel, (0, -1, 0))
        + _field(lips * -0.22 * x * (1 - smoothstep(xc, xc + 0.01, np.abs(x))), (1, 0, 0))
        + _field(lips * up * opening * near_contact, (0, 0, 0.0028))
        + _field(lips * lo * opening * near_contact, (0, 0, -0.0034))
    )
    k["mouthPucker"] = (
        _field(lips * (0.0065 + 0.0025 * near_contact), (0, -1, 0))
        + _field(lips * -0.36 * x * (1 - smoothstep(xc, xc + 0.012, np.abs(x))), (1, 0, 0))
        + _field(lips * up * smoothstep(0.2, 1.0, vu), (0, 0, 0.0010))
        + _field(lips * lo * smoothstep(0.2, 1.0, vl), (0, 0, -0.0010))
    )
    roll_l = lips * lo * (1 - smoothstep(1.0, 2.2, vl))
    k["mouthRollLower"] = _field(roll_l, (0, 0.0042, 0)) + _field(
        roll_l * (0.0012 + 0.0016 * smoothstep(0, 1, vl)), (0, 0, 1)
    )
    roll_u = lips * up * (1 - smoothstep(1.0, 2.2, vu))
    k["mouthRollUpper"] = _field(roll_u, (0, 0.0042, 0)) + _field(
        roll_u * (0.0012 + 0.0016 * smoothstep(0, 1, vu)), (0, 0, -1)
    )
    chin = bump(f.p, (0.0, f.rig.y_lip + 0.012, Z_M - 0.032), (0.032, 0.04, 0.026)) * soft * f.front
    k["mouthShrugLower"] = (
        _field(chin, (0, -0.0015, 0.0035))
        + _field(lips * lo * (1 - smoothstep(0.8, 2.0, vl)), (0, -0.0015, 0.0030))
        + _field(lips * up * (1 - smoothstep(0.0, 1.2, vu)), (0, 0, 0.0015))
    )
    upper_zone = lips * up * (1 - smoothstep(0.6, 2.6, vu))
    k["mouthShrugUpper"] = _field(upper_zone, (0, -0.0015, 0.0030)) + _field(
        lips * lo * (1 - smoothstep(0.0, 1.0, vl)), (0, -0.0010, 0.0030)
    )

    # ---- lips, left side ----
    press_side = smoothstep(-0.018, 0.014, x)
    tight = f.lip_window(pad=0.006, up=0.008, down=0.010) * press_side
    thin_u = -0.45 * np.minimum(dz, f.hu) * (1 - smoothstep(f.hu, f.hu + 0.008, dz)) * up
    thin_l = 0.45 * np.minimum(-dz, f.hl) * (1 - smoothstep(f.hl, f.hl + 0.008, -dz)) * lo
    k["mouthPressLeft"] = _field(tight * (thin_u + thin_l), (0, 0, 1)) + _field(tight, (0, 0.0015, 0))
    open_side = smoothstep(-0.036, 0.018, x)
    lower_zone = f.lip_window(pad=0.010, up=0.0, down=0.016) * lo
    k["mouthLowerDownLeft"] = _field(lower_zone * open_side, (0, -0.0010, -0.0055))
    upper_lift = f.lip_window(pad=0.010, up=0.014, down=0.0) * up
    k["mouthUpperUpLeft"] = _field(upper_lift * open_side, (0, -0.0005, 0.0050))
    region = f.lip_window(pad=0.022, up=0.020, down=0.022)
    k["mouthLeft"] = _field(region, (0.0070, 0, 0)) + _field(region * np.clip(x / xc, -1.5, 1.5), (0, 0.0016, 0))

    def at_corner(offset: tuple[float, float, float], radii: tuple[float, float, float]) -> np.ndarray:
        c = (corner[0] + offset[0], corner[1] + offset[1], corner[2] + offset[2])
        return bump(f.p, c, radii) * soft * f.front

    cheek_l = bump(f.p, (0.040, yc + 0.004, Z_M + 0.030), (0.022, 0.03, 0.02)) * soft
    k["mouthSmileLeft"] = _field(
        at_corner((0.004, 0.004, 0.004), (0.026, 0.03, 0.024)), (0.0040, 0.0035, 0.0065)
    ) + _field(cheek_l, (0.0010, -0.0012, 0.0030))
    # these three move the upper and lower lip alike (smooth fields over the corner): the lip gap stays as it is
    # depressor anguli oris: the corner down and a little out, the tissue beside it bunches forward
    k["mouthFrownLeft"] = _field(at_corner((0.002, 0.0, -0.004), (0.024, 0.03, 0.026)), (0.0010, -0.0004, -0.0078))
    k["mouthFrownLeft"] += _field(at_corner((0.006, 0.0, -0.013), (0.011, 0.03, 0.011)), (0, -0.0012, 0))
    # buccinator: the corner back into the cheek, with a pit just outside it
    k["mouthDimpleLeft"] = _field(at_corner((0.002, 0.0, 0.0), (0.017, 0.03, 0.016)), (0.0025, 0.0045, 0.0))
    k["mouthDimpleLeft"] += _field(at_corner((0.0065, 0.0, 0.0), (0.0055, 0.03, 0.0065)), (0, 0.0018, 0))
    # risorius/platysma: the corner pulled out sideways and a little down and back (the lips stretch flat)
    k["mouthStretchLeft"] = _field(at_corner((0.003, 0.0, -0.004), (0.024, 0.03, 0.026)), (0.0085, 0.0020, -0.0032))

    # ---- cheeks, nose ----
    puff = bump(f.p_abs, (0.046, -0.058, Z_M + 0.018), (0.028, 0.035, 0.032))
    k["cheekPuff"] = _field(puff * soft * np.sign(x), (0.0095, 0, 0)) + _field(puff * soft, (0, -0.0035, 0.0))
    squint_c = bump(f.p, (0.040, left_eye[1] - 0.008, -0.026), (0.026, 0.035, 0.020))
    # the cheek raiser lifts the cheek and bunches it under the eye, pushing the lower lid up (the eye narrows)
    k["cheekSquintLeft"] = _field(squint_c * f.soft_lids, (0.0005, -0.0020, 0.0068)) + f.lid_remap(
        False, lo_e + np.minimum(9.0 * lid_mid, np.clip(up_e - lo_e - 6.0, 0.0, None))
    )
    sneer = bump(f.p, (0.014, -0.090, -0.032), (0.014, 0.035, 0.022)) * soft
    sneer_up = bump(f.p, (0.012, -0.084, -0.008), (0.012, 0.035, 0.016)) * soft
    sneer_lip = lips * up * smoothstep(0.6, 1.2, vu) * smoothstep(-0.01, 0.02, x)
    fold_l = bump(f.p, (0.025, -0.082, -0.036), (0.011, 0.035, 0.014)) * soft  # beside the nose wing
    k["noseSneerLeft"] = (
        _field(sneer, (0.0010, -0.0005, 0.0045))
        + _field(sneer_up, (0, 0, 0.0022))
        + _field(sneer_lip, (0, 0, 0.0018))
        + _field(fold_l, (0, -0.0012, 0.0025))  # the nasolabial fold deepens
    )

    # ---- brows (they carry the upper lids' far borders along) ----
    ax = np.abs(x)
    zrel = f.z - brow_height(ax)  # height above the brow's middle line
    # 1 on the brow and the fold under it, fading down toward the lid crease (between the eyes: down the nasal
    # bridge, so the skin there compresses gently) and up the forehead
    band = smoothstep(-0.022, -0.002, zrel) * (1 - smoothstep(0.008, 0.040, zrel))
    band *= (1 - smoothstep(0.058, 0.075, ax)) * f.front * f.soft_lids
    fold = smoothstep(-0.019, -0.009, zrel) * (1 - smoothstep(-0.007, 0.001, zrel))  # between brow and lid crease
    inner_w = 1 - smoothstep(0.014, 0.042, ax)  # 1 at the brow's inner end, 0 past its middle
    # a left key reaches a little past the midline: both together pull the glabella down too (procerus)
    left = smoothstep(-0.005, 0.010, x)
    # browDown (corrugator, depressor supercilii): the inner end most, down and toward the nose, the fold over
    # the lid pushed forward (the lid looks hooded); vertical furrows between the brows, the brows' heads bunch
    down = (0.0048 + 0.0042 * inner_w) * left
    medial = (0.0010 + 0.0030 * inner_w) * smoothstep(0.0, 0.012, x)
    k["browDownLeft"] = band[:, None] * np.stack([-medial, -(0.0008 + 0.0016 * fold) * left, -down], axis=-1)
    glabella = smoothstep(0.013, 0.019, f.z) * (1 - smoothstep(0.030, 0.038, f.z)) * soft * f.front
    furrow = np.exp(-(((x - 0.0045) / 0.0018) ** 2)) * glabella
    bunch = np.exp(-(((x - 0.0120) / 0.0050) ** 2)) * glabella * smoothstep(0.012, 0.020, f.z)
    k["browDownLeft"] += _field(furrow, (0, 0.0013, 0)) + _field(bunch, (0, -0.0015, 0))
    # the nose wrinkler drags the brows' inner ends down a little (the skin over the nasal root bunches)
    k["noseSneerLeft"] += _field(band * inner_w * left, (0, -0.0005, -0.0025))
    # the raised forehead folds into horizontal lines that follow the brows' arch
    lines = np.cos(2 * np.pi * (zrel - 0.013) / 0.0095) * smoothstep(0.006, 0.012, zrel)
    lines *= (1 - smoothstep(0.030, 0.042, zrel)) * soft * f.front * 0.0008
    # browInnerUp (frontalis, medial part): the inner ends rise most, so the brows turn oblique
    k["browInnerUp"] = _field(band * (0.0020 + 0.0120 * inner_w**1.5), (0, 0, 1)) + _field(
        lines * (1 - smoothstep(0.012, 0.030, ax)), (0, 1, 0)
    )
    # browOuterUp (frontalis, lateral part): the tail rises most; with browInnerUp the whole brow rises ~12 mm
    outer_w = smoothstep(0.016, 0.046, x)
    k["browOuterUpLeft"] = _field(band * (0.0010 + 0.0090 * outer_w), (0, 0, 1)) + _field(
        lines * smoothstep(0.012, 0.030, x) * (1 - smoothstep(0.050, 0.062, x)), (0, 1, 0)
    )

    # ---- tongue ----
    s = np.nan_to_num(f.rig.tongue_s, nan=1.0)
    reach = np.clip(1.0 - s, 0.0, 1.0) ** 1.2 * (f.rig.part == P_TONGUE)
    # the tongue only: it slides out through the lip slit (a real opening), the lips stay as they are;
    # with jawOpen it rises over the lower incisors
    k["tongueOut"] = _field(reach, (0.0, -0.032, 0.0085)) + _field(reach * -0.18 * x, (1, 0, 0))

    # ---- eyes (left) ----
    k["eyeBlinkLeft"] = f.lid_remap(True, lo_e - 2.5) + f.lid_remap(False, lo_e + 1.5)
    # the lid tightener raises and straightens the lower lid (the skin under it bunches), the upper lid drops a little
    k["eyeSquintLeft"] = (
        f.lid_remap(False, lo_e + np.minimum(15.0 * lid_mid, np.clip(up_e - lo_e - 5.0, 0.0, None)))
        + f.lid_remap(True, up_e - 4.0 * lid_mid)
        + _field(bump(f.p, (0.034, left_eye[1] - 0.01, -0.018), (0.02, 0.03, 0.014)) * soft, (0, -0.0008, 0.0022))
    )
    # the upper lid rises into its fold (sclera shows over the iris), the lower lid drops a little
    k["eyeWideLeft"] = f.lid_remap(True, up_e + 22.0 * lid_mid) + f.lid_remap(False, lo_e - 4.0 * lid_mid)
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


def key_deltas(rig: Rig) -> np.ndarray:
    """[52, N, 3] float64 deltas in ARKIT52 order; Right = mirror(Left) exactly, symmetric keys symmetrised."""
    authored = _author_keys(Fields(rig))
    out = np.zeros((len(ARKIT52), len(rig.pos), 3))
    for i, name in enumerate(ARKIT52):
        if name in SYMMETRIC:
            d = authored[name]
            out[i] = 0.5 * (d + mirror_delta(d, rig.mirror))
        elif name.endswith("Right") and name not in authored:
            out[i] = mirror_delta(authored[name.replace("Right", "Left")], rig.mirror)
        else:
            out[i] = authored[name]
    return out
