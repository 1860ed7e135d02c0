"""Fuzz the weights fetcher's readers (issue #13).

Registries of every shape go through ``parse_registry`` / ``load_registry`` and, when accepted, through a
store working in a throw-away cache (state, resolve, verify, fetch from a real local HTTP server, load);
hand-built assets whose name, version or file try to leave the cache go through the same store; mutated
safetensors files (header JSON, length prefix, truncation, raw bytes) and .npz archives go through
``load_file``. Only the WeightsError family may escape, every message is one line, and nothing outside
the cache folder is ever created, changed or removed: the whole sandbox around the cache, deep enough that
every traversal the strategies can build lands inside it, is compared before and after each example."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from avi_talking.weights_fetcher import (
    Asset,
    AssetStore,
    Registry,
    RegistryError,
    WeightsError,
    load_file,
    load_registry,
    parse_registry,
)

from http_server import AssetServer


def fuzz(examples: int) -> settings:
    """Deterministic (CI runs the same cases every time), no deadline (the store does real I/O)."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.filter_too_much, HealthCheck.data_too_large])


# A real, loadable asset served by the local server: fetches that stay inside the cache succeed.
def _fixed_npz() -> bytes:
    """``np.savez(w=arange(6))`` with a fixed time stamp (savez stamps the current time: bytes would vary)."""
    member, archive_bytes = io.BytesIO(), io.BytesIO()
    np.lib.format.write_array(member, np.arange(6, dtype=np.float32))
    with zipfile.ZipFile(archive_bytes, "w") as archive:
        archive.writestr(zipfile.ZipInfo("w.npy", date_time=(2024, 1, 1, 0, 0, 0)), member.getvalue())
    return archive_bytes.getvalue()


BODY = _fixed_npz()
SHA = hashlib.sha256(BODY).hexdigest()
NEST = 16  # sandbox depth: more than the most '..' a generated path holds (3 fields x 4 parts)


# -- fixtures -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server() -> Iterator[AssetServer]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        mp.setenv("no_proxy", "127.0.0.1,localhost")
        mp.delenv("AVITALK_OFFLINE", raising=False)
        with AssetServer() as s:
            s.add("/good.npz", BODY)
            yield s


@pytest.fixture(scope="module")
def session(server: AssetServer) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.trust_env = False  # never a proxy for 127.0.0.1
        yield s


# -- sandbox: a cache, canaries around it, and the before/after comparison ------------------------------

