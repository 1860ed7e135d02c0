"""Loading FLAME files safely: chumpy-era pickles through the restricted unpickler, .npz, landmark
embeddings, malicious and broken files; and reading research sequences (DECA, EMOCA, DiffPoseTalk, EMOTE)."""

from __future__ import annotations

import json
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from flame_fixture import (
    python2_pickle,
    synthetic_flame,
    write_landmarks,
    write_malicious_pickle,
    write_npz,
    write_pkl,
)

from avi_talking.core.common.errors import AviTalkError, FormatError
from avi_talking.core.flame.formats import align_to_audio, read_sequence
from avi_talking.core.flame.landmarks import load_embedding
from avi_talking.core.flame.loading import load_flame
from avi_talking.core.flame.safe_pickle import UnsafePickleError, load_pickle

from conftest import run_cli


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("flame")
    return {"pkl": write_pkl(folder / "generic_model.pkl"), "npz": write_npz(folder / "flame2023.npz")}


# ---- models ----------------------------------------------------------------------------------------------


def test_chumpy_pickle_loads_without_chumpy_or_scipy(files: dict[str, Path]) -> None:
    synth = synthetic_flame()
    raw = files["pkl"].read_bytes()
    assert b"chumpy.ch\nCh" in raw and b"scipy.sparse.csc\ncsc_matrix" in raw and b"chumpy.reordering" in raw
    model = load_flame(files["pkl"])
    a = synth.arrays
    np.testing.assert_array_equal(model.v_template, a["v_template"])
    np.testing.assert_array_equal(model.shapedirs, a["shapedirs"])
    np.testing.assert_array_equal(model.posedirs, a["posedirs"])  # rebuilt from a chumpy Select
    np.testing.assert_array_equal(model.j_regressor, a["J_regressor"])  # a sparse matrix made dense
    np.testing.assert_array_equal(model.weights, a["weights"])
    np.testing.assert_array_equal(model.faces, a["f"].astype(np.int64))
    assert model.parents.tolist() == [-1, 0, 1, 1, 1]
    assert (model.n_shape, model.n_expression, model.n_joints) == (300, synth.planted.shape[1] - 3, 5)
    assert model.v_template.dtype == np.float64 and not model.v_template.flags.writeable
    assert model.name == "generic_model" and len(model.sha256) == 64


def test_npz_and_pickle_give_the_same_model(files: dict[str, Path]) -> None:
    a, b = load_flame(files["pkl"]), load_flame(files["npz"])
    for name in ("v_template", "shapedirs", "posedirs", "j_regressor", "weights", "parents", "faces"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("fmt", ["csc", "csr", "coo"])
@pytest.mark.parametrize("protocol", [2, 5])
def test_real_scipy_sparse_pickles_become_dense(tmp_path: Path, fmt: str, protocol: int) -> None:
    sparse = pytest.importorskip("scipy.sparse")
    dense = np.zeros((5, 40))
    dense[[0, 2, 2, 4], [3, 3, 39, 0]] = [0.5, 0.25, 1.0, -2.0]
    matrix = getattr(sparse, f"{fmt}_matrix")(dense)
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"J_regressor": matrix}, protocol=protocol))
    np.testing.assert_array_equal(load_pickle(path)["J_regressor"], dense)


