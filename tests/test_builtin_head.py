"""The built-in preview head (numpy only): mesh validity, symmetry, the 52 keys' directions, lip gap, lids."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pytest

from avi_talking.core.arkit import ARKIT52, INDEX
from avi_talking.core.rigs.builtin_head import FORMAT_VERSION, HeadMesh, build_head, deform
from avi_talking.core.rigs.builtin_head.measure import lip_gap_mm

MM = 1000.0
X, Y, Z = 0, 1, 2

REQUIRED_GROUPS = (
    "cranium", "face", "jaw", "upper_lip", "lower_lip", "upper_lip_inner", "lower_lip_inner", "teeth_upper",
    "teeth_lower", "tongue", "mouth_cavity", "eyeball_L", "eyeball_R", "eyelid_upper_L", "eyelid_upper_R",
    "eyelid_lower_L", "eyelid_lower_R", "brow_L", "brow_R", "cheek_L", "cheek_R", "nose",
)  # fmt: skip
REQUIRED_LANDMARKS = (
    "lip_upper_mid", "lip_lower_mid", "mouth_corner_L", "mouth_corner_R", "chin", "nose_tip", "brow_inner_L",
    "brow_inner_R", "brow_outer_L", "brow_outer_R", "eye_center_L", "eye_center_R", "upper_lid_mid_L",
    "upper_lid_mid_R", "lower_lid_mid_L", "lower_lid_mid_R",
)  # fmt: skip


@pytest.fixture(scope="module")
def head() -> HeadMesh:
    return build_head()


def weights(**values: float) -> np.ndarray:
    w = np.zeros(len(ARKIT52), dtype=np.float32)
    for name, value in values.items():
        w[INDEX[name]] = value
    return w


def shift(head: HeadMesh, key: str, idx: np.ndarray) -> np.ndarray:
    """Mean displacement (mm) of the vertices ``idx`` for ``key`` = 1."""
    return head.shape_keys[key][idx].mean(axis=0) * MM


def side(head: HeadMesh, group: str, sign: float, min_abs_x: float = 0.0) -> np.ndarray:
    idx = head.groups[group]
    return idx[head.vertices[idx, X] * sign > min_abs_x]


def polygons(head: HeadMesh) -> list[np.ndarray]:
    return head.polygons()


# ---- structure ------------------------------------------------------------------------------------------


def test_contract_shapes_and_types(head):
    n = head.n_vertices
    assert 4000 <= n <= 15000
    assert head.vertices.shape == (n, 3) and head.vertices.dtype == np.float32
    assert head.face_sizes.dtype == np.int32 and head.face_indices.dtype == np.int32
    assert head.face_material.dtype == np.int32 and head.face_material.shape == head.face_sizes.shape
    assert int(head.face_sizes.sum()) == len(head.face_indices)
    assert list(head.shape_keys) == list(ARKIT52)
    for name in ARKIT52:
        assert head.shape_keys[name].shape == (n, 3) and head.shape_keys[name].dtype == np.float32
    names = [m for m, _ in head.materials]
    for needed in ("skin", "lips", "mouth_interior", "teeth", "tongue", "eye_white", "iris", "pupil", "brow_hair"):
        assert needed in names
    assert all(len(rgba) == 4 and all(0.0 <= c <= 1.0 for c in rgba) for _, rgba in head.materials)
    assert head.face_material.min() >= 0 and head.face_material.max() < len(head.materials)
    assert set(np.unique(head.face_material)) == set(range(len(head.materials)))  # every material is used
    assert isinstance(FORMAT_VERSION, int)


def test_groups_and_landmarks_present(head):
    for name in REQUIRED_GROUPS:
        idx = head.groups[name]
        assert len(idx) > 0, name
        assert idx.min() >= 0 and idx.max() < head.n_vertices
    for name in REQUIRED_LANDMARKS:
        assert 0 <= head.landmarks[name] < head.n_vertices, name


def test_arrays_are_read_only(head):
    with pytest.raises(ValueError):
        head.vertices[0, 0] = 1.0
    with pytest.raises(ValueError):
        head.shape_keys["jawOpen"][0, 0] = 1.0


def test_mesh_is_valid(head):
    assert np.isfinite(head.vertices).all()
    assert np.isfinite(head.key_matrix).all()
    assert head.face_indices.min() >= 0 and head.face_indices.max() < head.n_vertices
    assert set(np.unique(head.face_sizes)) <= {3, 4}
    polys = polygons(head)
    assert all(len(set(p.tolist())) == len(p) for p in polys), "a face repeats a vertex"
    keys = Counter(tuple(sorted(p.tolist())) for p in polys)
    assert max(keys.values()) == 1, "duplicate faces"
    used = np.zeros(head.n_vertices, dtype=bool)
    used[head.face_indices] = True
    assert used.all(), "vertices not used by any face"
    # no degenerate faces
    v = head.vertices.astype(np.float64)
    for size in (3, 4):
        sel = [p for p in polys if len(p) == size]
        pts = v[np.array(sel)]
        area = 0.5 * np.linalg.norm(np.cross(pts[:, 2] - pts[:, 0], pts[:, size - 1] - pts[:, 1]), axis=1)
        if size == 3:
            area = 0.5 * np.linalg.norm(np.cross(pts[:, 1] - pts[:, 0], pts[:, 2] - pts[:, 0]), axis=1)
        assert area.min() > 1e-9, f"degenerate {size}-gon"


def test_orientation_is_consistent_and_closed_parts_face_outward(head):
    directed: Counter[tuple[int, int]] = Counter()
    undirected: Counter[tuple[int, int]] = Counter()
    polys = polygons(head)
    for p in polys:
        ring = p.tolist()
        for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
            directed[(a, b)] += 1
            undirected[(min(a, b), max(a, b))] += 1
    assert max(directed.values()) == 1, "inconsistent winding"
    assert max(undirected.values()) <= 2, "non-manifold edge"
    border = {v for e, c in undirected.items() if c == 1 for v in e}
    open_shells = set()
    for name in ("eyelid_upper_L", "eyelid_upper_R", "eyelid_lower_L", "eyelid_lower_R", "brow_L", "brow_R"):
        open_shells |= set(head.groups[name].tolist())
    assert border <= open_shells, "only the eyelid and brow shells may have open borders"

    def volume(group_names: tuple[str, ...]) -> float:
        members = set(np.concatenate([head.groups[g] for g in group_names]).tolist())
        v = head.vertices.astype(np.float64)
        total = 0.0
        for p in polys:
            if p[0] in members:
                q = v[p]
                for i in range(1, len(p) - 1):
                    total += float(np.dot(q[0], np.cross(q[i], q[i + 1]))) / 6.0
        return total

    assert volume(("skin", "mouth_cavity")) > 0.003  # litres-size head; the mouth bag is part of it
    for name in ("teeth_upper", "teeth_lower", "tongue", "eyeball_L", "eyeball_R"):
        assert volume((name,)) > 0, name


def test_physical_size_and_axes(head):
    v = head.vertices
    lm = head.landmarks
    height = v[head.groups["cranium"], Z].max() - v[lm["menton"], Z]
    assert 0.21 < height < 0.25
    width = np.ptp(v[head.groups["cranium"], X])
    assert 0.13 < width < 0.17
    # the face looks toward -Y: the nose tip is the front-most point of the mid-plane
    assert v[lm["nose_tip"], Y] < v[lm["lip_upper_mid"], Y] < v[lm["eye_center_L"], Y] + 0.03
    assert v[lm["nose_tip"], Y] < v[head.groups["cranium"], Y].min()
    # +Z up, character's left is +X
    assert v[lm["eye_center_L"], Z] > v[lm["nose_tip"], Z] > v[lm["lip_upper_mid"], Z] > v[lm["chin"], Z]
    assert v[lm["eye_center_L"], X] > 0 > v[lm["eye_center_R"], X]
    assert v[lm["mouth_corner_L"], X] > 0.018 and v[lm["brow_outer_L"], X] > v[lm["brow_inner_L"], X] > 0


def test_deterministic(head):
    again = build_head.__wrapped__()
    assert np.array_equal(again.vertices, head.vertices)
    assert np.array_equal(again.face_indices, head.face_indices)
    assert np.array_equal(again.key_matrix, head.key_matrix)
    assert again.landmarks == head.landmarks
    assert build_head() is build_head()  # cached


def test_build_is_fast():
    start = time.perf_counter()
    build_head.__wrapped__()
    assert time.perf_counter() - start < 1.0  # about 0.2 s on a laptop core; generous for slow CI


# ---- symmetry -------------------------------------------------------------------------------------------


def test_mesh_is_an_exact_mirror_image(head):
    m = head.mirror
    assert np.array_equal(m[m], np.arange(head.n_vertices))
    assert np.array_equal(head.vertices[m] * np.array([-1, 1, 1], np.float32), head.vertices)


@pytest.mark.parametrize("left", [n for n in ARKIT52 if "Left" in n])
def test_left_right_pairs_are_exact_mirrors(head, left):
    right = left.replace("Left", "Right")
    mirrored = head.shape_keys[left][head.mirror] * np.array([-1, 1, 1], np.float32)
    assert np.array_equal(mirrored, head.shape_keys[right])
    assert np.abs(head.shape_keys[left]).max() > 0.001  # and they do something


@pytest.mark.parametrize("name", [n for n in ARKIT52 if "Left" not in n and "Right" not in n])
def test_unsided_keys_are_symmetric(head, name):
    d = head.shape_keys[name]
    assert np.array_equal(d[head.mirror] * np.array([-1, 1, 1], np.float32), d)


def test_left_keys_act_on_the_left(head):
    lips = head.groups["lips"]
    x = head.vertices[lips, X]
    for key in ("mouthSmileLeft", "mouthFrownLeft", "mouthDimpleLeft", "mouthStretchLeft", "mouthPressLeft",
                "mouthLowerDownLeft", "mouthUpperUpLeft"):  # fmt: skip
        moved = np.linalg.norm(head.shape_keys[key][lips], axis=1)
        assert moved[x > 0.008].mean() > 2.0 * moved[x < -0.008].mean(), key


# ---- what each key does ---------------------------------------------------------------------------------


def test_jaw_keys(head):
    jaw, teeth = head.groups["jaw"], head.groups["teeth_lower"]
    d = shift(head, "jawOpen", teeth)
    assert d[Z] < -12 and 0 < d[Y] < 6  # down and a little back (rotation about the hinge)
    assert shift(head, "jawOpen", jaw)[Z] < -5
    chin = [head.landmarks["chin"]]
    assert shift(head, "jawOpen", chin)[Z] < shift(head, "jawOpen", head.groups["cheek_L"])[Z] < 0  # blended
    assert abs(shift(head, "jawOpen", head.groups["teeth_upper"])).max() < 1e-6
    assert shift(head, "jawForward", teeth)[Y] < -4
    assert shift(head, "jawLeft", teeth)[X] > 4 and shift(head, "jawRight", teeth)[X] < -4
    for key in ("jawOpen", "jawForward", "jawLeft"):
        for still in ("cranium", "eyeball_L", "eyelid_upper_L", "brow_L", "teeth_upper", "nose", "ear_L"):
            assert np.abs(head.shape_keys[key][head.groups[still]]).max() * MM < 0.5, (key, still)


def test_lip_keys_directions(head):
    up, lo = head.groups["upper_lip"], head.groups["lower_lip"]
    lips = head.groups["lips"]
    corner = [head.landmarks["mouth_corner_L"]]
    assert shift(head, "mouthClose", head.groups["lower_lip_inner"])[Z] > 5  # lower lip rises toward the upper
    assert shift(head, "mouthClose", head.groups["upper_lip_inner"])[Z] < 0
    assert shift(head, "mouthFunnel", lips)[Y] < -3
    d = shift(head, "mouthPucker", lips)
    assert d[Y] < -4
    assert shift(head, "mouthPucker", corner)[X] < -4  # corners toward the middle
    assert shift(head, "mouthLeft", lips)[X] > 4 and shift(head, "mouthRight", lips)[X] < -4
    d = shift(head, "mouthSmileLeft", corner)
    assert d[Z] > 4 and d[Y] > 1 and d[X] > 1  # up, back, out
    assert shift(head, "mouthFrownLeft", corner)[Z] < -3
    d = shift(head, "mouthDimpleLeft", corner)
    assert d[Y] > 2 and d[X] > 0.5
    d = shift(head, "mouthStretchLeft", corner)
    assert d[X] > 4 and d[Z] < 0
    d = shift(head, "mouthRollLower", lo)
    assert d[Y] > 2 and d[Z] > 0  # curls in over the teeth
    d = shift(head, "mouthRollUpper", up)
    assert d[Y] > 2 and d[Z] < 0
    assert shift(head, "mouthShrugLower", lo)[Z] > 2
    assert shift(head, "mouthShrugLower", [head.landmarks["chin"]])[Z] > 2
    assert shift(head, "mouthShrugUpper", up)[Z] > 2
    left_up, left_lo = side(head, "upper_lip", 1, 0.005), side(head, "lower_lip", 1, 0.005)
    assert shift(head, "mouthPressLeft", left_up)[Z] < -0.5 and shift(head, "mouthPressLeft", left_lo)[Z] > 0.5
    assert shift(head, "mouthLowerDownLeft", left_lo)[Z] < -3
    assert abs(shift(head, "mouthLowerDownLeft", up)[Z]) < 0.05
    assert shift(head, "mouthUpperUpLeft", left_up)[Z] > 3
    assert abs(shift(head, "mouthUpperUpLeft", lo)[Z]) < 0.05


def test_mouth_keys_leave_the_upper_face_alone(head):
    still = np.concatenate([head.groups[g] for g in ("eyeball_L", "eyeball_R", "eyelid_upper_L", "eyelid_lower_R",
                                                      "brow_L", "brow_R", "cranium")])  # fmt: skip
    for key in ARKIT52:
        if key.startswith(("mouth", "jaw", "tongue")):
            assert np.abs(head.shape_keys[key][still]).max() * MM < 0.2, key


def test_brow_cheek_nose_tongue_keys(head):
    brow_l = head.groups["brow_L"]
    inner_l = side(head, "brow_L", 1)[head.vertices[side(head, "brow_L", 1), X] < 0.025]
    inner_r = side(head, "brow_R", -1)[head.vertices[side(head, "brow_R", -1), X] > -0.025]
    outer_l = brow_l[head.vertices[brow_l, X] > 0.045]
    d = shift(head, "browDownLeft", brow_l)
    assert d[Z] < -3 and d[X] < -0.5  # down and drawn in toward the nose
    assert np.abs(head.shape_keys["browDownLeft"][head.groups["brow_R"]]).max() * MM < 0.2
    assert shift(head, "browInnerUp", inner_l)[Z] > 4 and shift(head, "browInnerUp", inner_r)[Z] > 4
    assert shift(head, "browInnerUp", inner_l)[Z] > shift(head, "browInnerUp", outer_l)[Z] + 2
    assert shift(head, "browOuterUpLeft", outer_l)[Z] > 4
    assert shift(head, "browOuterUpLeft", outer_l)[Z] > shift(head, "browOuterUpLeft", inner_l)[Z] + 2
    assert (
        shift(head, "cheekPuff", head.groups["cheek_L"])[X] > 2
        and shift(head, "cheekPuff", head.groups["cheek_R"])[X] < -2
    )
    assert shift(head, "cheekPuff", head.groups["cheek_L"])[Y] < 0
    assert shift(head, "cheekSquintLeft", head.groups["cheek_L"])[Z] > 1
    assert np.abs(head.shape_keys["cheekSquintLeft"][head.groups["cheek_R"]]).max() < 1e-6
    nose_l = side(head, "nose", 1, 0.008)
    assert shift(head, "noseSneerLeft", nose_l)[Z] > 1.5
    assert shift(head, "noseSneerLeft", nose_l)[Z] > 3 * abs(
        shift(head, "noseSneerLeft", side(head, "nose", -1, 0.008))[Z]
    )
    # tongueOut: the tip goes out past the lips, which it leaves alone
    tongue = head.groups["tongue"]
    lips_front = head.vertices[head.groups["lips"], Y].min()
    assert head.vertices[tongue, Y].min() > lips_front + 0.01  # inside the mouth at rest
    for jaw in (0.0, 0.4):
        out = deform(head, weights(tongueOut=1.0, jawOpen=jaw))
        assert out[tongue, Y].min() < lips_front - 0.005
    assert np.abs(head.shape_keys["tongueOut"][head.groups["lips"]]).max() == 0.0
    assert np.abs(head.shape_keys["tongueOut"][head.groups["teeth_lower"]]).max() == 0.0


def test_upper_face_keys_leave_the_mouth_alone(head):
    still = np.concatenate([head.groups[g] for g in ("lips", "teeth_upper", "teeth_lower", "tongue", "jaw")])
    for key in ARKIT52:
        if key.startswith(("eye", "brow", "cheekSquint")):
            assert np.abs(head.shape_keys[key][still]).max() * MM < 0.2, key


# ---- the cues that make the emotions read (sizes at full weight, mm) -------------------------------------


def brow_parts(head: HeadMesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The left brow's inner end, middle and tail (brow strip vertices)."""
    brow = head.groups["brow_L"]
    x = head.vertices[brow, X]
    return brow[x < x.min() + 0.003], brow[np.abs(x - 0.033) < 0.003], brow[x > x.max() - 0.003]


