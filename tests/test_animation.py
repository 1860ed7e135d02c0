"""The Animation contract and its three encodings."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from avi_talking.core.animation import Animation, n_frames_for, normalize_fps
from avi_talking.core.arkit import ARKIT52, LIVE_LINK_FACE_ROTATIONS, LIVE_LINK_FACE_SHAPES
from avi_talking.core.common.errors import FormatError


def _anim(fps: float = 30.0, frames: int = 75) -> Animation:
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 1, (frames, 52)).astype(np.float32)
    return Animation(fps, ARKIT52, values, "arkit52", {"model": "procedural", "seed": 7})


@pytest.mark.parametrize("suffix", [".npz", ".json", ".csv"])
@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0, 30000 / 1001])
def test_round_trip(tmp_path: Path, suffix: str, fps: float) -> None:
    anim = _anim(fps)
    back = Animation.load(anim.save(tmp_path / f"a{suffix}"))
    assert back.channels == ARKIT52
    assert back.fps == pytest.approx(fps, rel=1e-6)
    assert np.allclose(back.values, anim.values, atol=1e-6)
    if suffix != ".csv":
        assert back.meta == anim.meta and back.space == "arkit52"


def test_npz_fields_match_the_contract(tmp_path: Path) -> None:
    path = _anim().save(tmp_path / "a.npz")
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == {"fps", "channels", "values", "space", "meta"}
        assert data["fps"].shape == () and data["values"].dtype == np.float32
        assert data["channels"].dtype.kind == "U" and str(data["space"]) == "arkit52"
        assert json.loads(str(data["meta"]))["seed"] == 7


def test_live_link_face_layout(tmp_path: Path) -> None:
    anim = _anim(60.0, 130)
    path = anim.save(tmp_path / "take.csv")
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["Timecode", "BlendShapeCount", *LIVE_LINK_FACE_SHAPES, *LIVE_LINK_FACE_ROTATIONS]
    assert len(rows) == 131 and rows[1][1] == "61"
    assert rows[1][0] == "00:00:00:00.000" and rows[61][0] == "00:00:01:00.000"
    # JawRight comes before JawLeft in Live Link Face's order
    col = rows[0].index("JawLeft")
    assert float(rows[5][col]) == pytest.approx(anim.channel("jawLeft")[4], abs=1e-6)


def test_frame_rate_rules() -> None:
    assert normalize_fps(29.97) == 30000 / 1001
    assert normalize_fps(23.976) == 24000 / 1001
    assert normalize_fps(25) == 25.0
    with pytest.raises(FormatError):
        normalize_fps(0)
    with pytest.raises(FormatError):
        normalize_fps(float("nan"))
    assert n_frames_for(1.0, 30.0) == 30 and n_frames_for(1.01, 30.0) == 31


def test_invalid_animations_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="shape"):
        Animation(30.0, ARKIT52, np.zeros((5, 3)))
    with pytest.raises(FormatError, match="NaN"):
        Animation(30.0, ("a",), np.array([[np.nan]]))
    with pytest.raises(FormatError, match="unique"):
        Animation(30.0, ("a", "a"), np.zeros((2, 2)))
    with pytest.raises(FormatError, match="Live Link"):
        Animation(30.0, ("exp_000",), np.zeros((2, 1)), "flame").save(tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(FormatError, match="cannot read"):
        Animation.load(bad)