@pytest.mark.parametrize("how", ["os.system", "eval", "exec"])
def test_a_pickle_that_runs_code_is_refused_before_anything_runs(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "pwned"
    evil = write_malicious_pickle(tmp_path / "generic_model.pkl", marker, how)
    with pytest.raises(UnsafePickleError, match="not allowed in a model file") as info:
        load_flame(evil)
    assert not marker.exists()
    message = str(info.value)
    assert "\n" not in message and ("system" in message or how in message)


def test_only_the_allow_list_resolves(tmp_path: Path) -> None:
    """Hand-written opcodes naming other globals (subprocess, numpy.load, builtins.getattr) are refused."""
    for module, name in [("subprocess", "Popen"), ("numpy", "load"), ("builtins", "getattr"),
                         ("copy_reg", "__newobj__"), ("chumpy.ch_ops", "add"), ("torch._utils", "_rebuild_tensor_v2")]:
        path = tmp_path / "x.pkl"
        path.write_bytes(b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R.")
        with pytest.raises(UnsafePickleError, match=f"{module}.{name}"):
            load_pickle(path)


def test_malicious_model_through_the_cli_fails_in_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = write_malicious_pickle(tmp_path / "flame.pkl", marker)
    seq = tmp_path / "seq.npz"
    np.savez(seq, exp=np.zeros((4, 50)), pose=np.zeros((4, 6)))
    out = tmp_path / "out.blend"
    result = run_cli("import", str(seq), "-o", str(out), "--flame", str(evil), "--fps", "25")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "not allowed" in result.stderr
    assert not marker.exists() and not out.exists()


def test_truncated_and_corrupt_files(tmp_path: Path, files: dict[str, Path]) -> None:
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(files["pkl"].read_bytes()[:5000])
    with pytest.raises(FormatError, match="truncated or corrupt"):
        load_flame(cut)
    cut_npz = tmp_path / "cut.npz"
    cut_npz.write_bytes(files["npz"].read_bytes()[:3000])
    with pytest.raises(FormatError, match="not a readable .npz"):
        load_flame(cut_npz)
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"\x00not a pickle at all")
    with pytest.raises(FormatError):
        load_flame(garbage)
    with pytest.raises(FormatError, match="does not exist"):
        load_flame(tmp_path / "missing.pkl")
    obj = tmp_path / "head.obj"
    obj.write_text("v 0 0 0\n")
    with pytest.raises(FormatError, match=".pkl or .npz"):
        load_flame(obj)


def _npz_with(tmp_path: Path, **changes: object) -> Path:
    arrays: dict[str, object] = dict(synthetic_flame().arrays)
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    path = tmp_path / "model.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda v: {"posedirs": None}, "missing 'posedirs'"),
        (lambda v: {"shapedirs": np.zeros((v, 3, 300))}, "300 shape \\+ N expression"),
        (lambda v: {"v_template": np.zeros((10, 2))}, "expected \\[V, 3\\]"),
        (lambda v: {"J_regressor": np.zeros((4, v))}, "J_regressor"),
        (lambda v: {"kintree_table": np.array([[0, 0, 1], [0, 1, 2]])}, "kintree_table"),
        (lambda v: {"weights": np.full((v, 5), 0.3)}, "sum to 1"),
        (lambda v: {"f": np.array([[0, 1, v]])}, "outside"),
        (lambda v: {"posedirs": np.full((v, 3, 36), np.nan)}, "NaN"),
    ],
)
def test_malformed_models_are_explained(tmp_path: Path, change: Callable[[int], dict[str, object]],
                                        message: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        load_flame(_npz_with(tmp_path, **change(synthetic_flame().n_vertices)))
    assert "\n" not in str(info.value)


def test_pickled_objects_in_an_npz_are_never_loaded(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    np.savez(path, v_template=np.array([{"a": 1}], dtype=object))
    with pytest.raises(FormatError, match="pickled objects"):
        load_flame(path)


def test_a_pickle_that_is_not_a_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pkl"
    path.write_bytes(python2_pickle([1, 2, 3]))
    with pytest.raises(FormatError, match="not a FLAME model"):
        load_flame(path)


# ---- landmark embeddings ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".npy", ".pkl", ".npz", ".json"])
def test_landmark_embeddings_in_every_form(tmp_path: Path, suffix: str) -> None:
    synth = synthetic_flame()
    path = write_landmarks(tmp_path / f"landmarks{suffix}", with_torch=False)
    emb = load_embedding(path, len(synth.arrays["f"]))
    n = 51 if suffix == ".pkl" else 68  # FLAME's static embedding has no jaw contour
    assert emb.known.sum() == n and emb.known[17:].all()
    np.testing.assert_array_equal(emb.faces[emb.known], synth.embedding["lmk_face_idx"][emb.known])
    np.testing.assert_allclose(emb.bary[emb.known], synth.embedding["lmk_b_coords"][emb.known])


def test_deca_embedding_with_torch_tensors_loads_without_running_torch(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    path = write_landmarks(tmp_path / "landmark_embedding.npy", with_torch=True)
    assert b"torch._utils" in path.read_bytes()
    emb = load_embedding(path)
    assert emb.known.all()


def test_bad_landmark_files(tmp_path: Path) -> None:
    mediapipe = tmp_path / "mediapipe_landmark_embedding.npz"
    np.savez(mediapipe, lmk_face_idx=np.zeros(105, np.int64), lmk_b_coords=np.full((105, 3), 1 / 3),
             landmark_indices=np.arange(105))
    with pytest.raises(FormatError, match="MediaPipe"):
        load_embedding(mediapipe)
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"lmk_face_idx": [1, 2], "lmk_b_coords": [[1, 0, 0], [0, 1, 0]]}))
    with pytest.raises(FormatError, match="68 or 51"):
        load_embedding(short)
    other = write_landmarks(tmp_path / "other.npz")
    with pytest.raises(FormatError, match="another model"):
        load_embedding(other, n_faces=10)