def test_brow_down_lowers_the_inner_end_most_and_draws_it_toward_the_nose(head):
    inner, middle, tail = brow_parts(head)
    d_in, d_mid, d_tail = (shift(head, "browDownLeft", idx) for idx in (inner, middle, tail))
    assert d_in[Z] < -8 and d_in[X] < -3  # down and toward the midline (corrugator)
    assert d_in[Z] < d_mid[Z] < d_tail[Z] < -4  # the whole brow comes down, the inner end most: a V
    assert d_tail[Z] - d_in[Z] > 3.5
    # the brows come together: with both keys the inner ends are >= 7 mm closer
    both = deform(head, weights(browDownLeft=1.0, browDownRight=1.0))
    inner_r = head.mirror[inner]
    gap_rest = head.vertices[inner, X].mean() - head.vertices[inner_r, X].mean()
    assert gap_rest - (both[inner, X].mean() - both[inner_r, X].mean()) > 0.007


def test_both_brows_down_furrow_the_glabella(head):
    face = head.groups["face"]
    v = head.vertices

    def skin_at(x: float, z: float) -> int:
        return int(face[np.argmin((v[face, X] - x) ** 2 + (v[face, Z] - z) ** 2)])

    both = (head.shape_keys["browDownLeft"] + head.shape_keys["browDownRight"]) * MM
    furrow, head_of_brow = skin_at(0.005, 0.025), skin_at(0.0125, 0.025)
    assert both[furrow, Y] - both[head_of_brow, Y] > 2.0  # a vertical groove between the bunched brow heads
    assert both[skin_at(-0.005, 0.025), Y] == pytest.approx(both[furrow, Y], abs=1e-4)  # one each side
    assert abs(v[furrow, X] - 0.005) < 0.0015 and abs(v[head_of_brow, X] - 0.0125) < 0.0015


