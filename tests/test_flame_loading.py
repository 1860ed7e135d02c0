"""Loading FLAME files safely: chumpy-era pickles through the restricted unpickler, .npz, landmark
embeddings, malicious and broken files; and reading research sequences (DECA, EMOCA, DiffPoseTalk, EMOTE)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from flame_fixture import (
    FORGED,
    Reduce,
    named,
    npy_bytes,
    python2_pickle,
    small_flame,
    synthetic_flame,
    write_bombs,
    write_forged_flame,
    write_forged_landmarks,
    write_landmarks,
    write_malicious_pickle,
    write_npz,
    write_pkl,
)

from avi_talking.core.common.errors import AviTalkError, FormatError
from avi_talking.core.flame.formats import align_to_audio, read_sequence
from avi_talking.core.flame.landmarks import load_embedding
from avi_talking.core.flame.limits import Budget
from avi_talking.core.flame.loading import load_flame
from avi_talking.core.flame.safe_pickle import UnsafePickleError, load_pickle

from conftest import run_cli, tone, write_audio


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


# ---- hostile pickles and archives (issue #13) ---------------------------------------------------------------


def _bake(tmp_path: Path, *flame_args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``avitalk bake`` with the procedural model: the FLAME files are checked before any synthesis."""
    audio = write_audio(tmp_path / "line.wav", tone(0.5), 16000)
    out = tmp_path / "out.blend"
    return run_cli("bake", str(audio), "-o", str(out), "--model", "procedural", *flame_args), out


def _refused_in_one_line(result: subprocess.CompletedProcess[str], out: Path, *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])  # -11 would be the segfault
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert not out.exists() and not list(out.parent.glob("*.blend*"))


@pytest.mark.parametrize("kind", FORGED)
def test_forged_numpy_pickles_are_refused_before_numpy_builds_them(tmp_path: Path, kind: str) -> None:
    """Each forged dtype/array/scalar shape, as a FLAME model's v_template, through ``bake --flame`` in a
    child process: before the fix several of them crashed the process (exit -11) or reserved 3.2 GB."""
    flame = write_forged_flame(tmp_path / "generic_model.pkl", kind)
    result, out = _bake(tmp_path, "--flame", str(flame))
    _refused_in_one_line(result, out, "generic_model.pkl", "refused")


@pytest.mark.parametrize("kind", ["void-scalar", "object-scalar", "object-field"])
def test_a_forged_scalar_as_n_shape_is_refused(tmp_path: Path, kind: str) -> None:
    flame = write_forged_flame(tmp_path / "flame2023.pkl", kind, key="n_shape")
    result, out = _bake(tmp_path, "--flame", str(flame))
    _refused_in_one_line(result, out, "flame2023.pkl", "refused")


@pytest.mark.parametrize("suffix", [".pkl", ".npy"])
@pytest.mark.parametrize("kind", ["object-field", "void-scalar", "object-flags-0"])
def test_forged_landmark_pickles_are_refused(tmp_path: Path, kind: str, suffix: str) -> None:
    flame = write_npz(tmp_path / "flame.npz", small_flame())
    landmarks = write_forged_landmarks(tmp_path / f"landmark_embedding{suffix}", kind)
    result, out = _bake(tmp_path, "--flame", str(flame), "--landmarks", str(landmarks))
    _refused_in_one_line(result, out, f"landmark_embedding{suffix}", "refused")


_CHILD = """
import json, sys
from pathlib import Path
from avi_talking.core.common.errors import FormatError
from avi_talking.core.flame.landmarks import load_embedding
from avi_talking.core.flame.loading import load_flame
results = {}
for path in sys.argv[1:]:
    path = Path(path)
    try:
        (load_embedding if path.name.startswith("lmk") else load_flame)(path)
        results[path.name] = ["loaded", ""]
    except FormatError as exc:
        results[path.name] = [type(exc).__name__, str(exc)]
print(json.dumps(results))
"""