# ---- research sequences --------------------------------------------------------------------------------


def _seq(t: int = 12, n_exp: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (t, n_exp)), rng.normal(0, 0.1, (t, 6))


def test_deca_and_diffposetalk_npz(tmp_path: Path) -> None:
    exp, pose = _seq()
    deca = tmp_path / "deca.npz"
    np.savez(deca, exp=exp, pose=pose)
    anim = read_sequence(deca, fps=25)
    assert anim.space == "flame" and anim.fps == 25 and anim.meta["format"] == "deca"
    assert anim.channels[:2] == ("exp_000", "exp_001") and anim.channels[-3:] == ("jaw_rx", "jaw_ry", "jaw_rz")
    np.testing.assert_allclose(anim.values[:, :50], exp, atol=1e-6)
    np.testing.assert_allclose(anim.values[:, 50:], pose[:, 3:6], atol=1e-6)  # the jaw, not the head
    dpt = tmp_path / "dpt.npz"
    np.savez(dpt, exp=exp, pose=pose, shape=np.zeros((12, 100)))
    with_head = read_sequence(dpt, fps=25, head_pose=True)
    assert with_head.meta["format"] == "diffposetalk"
    np.testing.assert_allclose(with_head.channel("neck_rx"), pose[:, 0], atol=1e-6)


def test_emote_with_batch_axis_and_generic_6d_jaw(tmp_path: Path) -> None:
    exp, pose = _seq(n_exp=100)
    emote = tmp_path / "emote.npz"
    np.savez(emote, expression=exp[None], jaw_pose=pose[None, :, 3:6])
    anim = read_sequence(emote, fps=30)
    assert anim.meta["format"] == "emote" and anim.n_frames == 12
    np.testing.assert_allclose(anim.channel("exp_099"), exp[:, 99], atol=1e-6)
    from avi_talking.core.flame.rotations import rodrigues

    mats = rodrigues(pose[:, 3:6])
    six_d = np.concatenate([mats[:, 0], mats[:, 1]], axis=1)  # the first two rows
    generic = tmp_path / "generic.json"
    generic.write_text(json.dumps({"exp": exp[:, :10].tolist(), "jaw_pose": six_d.tolist(), "fps": 24}))
    anim6 = read_sequence(generic)
    assert anim6.fps == 24
    np.testing.assert_allclose(anim6.values[:, 10:], pose[:, 3:6], atol=1e-6)