def _tree(top: Path, skip: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every entry under ``top`` except the cache ``skip``: mode, size, mtime and link target."""
    found: dict[str, tuple[int, int, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d != skip]
        for entry in dirnames + filenames:
            path = here / entry
            info = path.lstat()
            target = os.readlink(path) if path.is_symlink() else ""
            found[str(path.relative_to(top))] = (info.st_mode, info.st_size, info.st_mtime_ns, target)
    return found


# Where the classic traversals of name, version and file would put the asset; each holds a canary of the
# wrong size, which a store that followed the traversal would "repair" by deleting it.
CANARIES = ("outside/m.npz", "outside/1.0/m.npz", "outside/m/1.0/m.npz", "m.npz", "1.0/m.npz", "x.npz")

# Symbolic links someone could have placed inside the cache, all pointing out of it.
PLANTS = ("none", "name-dir", "version-dir", "file", "part", "lock", "stamp", "dangling-part")


@dataclasses.dataclass
class Sandbox:
    """``top/d0/.../d15/root`` with ``root/cache`` (emptied after each example), canaries in ``root`` and
    its parent, and ``root/outside`` where the planted links point."""

    top: Path
    root: Path

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def outside(self) -> Path:
        return self.root / "outside"

    def plant(self, kind: str) -> None:
        folder = self.cache / "m" / "1.0"
        links = {
            "name-dir": (self.cache / "m", self.outside),
            "version-dir": (folder, self.outside / "1.0"),
            "file": (folder / "m.npz", self.outside / "m.npz"),
            "part": (folder / "m.npz.part", self.outside / "m.npz"),
            "lock": (folder / "m.npz.lock", self.outside / "lock-target"),
            "stamp": (folder / ".m.npz.verified", self.outside / "m.npz"),
            "dangling-part": (folder / "m.npz.part", self.outside / "created-through-a-link"),
        }
        if kind in links:
            link, target = links[kind]
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)

    @contextlib.contextmanager
    def example(self, plant: str = "none") -> Iterator[Sandbox]:
        """A fresh, empty cache for one example (with one planted link), removed afterwards."""
        self.cache.mkdir()
        try:
            self.plant(plant)
            yield self
        finally:
            shutil.rmtree(self.cache)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    # In memory where there is a tmpfs: the store fsyncs every download, ~1000 of them here.
    shm = Path("/dev/shm")
    in_memory = shm.is_dir() and os.access(shm, os.W_OK)
    top = Path(tempfile.mkdtemp(prefix="fuzz-fetcher-", dir=shm)) if in_memory else tmp_path_factory.mktemp("fuzz")
    deep = top.joinpath(*(f"d{i}" for i in range(NEST)))
    root = deep / "root"
    (root / "pkg").mkdir(parents=True)
    for name in CANARIES:
        for base in (root, deep):
            canary = base / name
            canary.parent.mkdir(parents=True, exist_ok=True)
            canary.write_bytes(b"canary: the wrong size for any asset here")
    yield Sandbox(top, root)
    if in_memory:
        shutil.rmtree(top)


def assert_only_cache_changed(box: Sandbox, action: Callable[[], None]) -> None:
    before = _tree(box.top, box.cache)
    action()
    after = _tree(box.top, box.cache)
    assert after == before, sorted(set(after.items()) ^ set(before.items()))[:6]


def one_line(exc: BaseException, short: bool = True) -> None:
    text = str(exc)
    assert text and "\n" not in text and "\r" not in text, repr(text)
    if short:  # what a registry puts in a message is bounded (a hand-built asset's path may be long)
        assert len(text) < 2000, len(text)


def exercise(store: AssetStore, short: bool = True) -> None:
    """Every store operation on every asset; only WeightsError may escape."""
    for asset in store.registry:
        for op in (store.state, store.partial_bytes, store.path_for, store.offline_message,
                   store.resolve, store.verify, store.fetch, store.verify, store.load, store.resolve):
            try:
                op(asset if op in (store.state, store.partial_bytes, store.path_for, store.offline_message)
                   else asset.name)
            except WeightsError as exc:
                one_line(exc, short)


def store_for(box: Sandbox, registry: Registry, server: AssetServer, session: requests.Session) -> AssetStore:
    # Whatever the registry said, download from the local server: the fetch then really writes.
    assets = tuple(a if a.is_local else dataclasses.replace(a, urls=(server.url("/good.npz"),), sha256=SHA,
                                                             size=len(BODY))
                   for a in registry)
    return AssetStore(Registry(assets, registry.source), box.cache, package_root=box.root / "pkg", retries=0,
                      timeout=5.0, backoff=0.0, lock_timeout=5.0, session=session)


# -- strategies -------------------------------------------------------------------------------------------

# Path pieces that try to leave a folder, or to look like they do not.
PIECES = ["..", ".", "", "outside", "m", "1.0", "m.npz", "x" * 300, "a\0b", "C:", "c:\\x", "..\\x", "nul",
          "\u2024\u2024", "\uff0e\uff0e", "a\uff0fb", "\u2215x", "\u2025", "v1.", " ", "1.0\n", "%2e%2e", "~",
          "\\\\server\\share", "{ROOT}", "{OUT}"]
SEPARATORS = ["/", "\\", "\uff0f", "\u2215", "//"]


@st.composite
def nasty_paths(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(PIECES), min_size=1, max_size=4))
    text = draw(st.sampled_from(SEPARATORS)).join(parts)
    if draw(st.booleans()):
        text = draw(st.sampled_from(["/", "", "\\"])) + text
    return text


PATH_STRINGS = st.one_of(
    nasty_paths(),
    nasty_paths().map(lambda s: s + ".npz"),
    st.sampled_from(["../../x", "/abs/path", "a/b", "..", ".", "", "a\0b", "x" * 5000, "..\\x", "../outside",
                     "../../outside", "../../../outside/m.npz", "{OUT}", "{OUT}/1.0", "{ROOT}/x.npz",
                     "1.0", "m", "m.npz", "v2+cu118", "model.SafeTensors"]),
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
ODD_NUMBERS = st.sampled_from([10**5000, -(10**5000), 2**64, -1, 0, 1, True, False, 1.5, float("nan"),
                               float("inf"), 1e308])
FIELD_VALUES = st.one_of(PATH_STRINGS, JSON_VALUES, ODD_NUMBERS, st.lists(PATH_STRINGS, max_size=3))

REMOTE = {"name": "m", "version": "1.0", "kind": "model", "file": "m.npz", "urls": ["http://127.0.0.1:9/m.npz"],
          "sha256": "0" * 64, "size": 10, "license": "MIT", "description": "fuzzed asset"}
LOCAL = {"name": "l", "version": "1", "kind": "rig", "local": "weights/x.json", "license": "MIT",
         "description": "fuzzed local asset"}
FIELDS = sorted(set(REMOTE) | set(LOCAL) | {"status", "sha265", "extra"})
DELETE = object()


def fill(value: Any, box: Sandbox) -> Any:
    """Replace the {ROOT}/{OUT} place-holders by this example's sandbox folders."""
    if isinstance(value, str):
        return value.replace("{ROOT}", str(box.root)).replace("{OUT}", str(box.outside))
    if isinstance(value, list):
        return [fill(v, box) for v in value]
    return value


@st.composite
def registries(draw: st.DrawFn) -> Any:
    entries: list[Any] = []
    for base in draw(st.lists(st.sampled_from([REMOTE, LOCAL]), min_size=1, max_size=2)):
        entry: dict[Any, Any] = dict(base)
        for field, value in draw(st.lists(st.tuples(st.sampled_from(FIELDS), st.one_of(st.just(DELETE), FIELD_VALUES)),
                                          max_size=3)):
            if value is DELETE:
                entry.pop(field, None)
            else:
                entry[field] = value
        entries.append(entry if draw(st.integers(0, 30)) else draw(JSON_VALUES))
    raw: dict[str, Any] = {"schema": 1, "assets": entries}
    if not draw(st.integers(0, 10)):
        raw[draw(st.sampled_from(["schema", "assets", "extra"]))] = draw(FIELD_VALUES)
    return raw if draw(st.integers(0, 30)) else draw(FIELD_VALUES)


# -- registries ---------------------------------------------------------------------------------------------

@fuzz(700)
@given(raw=registries(), plant=st.sampled_from(PLANTS))
def test_mutated_registries_never_escape(raw: Any, plant: str, box: Sandbox, server: AssetServer,
                                         session: requests.Session) -> None:
    with box.example(plant):
        if isinstance(raw, dict) and isinstance(raw.get("assets"), list):
            raw["assets"] = [{k: fill(v, box) for k, v in e.items()} if isinstance(e, dict) else e
                             for e in raw["assets"]]

        def run() -> None:
            try:
                registry = parse_registry(raw)
            except RegistryError as exc:
                event("registry refused")
                one_line(exc)
                return
            event("registry accepted: store exercised")
            for asset in registry:  # what is accepted is one plain component per path part
                for part in (asset.name, asset.version, asset.file or "x"):
                    assert part not in ("", ".", "..") and "/" not in part and "\\" not in part
            exercise(store_for(box, registry, server, session))

        assert_only_cache_changed(box, run)


COMPONENTS = st.one_of(st.sampled_from(["m", "1.0", "m.npz"]), PATH_STRINGS)


@fuzz(400)
@given(name=COMPONENTS, version=COMPONENTS, file=st.one_of(COMPONENTS, COMPONENTS.map(lambda s: s + ".npz")),
       plant=st.sampled_from(PLANTS))
def test_hand_built_assets_stay_in_the_cache(name: str, version: str, file: str, plant: str, box: Sandbox,
                                             server: AssetServer, session: requests.Session) -> None:
    """The store's own check, without the registry's validation in front of it: an Asset built in code
    (or a symlink in the cache) must not make it write, rename, lock or delete anything outside."""
    with box.example(plant):
        asset = Asset(fill(name, box), fill(version, box), "model", "MIT", "hand-built", file=fill(file, box),
                      urls=(server.url("/good.npz"),), sha256=SHA, size=len(BODY))
        store = store_for(box, Registry((asset,)), server, session)
        assert_only_cache_changed(box, lambda: exercise(store, short=False))


REGISTRY_TEXT = json.dumps({"schema": 1, "assets": [REMOTE, LOCAL]}, indent=1)


@st.composite
def registry_texts(draw: st.DrawFn) -> bytes:
    data = bytearray(REGISTRY_TEXT.encode())
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "digits", "duplicate", "nest", "random"]))
        at = draw(st.integers(0, len(data)))
        if kind == "flip" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from([b"[", b"{", b'"', b"\\", b"\xff", b"\x00", b",", b"\"a\":1,",
                                                b"\"sha256\":\"" + b"1" * 64 + b"\","]))
        elif kind == "digits":
            data = bytearray(REGISTRY_TEXT.replace('"size": 10', '"size": ' + "9" * draw(st.sampled_from(
                [19, 4300, 4301, 5001]))).encode())
        elif kind == "duplicate":
            data = bytearray(REGISTRY_TEXT.replace('"kind": "model"', '"kind": "model", "kind": "rig"').encode())
        elif kind == "nest":
            depth = draw(st.sampled_from([50, 5000, 100_000]))
            data = bytearray(REGISTRY_TEXT.replace('"fuzzed asset"', "[" * depth + "]" * depth).encode())
        else:
            data = bytearray(draw(st.binary(max_size=200)))
    return bytes(data)


