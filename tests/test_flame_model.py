"""Evaluating FLAME: identities of blend shapes and skinning, numpy against torch, rotation conversions and
the flame-space channel helpers."""

from __future__ import annotations

import numpy as np
import pytest
from flame_fixture import synthetic_flame

from avi_talking.core.flame import rotations as rot
from avi_talking.core.flame.channels import expression_of, make_animation, pose_of
from avi_talking.core.flame.loading import FlameModel, validate_arrays
from avi_talking.core.flame.model import (
    blender_to_flame,
    corrective_weights,
    evaluate,
    evaluate_torch,
    flame_to_blender,
    pose_feature,
)


@pytest.fixture(scope="module")
def model() -> FlameModel:
    return validate_arrays(dict(synthetic_flame().arrays))


def _random_pose(rng: np.random.Generator, frames: int, scale: float = 0.3) -> np.ndarray:
    return rng.normal(0.0, scale, size=(frames, 5, 3))


def test_rest_pose_is_the_template(model: FlameModel) -> None:
    np.testing.assert_allclose(evaluate(model)[0], model.v_template, atol=1e-12)


def test_expressions_alone_are_linear_blend_shapes(model: FlameModel) -> None:
    rng = np.random.default_rng(0)
    exp = rng.normal(size=(3, 20))  # fewer coefficients than the model has: the rest are zero
    got = evaluate(model, exp)
    want = model.v_template[None] + np.einsum("vck,tk->tvc", model.exprdirs[:, :, :20], exp)
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_identity_shape_blend_shapes(model: FlameModel) -> None:
    beta = np.random.default_rng(1).normal(size=10)
    got = evaluate(model, shape=beta)[0]
    np.testing.assert_allclose(got, model.v_template + model.shapedirs[:, :, :10] @ beta, atol=1e-12)


def test_root_rotation_is_rigid_about_the_root_joint(model: FlameModel) -> None:
    pose = np.zeros((5, 3))
    pose[0] = (0.3, -0.5, 0.2)  # the root has no correctives, so the whole head turns rigidly
    got = evaluate(model, pose=pose)[0]
    r = rot.rodrigues(pose[0])
    root = model.rest_joints()[0]
    np.testing.assert_allclose(got, (model.v_template - root) @ r.T + root, atol=1e-12)


def test_jaw_rotation_moves_jaw_weighted_vertices_about_the_jaw_joint(model: FlameModel) -> None:
    pose = np.zeros((5, 3))
    pose[2] = (0.25, 0.0, 0.0)
    got = evaluate(model, pose=pose)[0]
    correctives = model.posedirs @ pose_feature(rot.rodrigues(pose))  # always applied before skinning
    posed = model.v_template + correctives
    untouched = model.weights[:, 2] == 0
    np.testing.assert_allclose(got[untouched], posed[untouched], atol=1e-12)
    only_jaw = model.weights[:, 2] == 1.0  # the chin: turns rigidly about the jaw joint
    assert only_jaw.sum() > 10
    jaw = model.rest_joints()[2]
    r = rot.rodrigues(pose[2])
    np.testing.assert_allclose(got[only_jaw], (posed[only_jaw] - jaw) @ r.T + jaw, atol=1e-12)
    blended = (model.weights[:, 2] > 0) & (model.weights[:, 2] < 1)
    assert np.abs(got[blended] - posed[blended]).max() > 1e-4  # and the jaw's vertices did move


def test_pose_feature_layout() -> None:
    """Joints 1..4, each R - I row-major: a quarter turn about X of joint 2 (the jaw) fills entries 9..17."""
    mats = np.broadcast_to(np.eye(3), (5, 3, 3)).copy()
    mats[2] = rot.rodrigues(np.array([np.pi / 2, 0.0, 0.0]))
    feature = pose_feature(mats)
    assert feature.shape == (36,)
    np.testing.assert_allclose(feature[9:18], [0, 0, 0, 0, -1, -1, 0, 1, -1], atol=1e-12)
    assert np.abs(np.delete(feature, np.arange(9, 18))).max() == 0
    np.testing.assert_allclose(corrective_weights(np.zeros((2, 5, 3))), 0.0)


def test_numpy_and_torch_agree(model: FlameModel) -> None:
    pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    exp, pose, beta = rng.normal(size=(4, model.n_expression)), _random_pose(rng, 4), rng.normal(size=20)
    want = evaluate(model, exp, pose, beta)
    got = evaluate_torch(model, exp, pose, beta)
    assert np.abs(got - want).max() < 1e-10
    got32 = evaluate_torch(model, exp, pose, beta, dtype="float32")
    assert np.abs(got32 - want).max() < 1e-5


def test_subset_and_joint_options(model: FlameModel) -> None:
    rng = np.random.default_rng(3)
    exp, pose = rng.normal(size=(2, model.n_expression)), _random_pose(rng, 2)
    idx = np.array([0, 5, 17, model.n_vertices - 1])
    np.testing.assert_allclose(evaluate(model, exp, pose, indices=idx), evaluate(model, exp, pose)[:, idx])
    # the fixture regresses its joints from vertices no expression moves, so both joint modes agree
    np.testing.assert_allclose(evaluate(model, exp, pose, joints_follow_expression=False),
                               evaluate(model, exp, pose), atol=1e-12)


