"""Fuzzing the FLAME model, landmark and sequence readers (issue #13).

Real-format files from :mod:`flame_fixture` (a chumpy-era FLAME pickle, np.savez archives, DECA/FLAME
landmark embeddings, research sequences) are mutated — byte flips, truncation, inserted opcodes, cut or
repeated ranges, aimed mostly at the opcodes and headers rather than the array data — and pickle opcode
streams are generated from a small grammar (numpy's reconstructors, chumpy and scipy stand-ins, memo
references, forged dtype states). Every load runs in-process and must either succeed or raise
:class:`AviTalkError` with a one-line message, without a warning, within a bounded time, writing
nothing: any other exception (a RecursionError, a MemoryError, a numpy error), a crash or a hang is a bug. A handful of
the same files then go through ``avitalk bake`` as a user would.

Examples: 700 + 700 + 400 + 300 + 500 + 200 + 200 = 3000, deterministic (``derandomize=True``).
"""

from __future__ import annotations

import functools
import io
import itertools
import pickletools
import struct
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flame_fixture import (
    forged_value,
    npy_bytes,
    python2_pickle,
    small_flame,
    write_landmarks,
    write_npz,
    write_pkl,
    zip_directory_bomb,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avi_talking.core.common.errors import AviTalkError
from avi_talking.core.flame.formats import read_sequence
from avi_talking.core.flame.landmarks import load_embedding
from avi_talking.core.flame.loading import load_flame

from conftest import run_cli, tone, write_audio

SECONDS = 3.0  # one load of a file of a few hundred kB; the caps make the worst cases take well under 1 s
_COUNTER = itertools.count()


def fuzz_settings(n: int) -> Any:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("seeds")
    small = small_flame()
    exp = np.random.default_rng(0).normal(0, 1, (6, 50))
    np.savez(folder / "seq.npz", exp=exp, pose=np.zeros((6, 6)), fps=np.array(25.0))
    return {
        "model.pkl": write_pkl(folder / "model.pkl", small).read_bytes(),
        "model.npz": write_npz(folder / "model.npz", small).read_bytes(),
        "landmarks.npy": write_landmarks(folder / "landmarks.npy", small).read_bytes(),
        "landmarks.pkl": write_landmarks(folder / "landmarks.pkl", small).read_bytes(),
        "landmarks.npz": write_landmarks(folder / "landmarks.npz", small).read_bytes(),
        "landmarks.json": write_landmarks(folder / "landmarks.json", small).read_bytes(),
        "seq.npz": (folder / "seq.npz").read_bytes(),
    }


def test_the_seeds_load(seeds: dict[str, bytes]) -> None:
    """The unmutated files are valid, so every refusal below is caused by a mutation."""
    n_faces = len(small_flame().arrays["f"])
    for name, data in seeds.items():
        with _scratch(name, data) as path:
            if name.startswith("model"):
                assert load_flame(path).n_vertices == small_flame().n_vertices
            elif name.startswith("landmarks"):
                assert load_embedding(path, n_faces).known.sum() in (51, 68)
            else:
                assert read_sequence(path).n_frames == 6


# ---- the harness ------------------------------------------------------------------------------------------


class _scratch:
    """A fresh folder holding ``data`` as ``name`` (a new path each time: load_flame caches by path)."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data = name, data

    def __enter__(self) -> Path:
        self._dir = tempfile.TemporaryDirectory(prefix="fuzz-flame-")
        path = Path(self._dir.name) / f"{next(_COUNTER)}-{self.name}"
        path.write_bytes(self.data)
        return path

    def __exit__(self, *exc: object) -> None:
        self._dir.cleanup()


def _load_survives(load: Callable[[Path], object], name: str, data: bytes) -> None:
    """Only AviTalkError may escape; one line; no warning on the way (the CLI would print it as a second
    stderr line); bounded time; nothing written beside the file."""
    with _scratch(name, data) as path:
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                load(path)
        except AviTalkError as exc:
            message = str(exc)
            assert message and "\n" not in message
        assert time.perf_counter() - start < SECONDS
        assert [p.name for p in path.parent.iterdir()] == [path.name]
        assert path.read_bytes() == data


def _model(path: Path) -> object:
    return load_flame(path)


def _landmarks(path: Path) -> object:
    return load_embedding(path, len(small_flame().arrays["f"]))


def _sequence(path: Path) -> object:
    return read_sequence(path, fps=25)


# ---- mutations --------------------------------------------------------------------------------------------


_OPCODES = [op.code.encode("latin-1") for op in pickletools.opcodes]


def _pickle_hot_spots(data: bytes) -> list[int]:
    """Offsets of each opcode (and the first bytes of its argument) in a pickle stream."""
    spots = []
    for _op, _arg, pos in pickletools.genops(data):
        spots += [pos, pos + 1, pos + 2]
    return [p for p in spots if p < len(data)]


def _zip_hot_spots(data: bytes) -> list[int]:
    """Offsets in and around zip records and .npy headers (np.savez stores its members uncompressed)."""
    spots: list[int] = []
    for marker, span in ((b"PK\x03\x04", 46), (b"PK\x01\x02", 62), (b"PK\x05\x06", 22), (b"\x93NUMPY", 128)):
        start = data.find(marker)
        while start >= 0:
            spots += range(start, min(start + span, len(data)))
            start = data.find(marker, start + 1)
    return spots


# A mutation is a small recipe, applied inside the test: Hypothesis prints (and reprs) what it draws, and
# a recipe is a line where the mutated file would be hundreds of kB.
MUTATIONS = st.lists(
    st.tuples(st.sampled_from(["flip", "byte", "truncate", "insert", "delete", "repeat"]),
              st.booleans(),  # aim at a hot spot (an opcode, a header) or anywhere
              st.integers(0, 2**20),  # where, modulo the choices
              st.integers(0, 255),  # a bit, a byte value, a length
              st.sampled_from(_OPCODES) | st.sampled_from([b"\x00", b"\xff"]),
              st.binary(max_size=9)),
    min_size=1, max_size=4)


def mutate(seed: bytes, hot: list[int], recipe: list[tuple[Any, ...]]) -> bytes:
    data = bytearray(seed)
    for how, aimed, where, value, opcode, tail in recipe:
        if not data:
            break
        at = hot[where % len(hot)] if aimed and hot else where % len(data)
        at = min(at, len(data) - 1)
        if how == "flip":
            data[at] ^= 1 << (value % 8)
        elif how == "byte":
            data[at] = value
        elif how == "truncate":
            del data[at:]
        elif how == "insert":
            data[at:at] = opcode + tail
        elif how == "delete":
            del data[at:at + 1 + value % 16]
        else:
            data[at:at] = bytes(data[at:at + 1 + value % 64]) * (1 + value % 3)
    return bytes(data)


# ---- a grammar of pickles -----------------------------------------------------------------------------------


_GLOBALS = [
    ("numpy", "dtype"), ("numpy", "ndarray"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.numeric", "_frombuffer"), ("copy_reg", "_reconstructor"),
    ("__builtin__", "object"), ("__builtin__", "set"), ("__builtin__", "frozenset"), ("__builtin__", "bytes"),
    ("_codecs", "encode"), ("chumpy.ch", "Ch"), ("chumpy.reordering", "Select"), ("chumpy.reordering", "Reshape"),
    ("chumpy.reordering", "transpose"), ("scipy.sparse.csc", "csc_matrix"), ("scipy.sparse._coo", "coo_matrix"),
    ("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"), ("os", "system"),
    ("builtins", "getattr"), ("numpy", "load"),
]
_TEXT = ["f8", "<f8", "i4", "u1", "b1", "c16", "O8", "O", "V8", "V16", "S3", "U2", "f8,i4", "(2,)f8", "<", ">", "|",
         "=", "latin1", "utf-8", "x", "a", "b", "v_template", "shapedirs", "n_shape", "idxs", "preferred_shape",
         "_shape", "data", "indices", "indptr", "format", "csc", "coords", "newshape", "axes", "C", "F"]
_INTS = [0, 1, 2, 3, 4, 8, -1, 63, 255, 5023, 2**31 - 1, 2**31, 2**63, -(2**63), 2**64, 10**30, 400_000_000]


def _leaf() -> st.SearchStrategy[tuple[Any, ...]]:
    return st.one_of(
        st.tuples(st.just("int"), st.sampled_from(_INTS) | st.integers(-300, 300)),
        st.tuples(st.just("float"), st.sampled_from([0.0, 1.5, -2.0, float("nan"), float("inf"), 1e308])),
        st.tuples(st.just("str"), st.sampled_from(_TEXT)),
        st.tuples(st.just("bytes"), st.binary(max_size=48)),
        st.tuples(st.just("const"), st.sampled_from([b"N", b"\x88", b"\x89"])),
        st.tuples(st.just("global"), st.sampled_from(_GLOBALS)),
        st.tuples(st.just("get"), st.sampled_from([0, 1, 2, 5, 255, 70_000, 2**31])),
    )


def _node(children: st.SearchStrategy[tuple[Any, ...]]) -> st.SearchStrategy[tuple[Any, ...]]:
    many = st.lists(children, max_size=6)
    return st.one_of(
        st.tuples(st.just("tuple"), many),
        st.tuples(st.just("list"), many),
        st.tuples(st.just("dict"), st.lists(st.tuples(children, children), max_size=4)),
        st.tuples(st.just("reduce"), children, st.lists(children, max_size=4)),
        st.tuples(st.just("build"), children, children),
        st.tuples(st.just("newobj"), children, st.lists(children, max_size=3)),
        st.tuples(st.just("put"), children, st.sampled_from([0, 1, 2, 3, 255, 1000, 2**30])),
        st.tuples(st.just("array"), _dtype_expr(children), st.lists(st.sampled_from([0, 1, 2, 3, 5, 2**20, -1]),
                                                                     max_size=3), children),
    )


def _dtype_expr(children: st.SearchStrategy[tuple[Any, ...]]) -> st.SearchStrategy[tuple[Any, ...]]:
    """``numpy.dtype(code)`` + a state tuple, mostly as numpy writes it, sometimes forged."""
    part = st.sampled_from([("const", b"N")]) | children
    return st.tuples(st.just("dtype"), st.sampled_from(["f8", "i4", "u1", "b1", "O8", "V8", "c16", "<f8"]),
                     st.sampled_from(["<", "|", ">", "="]), part, part, part,
                     st.sampled_from([-1, 8, 16]), st.sampled_from([-1, 1, 8]), st.sampled_from([0, 63, 27, 1]))


PICKLE_EXPR = st.recursive(_leaf(), _node, max_leaves=24)


def _compile(expr: tuple[Any, ...], out: io.BytesIO) -> None:
    """Protocol-2 opcodes for ``expr`` (hand-written, so that anything the grammar says can be spelled)."""
    kind = expr[0]
    if kind == "int":
        value = expr[1]
        if 0 <= value < 256:
            out.write(b"K" + bytes([value]))
        elif -(2**31) <= value < 2**31:
            out.write(b"J" + struct.pack("<i", value))
        else:
            raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
            out.write(b"\x8a" + bytes([len(raw)]) + raw)
    elif kind == "float":
        out.write(b"G" + struct.pack(">d", expr[1]))
    elif kind == "str":
        raw = expr[1].encode()
        out.write(b"X" + struct.pack("<I", len(raw)) + raw)
    elif kind == "bytes":
        out.write(b"U" + bytes([len(expr[1])]) + expr[1])  # a Python 2 str, as the FLAME pickles hold
    elif kind == "const":
        out.write(expr[1])
    elif kind == "global":
        out.write(b"c" + f"{expr[1][0]}\n{expr[1][1]}\n".encode())
    elif kind == "get":
        out.write(b"h" + bytes([expr[1]]) if expr[1] < 256 else b"j" + struct.pack("<I", expr[1] % 2**32))
    elif kind in ("tuple", "list"):
        out.write(b"(" if kind == "tuple" else b"](")
        for child in expr[1]:
            _compile(child, out)
        out.write(b"t" if kind == "tuple" else b"e")
    elif kind == "dict":
        out.write(b"}(")
        for key, value in expr[1]:
            _compile(key, out)
            _compile(value, out)
        out.write(b"u")
    elif kind in ("reduce", "newobj"):
        _compile(expr[1], out)
        _compile(("tuple", expr[2]), out)
        out.write(b"R" if kind == "reduce" else b"\x81")
    elif kind == "build":
        _compile(expr[1], out)
        _compile(expr[2], out)
        out.write(b"b")
    elif kind == "put":
        _compile(expr[1], out)
        out.write(b"q" + bytes([expr[2]]) if expr[2] < 256 else b"r" + struct.pack("<I", expr[2] % 2**32))
    elif kind == "dtype":
        _, code, order, subarray, names, fields, elsize, alignment, flags = expr
        _compile(("reduce", ("global", ("numpy", "dtype")), [("str", code), ("const", b"\x89"), ("const", b"\x88")]),
                  out)
        _compile(("tuple", [("int", 3), ("str", order), subarray, names, fields, ("int", elsize),
                            ("int", alignment), ("int", flags)]), out)
        out.write(b"b")
    elif kind == "array":
        _, dtype, shape, data = expr
        _compile(("reduce", ("global", ("numpy.core.multiarray", "_reconstruct")),
                  [("global", ("numpy", "ndarray")), ("tuple", [("int", 0)]), ("bytes", b"b")]), out)
        state = [("int", 1), ("tuple", [("int", n) for n in shape]), dtype, ("const", b"\x89"), data]
        _compile(("tuple", state), out)
        out.write(b"b")
    else:  # pragma: no cover - the grammar has no other kinds
        raise AssertionError(kind)


@functools.cache
def _model_pickle() -> bytes:
    return python2_pickle(dict(small_flame().arrays))


def _program(expr: tuple[Any, ...], wrap: bool) -> bytes:
    """A whole pickle; ``wrap`` puts the expression in place of v_template in the small FLAME model."""
    out = io.BytesIO()
    if wrap:  # the small model's pickle (PROTO ... the dict ... STOP): one more SETITEM spliced before STOP
        out.write(_model_pickle()[:-1])
        _compile(("str", "v_template"), out)
        _compile(expr, out)
        out.write(b"s.")
    else:
        out.write(b"\x80\x02")
        _compile(expr, out)
        out.write(b".")
    return out.getvalue()


# ---- the fuzz tests ---------------------------------------------------------------------------------------


@fuzz_settings(700)
@given(recipe=MUTATIONS)
def test_mutated_flame_pickles(seeds: dict[str, bytes], recipe: list[tuple[Any, ...]]) -> None:
    seed = seeds["model.pkl"]
    _load_survives(_model, "model.pkl", mutate(seed, _hot(seed, "pickle"), recipe))


@fuzz_settings(700)
@given(expr=PICKLE_EXPR, wrap=st.booleans())
def test_pickles_from_the_grammar(expr: tuple[Any, ...], wrap: bool) -> None:
    _load_survives(_model, "model.pkl", _program(expr, wrap))


_DESCRS: list[Any] = ["<f8", ">f8", "<f4", "<i8", ">i4", "|u1", "|b1", "<c16", "<U3", "|S2", "|S0", "|O", "|V8",
                      "<M8[s]", [("a", "<f8")], [("a", "|O")], ("<f8", (3,)), "f8", "bogus"]
_SHAPES = st.lists(st.sampled_from([0, 1, 2, 3, 5, 14, 68, 300, 2**20, 2**31, 2**62]), max_size=4).map(tuple)


@st.composite
def npy_member(draw: st.DrawFn) -> bytes:
    header = {"descr": draw(st.sampled_from(_DESCRS)), "fortran_order": draw(st.booleans()),
              "shape": draw(_SHAPES)}
    try:
        dtype = np.dtype(header["descr"])
        size = dtype.itemsize * int(np.prod(header["shape"], dtype=object))
    except (TypeError, ValueError):
        size = 16
    size = min(size, 4096) + draw(st.sampled_from([0, 0, 0, -1, 1, -8]))
    blob = npy_bytes(header, b"\x01" * max(size, 0))
    if draw(st.integers(0, 9)) == 0:  # now and then, a header that is not a dict literal at all
        text = draw(st.sampled_from(["{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
                                     "{'descr': '<f8'}", "[" * 300, "{'shape': (-1,), 'descr': '<f8', "
                                     "'fortran_order': 0}", "__import__('os')", "\xff\xfe"]))
        raw = text.encode("latin-1")
        blob = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(raw) + 1) + raw + b"\n" + b"\0" * 8
    return blob


@functools.cache
def _model_members() -> dict[str, bytes]:
    return {f"{k}.npy": npy_bytes({"descr": v.dtype.str, "fortran_order": False, "shape": v.shape}, v.tobytes())
            for k, v in small_flame().arrays.items()}


NPZ_MODELS = st.tuples(
    st.dictionaries(st.sampled_from(["v_template.npy", "shapedirs.npy", "posedirs.npy", "J_regressor.npy",
                                     "weights.npy", "kintree_table.npy", "f.npy", "n_shape.npy"]),
                    npy_member(), min_size=1, max_size=3),
    st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))


def npz_model(replaced: dict[str, bytes], method: int) -> bytes:
    """The small model's arrays with some members (or an n_shape) replaced, stored or deflated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as archive:
        for name, blob in {**_model_members(), **replaced}.items():
            archive.writestr(name, blob)
    return buf.getvalue()


@fuzz_settings(400)
@given(spec=NPZ_MODELS)
def test_npz_models_with_random_member_headers(spec: tuple[dict[str, bytes], int]) -> None:
    _load_survives(_model, "model.npz", npz_model(*spec))


@fuzz_settings(300)
@given(recipe=MUTATIONS)
def test_mutated_npz_models(seeds: dict[str, bytes], recipe: list[tuple[Any, ...]]) -> None:
    seed = seeds["model.npz"]
    _load_survives(_model, "model.npz", mutate(seed, _hot(seed, "zip"), recipe))


@fuzz_settings(500)
@given(suffix=st.sampled_from([".npy", ".pkl", ".npz", ".json"]), recipe=MUTATIONS)
def test_mutated_landmark_files(seeds: dict[str, bytes], suffix: str, recipe: list[tuple[Any, ...]]) -> None:
    seed = seeds[f"landmarks{suffix}"]
    if suffix == ".npy":  # the DECA dict: an .npy header, then a pickle
        hot = _hot(seed, "zip") + [p + seed.index(b"\x80") for p in _hot(seed[seed.index(b"\x80"):], "pickle")]
    else:
        hot = _hot(seed, {".pkl": "pickle", ".npz": "zip", ".json": "none"}[suffix])
    _load_survives(_landmarks, f"landmarks{suffix}", mutate(seed, hot, recipe))


@st.composite
def landmark_npy(draw: st.DrawFn) -> bytes:
    """A landmark .npy: random plain headers, or DECA's object header followed by a generated pickle
    whose dict holds grammar-made or forged values."""
    if draw(st.booleans()):
        return draw(npy_member())
    emb = small_flame().embedding
    value = forged_value(draw(st.sampled_from(["object-field", "void-scalar", "huge-shape", "object-from-bytes"])))
    data = {"lmk_face_idx": emb["lmk_face_idx"], "lmk_b_coords": draw(st.sampled_from([emb["lmk_b_coords"], value]))}
    head = npy_bytes({"descr": "|O", "fortran_order": False, "shape": ()})
    return head + python2_pickle(draw(st.sampled_from([data, [data], {"x": data}])))


@fuzz_settings(200)
@given(blob=landmark_npy())
def test_landmark_npy_with_random_headers_and_payloads(blob: bytes) -> None:
    _load_survives(_landmarks, "landmark_embedding.npy", blob)


@fuzz_settings(200)
@given(recipe=MUTATIONS)
def test_mutated_sequences(seeds: dict[str, bytes], recipe: list[tuple[Any, ...]]) -> None:
    seed = seeds["seq.npz"]
    _load_survives(_sequence, "seq.npz", mutate(seed, _hot(seed, "zip"), recipe))


_HOT: dict[tuple[int, str], list[int]] = {}


def _hot(seed: bytes, kind: str) -> list[int]:
    key = (hash(seed), kind)
    if key not in _HOT:
        _HOT[key] = {"pickle": _pickle_hot_spots, "zip": _zip_hot_spots}.get(kind, lambda _: [])(seed)
    return _HOT[key]


# ---- the same kind of files through the CLI -----------------------------------------------------------------


def _cli_cases(seeds: dict[str, bytes]) -> Iterator[tuple[str, str, bytes]]:
    model = seeds["model.pkl"]
    yield "truncated model", "model.pkl", model[: len(model) // 3]
    yield "memo index bomb", "model.pkl", b"\x80\x02N" + b"r" + struct.pack("<I", 0x3FFFFFF0) + b"."
    member = npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (133_333_334, 3)}, b"\0" * 16)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("v_template.npy", member)
    yield "3 GB npz member", "model.npz", buf.getvalue()
    yield "zip directory bomb", "model.npz", zip_directory_bomb(20_000)
    lmk = seeds["landmarks.npy"]
    at = lmk.index(b"\x80")  # the pickle after the .npy header: replace its dtype code
    yield "landmarks with a void dtype", "landmarks.npy", lmk[:at] + lmk[at:].replace(b"O8", b"V8", 1)