def test_inner_brow_raise_makes_the_brows_oblique(head):
    inner, middle, tail = brow_parts(head)
    d_in, d_mid, d_tail = (shift(head, "browInnerUp", idx)[Z] for idx in (inner, middle, tail))
    assert d_in > 12 and d_in > d_mid + 8 and d_tail < 3
    # sadness at stage 2's default intensity (browInnerUp 0.36 with browDown 0.21): the inner ends rise over
    # the rest pose and over the brow's middle while the tails do not rise
    sad = (deform(head, weights(browInnerUp=0.36, browDownLeft=0.21, browDownRight=0.21)) - head.vertices) * MM
    assert sad[inner, Z].mean() > 2.5
    assert sad[inner, Z].mean() - sad[middle, Z].mean() > 2.5
    assert sad[tail, Z].mean() < 0.5
    assert sad[inner, X].mean() < -0.5  # and toward each other


def test_brows_raise_all_along_for_surprise(head):
    inner, middle, tail = brow_parts(head)
    d_tail = shift(head, "browOuterUpLeft", tail)[Z]
    assert d_tail > 9 and shift(head, "browOuterUpLeft", inner)[Z] < 2
    up = (deform(head, weights(browInnerUp=1.0, browOuterUpLeft=1.0, browOuterUpRight=1.0)) - head.vertices) * MM
    brow = head.groups["brow_L"]
    assert up[brow, Z].min() > 8  # every brow vertex rises
    assert up[middle, Z].mean() > 9