def test_every_forged_shape_in_every_reader(tmp_path: Path) -> None:
    """All forged values through every pickle reader (model key, n_shape, static .pkl, DECA .npy), in one
    child process so that a regression shows as a failed test rather than a dead pytest."""
    paths = []
    for kind in FORGED:
        paths += [write_forged_flame(tmp_path / f"{kind}.pkl", kind),
                  write_forged_flame(tmp_path / f"{kind}-n_shape.pkl", kind, key="n_shape"),
                  write_forged_landmarks(tmp_path / f"lmk-{kind}.pkl", kind),
                  write_forged_landmarks(tmp_path / f"lmk-{kind}.npy", kind)]
    child = subprocess.run([sys.executable, "-c", _CHILD, *map(str, paths)], capture_output=True, text=True,
                           timeout=300, check=False)
    assert child.returncode == 0, child.stderr[-2000:]
    results = json.loads(child.stdout)
    assert sorted(results) == sorted(p.name for p in paths)
    for name, (kind, message) in results.items():
        assert kind in ("FormatError", "UnsafePickleError"), (name, kind)
        assert "refused" in message and name in message and "\n" not in message, (name, message)


_BOMB_CHILD = """
import json, resource, sys, time
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a regression fails fast instead of swapping
from avi_talking.core.common.errors import FormatError
from avi_talking.core.flame.landmarks import load_embedding
from avi_talking.core.flame.loading import load_flame
results = {}
for path, reader in zip(sys.argv[1::2], sys.argv[2::2]):
    start = time.perf_counter()
    try:
        (load_embedding if reader == "landmarks" else load_flame)(path)
        message = "loaded"
    except FormatError as exc:
        message = str(exc)
    results[Path(path).name] = [time.perf_counter() - start, message]
# VmHWM is this process's own peak (ru_maxrss would carry over the forking pytest's size across exec)
status = Path("/proc/self/status")
peak = [line.split()[1] for line in status.read_text().splitlines() if line.startswith("VmHWM")]
results["peak_mb"] = int(peak[0]) / 1024 if peak else 0.0
print(json.dumps(results))
"""


def test_files_asking_for_gigabytes_or_minutes_are_refused_at_once(tmp_path: Path) -> None:
    """A 9-byte memo bomb (16 GB in CPython's unpickler), 3 GB arrays claimed by a pickle, an .npz member
    header and an .npy header, a 29 GB sparse matrix, one 1 MB array listed 3000 times (np.asarray would
    copy it into 3 GB), 10 000 hash-colliding dict keys (seconds to build),
    300 000 opcodes and a zip directory of 20 000 records: each refused in well under a second, and the
    child never grows past a few hundred MB."""
    bombs = write_bombs(tmp_path / "bombs")
    args = [str(x) for path, reader, _ in bombs.values() for x in (path, reader)]
    child = subprocess.run([sys.executable, "-c", _BOMB_CHILD, *args], capture_output=True, text=True,
                           timeout=300, check=False)
    assert child.returncode == 0, child.stderr[-2000:]
    results = json.loads(child.stdout)
    for name, (_path, _reader, expected) in bombs.items():
        seconds, message = results[name]
        assert expected in message and name in message, (name, message)
        assert seconds < 1.0, (name, seconds)
    assert results["peak_mb"] < 400, results["peak_mb"]