@fuzz(400)
@given(text=registry_texts())
def test_mutated_registry_files(text: bytes, box: Sandbox) -> None:
    with tempfile.TemporaryDirectory(dir=box.top) as folder:
        path = Path(folder) / "registry.json"
        path.write_bytes(text)
        try:
            registry = load_registry(path)
        except RegistryError as exc:
            event("refused")
            one_line(exc)
        else:
            event("accepted")
            assert all(isinstance(asset, Asset) for asset in registry)


# -- safetensors ---------------------------------------------------------------------------------------------

DTYPES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "U8": 1, "BOOL": 1, "F64": 8, "I8": 1}


@st.composite
def safetensors_files(draw: st.DrawFn) -> bytes:
    header: dict[str, Any] = {}
    body = b""
    for index in range(draw(st.integers(0, 3))):
        dtype = draw(st.sampled_from(sorted(DTYPES)))
        shape = draw(st.lists(st.integers(0, 3), max_size=3))
        size = int(np.prod(shape)) * DTYPES[dtype]
        header[f"t{index}"] = {"dtype": dtype, "shape": shape, "data_offsets": [len(body), len(body) + size]}
        body += draw(st.binary(min_size=size, max_size=size))
    if draw(st.booleans()):
        header["__metadata__"] = {"format": "pt"}
    prefix: int | None = None
    raw_header: bytes | None = None
    names = sorted(header)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["field", "entry", "metadata", "offset", "prefix", "raw", "body"]))
        if kind == "field" and names:
            entry = header[draw(st.sampled_from(names))]
            field = draw(st.sampled_from(["dtype", "shape", "data_offsets", "extra"]))
            if isinstance(entry, dict):
                if draw(st.booleans()):
                    entry.pop(field, None)
                else:
                    entry[field] = draw(st.one_of(JSON_VALUES, st.lists(st.integers(-(2**64), 2**64), max_size=4),
                                                  st.sampled_from([[True], [False, True], [-1], [2**62, 2**62],
                                                                   [0, 2**62, 2**62], [1] * 40, [1.5], ["2"]])))
        elif kind == "entry":
            header[draw(st.text(max_size=10))] = draw(JSON_VALUES)
        elif kind == "metadata":
            header["__metadata__"] = draw(JSON_VALUES)
        elif kind == "offset" and names:
            entry = header[draw(st.sampled_from(names))]
            offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
            if isinstance(offsets, list) and len(offsets) == 2:
                which = draw(st.integers(0, 1))
                offsets = list(offsets)
                if isinstance(offsets[which], int):
                    offsets[which] += draw(st.integers(-16, 16))
                entry["data_offsets"] = offsets
        elif kind == "prefix":
            prefix = draw(st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 300)))
        elif kind == "raw":
            raw_header = draw(st.one_of(
                st.binary(max_size=80),
                st.sampled_from([b"[" * 100_000, b'{"a":' + b"1" * 5001 + b"}", b'{"a":{},"a":{}}', b"\xff\xfe{}",
                                 b'{"__metadata__":{"k":1}}', b'{"__metadata__":[]}', b"null", b"{}" + b"\0" * 8]),
            ))
        elif kind == "body":
            body += draw(st.binary(min_size=1, max_size=16))
    head = raw_header if raw_header is not None else json.dumps(header).encode()
    blob = struct.pack("<Q", len(head) if prefix is None else prefix) + head + body
    if draw(st.integers(0, 6)) == 0:
        blob = blob[:draw(st.integers(0, len(blob)))]
    if draw(st.integers(0, 6)) == 0 and blob:
        flipped = bytearray(blob)
        flipped[draw(st.integers(0, len(blob) - 1))] ^= 1 << draw(st.integers(0, 7))
        blob = bytes(flipped)
    return blob