def test_brows_stay_above_the_upper_lids(head):
    brow = head.groups["brow_L"]
    over_eye = brow[np.abs(head.vertices[brow, X] - head.vertices[head.landmarks["eye_center_L"], X]) < 0.008]
    lid = head.groups["eyelid_upper_L"]
    lowered = deform(head, weights(browDownLeft=1.0))
    assert (head.vertices[over_eye, Z] - lowered[over_eye, Z]).min() > 0.0045  # the brow comes well down ...
    for values in (weights(browDownLeft=1.0), weights(browDownLeft=1.0, eyeWideLeft=1.0),
                   weights(browDownLeft=1.0, eyeSquintLeft=1.0, cheekSquintLeft=1.0)):  # fmt: skip
        posed = deform(head, values)
        # ... but stays over the whole upper lid shell, its border tucked under the skin included
        assert posed[over_eye, Z].min() > posed[lid, Z].max() + 0.001


def test_eye_opening_keys_change_the_aperture(head):
    lm = head.landmarks
    up, lo = [lm["upper_lid_mid_L"]], [lm["lower_lid_mid_L"]]
    corners = [lm["eye_inner_corner_L"], lm["eye_outer_corner_L"]]
    assert shift(head, "eyeWideLeft", up)[Z] > 3.5 and shift(head, "eyeWideLeft", lo)[Z] < -0.5
    assert shift(head, "eyeSquintLeft", lo)[Z] > 2.8 and shift(head, "eyeSquintLeft", up)[Z] < -0.5
    assert shift(head, "cheekSquintLeft", lo)[Z] > 1.5  # the raised cheek pushes the lower lid up
    assert shift(head, "cheekSquintLeft", head.groups["cheek_L"])[Z] > 2
    # the corners of the eye stay where they are (the lids open and close between them)
    for key in ("eyeWideLeft", "eyeSquintLeft", "cheekSquintLeft"):
        assert np.abs(head.shape_keys[key][corners]).max() * MM < 1.5, key
    # squint and the cheek raiser never push the lower lid over the upper one
    both = deform(head, weights(eyeSquintLeft=1.0, cheekSquintLeft=1.0))
    assert both[up, Z].min() - both[lo, Z].max() > 0.003