def test_axis_conventions() -> None:
    points = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # FLAME up, forward, subject's left
    np.testing.assert_allclose(flame_to_blender(points), [[0, 0, 1], [0, -1, 0], [1, 0, 0]], atol=1e-15)
    np.testing.assert_allclose(blender_to_flame(flame_to_blender(points)), points, atol=1e-15)


# ---- rotations ------------------------------------------------------------------------------------------


def test_rodrigues_is_orthonormal_and_exact_near_zero() -> None:
    rng = np.random.default_rng(4)
    vecs = np.concatenate([rng.normal(size=(50, 3)), 1e-9 * rng.normal(size=(5, 3)), np.zeros((1, 3))])
    mats = rot.rodrigues(vecs)
    np.testing.assert_allclose(mats @ np.swapaxes(mats, 1, 2), np.broadcast_to(np.eye(3), mats.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(mats), 1.0, atol=1e-12)
    np.testing.assert_allclose(rot.matrix_to_axis_angle(mats[:50]) % (2 * np.pi),
                               rot.quaternion_to_axis_angle(rot.axis_angle_to_quaternion(vecs[:50])) % (2 * np.pi),
                               atol=1e-9)
    small = vecs[50:55]
    np.testing.assert_allclose(mats[50:55] - np.eye(3), [rot._skew(v) for v in small], atol=1e-17)


def test_axis_angle_quaternion_round_trip() -> None:
    rng = np.random.default_rng(5)
    vecs = rng.normal(size=(100, 3))
    vecs *= (rng.uniform(0, np.pi - 1e-3, 100) / np.linalg.norm(vecs, axis=1))[:, None]
    q = rot.axis_angle_to_quaternion(vecs)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(rot.quaternion_to_axis_angle(q), vecs, atol=1e-9)
    np.testing.assert_allclose(rot.matrix_to_quaternion(rot.rodrigues(vecs)), q, atol=1e-9)


@pytest.mark.parametrize("order", rot.EULER_ORDERS)
def test_euler_round_trip(order: str) -> None:
    rng = np.random.default_rng(6)
    angles = rng.uniform(-1.2, 1.2, size=(60, 3))  # middle angle within ±90°: a unique solution
    mats = rot.euler_to_matrix(angles, order)
    np.testing.assert_allclose(rot.matrix_to_euler(mats, order), angles, atol=1e-9)
    # Blender's 'XYZ' turns about X first: R = Rz Ry Rx
    if order == "XYZ":
        a = angles[0]
        want = rot.rodrigues(np.array([0, 0, a[2]])) @ rot.rodrigues(np.array([0, a[1], 0])) @ rot.rodrigues(
            np.array([a[0], 0, 0]))
        np.testing.assert_allclose(mats[0], want, atol=1e-12)


def test_rotation_channels_per_blender_mode() -> None:
    vecs = np.array([[0.0, 0.0, 0.0], [0.2, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.3, 0.1]])
    quat = rot.rotation_channels(vecs, "QUATERNION")
    np.testing.assert_allclose(quat[1], [np.cos(0.1), np.sin(0.1), 0, 0], atol=1e-12)
    aa = rot.rotation_channels(vecs, "AXIS_ANGLE")
    np.testing.assert_allclose(aa[:, 0], np.linalg.norm(vecs, axis=1), atol=1e-12)
    np.testing.assert_allclose(aa[0, 1:], [1, 0, 0])  # leading zero frames take the first real axis
    np.testing.assert_allclose(aa[2, 1:], [1, 0, 0])  # and zero frames hold the previous axis
    euler = rot.rotation_channels(vecs, "ZXY")
    np.testing.assert_allclose(rot.euler_to_matrix(euler, "ZXY"), rot.rodrigues(vecs), atol=1e-12)
    with pytest.raises(ValueError):
        rot.rotation_channels(vecs, "SIDEWAYS")


def test_6d_rotations() -> None:
    mats = rot.rodrigues(np.random.default_rng(7).normal(size=(10, 3)))
    d6 = np.concatenate([mats[:, 0], mats[:, 1]], axis=1) * 2.5  # scale does not matter
    np.testing.assert_allclose(rot.rotation_6d_to_matrix(d6), mats, atol=1e-12)


# ---- channels -------------------------------------------------------------------------------------------------


def test_flame_animation_channels_round_trip() -> None:
    rng = np.random.default_rng(8)
    exp, jaw, neck = rng.normal(size=(6, 4)), rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    anim = make_animation(25.0, exp, {"jaw": jaw, "neck": neck}, {"source": "test"})
    assert anim.space == "flame"
    assert anim.channels == ("exp_000", "exp_001", "exp_002", "exp_003", "neck_rx", "neck_ry", "neck_rz",
                             "jaw_rx", "jaw_ry", "jaw_rz")
    np.testing.assert_allclose(expression_of(anim), exp, atol=1e-6)
    np.testing.assert_allclose(expression_of(anim, 6)[:, 4:], 0.0)
    pose = pose_of(anim)
    np.testing.assert_allclose(pose[:, 2], jaw, atol=1e-6)
    np.testing.assert_allclose(pose[:, 1], neck, atol=1e-6)
    np.testing.assert_allclose(pose[:, [0, 3, 4]], 0.0)