def test_emoca_output_folder(tmp_path: Path) -> None:
    exp, pose = _seq(t=11)
    folder = tmp_path / "emoca"
    for t in range(11):
        frame = folder / f"{t:06d}_000"
        frame.mkdir(parents=True)
        np.save(frame / "exp.npy", exp[t])
        np.save(frame / "pose.npy", pose[t])
        np.save(frame / "shape.npy", np.zeros(100))
    anim = read_sequence(folder, fps=25)
    assert anim.meta["format"] == "emoca" and anim.n_frames == 11
    np.testing.assert_allclose(anim.channel("jaw_rz"), pose[:, 5], atol=1e-6)


@pytest.mark.parametrize(
    ("arrays", "kwargs", "message"),
    [
        ({"exp": np.zeros((5, 50)), "pose": np.zeros((5, 6))}, {}, "frame rate"),
        ({"exp": np.zeros((5, 50)), "pose": np.zeros((4, 6))}, {"fps": 25}, "different numbers of frames"),
        ({"pose": np.zeros((5, 6))}, {"fps": 25}, "expression"),
        ({"exp": np.zeros((5, 50)), "pose": np.zeros((5, 5))}, {"fps": 25}, "expected 6"),
        ({"exp": np.full((5, 50), np.inf), "pose": np.zeros((5, 6))}, {"fps": 25}, "NaN"),
        ({"expression": np.zeros((5, 50))}, {"fps": 25, "fmt": "emote"}, "jaw"),
    ],
)
def test_bad_sequences(tmp_path: Path, arrays: dict[str, np.ndarray], kwargs: dict[str, object], message: str) -> None:
    path = tmp_path / "seq.npz"
    np.savez(path, **arrays)
    with pytest.raises(FormatError, match=message):
        read_sequence(path, **kwargs)  # type: ignore[arg-type]


def test_pickled_sequence_formats_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "codedict.npy"
    np.save(path, np.array({"exp": np.zeros((3, 50))}, dtype=object), allow_pickle=True)
    with pytest.raises(FormatError, match="never loaded"):
        read_sequence(path, fps=25)


def test_audio_alignment(tmp_path: Path) -> None:
    exp, pose = _seq(t=50)
    path = tmp_path / "seq.npz"
    np.savez(path, exp=exp, pose=pose)
    anim = read_sequence(path, fps=25)
    later = align_to_audio(anim, 0.2)  # 5 frames later: the first frame held
    assert later.n_frames == 55 and later.meta["offset_frames"] == 5
    np.testing.assert_array_equal(later.values[:6], np.repeat(anim.values[:1], 6, axis=0))
    earlier = align_to_audio(anim, -0.4)
    np.testing.assert_array_equal(earlier.values, anim.values[10:])
    with pytest.raises(AviTalkError, match="drops the whole"):
        align_to_audio(anim, -3.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        align_to_audio(anim, 0.0, audio_seconds=5.0)  # 2 s of face for 5 s of audio
    assert any("frame rate" in str(w.message) for w in caught)


def test_import_cli_writes_a_flame_animation(tmp_path: Path) -> None:
    exp, pose = _seq()
    seq = tmp_path / "deca.npz"
    np.savez(seq, exp=exp, pose=pose)
    out = tmp_path / "take.npz"
    result = run_cli("import", str(seq), "-o", str(out), "--fps", "29.97")
    assert result.returncode == 0, result.stderr
    from avi_talking.core.animation import Animation

    anim = Animation.load(out)
    assert anim.space == "flame" and anim.fps == pytest.approx(30000 / 1001)
    np.testing.assert_allclose(anim.channel("jaw_rx"), pose[:, 3], atol=1e-6)
    bad = run_cli("import", str(seq), "-o", str(tmp_path / "x.npz"))  # no frame rate anywhere
    assert bad.returncode == 2 and "frame rate" in bad.stderr and not (tmp_path / "x.npz").exists()
    blend = run_cli("import", str(seq), "-o", str(tmp_path / "x.blend"), "--fps", "25")
    assert blend.returncode == 2 and "needs a head" in blend.stderr