def test_emotion_mouth_keys_move_the_corners(head):
    corner = [head.landmarks["mouth_corner_L"]]
    d = shift(head, "mouthFrownLeft", corner)
    assert d[Z] < -6.5 and abs(d[X]) < 2
    d = shift(head, "mouthStretchLeft", corner)
    assert d[X] > 7 and -4.5 < d[Z] < -1.5
    # the dimple: a pit just outside the corner sinks deeper than the skin around it
    v = head.vertices
    skin = head.groups["face"]
    c = v[corner[0]]
    dist = np.hypot(v[skin, X] - (c[X] + 0.0065), v[skin, Z] - c[Z])
    pit = skin[np.argmin(dist)]
    ring = skin[(dist > 0.008) & (dist < 0.010) & (v[skin, Y] < c[Y] + 0.01)]
    dimple = head.shape_keys["mouthDimpleLeft"] * MM
    assert dimple[pit, Y] > dimple[ring, Y].mean() + 1.5


@pytest.mark.parametrize("key", ["mouthFrownLeft", "mouthStretchLeft", "mouthDimpleLeft", "mouthPressLeft",
                                 "mouthSmileLeft", "noseSneerLeft", "cheekSquintLeft"])  # fmt: skip
def test_emotion_keys_keep_closed_lips_closed(head, key):
    up, lo = head.groups["upper_lip_inner"], head.groups["lower_lip_inner"]
    # the contact pairs move together: the key does not change the gap at all
    assert np.abs(head.shape_keys[key][up, Z] - head.shape_keys[key][lo, Z]).max() < 1e-7
    for a in (0.0, 0.4, 1.0):
        values = weights(**{key: 1.0, key.replace("Left", "Right"): 1.0, "jawOpen": a, "mouthClose": a})
        assert lip_gap_mm(values) < 0.5
        sealed = deform(head, values)
        assert np.abs(sealed[up] - sealed[lo]).max() < 0.0005