@fuzz(900)
@given(blob=safetensors_files())
def test_mutated_safetensors(blob: bytes, box: Sandbox) -> None:
    with tempfile.TemporaryDirectory(dir=box.top) as folder:
        path = Path(folder) / "model.safetensors"
        path.write_bytes(blob)
        try:
            loaded = load_file(path, sha256=hashlib.sha256(blob).hexdigest())
        except WeightsError as exc:
            event("refused")
            one_line(exc)
            return
        event("loaded")
        # Accepted: the arrays are the file's own bytes (BF16 widened to float32 at most doubles them).
        assert sum(a.nbytes for a in loaded.arrays.values()) <= 2 * len(blob)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in loaded.metadata.items())


# -- npz -----------------------------------------------------------------------------------------------------

@st.composite
def npz_files(draw: st.DrawFn) -> bytes:
    descr = draw(st.sampled_from(["'<f4'", "'<f4'", "'|u1'", "'|O'", "'<f4", "[('a', '<i4')]", "'x'", "1", "None",
                                  "'<U2'", "'V8'"]))
    shape = draw(st.sampled_from(["(3,)", "(3,)", "(0,)", "()", "(10**12,)", "(-1,)", "(2, 2)", "(1.5,)", "'x'",
                                  "(2**62, 2**62)", "(True,)"]))
    fortran = draw(st.sampled_from(["False", "True", "1", "None"]))
    text = f"{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    if draw(st.integers(0, 4)) == 0:
        text = text[:draw(st.integers(0, len(text)))]  # a header cut short: unbalanced brackets, quotes
    text += " " * (-(len(text) + 11) % 64) + "\n"
    version = draw(st.sampled_from([b"\x01\x00", b"\x02\x00", b"\x03\x00", b"\x09\x00"]))
    length = struct.pack("<H", len(text)) if version == b"\x01\x00" else struct.pack("<I", len(text))
    data = draw(st.sampled_from([0, 1, 4, 12, 24]))  # 12: exactly three float32 or uint8 x 12 ...
    member = b"\x93NUMPY" + version + length + text.encode("latin1") + bytes(data)
    buffer = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with zipfile.ZipFile(buffer, "w", method) as archive:
        # a fixed time stamp: the same draws give the same bytes on every run (CI must be deterministic)
        info = zipfile.ZipInfo(draw(st.sampled_from(["a.npy", "b", "../c.npy"])), date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = method
        archive.writestr(info, member)
    blob = buffer.getvalue()
    if draw(st.integers(0, 3)) == 0:
        blob = blob[:draw(st.integers(0, len(blob)))]
    return blob


@fuzz(100)
@given(blob=npz_files())
def test_mutated_npz(blob: bytes, box: Sandbox) -> None:
    with tempfile.TemporaryDirectory(dir=box.top) as folder:
        path = Path(folder) / "arrays.npz"
        path.write_bytes(blob)
        try:
            loaded = load_file(path)
        except WeightsError as exc:
            event("refused")
            one_line(exc)
            return
        event("loaded")
        assert sum(a.nbytes for a in loaded.arrays.values()) <= len(blob)


# -- the command line ---------------------------------------------------------------------------------------

def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    env.pop("AVITALK_OFFLINE", None)
    return subprocess.run([sys.executable, "-m", "avi_talking", *args], capture_output=True, text=True, env=env,
                          timeout=60, cwd=cwd, check=False)


def _registry_text(box: Sandbox, case: str, url: str) -> str:
    entry = dict(REMOTE, urls=[url], sha256=SHA, size=len(BODY))
    if case == "traversal-version":
        entry["version"] = "../../outside"
    elif case == "absolute-version":
        entry["version"] = str(box.outside)  # the cache path would be outside/m.npz, a wrong-size canary
    elif case == "size-5001-digits":
        return json.dumps({"schema": 1, "assets": [entry]}).replace(f'"size": {len(BODY)}', '"size": ' + "7" * 5001)
    elif case == "nested-100000":
        return '{"schema": 1, "assets": ' + "[" * 100_000 + "]" * 100_000 + "}"
    return json.dumps({"schema": 1, "assets": [entry]})


@pytest.mark.parametrize("case, action", [
    ("traversal-version", "fetch"),
    ("absolute-version", "path"),
    ("size-5001-digits", "verify"),
    ("nested-100000", "fetch"),
    ("symlink-in-cache", "path"),
])
def test_cli_bad_registries_exit_2_with_one_line(case: str, action: str, box: Sandbox, server: AssetServer) -> None:
    # symlink-in-cache: cache/m -> outside, where a wrong-size m.npz sits at 1.0/m.npz
    with box.example("name-dir" if case == "symlink-in-cache" else "none"), \
            tempfile.TemporaryDirectory(dir=box.top) as folder:
        registry = Path(folder) / "registry.json"
        route = f"/cli-{case}.npz"
        registry.write_text(_registry_text(box, case, server.add(route, BODY)), encoding="utf-8")
        args = ["weights", action, "m", "--registry", str(registry), "--cache-dir", str(box.cache)]

        def run() -> None:
            done = _cli(*args, cwd=box.top)
            assert done.returncode == 2, done.stderr
            assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
            assert "Traceback" not in done.stderr and done.stdout == ""

        assert_only_cache_changed(box, run)
        assert server.requests_for(route) == []