def test_protocol_2_bytes_load_and_other_codecs_or_builtins_do_not(tmp_path: Path) -> None:
    """Python 3 writes bytes at protocol 2 as ``__builtin__.bytes()`` (empty) or ``_codecs.encode(text,
    'latin1')``: both load (an empty array's data is an empty bytes); any other use is refused."""
    data = {"empty": b"", "raw": bytes(range(256)), "array": np.zeros(0), "ints": np.arange(5, dtype=">i4")}
    path = tmp_path / "bytes.pkl"
    for protocol in (0, 1, 2):
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        loaded = load_pickle(path)
        assert loaded["empty"] == b"" and loaded["raw"] == bytes(range(256))
        assert loaded["array"].shape == (0,) and loaded["ints"].tolist() == [0, 1, 2, 3, 4]
    assert b"__builtin__\nbytes" in path.read_bytes() and b"_codecs\nencode" in path.read_bytes()
    calls = {
        "bytes() with an argument": b"c__builtin__\nbytes\nJ\x00\xca\x9a\x3b\x85R.",  # bytes(10**9)
        "encodes text with 'rot13'": b"c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R.",
        "encodes a int": b"c_codecs\nencode\nK\x05X\x06\x00\x00\x00latin1\x86R.",
        "_codecs.decode": b"c_codecs\ndecode\nX\x01\x00\x00\x00x\x85R.",
        "builtins.bytearray": b"cbuiltins\nbytearray\nK\x05\x85R.",
    }
    for message, body in calls.items():
        path.write_bytes(b"\x80\x02" + body)
        with pytest.raises(UnsafePickleError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_pickle(path)


def test_sets_and_ordered_dicts_hold_only_plain_values(tmp_path: Path) -> None:
    path = tmp_path / "sets.pkl"
    path.write_bytes(pickle.dumps({"s": {1, "a", 2.5}, "f": frozenset({b"x"})}, protocol=2))
    assert load_pickle(path) == {"s": {1, "a", 2.5}, "f": frozenset({b"x"})}
    pairs = Reduce(named("__builtin__", "set"), ([(1, 2), (3, 4)],))  # tuples: forgeable hashes
    path.write_bytes(python2_pickle({"s": pairs}))
    with pytest.raises(UnsafePickleError, match="not plain strings or numbers"):
        load_pickle(path)
    path.write_bytes(pickle.dumps({(1, 2): 0}, protocol=2))
    with pytest.raises(FormatError, match="dict keys"):
        load_pickle(path)


def test_n_shape_must_be_a_small_non_negative_integer(tmp_path: Path) -> None:
    assert load_flame(_npz_with(tmp_path, n_shape=np.array(300))).n_shape == 300
    for bad in (np.array(-1), np.array(2.5), np.array("300"), np.array([300, 1]), np.array(2**40)):
        with pytest.raises(FormatError, match="n_shape"):
            load_flame(_npz_with(tmp_path, n_shape=bad))


def test_shared_objects_are_rebuilt_once(tmp_path: Path) -> None:
    """A chain of lists each holding the previous one twice is a few hundred bytes but 2**60 paths long;
    stand-ins shared many times are converted once and stay shared."""
    chain: list[object] = [np.arange(3.0)]
    for _ in range(60):
        chain = [chain, chain]
    path = tmp_path / "chain.pkl"
    path.write_bytes(pickle.dumps({"chain": chain}, protocol=2))
    start = time.perf_counter()
    loaded = load_pickle(path)
    assert time.perf_counter() - start < 1.0
    assert loaded["chain"][0] is loaded["chain"][1]


def test_what_one_load_builds_is_bounded(tmp_path: Path) -> None:
    """Forty chumpy Selects of one shared 80 kB array build 3 MB: refused under a 1 MB budget, loaded
    under the default one."""
    from flame_fixture import _ChumpyCh, _ChumpySelect

    base = _ChumpyCh(np.arange(10_000.0))
    selects = [_ChumpySelect(base, np.arange(10_000), (10_000,)) for _ in range(40)]
    path = tmp_path / "selects.pkl"
    path.write_bytes(python2_pickle({"s": selects}))
    assert len(load_pickle(path)["s"]) == 40
    with pytest.raises(FormatError, match="builds more than 1 MB"):
        load_pickle(path, budget=Budget(path.name, limit=1 << 20))


def test_npz_members_with_structured_or_lying_headers(tmp_path: Path) -> None:
    import zipfile

    def npz(name: str, header: dict[str, object], data: bytes) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("v_template.npy", npy_bytes(header, data))
        return path

    structured = npz("s.npz", {"descr": [("a", "<f8"), ("b", "<i4")], "fortran_order": False, "shape": (2,)},
                     b"\0" * 24)
    with pytest.raises(FormatError, match="not plain numbers"):
        load_flame(structured)
    short = npz("short.npz", {"descr": "<f8", "fortran_order": False, "shape": (10, 3)}, b"\0" * 16)
    with pytest.raises(FormatError, match="more data than the file holds"):
        load_flame(short)
    with pytest.raises(FormatError, match="more data than the file holds"):
        load_embedding(short.rename(tmp_path / "landmarks.npz"))
    bad_header = npz("header.npz", {"descr": "<f8", "fortran_order": False, "shape": (2,)}, b"")
    raw = bad_header.read_bytes().replace(b"'descr'", b"'dexcr'")
    bad_header.write_bytes(raw)
    with pytest.raises(FormatError):
        load_flame(bad_header)


def test_big_endian_fortran_and_bool_arrays_survive_the_rewrite(tmp_path: Path) -> None:
    """numpy's own pickles of every plain layout come back equal, in native byte order."""
    values = {"be": np.arange(12, dtype=">f8").reshape(3, 4), "bools": np.array([True, False, True]),
              "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "u16": np.arange(4, dtype="<u2"),
              "c": np.array([1 + 2j]), "scalar": np.float32(1.5), "int": np.int64(-3)}
    path = tmp_path / "layouts.pkl"
    for protocol in (2, 4, 5):
        path.write_bytes(pickle.dumps(values, protocol=protocol))
        loaded = load_pickle(path)
        for key, value in values.items():
            got = np.asarray(loaded[key])
            np.testing.assert_array_equal(got, value)
            assert got.dtype.isnative and got.dtype == np.asarray(value).dtype.newbyteorder("=")
        assert type(loaded["scalar"]) is np.float32


def test_deeply_nested_json_landmarks_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "landmarks.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FormatError, match="not readable JSON"):
        load_embedding(path)
    path.write_text(json.dumps({"lmk_face_idx": [10**30] * 68, "lmk_b_coords": [[1, 0, 0]] * 68}))
    with pytest.raises(FormatError, match="not numeric"):
        load_embedding(path)


def test_files_larger_than_any_flame_file_are_not_read(tmp_path: Path) -> None:
    model = tmp_path / "generic_model.pkl"
    with open(model, "wb") as fh:  # sparse: 200 MB on paper, nothing on disk
        fh.truncate(200 << 20)
    start = time.perf_counter()
    with pytest.raises(FormatError, match="200 MB, more than a FLAME model file can be"):
        load_flame(model)
    assert time.perf_counter() - start < 0.5
    landmarks = tmp_path / "landmark_embedding.npy"
    with open(landmarks, "wb") as fh:
        fh.truncate(40 << 20)
    with pytest.raises(FormatError, match="more than a landmark file can be"):
        load_embedding(landmarks)


def test_real_flame_sized_arrays_fit_the_caps(tmp_path: Path) -> None:
    """FLAME 2020/2023's largest arrays (shapedirs 5023 x 3 x 400, posedirs 5023 x 3 x 36, float64), as a
    Python 2 pickle and as an .npz, load under the limits."""
    arrays = {"shapedirs": np.zeros((5023, 3, 400)), "posedirs": np.ones((5023, 3, 36))}
    path = tmp_path / "big.pkl"
    path.write_bytes(python2_pickle(arrays))
    loaded = load_pickle(path)
    assert loaded["shapedirs"].shape == (5023, 3, 400) and loaded["posedirs"].sum() == 5023 * 3 * 36
    npz = tmp_path / "big.npz"
    np.savez(npz, **arrays)
    from avi_talking.core.flame.safe_npz import read_npz

    assert read_npz(npz, max_bytes=1 << 30, what="FLAME model file")["shapedirs"].shape == (5023, 3, 400)


def test_sequences_are_read_with_the_same_bounds(tmp_path: Path) -> None:
    import zipfile

    huge = npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (40_000_000, 50)}, b"\0" * 64)
    seq = tmp_path / "deca.npz"
    with zipfile.ZipFile(seq, "w") as archive:
        archive.writestr("exp.npy", huge)
    with pytest.raises(FormatError, match="larger than 128 MB"):
        read_sequence(seq, fps=25)
    nested = tmp_path / "generic.json"
    nested.write_text("{\"exp\": " + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(FormatError, match="not readable JSON"):
        read_sequence(nested, fps=25)
    frame = tmp_path / "emoca" / "000001_000"
    frame.mkdir(parents=True)
    (frame / "exp.npy").write_bytes(huge)
    np.save(frame / "pose.npy", np.zeros(6))
    with pytest.raises(FormatError, match="larger than 128 MB"):
        read_sequence(tmp_path / "emoca", fps=25)
    np.save(frame / "exp.npy", np.array([{"exp": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FormatError, match="pickled objects"):
        read_sequence(tmp_path / "emoca", fps=25)