EMOTION_POSES = {  # full-strength prototypes on the keys that carry them
    "happy": dict(mouthSmileLeft=1, mouthSmileRight=1, cheekSquintLeft=1, cheekSquintRight=1, eyeSquintLeft=0.3,
                  eyeSquintRight=0.3, jawOpen=0.2),
    "sad": dict(browInnerUp=1, browDownLeft=0.6, browDownRight=0.6, mouthFrownLeft=1, mouthFrownRight=1),
    "angry": dict(browDownLeft=1, browDownRight=1, eyeSquintLeft=1, eyeSquintRight=1, eyeWideLeft=0.6,
                  eyeWideRight=0.6, mouthPressLeft=0.4, mouthPressRight=0.4),
    "surprised": dict(browInnerUp=1, browOuterUpLeft=1, browOuterUpRight=1, eyeWideLeft=1, eyeWideRight=1,
                      jawOpen=0.5),
    "fearful": dict(browInnerUp=0.6, browOuterUpLeft=0.7, browOuterUpRight=0.7, browDownLeft=0.6, browDownRight=0.6,
                    eyeWideLeft=1, eyeWideRight=1, mouthStretchLeft=1, mouthStretchRight=1, jawOpen=0.4),
    "disgusted": dict(noseSneerLeft=1, noseSneerRight=1, mouthUpperUpLeft=0.8, mouthUpperUpRight=0.8,
                      mouthFrownLeft=0.7, mouthFrownRight=0.7),
    "contempt": dict(mouthSmileLeft=0.7, mouthDimpleLeft=0.7),
}  # fmt: skip


@pytest.mark.parametrize("emotion", sorted(EMOTION_POSES))
def test_emotion_poses_turn_no_face_over(head, emotion):
    """No polygon of the posed mesh faces the other way (a fold or a pinch would)."""
    tris = np.array([(p[0], p[i], p[i + 1]) for p in polygons(head) for i in range(1, len(p) - 1)])

    def normals(v: np.ndarray) -> np.ndarray:
        a, b, c = (v[tris[:, k]].astype(np.float64) for k in range(3))
        return np.cross(b - a, c - a)

    rest, posed = normals(head.vertices), normals(deform(head, weights(**EMOTION_POSES[emotion])))
    cos = (rest * posed).sum(axis=1) / (np.linalg.norm(rest, axis=1) * np.linalg.norm(posed, axis=1))
    assert (cos > 0).all(), f"{int((cos <= 0).sum())} faces turned over"