@pytest.mark.parametrize("case", range(5))
def test_hostile_files_through_bake(seeds: dict[str, bytes], tmp_path: Path, case: int) -> None:
    what, name, blob = list(_cli_cases(seeds))[case]
    target = tmp_path / name
    target.write_bytes(blob)
    flame = target if name.startswith("model") else tmp_path / "flame.npz"
    if flame != target:
        flame.write_bytes(seeds["model.npz"])
    audio = write_audio(tmp_path / "line.wav", tone(0.5), 16000)
    out = tmp_path / "take.blend"
    args = ["bake", str(audio), "-o", str(out), "--model", "procedural", "--flame", str(flame)]
    if flame != target:
        args += ["--landmarks", str(target)]
    result = run_cli(*args)
    assert result.returncode == 2, (what, result.returncode, result.stderr[-1500:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0], (what, result.stderr)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {name, "line.wav", flame.name}), what
    assert target.read_bytes() == blob


def test_the_grammar_reaches_the_numpy_rewrites() -> None:
    """The generated pickles are not all refused at the door: a plain array spelled by the grammar loads."""
    dtype = ("dtype", "f8", "<", ("const", b"N"), ("const", b"N"), ("const", b"N"), -1, -1, 0)
    array = ("array", dtype, [2], ("bytes", np.array([1.5, -2.0]).tobytes()))
    with _scratch("ok.pkl", _program(("dict", [(("str", "a"), array)]), wrap=False)) as path:
        from avi_talking.core.flame.safe_pickle import load_pickle

        np.testing.assert_array_equal(load_pickle(path)["a"], [1.5, -2.0])
