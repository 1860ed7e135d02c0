"""ARKit → FLAME retargeting on the synthetic FLAME model, whose expression basis was built so that every
ARKit shape of the built-in head is a known (expression, jaw) pair: the solver must find that plant from
the FLAME file and its landmark embedding alone (it is never told the similarity or the vertex match)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flame_fixture import PLANTED_JAW, synthetic_flame, write_landmarks, write_npz

from avi_talking.core.animation import Animation
from avi_talking.core.arkit import ARKIT52
from avi_talking.core.common.errors import AviTalkError, FormatError
from avi_talking.core.flame.landmarks import LandmarkEmbedding, load_embedding
from avi_talking.core.flame.loading import FlameModel, load_flame
from avi_talking.core.flame.retarget import JAW_ONLY_WARNING, ArkitToFlame, arkit_to_flame, solve


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> FlameModel:
    return load_flame(write_npz(tmp_path_factory.mktemp("flame") / "model.npz"))


@pytest.fixture(scope="module")
def embedding(model: FlameModel, tmp_path_factory: pytest.TempPathFactory) -> LandmarkEmbedding:
    path = write_landmarks(tmp_path_factory.mktemp("lmk") / "landmark_embedding.npz")
    return load_embedding(path, len(model.faces))


@pytest.fixture(scope="module")
def solved(model: FlameModel, embedding: LandmarkEmbedding) -> ArkitToFlame:
    return solve(model, embedding)


def _row_errors(found: np.ndarray, planted: np.ndarray) -> np.ndarray:
    return np.linalg.norm(found - planted, axis=1) / np.maximum(np.linalg.norm(planted, axis=1), 1e-9)


def test_the_planted_mapping_is_recovered(solved: ArkitToFlame, model: FlameModel) -> None:
    synth = synthetic_flame()
    n = model.n_expression
    assert solved.matrix.shape == (52, n + 3) and solved.with_landmarks and solved.note is None
    jaw_error = np.abs(solved.matrix[:, n:] - synth.planted[:, n:]).max()
    assert jaw_error < 2e-4  # radians
    for name, theta in PLANTED_JAW.items():
        np.testing.assert_allclose(solved.matrix[ARKIT52.index(name), n:], theta, atol=2e-4)
    rows = _row_errors(solved.matrix, synth.planted)
    assert rows[synth.identifiable].max() < 0.08  # the default ridge shrinks weakly seen directions a little
    assert np.median(rows[synth.identifiable]) < 0.02
    # shapes that move nothing FLAME can express (tongueOut moves only the tongue) map to ~nothing
    assert np.abs(solved.matrix[ARKIT52.index("tongueOut")]).max() < 1e-3
    assert solved.residual[synth.identifiable].max() < 0.01


def test_with_a_weak_ridge_the_plant_comes_back_almost_exactly(model: FlameModel, embedding: LandmarkEmbedding) -> None:
    synth = synthetic_flame()
    tight = solve(model, embedding, alpha=1e-9)
    assert _row_errors(tight.matrix, synth.planted)[synth.identifiable].max() < 0.01
    assert np.abs(tight.matrix[:, -3:] - synth.planted[:, -3:]).max() < 1e-5


def test_static_51_point_embedding_works_too(model: FlameModel, tmp_path: Path) -> None:
    emb = load_embedding(write_landmarks(tmp_path / "flame_static_embedding.pkl"), len(model.faces))
    result = solve(model, emb)
    synth = synthetic_flame()
    assert np.abs(result.matrix[:, -3:] - synth.planted[:, -3:]).max() < 2e-4


def test_without_landmarks_only_the_jaw_is_trustworthy(model: FlameModel) -> None:
    result = solve(model, None)
    n = model.n_expression
    assert not result.with_landmarks and result.note == JAW_ONLY_WARNING
    for name, theta in PLANTED_JAW.items():  # eye-anchored ICP still finds the jaw
        np.testing.assert_allclose(result.matrix[ARKIT52.index(name), n:], theta, atol=0.004)


def test_apply_turns_an_arkit_take_into_flame(solved: ArkitToFlame) -> None:
    rng = np.random.default_rng(0)
    values = rng.random((8, 52)).astype(np.float32)
    take = Animation(30.0, ARKIT52, values, "arkit52", {"seed": 3})
    flame = solved.apply(take)
    n = solved.n_expression
    assert flame.space == "flame" and flame.fps == 30.0 and flame.n_frames == 8
    assert flame.channels[:n] == tuple(f"exp_{i:03d}" for i in range(n))
    assert flame.channels[n:] == ("jaw_rx", "jaw_ry", "jaw_rz")
    np.testing.assert_allclose(flame.values, values @ solved.matrix, rtol=1e-5, atol=1e-5)
    assert flame.meta["seed"] == 3 and flame.meta["retarget"]["landmarks"] is True
    with pytest.raises(AviTalkError, match="only ARKit-52"):
        solved.apply(flame)


def test_the_mapping_is_cached_per_model_and_landmark_file(model: FlameModel, embedding: LandmarkEmbedding,
                                                           tmp_path: Path) -> None:
    first = arkit_to_flame(model, embedding, cache_dir=tmp_path)
    cached = list(tmp_path.glob("arkit_to_flame_*.npz"))
    assert len(cached) == 1
    with np.load(cached[0], allow_pickle=False) as data:  # no pickles in the cache
        assert str(data["model_sha256"]) == model.sha256
    stamp = cached[0].stat().st_mtime_ns
    again = arkit_to_flame(model, embedding, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.matrix, first.matrix)
    assert cached[0].stat().st_mtime_ns == stamp  # read, not solved and written again
    arkit_to_flame(model, None, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("arkit_to_flame_*.npz"))) == 2  # another landmark file, another entry


def test_landmarks_of_another_model_are_refused(model: FlameModel) -> None:
    synth = synthetic_flame()
    faces = synth.embedding["lmk_face_idx"].copy()
    faces[36:48] = faces[[45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]]  # the eyes swapped left/right
    faces[17:27] = faces[17:27][::-1]
    faces[48:68] = np.roll(faces[48:68], 7)
    faces[27:36] = faces[0]
    bogus = LandmarkEmbedding(faces, synth.embedding["lmk_b_coords"], np.ones(68, bool), "bogus.npz", "x" * 64)
    with pytest.raises(FormatError, match="does not fit"):
        solve(model, bogus)