def test_eye_keys(head):
    lm = head.landmarks
    pupil_l, pupil_r = [lm["eye_center_L"]], [lm["eye_center_R"]]
    assert shift(head, "eyeLookUpLeft", pupil_l)[Z] > 3
    assert shift(head, "eyeLookDownLeft", pupil_l)[Z] < -3
    assert shift(head, "eyeLookInLeft", pupil_l)[X] < -3  # toward the nose
    assert shift(head, "eyeLookOutLeft", pupil_l)[X] > 3
    assert shift(head, "eyeLookInRight", pupil_r)[X] > 3
    assert shift(head, "eyeLookOutRight", pupil_r)[X] < -3
    # the eyeballs rotate rigidly about their centres: distances to the centre are kept at full weight
    ball = head.groups["eyeball_L"]
    sclera = ball[head.vertices[ball, Y] > head.vertices[pupil_l[0], Y] + 0.003]  # leave out the cornea bulge
    centre = _sphere_centre(head.vertices[sclera].astype(np.float64))
    pupil = int(np.flatnonzero(ball == pupil_l[0])[0])
    for key in ("eyeLookUpLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft"):
        rest = head.vertices[ball] - centre
        moved = rest + head.shape_keys[key][ball]
        assert np.allclose(np.linalg.norm(moved, axis=1), np.linalg.norm(rest, axis=1), atol=2e-6), key
        angle = np.degrees(np.arccos(np.clip(np.dot(_unit(rest[pupil]), _unit(moved[pupil])), -1, 1)))
        assert 22 < angle < 32, key
    up_l, lo_l = head.groups["eyelid_upper_L"], head.groups["eyelid_lower_L"]
    assert shift(head, "eyeBlinkLeft", up_l)[Z] < -3
    assert shift(head, "eyeWideLeft", up_l)[Z] > 0.5
    assert shift(head, "eyeSquintLeft", lo_l)[Z] > 0.5
    assert shift(head, "eyeLookUpLeft", up_l)[Z] > 0.2  # the upper lid follows a little
    assert shift(head, "eyeLookDownLeft", up_l)[Z] < -0.5
    for key in ("eyeBlinkLeft", "eyeWideLeft", "eyeSquintLeft", "eyeLookUpLeft", "eyeLookInLeft"):
        right = np.concatenate([head.groups[g] for g in ("eyeball_R", "eyelid_upper_R", "eyelid_lower_R")])
        assert np.abs(head.shape_keys[key][right]).max() == 0.0, key


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _sphere_centre(points: np.ndarray) -> np.ndarray:
    """Least-squares sphere fit: |p|^2 = 2 c.p + (r^2 - |c|^2)."""
    a = np.c_[2 * points, np.ones(len(points))]
    sol = np.linalg.lstsq(a, (points**2).sum(axis=1), rcond=None)[0]
    return sol[:3]


def test_blink_closes_the_lids(head):
    lm = head.landmarks
    up, lo = lm["upper_lid_mid_L"], lm["lower_lid_mid_L"]
    rest = head.vertices
    assert rest[up, Z] - rest[lo, Z] > 0.008  # open at rest (about 1 cm)
    assert rest[up, Z] > rest[lm["eye_center_L"], Z] > rest[lo, Z]
    closed = deform(head, weights(eyeBlinkLeft=1.0))
    assert closed[up, Z] <= closed[lo, Z] + 0.0003  # the upper rim reaches the lower rim
    # along the whole opening the upper lid comes down to the lower lid's rim
    lid_u, lid_l = head.groups["eyelid_upper_L"], head.groups["eyelid_lower_L"]
    centre_x = rest[lm["eye_center_L"], X]
    for dx in (-0.006, -0.003, 0.0, 0.003, 0.006):
        band_u = lid_u[np.abs(rest[lid_u, X] - centre_x - dx) < 0.0015]
        band_l = lid_l[np.abs(rest[lid_l, X] - centre_x - dx) < 0.0015]
        front_u = band_u[rest[band_u, Y] < rest[lm["eye_center_L"], Y] + 0.004]
        front_l = band_l[rest[band_l, Y] < rest[lm["eye_center_L"], Y] + 0.004]
        assert closed[front_u, Z].min() <= closed[front_l, Z].max() + 0.0005, dx
    # the right eye does not move
    assert np.array_equal(closed[head.groups["eyelid_upper_R"]], rest[head.groups["eyelid_upper_R"]])
    both = deform(head, weights(eyeBlinkLeft=1.0, eyeBlinkRight=1.0))
    assert both[lm["upper_lid_mid_R"], Z] <= both[lm["lower_lid_mid_R"], Z] + 0.0003


# ---- lip gap --------------------------------------------------------------------------------------------


def test_contact_lines_are_paired(head):
    up, lo = head.groups["upper_lip_inner"], head.groups["lower_lip_inner"]
    assert len(up) == len(lo) >= 9
    assert len(set(up.tolist()) & set(lo.tolist())) == 0  # really split: two rows of vertices
    assert np.allclose(head.vertices[up], head.vertices[lo], atol=1e-9)  # touching at rest
    assert np.all(np.diff(head.vertices[up, X]) < 0)  # from the character's left to the right


