"""Head rotations without Blender: the sign convention of ``core.head_pose`` (which way each angle turns the
face, in the head frame and in Blender's world) and the Live Link Face CSV's head columns, written and read back."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from avi_talking.core.animation import Animation
from avi_talking.core.arkit import ARKIT52, FACE_AND_HEAD, HEAD_ROTATIONS
from avi_talking.core.flame.rotations import rodrigues
from avi_talking.core.head_pose import (
    BLENDER_CHARACTER,
    head_angles,
    head_matrices,
    head_rotvecs,
    in_frame,
)

FORWARD, UP, LEFT = np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0])


def _turned(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    return head_matrices(np.array([[yaw, pitch, roll]]))[0]


@pytest.mark.parametrize("angle", [0.05, 0.3, -0.4])
def test_each_angle_turns_the_head_the_documented_way(angle: float) -> None:
    # + yaw: the face turns toward the character's left (+X of the head frame), about the vertical
    f = _turned(yaw=angle) @ FORWARD
    np.testing.assert_allclose(f, [np.sin(angle), 0.0, np.cos(angle)], atol=1e-12)
    np.testing.assert_allclose(_turned(yaw=angle) @ UP, UP, atol=1e-12)
    # + pitch: the chin goes down (the face's front tips toward -Y), ears stay on their axis
    f = _turned(pitch=angle) @ FORWARD
    np.testing.assert_allclose(f, [0.0, -np.sin(angle), np.cos(angle)], atol=1e-12)
    np.testing.assert_allclose(_turned(pitch=angle) @ LEFT, LEFT, atol=1e-12)
    # + roll: the top of the head tilts toward the character's left shoulder (+X), about the face's axis
    u = _turned(roll=angle) @ UP
    np.testing.assert_allclose(u, [np.sin(angle), np.cos(angle), 0.0], atol=1e-12)
    np.testing.assert_allclose(_turned(roll=angle) @ FORWARD, FORWARD, atol=1e-12)


def test_order_is_roll_then_pitch_then_yaw_and_rotvecs_agree() -> None:
    yaw, pitch, roll = 0.4, -0.25, 0.3
    r = _turned(yaw, pitch, roll)
    np.testing.assert_allclose(r, _turned(yaw=yaw) @ _turned(pitch=pitch) @ _turned(roll=roll), atol=1e-12)
    vec = head_rotvecs(np.array([[yaw, pitch, roll]]))
    np.testing.assert_allclose(rodrigues(vec)[0], r, atol=1e-12)


def test_blender_world_character_faces_minus_y() -> None:
    # a character facing -Y with +Z up: + yaw swings the face's front from -Y toward +X (its left)
    rest = np.eye(3)  # an object with no rotation: its keyed rotation is in world axes
    for angles, probe, want in (
        ((0.3, 0.0, 0.0), [0.0, -1.0, 0.0], [np.sin(0.3), -np.cos(0.3), 0.0]),
        ((0.0, 0.3, 0.0), [0.0, -1.0, 0.0], [0.0, -np.cos(0.3), -np.sin(0.3)]),  # the front tips down
        ((0.0, 0.0, 0.3), [0.0, 0.0, 1.0], [np.sin(0.3), 0.0, np.cos(0.3)]),  # the crown leans to +X
    ):
        vec = in_frame(head_matrices(np.array([angles])), BLENDER_CHARACTER, rest)
        np.testing.assert_allclose(rodrigues(vec)[0] @ np.array(probe), want, atol=1e-12)


def test_head_angles_need_all_three_channels() -> None:
    values = np.zeros((4, 55), dtype=np.float32)
    values[:, 52:] = [0.1, 0.2, 0.3]
    np.testing.assert_allclose(head_angles(Animation(30.0, FACE_AND_HEAD, values)), [[0.1, 0.2, 0.3]] * 4, atol=1e-7)
    assert head_angles(Animation(30.0, ARKIT52, values[:, :52])) is None
    assert head_angles(Animation(30.0, FACE_AND_HEAD[:54], values[:, :54])) is None


# ---- Live Link Face CSV ----------------------------------------------------------------------------------


def _take(frames: int = 12) -> Animation:
    rng = np.random.default_rng(3)
    values = np.zeros((frames, 55), dtype=np.float32)
    values[:, :52] = rng.uniform(0.0, 1.0, (frames, 52))
    values[:, 52:] = rng.uniform(-0.3, 0.3, (frames, 3))
    return Animation(30.0, FACE_AND_HEAD, values)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_csv_writes_the_head_columns_in_radians_and_reads_them_back(tmp_path: Path) -> None:
    take = _take()
    path = take.save(tmp_path / "take.csv")
    rows = _rows(path)
    for name, column in zip(("HeadYaw", "HeadPitch", "HeadRoll"), HEAD_ROTATIONS, strict=True):
        np.testing.assert_allclose([float(r[name]) for r in rows], take.channel(column), atol=1e-6)
    assert all(float(r["LeftEyeYaw"]) == 0.0 for r in rows)
    back = Animation.load(path)
    assert back.channels == FACE_AND_HEAD
    np.testing.assert_allclose(back.values, take.values, atol=1e-6)


def test_csv_without_head_motion_reads_back_face_only(tmp_path: Path) -> None:
    take = _take()
    face = Animation(30.0, ARKIT52, take.values[:, :52])
    path = face.save(tmp_path / "face.csv")
    assert all(float(r["HeadYaw"]) == 0.0 for r in _rows(path))
    back = Animation.load(path)
    assert back.channels == ARKIT52  # zero head columns: no head channels (nothing to key)
    np.testing.assert_allclose(back.values, face.values, atol=1e-6)