def test_lip_gap_rest_and_jaw(head):
    assert lip_gap_mm(weights()) < 0.3
    assert 20.0 <= lip_gap_mm(weights(jawOpen=1.0)) <= 25.0
    assert lip_gap_mm(weights(jawOpen=0.5)) > 8.0
    gaps = lip_gap_mm(np.stack([weights(jawOpen=a) for a in np.linspace(0, 1, 6)]))
    assert gaps.shape == (6,) and np.all(np.diff(gaps) > 0)


@pytest.mark.parametrize("a", [0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 1.0])
def test_mouth_close_seals_lips_whatever_the_jaw(head, a):
    assert lip_gap_mm(weights(jawOpen=a, mouthClose=a)) < 0.5
    sealed = deform(head, weights(jawOpen=a, mouthClose=a))
    up, lo = head.groups["upper_lip_inner"], head.groups["lower_lip_inner"]
    assert np.abs(sealed[up] - sealed[lo]).max() < 0.0005  # every pair, not only the central ones
    assert lip_gap_mm(weights(jawOpen=a)) > 3.0 * a  # and the jaw alone does open them


@pytest.mark.parametrize(
    ("key", "least"),
    [
        ("mouthFunnel", 3.0),
        ("mouthLowerDownLeft", 1.0),
        ("mouthLowerDownRight", 1.0),
        ("mouthUpperUpLeft", 1.0),
        ("mouthUpperUpRight", 1.0),
    ],  # fmt: skip
)
def test_keys_that_part_the_lips(head, key, least):
    assert lip_gap_mm(weights(**{key: 1.0})) > least
    assert lip_gap_mm(weights(**{key: 1.0})) > lip_gap_mm(weights(**{key: 0.5})) > 0


@pytest.mark.parametrize(
    "key",
    [
        "mouthPressLeft",
        "mouthPressRight",
        "mouthRollLower",
        "mouthRollUpper",
        "mouthPucker",
        "mouthShrugLower",
        "mouthShrugUpper",
        "mouthSmileLeft",
        "mouthFrownRight",
        "mouthClose",
        "cheekPuff",
        "jawForward",
        "jawLeft",
        "tongueOut",
    ],  # fmt: skip
)
def test_keys_that_keep_the_lips_closed(head, key):
    assert lip_gap_mm(weights(**{key: 1.0})) < 0.3


def test_lip_gap_is_exact_for_the_mesh(head):
    rng = np.random.default_rng(7)
    values = rng.uniform(0, 1, (20, len(ARKIT52))).astype(np.float32) * (rng.uniform(0, 1, (20, 52)) < 0.2)
    values[:, INDEX["jawOpen"]] = np.linspace(0, 1, 20)
    up, lo = head.groups["upper_lip_inner"], head.groups["lower_lip_inner"]
    left = head.vertices[head.landmarks["mouth_corner_L"], X]
    right = head.vertices[head.landmarks["mouth_corner_R"], X]
    central = np.abs(head.vertices[up, X] - 0.5 * (left + right)) <= 0.3 * (left - right)
    posed = deform(head, values, indices=np.concatenate([up[central], lo[central]]))
    k = int(central.sum())
    expected = np.clip((posed[:, :k, Z] - posed[:, k:, Z]).min(axis=1), 0, None) * MM
    assert np.allclose(lip_gap_mm(values), expected, atol=1e-3)


def test_lip_gap_is_fast_and_validates():
    values = np.random.default_rng(0).uniform(0, 1, (1800, len(ARKIT52)))
    lip_gap_mm(values)  # warm the cache
    start = time.perf_counter()
    out = lip_gap_mm(values)
    assert time.perf_counter() - start < 0.05
    assert out.shape == (1800,) and (out >= 0).all()
    assert np.ndim(lip_gap_mm(np.zeros(52))) == 0
    with pytest.raises(ValueError):
        lip_gap_mm(np.zeros((10, 51)))


# ---- deform ---------------------------------------------------------------------------------------------


def test_deform_single_batch_and_subset(head):
    assert np.array_equal(deform(head, np.zeros(52)), head.vertices)
    w = weights(jawOpen=0.5, mouthSmileLeft=1.0)
    one = deform(head, w)
    assert one.shape == (head.n_vertices, 3)
    expected = head.vertices + 0.5 * head.shape_keys["jawOpen"] + head.shape_keys["mouthSmileLeft"]
    assert np.allclose(one, expected, atol=1e-7)
    batch = deform(head, np.stack([np.zeros(52, np.float32), w]))
    assert batch.shape == (2, head.n_vertices, 3)
    assert np.allclose(batch[1], one, atol=1e-7)
    idx = head.groups["tongue"]
    assert np.allclose(deform(head, np.stack([w, w]), indices=idx)[0], one[idx], atol=1e-7)
    with pytest.raises(ValueError):
        deform(head, np.zeros(5))
