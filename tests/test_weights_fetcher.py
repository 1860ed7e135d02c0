"""weights_fetcher: registry, verified downloads against a real local HTTP server, cache, offline
behaviour, loading without pickles, the ``avitalk weights`` command, and the Blender preferences."""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import pickle
import random
import re
import shutil
import struct
import subprocess
import sys
import threading
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from avi_talking.weights_fetcher import (
    DEFAULT_REGISTRY,
    AssetState,
    AssetStore,
    CacheError,
    ChecksumError,
    DownloadError,
    FetchCancelled,
    LocalAssetMissingError,
    MalformedFileError,
    NotFetchedError,
    OfflineError,
    ProgressEvent,
    Registry,
    RegistryError,
    SizeError,
    TextProgress,
    UnknownAssetError,
    UnsafeFormatError,
    load_file,
    load_registry,
    parse_registry,
)
from avi_talking.weights_fetcher.cache import part_file, stamp_file, user_cache_dir
from avi_talking.weights_fetcher.loading import parse_safetensors

from http_server import AssetServer

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = random.Random(20240601).randbytes(200_000)


# -- fixtures and helpers -------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("AVITALK_OFFLINE", raising=False)
    monkeypatch.delenv("AVITALK_CACHE_DIR", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # never route the local server via a proxy
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def server() -> Iterator[AssetServer]:
    with AssetServer() as s:
        yield s


def entry(name: str, body: bytes, urls: list[str], file: str | None = None, **overrides: object) -> dict:
    data = {
        "name": name, "version": "1.0", "kind": "model", "file": file or f"{name}.safetensors",
        "urls": urls, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body),
        "license": "CC-BY-4.0", "description": f"test asset {name}",
    }
    data.update(overrides)
    return data


def write_registry(path: Path, *entries: dict) -> Path:
    path.write_text(json.dumps({"schema": 1, "assets": list(entries)}), encoding="utf-8")
    return path


def make_store(tmp_path: Path, *entries: dict, **kwargs: object) -> AssetStore:
    registry = load_registry(write_registry(tmp_path / "registry.json", *entries))
    options: dict = {"retries": 0, "backoff": 0.01, "timeout": 5.0}
    options.update(kwargs)
    return AssetStore(registry, tmp_path / "cache", **options)


class Events:
    def __init__(self) -> None:
        self.events: list[ProgressEvent] = []

    def __call__(self, event: ProgressEvent) -> None:
        self.events.append(event)

    def stages(self) -> set[str]:
        return {e.stage for e in self.events}


def leftovers(folder: Path) -> list[str]:
    """Files in a cache folder other than the lock file (which is harmless and kept)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


@contextlib.contextmanager
def read_only(*folders: Path) -> Iterator[None]:
    """Make folders really read-only, also for root (tests run as root here): permission bits do not
    stop root, the immutable attribute does. Skips only when neither works."""
    undo: list[list[str]] = []
    try:
        for folder in folders:
            if os.geteuid() != 0:
                folder.chmod(0o555)
                undo.append(["chmod", "755", str(folder)])
            else:
                if shutil.which("chattr") is None:
                    pytest.skip("running as root without chattr: cannot make a folder read-only for root")
                done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
                if done.returncode != 0:
                    pytest.skip(f"running as root and chattr +i is not permitted here: {done.stderr.strip()}")
                undo.append(["chattr", "-i", str(folder)])
            probe = folder / ".probe"
            try:
                probe.touch()
            except OSError:
                pass
            else:
                probe.unlink()
                pytest.skip(f"could not make {folder} read-only on this file system")
        yield
    finally:
        for command in reversed(undo):
            if command[0] == "chmod":
                Path(command[2]).chmod(0o755)
            else:
                subprocess.run(command, check=False)


def cli_command() -> list[str]:
    """``python -m avi_talking``: the real command line."""
    return [sys.executable, "-m", "avi_talking"]


def run_cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([*cli_command(), *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=ROOT.parent)


def safetensors_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """Write the safetensors layout by hand (independent of the parser under test)."""
    codes = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64", np.dtype("uint8"): "U8"}
    header: dict = {"__metadata__": metadata} if metadata else {}
    blobs, offset = [], 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": codes[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


# -- registry ---------------------------------------------------------------------------------------

def test_builtin_registry_lists_the_shipped_models_as_verified_local_assets():
    registry = load_registry()
    assert registry.source == DEFAULT_REGISTRY
    store = AssetStore()
    for name in ("avi-stage1", "avi-stage2"):
        shipped = registry.get(name)
        assert shipped.is_local and shipped.kind == "model" and shipped.status == "released"
        assert shipped.license and shipped.description and shipped.version
        assert store.verify(name) == shipped.local_path()  # the committed file matches its sha256 and size
    for asset in registry:
        assert asset.kind in ("model", "rig", "mapping")


def test_absent_local_asset_gives_a_clear_message(tmp_path):
    local = {"name": "builtin", "version": "0.1", "kind": "model", "local": "weights/not-there/",
             "status": "planned", "license": "MIT", "description": "not trained yet"}
    store = make_store(tmp_path, local)
    assert store.state("builtin") is AssetState.LOCAL_ABSENT
    with pytest.raises(LocalAssetMissingError, match=r"not in this installation \(not trained yet\)"):
        store.resolve("builtin")
    with pytest.raises(LocalAssetMissingError, match="--weights PATH"):
        store.fetch("builtin")
    # A local path always overrides.
    own = tmp_path / "mine.safetensors"
    own.write_bytes(safetensors_bytes({"w": np.zeros(2, np.float32)}))
    assert store.resolve("builtin", override=own) == own


@pytest.mark.parametrize("change, message", [
    ({"sha265": "x"}, "unknown field"),
    ({"sha256": "ABC"}, "sha256"),
    ({"size": 0}, "size"),
    ({"file": "model.pkl"}, "pickle"),
    ({"file": "model.pt"}, "pickle"),
    ({"file": "../escape.npz"}, "plain file name"),
    ({"urls": []}, "urls"),
    ({"urls": ["ftp://example.org/x"]}, "urls"),
    ({"kind": "weights"}, "kind"),
    ({"name": "Bad Name"}, "name"),
    ({"description": "two\nlines"}, "one line"),
])
def test_registry_validation(change, message):
    asset = entry("good", b"abc", ["http://127.0.0.1:9/good"])
    asset.update(change)
    with pytest.raises(RegistryError, match=message):
        parse_registry({"schema": 1, "assets": [asset]})


def test_registry_structure_errors(tmp_path):
    asset = entry("dup", b"abc", ["http://127.0.0.1:9/dup"])
    with pytest.raises(RegistryError, match="listed twice"):
        parse_registry({"schema": 1, "assets": [asset, asset]})
    with pytest.raises(RegistryError, match="schema"):
        parse_registry({"schema": 99, "assets": []})
    with pytest.raises(RegistryError, match="relative path"):
        parse_registry({"schema": 1, "assets": [{"name": "l", "version": "1", "kind": "rig", "local": "/etc",
                                                 "license": "MIT", "description": "x"}]})
    with pytest.raises(RegistryError, match="does not exist"):
        load_registry(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(RegistryError, match="not valid JSON"):
        load_registry(tmp_path / "bad.json")
    with pytest.raises(UnknownAssetError, match="known: dup"):
        parse_registry({"schema": 1, "assets": [asset]}).get("other")


def test_cache_folder_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("AVITALK_CACHE_DIR", str(tmp_path / "from-env"))
    assert AssetStore(load_registry()).cache_dir == tmp_path / "from-env"
    assert AssetStore(load_registry(), tmp_path / "explicit").cache_dir == tmp_path / "explicit"
    monkeypatch.delenv("AVITALK_CACHE_DIR")
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert user_cache_dir() == tmp_path / "xdg" / "avi-talking"
        assert AssetStore(load_registry()).cache_dir == tmp_path / "xdg" / "avi-talking" / "weights"


# -- downloads --------------------------------------------------------------------------------------

def test_fetch_success_verifies_and_places_atomically(tmp_path, server):
    url = server.add("/m.safetensors", PAYLOAD)
    store = make_store(tmp_path, entry("m", PAYLOAD, [url]))
    assert store.state("m") is AssetState.MISSING
    events = Events()
    path = store.fetch("m", progress=events)
    assert path == tmp_path / "cache" / "m" / "1.0" / "m.safetensors"
    assert path.read_bytes() == PAYLOAD
    assert store.state("m") is AssetState.VERIFIED
    assert leftovers(path.parent) == [stamp_file(path).name, "m.safetensors"]  # no .part
    assert {"download", "verify", "done"} <= events.stages()
    assert events.events[-1].fraction == 1.0
    # Second fetch: served from the cache, no request.
    assert store.fetch("m") == path
    assert store.resolve("m") == path
    assert len(server.requests_for("/m.safetensors")) == 1


def test_404_fails_with_the_url_and_leaves_nothing(tmp_path, server):
    url = server.url("/missing.npz")
    store = make_store(tmp_path, entry("gone", PAYLOAD, [url], file="gone.npz"), retries=2)
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        store.fetch("gone")
    assert url in str(info.value) and "\n" not in str(info.value)
    assert len(server.requests_for("/missing.npz")) == 1  # a 404 is not retried
    assert leftovers(tmp_path / "cache" / "gone" / "1.0") == []
    with pytest.raises(NotFetchedError, match="avitalk weights fetch gone"):
        store.resolve("gone")


def test_second_url_is_a_mirror(tmp_path, server):
    bad = server.url("/nowhere")
    good = server.add("/mirror.npz", PAYLOAD)
    store = make_store(tmp_path, entry("m", PAYLOAD, [bad, good], file="m.npz"))
    assert store.fetch("m").read_bytes() == PAYLOAD


def test_server_error_is_retried(tmp_path, server):
    url = server.add("/flaky", PAYLOAD, status=503)
    store = make_store(tmp_path, entry("f", PAYLOAD, [url]), retries=2)
    events = Events()
    with pytest.raises(DownloadError, match="HTTP 503"):
        store.fetch("f", progress=events)
    assert len(server.requests_for("/flaky")) == 3
    assert "retry" in events.stages()


def test_dropped_connection_then_resumed_fetch(tmp_path, server):
    cut = 70_000
    url = server.add("/big.safetensors", PAYLOAD, drop_after=cut, drop_times=1)
    store = make_store(tmp_path, entry("big", PAYLOAD, [url]), retries=0)
    with pytest.raises(DownloadError, match=f"connection lost after \\d+ of {len(PAYLOAD)} bytes"):
        store.fetch("big")
    dest = store.path_for("big")
    assert not dest.exists()
    kept = part_file(dest).stat().st_size  # what arrived and was written (up to the last whole chunk)
    assert 0 < kept <= cut
    assert store.state("big") is AssetState.PARTIAL

    assert store.fetch("big").read_bytes() == PAYLOAD
    first, second = server.requests_for("/big.safetensors")
    assert first.range is None and first.status == 200
    assert second.range == f"bytes={kept}-" and second.status == 206
    assert not part_file(dest).exists()


def test_dropped_connection_resumes_within_one_fetch(tmp_path, server):
    url = server.add("/big.npz", PAYLOAD, drop_after=50_000, drop_times=2)
    store = make_store(tmp_path, entry("big", PAYLOAD, [url], file="big.npz"), retries=3)
    events = Events()
    assert store.fetch("big", progress=events).read_bytes() == PAYLOAD
    ranges = [r.range for r in server.requests_for("/big.npz")]
    assert len(ranges) == 3 and ranges[0] is None
    assert all(r is not None and r.startswith("bytes=") for r in ranges[1:])
    assert "retry" in events.stages()


def test_resume_against_a_server_without_range_support_restarts(tmp_path, server):
    url = server.add("/norange.npz", PAYLOAD, ranges=False, drop_after=30_000, drop_times=1)
    store = make_store(tmp_path, entry("n", PAYLOAD, [url], file="n.npz"), retries=1)
    assert store.fetch("n").read_bytes() == PAYLOAD
    assert [r.status for r in server.requests_for("/norange.npz")] == [200, 200]


def test_corrupted_bytes_are_rejected(tmp_path, server):
    url = server.add("/bad.safetensors", PAYLOAD, corrupt=True)
    store = make_store(tmp_path, entry("bad", PAYLOAD, [url]))
    with pytest.raises(ChecksumError, match="sha256 mismatch") as info:
        store.fetch("bad")
    assert "deleted" in str(info.value)
    dest = store.path_for("bad")
    assert not dest.exists() and not part_file(dest).exists()
    assert store.state("bad") is AssetState.MISSING


@pytest.mark.parametrize("stale", [b"\0" * len(PAYLOAD), b"garbage" * 1000])
def test_stale_bad_part_file_is_replaced_by_a_clean_download(tmp_path, server, stale):
    url = server.add("/stale.npz", PAYLOAD)
    store = make_store(tmp_path, entry("stale", PAYLOAD, [url], file="stale.npz"))
    part = part_file(store.path_for("stale"))
    part.parent.mkdir(parents=True)
    part.write_bytes(stale)
    assert store.fetch("stale").read_bytes() == PAYLOAD
    assert server.requests_for("/stale.npz")[-1].range is None  # the last request started from zero


@pytest.mark.parametrize("served", [PAYLOAD + b"extra bytes", PAYLOAD[:-1000]])
def test_wrong_size_is_rejected(tmp_path, server, served):
    url = server.add("/sized.npz", served)
    store = make_store(tmp_path, entry("s", PAYLOAD, [url], file="s.npz"), retries=2)
    with pytest.raises(SizeError, match=f"{len(served)} bytes, the registry says {len(PAYLOAD)}"):
        store.fetch("s")
    assert len(server.requests_for("/sized.npz")) == 1  # not retried: the server has another file
    assert leftovers(store.folder_for("s")) == []


def test_cancel_keeps_the_part_for_a_later_resume(tmp_path, server):
    url = server.add("/slow.npz", PAYLOAD, delay=0.02, chunk=4096)
    store = make_store(tmp_path, entry("slow", PAYLOAD, [url], file="slow.npz"))
    cancel = threading.Event()

    def progress(event: ProgressEvent) -> None:
        if event.stage == "download" and event.done >= 20_000:
            cancel.set()

    with pytest.raises(FetchCancelled):
        store.fetch("slow", progress=progress, cancel=cancel)
    kept = part_file(store.path_for("slow")).stat().st_size
    assert 20_000 <= kept < len(PAYLOAD)
    server.routes["/slow.npz"].delay = 0
    assert store.fetch("slow").read_bytes() == PAYLOAD
    assert server.requests_for("/slow.npz")[-1].range == f"bytes={kept}-"


def test_tampered_cache_file_is_refused_and_removed(tmp_path, server):
    url = server.add("/t.safetensors", PAYLOAD)
    store = make_store(tmp_path, entry("t", PAYLOAD, [url]))
    path = store.fetch("t")
    data = bytearray(PAYLOAD)
    data[1234] ^= 1
    path.write_bytes(bytes(data))
    assert store.state("t") is AssetState.PRESENT  # changed since its verification
    with pytest.raises(ChecksumError, match="the file was removed"):
        store.verify("t")
    assert not path.exists() and not stamp_file(path).exists()
    # fetch() replaces a damaged file by a good download.
    path = store.fetch("t")
    path.write_bytes(PAYLOAD[:-1])
    assert store.state("t") is AssetState.INVALID
    assert store.fetch("t").read_bytes() == PAYLOAD


def test_load_rehashes_the_bytes_it_parses(tmp_path, server):
    arrays = {"weight": np.arange(12, dtype=np.float32).reshape(3, 4), "steps": np.array([1, 2], np.int64)}
    blob = safetensors_bytes(arrays, {"arch": "test"})
    url = server.add("/model.safetensors", blob)
    store = make_store(tmp_path, entry("model", blob, [url], file="model.safetensors"))
    loaded = store.load("model", download=True)
    assert loaded.format == "safetensors" and loaded.metadata == {"arch": "test"}
    np.testing.assert_array_equal(loaded.arrays["weight"], arrays["weight"])
    np.testing.assert_array_equal(loaded.arrays["steps"], arrays["steps"])

    # Tamper but keep size and mtime: the stamp still matches, the load-time hash does not.
    path = store.path_for("model")
    st = path.stat()
    tampered = bytearray(blob)
    tampered[-1] ^= 0xFF
    path.write_bytes(bytes(tampered))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert store.state("model") is AssetState.VERIFIED
    with pytest.raises(ChecksumError, match="removed"):
        store.load("model")
    assert not path.exists()


def test_verify_nothing_downloaded(tmp_path, server):
    store = make_store(tmp_path, entry("x", PAYLOAD, [server.url("/x")]))
    with pytest.raises(NotFetchedError, match="not in the cache"):
        store.verify("x")


# -- offline ------------------------------------------------------------------------------------------

def test_offline_env_gives_one_line_with_file_url_and_folder(tmp_path, server, monkeypatch):
    url = server.add("/off.safetensors", PAYLOAD)
    store = make_store(tmp_path, entry("off", PAYLOAD, [url], file="off.safetensors"))
    monkeypatch.setenv("AVITALK_OFFLINE", "1")
    with pytest.raises(OfflineError) as info:
        store.fetch("off")
    message = str(info.value)
    assert "\n" not in message
    assert "AVITALK_OFFLINE" in message
    assert "off.safetensors" in message and url in message
    assert str(tmp_path / "cache" / "off" / "1.0") in message
    assert server.requests_for("/off.safetensors") == []
    assert not (tmp_path / "cache").exists()  # nothing created either


def test_offline_switch_from_the_host_app(tmp_path, server):
    url = server.add("/off.npz", PAYLOAD)
    store = make_store(tmp_path, entry("off", PAYLOAD, [url], file="off.npz"), online=False,
                       offline_reason="Blender's online access is off")
    with pytest.raises(OfflineError, match="Blender's online access is off"):
        store.fetch("off")
    assert server.requests_for("/off.npz") == []


def test_offline_with_a_file_placed_by_hand(tmp_path, server, monkeypatch):
    monkeypatch.setenv("AVITALK_OFFLINE", "yes")
    store = make_store(tmp_path, entry("hand", PAYLOAD, [server.url("/hand.npz")], file="hand.npz"))
    folder = store.folder_for("hand")
    folder.mkdir(parents=True)
    (folder / "hand.npz").write_bytes(PAYLOAD)
    assert store.state("hand") is AssetState.PRESENT
    assert store.fetch("hand") == folder / "hand.npz"  # verified, no network needed
    assert store.state("hand") is AssetState.VERIFIED
    assert server.log == []


# -- read-only cache --------------------------------------------------------------------------------

def test_read_only_cache_gives_a_clear_error(tmp_path, server):
    url = server.add("/ro.npz", PAYLOAD)
    store = make_store(tmp_path, entry("ro", PAYLOAD, [url], file="ro.npz"))
    store.cache_dir.mkdir()
    with read_only(store.cache_dir):
        with pytest.raises(CacheError) as info:
            store.fetch("ro")
    message = str(info.value)
    assert "\n" not in message
    assert str(store.cache_dir) in message and "--cache-dir" in message
    assert server.log == []


def test_read_only_cache_still_serves_verified_files(tmp_path, server):
    url = server.add("/ro.npz", PAYLOAD)
    store = make_store(tmp_path, entry("ro", PAYLOAD, [url], file="ro.npz"))
    path = store.fetch("ro")
    stamp_file(path).unlink()  # force a full re-hash, whose stamp cannot be written
    with read_only(store.cache_dir, path.parent.parent, path.parent):
        assert store.fetch("ro") == path
        assert store.verify("ro") == path
        assert store.resolve("ro") == path
    assert len(server.log) == 1


# -- concurrency ------------------------------------------------------------------------------------

def test_two_processes_fetching_the_same_asset_download_it_once(tmp_path, server):
    body = random.Random(7).randbytes(256 * 1024)
    url = server.add("/shared.safetensors", body, delay=0.05, chunk=8192)  # ~1.6 s
    registry = write_registry(tmp_path / "registry.json", entry("shared", body, [url]))
    cache = tmp_path / "cache"
    args = [*cli_command(), "weights", "fetch", "shared", "--registry", str(registry), "--cache-dir", str(cache)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT.parent)
             for _ in range(2)]
    results = [p.communicate(timeout=60) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    paths = {out.strip() for out, _ in results}
    assert paths == {str(cache / "shared" / "1.0" / "shared.safetensors")}
    assert Path(paths.pop()).read_bytes() == body
    assert len(server.requests_for("/shared.safetensors")) == 1
    assert any("waiting for another process" in err for _, err in results)


# -- command line -----------------------------------------------------------------------------------

def test_cli_list_fetch_path_verify(tmp_path, server):
    url = server.add("/cli.npz", PAYLOAD)
    registry = write_registry(tmp_path / "registry.json", entry("cli-model", PAYLOAD, [url], file="cli.npz"))
    common = ["--registry", str(registry), "--cache-dir", str(tmp_path / "cache")]

    done = run_cli("weights", "list", *common)
    assert done.returncode == 0, done.stderr
    assert "cli-model" in done.stdout and "missing" in done.stdout and "CC-BY-4.0" in done.stdout
    listed = json.loads(run_cli("weights", "list", "--json", *common).stdout)
    assert listed["assets"][0]["state"] == "missing"

    done = run_cli("weights", "fetch", "cli-model", *common)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path.read_bytes() == PAYLOAD
    assert "cli-model: 100%" in done.stderr  # plain progress lines when stderr is not a terminal

    done = run_cli("weights", "path", "cli-model", *common)
    assert (done.returncode, done.stdout.strip()) == (0, str(path))
    done = run_cli("weights", "verify", "cli-model", *common)
    assert done.returncode == 0 and "verified" in done.stdout
    done = run_cli("weights", "verify", *common)
    assert done.returncode == 0 and "cli-model: verified" in done.stdout
    assert "verified" in run_cli("weights", "list", *common).stdout

    # A damaged file: verify fails with one line and exit 2, and the file is gone.
    path.write_bytes(PAYLOAD[::-1])
    done = run_cli("weights", "verify", *common)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    assert "sha256" in done.stderr and not path.exists()


def test_cli_failures_are_one_line_with_exit_2(tmp_path, server):
    url = server.url("/absent.npz")
    registry = write_registry(tmp_path / "registry.json", entry("absent", PAYLOAD, [url], file="absent.npz"))
    common = ["--registry", str(registry), "--cache-dir", str(tmp_path / "cache")]
    for args, needle in [
        (["weights", "fetch", "absent", "--retries", "0", *common], "HTTP 404"),
        (["weights", "fetch", "nosuch", *common], "no asset named 'nosuch'"),
        (["weights", "path", "absent", *common], "not downloaded yet"),
        (["weights", "list", "--registry", str(tmp_path / "none.json")], "does not exist"),
        (["weights", "path", "absent", "--weights", str(tmp_path / "model.pkl"), *common], "does not exist"),
    ]:
        done = run_cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
        assert needle in done.stderr
        assert done.stdout == ""


@pytest.mark.parametrize("option", [("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "1e308"),
                                    ("--timeout", "0"), ("--retries", "-1"), ("--retries", "1000000000000")])
def test_cli_network_options_are_checked_before_anything_happens(tmp_path, server, option):
    # nan and inf used to reach the socket and end in a traceback; a huge --retries never ended.
    url = server.add("/o.npz", PAYLOAD)
    registry = write_registry(tmp_path / "registry.json", entry("o", PAYLOAD, [url], file="o.npz"))
    done = run_cli("weights", "fetch", "o", *option, "--registry", str(registry), "--cache-dir", str(tmp_path / "c"))
    assert done.returncode == 2 and done.stderr.startswith(f"error: {option[0]}") and done.stderr.count("\n") == 1
    assert server.log == [] and not (tmp_path / "c").exists()


def test_cli_offline_quiet_and_override(tmp_path, server):
    url = server.add("/o.npz", PAYLOAD)
    registry = write_registry(tmp_path / "registry.json", entry("o", PAYLOAD, [url], file="o.npz"))
    common = ["--registry", str(registry), "--cache-dir", str(tmp_path / "cache")]

    done = run_cli("weights", "fetch", "o", *common, env={"AVITALK_OFFLINE": "1"})
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert url in done.stderr and "o.npz" in done.stderr and str(tmp_path / "cache" / "o" / "1.0") in done.stderr
    assert server.log == []

    own = tmp_path / "own.npz"
    own.write_bytes(b"PK")
    done = run_cli("weights", "path", "o", "--weights", str(own), *common, env={"AVITALK_OFFLINE": "1"})
    assert (done.returncode, done.stdout.strip()) == (0, str(own))
    pickled = tmp_path / "own.pkl"
    pickled.write_bytes(pickle.dumps({"x": 1}))
    done = run_cli("weights", "fetch", "o", "--weights", str(pickled), *common)
    assert done.returncode == 2 and "refusing" in done.stderr

    done = run_cli("-q", "weights", "fetch", "o", *common)
    assert done.returncode == 0 and done.stderr == ""
    done = run_cli("weights", "verify", "o", "-q", *common)
    assert done.returncode == 0 and done.stderr == ""


def test_text_progress_rendering():
    out = io.StringIO()
    bar = TextProgress(out, tty=True)
    for done in (0, 50_000, 100_000):
        bar(ProgressEvent("m", "download", done, 100_000))
    bar(ProgressEvent("m", "verify", 100_000, 100_000, "verifying sha256"))
    bar.close()
    text = out.getvalue()
    assert "\rm [" in text and "100%" in text and "m: verifying sha256\n" in text

    out = io.StringIO()
    plain = TextProgress(out, tty=False, interval=3600)
    for done in range(0, 100_001, 10_000):
        plain(ProgressEvent("m", "download", done, 100_000))
    lines = out.getvalue().splitlines()
    assert lines == ["m: 0% (0 B of 100.0 KB)", "m: 100% (100.0 KB of 100.0 KB)"]


# -- loading ----------------------------------------------------------------------------------------

def test_load_safetensors_npz_json(tmp_path):
    arrays = {"a": np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3), "b": np.array([3, 4], np.int64),
              "empty": np.zeros((0, 2), np.uint8)}
    st = tmp_path / "w.safetensors"
    st.write_bytes(safetensors_bytes(arrays, {"card": "{}"}))
    loaded = load_file(st, sha256=hashlib.sha256(st.read_bytes()).hexdigest())
    assert set(loaded.arrays) == set(arrays) and loaded.metadata == {"card": "{}"}
    for key, value in arrays.items():
        np.testing.assert_array_equal(loaded.arrays[key], value)
        assert loaded.arrays[key].dtype == value.dtype

    npz = tmp_path / "w.npz"
    np.savez(npz, **arrays)
    np.testing.assert_array_equal(load_file(npz).arrays["a"], arrays["a"])

    js = tmp_path / "map.json"
    js.write_text(json.dumps({"jawOpen": "JawOpen"}), encoding="utf-8")
    assert load_file(js).data == {"jawOpen": "JawOpen"}
    with pytest.raises(ChecksumError):
        load_file(js, sha256="0" * 64)


def test_safetensors_written_by_the_reference_library_and_bf16(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    arrays = {"x": np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32),
              "h": np.arange(6, dtype=np.float16)}
    path = tmp_path / "ref.safetensors"
    st_numpy.save_file(arrays, str(path), metadata={"k": "v"})
    loaded = load_file(path)
    for key in arrays:
        np.testing.assert_array_equal(loaded.arrays[key], arrays[key])
    assert loaded.metadata == {"k": "v"}

    # bfloat16 is widened to float32 (numpy has no bfloat16).
    values = np.array([1.5, -2.0, 0.0], np.float32)
    words = (values.view(np.uint32) >> 16).astype("<u2")
    head = json.dumps({"b": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
    arrays_out, _ = parse_safetensors(struct.pack("<Q", len(head)) + head + words.tobytes())
    np.testing.assert_array_equal(arrays_out["b"], values)


@pytest.mark.parametrize("name", ["model.pkl", "model.pt", "model.bin", "model.ckpt", "model.pth", "model"])
def test_pickle_formats_are_refused_before_reading(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(UnsafeFormatError, match="can run code"):
        load_file(path)


def test_pickles_disguised_as_npz_are_refused(tmp_path):
    disguised = tmp_path / "renamed.npz"
    disguised.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(UnsafeFormatError, match="pickle"):
        load_file(disguised)

    objects = tmp_path / "objects.npz"
    np.savez(objects, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(UnsafeFormatError, match="pickled object arrays"):
        load_file(objects)

    with zipfile.ZipFile(tmp_path / "raw.npz", "w") as archive:
        archive.writestr("a.npy", pickle.dumps([1, 2]))
    with pytest.raises(MalformedFileError, match="not a .npy array"):
        load_file(tmp_path / "raw.npz")


F32_HEADER = b'{"a":{"dtype":"F32","shape":[%d],"data_offsets":[0,4]}}  '


@pytest.mark.parametrize("blob, why", [
    (b"\x01", "too short"),
    (struct.pack("<Q", 10**9) + b"{}", "header length"),
    (struct.pack("<Q", 2) + b"[]", "not an object"),
    (struct.pack("<Q", 56) + F32_HEADER % 2 + b"\0" * 4, "bytes for shape"),
    (struct.pack("<Q", 56) + F32_HEADER % 1 + b"\0" * 8, "trailing"),
    (struct.pack("<Q", 56) + b'{"a":{"dtype":"X99","shape":[1],"data_offsets":[0,4]}}  ' + b"\0" * 4, "dtype"),
])
def test_malformed_safetensors(tmp_path, blob, why):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(blob)
    with pytest.raises(MalformedFileError, match=why):
        load_file(path)


# -- issue #13: registry fields that become paths, and paths that leave the cache ------------------------

# Each would make the cache path leave <cache>/<name>/<version>/, or look like it does.
ESCAPES = ["../../x", "/abs/path", "a/b", "..", ".", "", "a\0b", "x" * 300, "..\\x", "C:x", "c:\\x",
           "\u2024\u2024", "\uff0e\uff0e", "a\uff0fb", "\u2215x", "nul", "COM1", "1.0\n", " 1.0", "~"]


@pytest.mark.parametrize("field", ["name", "version", "file"])
@pytest.mark.parametrize("value", ESCAPES)
def test_registry_refuses_path_fields_that_could_leave_the_cache(field, value):
    asset = entry("good", b"abc", ["http://127.0.0.1:9/good"])
    asset[field] = value + ".npz" if field == "file" else value
    with pytest.raises(RegistryError, match=field) as info:
        parse_registry({"schema": 1, "assets": [asset]})
    message = str(info.value)
    assert "\n" not in message and "\0" not in message and len(message) < 600


@pytest.mark.parametrize("value", ["v1.", "1.0."])
def test_registry_refuses_versions_windows_would_shorten(value):
    with pytest.raises(RegistryError, match="version"):
        parse_registry({"schema": 1, "assets": [entry("good", b"abc", ["http://127.0.0.1:9/g"], version=value)]})


@pytest.mark.parametrize("value", ["1.0", "0.1.0", "v2", "2024-06-01", "1.0+cu118", "RC_1"])
def test_registry_accepts_ordinary_versions(value):
    registry = parse_registry({"schema": 1, "assets": [entry("good", b"abc", ["http://127.0.0.1:9/g"], version=value)]})
    assert registry.get("good").version == value


@pytest.mark.parametrize("local", ["../../x", "/abs/path", "a/../b", "C:/x", "C:x", "a\\b", "a\0b", "./a", "a//b",
                                   "", "/", "\u2024\u2024/x", "weights/" + "x" * 300, "weights/nul/x.json", "a/" * 20])
def test_registry_refuses_local_paths_that_leave_the_add_on(local):
    with pytest.raises(RegistryError, match="relative path inside the add-on"):
        parse_registry({"schema": 1, "assets": [{"name": "l", "version": "1", "kind": "rig", "local": local,
                                                 "license": "MIT", "description": "x"}]})


@pytest.mark.parametrize("change, message", [
    ({"size": True}, "size"), ({"size": 1.5}, "size"), ({"size": "10"}, "size"), ({"size": -1}, "size"),
    ({"size": 10**5000}, "size"), ({"size": 2**64}, "size"), ({"size": [3]}, "size"),
    ({"sha256": "a" * 64 + "\n"}, "sha256"), ({"sha256": "A" * 64}, "sha256"), ({"sha256": 5}, "sha256"),
    ({"urls": "http://x.org/y"}, "urls"), ({"urls": [5]}, "urls"), ({"urls": ["file:///etc/passwd"]}, "urls"),
    ({"urls": ["HTTP://x.org/y"]}, "urls"), ({"urls": ["http:///path"]}, "no host"),
    ({"urls": ["http://[::1/x"]}, "host"), ({"urls": ["http://a b/c"]}, "urls"),
    ({"urls": ["http://x.org/\x1b[2J"]}, "urls"),
    ({"urls": ["https://x.org/" + "a" * 3000]}, "urls"), ({"urls": ["http://x.org/y"] * 17}, "urls"),
    ({"urls": [["http://x.org/y"]]}, "urls"), ({"kind": ["model"]}, "kind"), ({"kind": {"a": 1}}, "kind"),
    ({"kind": None}, "kind"), ({"status": {}}, "status"), ({"status": ["released"]}, "status"),
    ({"license": 5}, "license"), ({"license": "MIT\x1b[31m"}, "control"), ({"description": "a\u202eb"}, "control"),
    ({"description": "a\rb"}, "control"), ({"description": "x" * 5000}, "longer"), ({"name": 5}, "name"),
    ({"version": 1.0}, "version"), ({"file": None}, "file"), ({"file": ["m.npz"]}, "file"),
])
def test_registry_field_types_give_one_clear_line(change, message):
    asset = entry("good", b"abc", ["http://127.0.0.1:9/good"], file="good.npz")
    asset.update(change)
    with pytest.raises(RegistryError, match=message) as info:
        parse_registry({"schema": 1, "assets": [asset]})
    text = str(info.value)
    assert "\n" not in text and len(text) < 600 and text.isprintable()


@pytest.mark.parametrize("raw, message", [
    ([], "top level"), ("registry", "top level"), (None, "top level"),
    ({"schema": True, "assets": []}, "schema"), ({"schema": 1.0, "assets": []}, "schema"),
    ({"schema": 10**5000, "assets": []}, "schema"), ({"assets": []}, "schema"),
    ({"schema": 1, "assets": {}}, "'assets' must be a list"), ({"schema": 1, "assets": None}, "list"),
    ({"schema": 1, "assets": ["x"]}, "must be an object"), ({"schema": 1, "assets": [{1: "x", "name": "a"}]}, "names"),
])
def test_registry_structure_types(raw, message):
    with pytest.raises(RegistryError, match=message) as info:
        parse_registry(raw)
    assert "\n" not in str(info.value) and len(str(info.value)) < 600


@pytest.mark.parametrize("content, message", [
    (b'{"schema": 1, "assets": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    (b'{"schema": 1, "assets": [{"size": ' + b"7" * 5001 + b"}]}", "number too long"),
    (b'{"schema": 1, "schema": 1, "assets": []}', "appears twice"),
    (b'{"schema": 1, "assets": [{"name": "a", "sha256": "' + b"0" * 64 + b'", "sha256": "x"}]}', "appears twice"),
    (b'\xff\xfe{"schema": 1}', "not UTF-8"),
    (b"", "not valid JSON"),
])
def test_registry_file_contents(tmp_path, content, message):
    path = tmp_path / "registry.json"
    path.write_bytes(content)
    with pytest.raises(RegistryError, match=message) as info:
        load_registry(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 600


def test_registry_file_size_is_capped_before_reading(tmp_path):
    from avi_talking.weights_fetcher.registry import MAX_REGISTRY_BYTES

    big = tmp_path / "big.json"
    with open(big, "wb") as fh:  # sparse: no need to write the bytes
        fh.truncate(MAX_REGISTRY_BYTES + 1)
    with pytest.raises(RegistryError, match="more than"):
        load_registry(big)
    with pytest.raises(RegistryError, match="not a regular file"):
        load_registry(tmp_path)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "fifo.json"
        os.mkfifo(fifo)  # opening it to read would block forever
        with pytest.raises(RegistryError, match="not a regular file"):
            load_registry(fifo)


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every file (its bytes) and symlink (its target) under ``folder``."""
    found: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(folder))] = os.readlink(path)
        elif path.is_file():
            found[str(path.relative_to(folder))] = path.read_bytes()
        else:
            found[str(path.relative_to(folder))] = "dir"
    return found


@pytest.mark.parametrize("version", ["../../outside", "ABSOLUTE"])
def test_a_hand_built_asset_cannot_make_the_store_leave_the_cache(tmp_path, server, version):
    """Validation aside (an Asset built in code skips it), the store itself refuses paths outside."""
    from avi_talking.weights_fetcher import Asset, Registry

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "m.safetensors").write_bytes(b"precious, and the wrong size")
    before = snapshot(outside)
    url = server.add("/m.safetensors", PAYLOAD)
    asset = Asset("m", str(outside) if version == "ABSOLUTE" else version, "model", "MIT", "hand-built",
                  file="m.safetensors", urls=(url,), sha256=hashlib.sha256(PAYLOAD).hexdigest(), size=len(PAYLOAD))
    store = AssetStore(Registry((asset,)), tmp_path / "cache", retries=0)
    for action in (store.resolve, store.verify, store.fetch, store.load):
        with pytest.raises(CacheError, match="outside the weights cache"):
            action("m")
    assert snapshot(outside) == before
    assert server.log == []


def _plant_link(cache: Path, outside: Path, where: str) -> Path:
    """A symbolic link inside the cache pointing out of it; returns what it points to."""
    folder = cache / "m" / "1.0"
    link, target = {
        "name folder": (cache / "m", outside),
        "version folder": (folder, outside / "1.0"),
        "file": (folder / "m.safetensors", outside / "1.0" / "m.safetensors"),
        "part": (folder / "m.safetensors.part", outside / "new-part"),
        "lock": (folder / "m.safetensors.lock", outside / "new-lock"),
    }[where]
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return target


@pytest.mark.parametrize("where", ["name folder", "version folder", "file", "part", "lock"])
def test_symlinks_in_the_cache_pointing_outside_are_never_followed(tmp_path, server, where):
    outside = tmp_path / "outside"
    (outside / "1.0").mkdir(parents=True)
    (outside / "1.0" / "m.safetensors").write_bytes(b"precious, and the wrong size")
    url = server.add("/m.safetensors", PAYLOAD)
    store = make_store(tmp_path, entry("m", PAYLOAD, [url]))
    _plant_link(store.cache_dir, outside, where)
    before = snapshot(outside)
    actions = [store.fetch] if where in ("part", "lock") else [store.resolve, store.verify, store.fetch, store.load]
    for action in actions:
        with pytest.raises(CacheError) as info:
            action("m")
        assert "\n" not in str(info.value)
    assert snapshot(outside) == before  # nothing deleted, written, truncated or created out there
    assert server.log == []  # refused before any download


def test_a_symlinked_cache_root_is_allowed(tmp_path, server):
    real = tmp_path / "big-disk" / "weights"
    real.mkdir(parents=True)
    (tmp_path / "cache").symlink_to(real)  # e.g. the cache moved to another disk
    url = server.add("/m.safetensors", PAYLOAD)
    store = make_store(tmp_path, entry("m", PAYLOAD, [url]))
    path = store.fetch("m")
    assert path == tmp_path / "cache" / "m" / "1.0" / "m.safetensors"
    assert (real / "m" / "1.0" / "m.safetensors").read_bytes() == PAYLOAD
    assert store.verify("m") == path


def test_something_other_than_a_file_in_the_cache_is_reported_not_hashed(tmp_path, server):
    store = make_store(tmp_path, entry("m", PAYLOAD, [server.url("/m")]))
    dest = store.path_for("m")
    dest.mkdir(parents=True)  # a folder where the file should be, with "the right size"
    registry = Registry((dataclasses.replace(store.asset("m"), size=dest.stat().st_size),))
    store = AssetStore(registry, store.cache_dir, retries=0)
    for action in (store.resolve, store.verify, store.fetch):
        with pytest.raises(CacheError, match="not a regular file"):
            action("m")
    assert dest.is_dir()  # reported, not removed


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_as_the_verification_stamp_does_not_hang_the_ui(tmp_path, server):
    url = server.add("/m.safetensors", PAYLOAD)
    store = make_store(tmp_path, entry("m", PAYLOAD, [url]))
    path = store.fetch("m")
    stamp_file(path).unlink()
    os.mkfifo(stamp_file(path))
    states: list[AssetState] = []
    worker = threading.Thread(target=lambda: states.append(store.state("m")), daemon=True)
    worker.start()
    worker.join(10)
    assert states == [AssetState.PRESENT]  # answered at once; not verified by a FIFO


@pytest.mark.parametrize("how", ["registry version", "symlink in the cache"])
def test_cli_a_wrong_size_never_deletes_a_file_outside_the_cache(tmp_path, server, how):
    """The issue's report: `weights path` with a wrong size deleted a file outside the cache."""
    outside = tmp_path / "outside"
    cache = tmp_path / "cache"
    url = server.add("/m.safetensors", PAYLOAD)
    if how == "registry version":
        canary = outside / "m.safetensors"  # cache/m/../../outside/m.safetensors
        registry = write_registry(tmp_path / "registry.json", entry("m", PAYLOAD, [url], version="../../outside"))
    else:
        canary = outside / "1.0" / "m.safetensors"
        registry = write_registry(tmp_path / "registry.json", entry("m", PAYLOAD, [url]))
        cache.mkdir()
        (cache / "m").symlink_to(outside)
    canary.parent.mkdir(parents=True)
    canary.write_bytes(b"precious: a user's file of another size")
    before = snapshot(tmp_path)
    for action in ("path", "verify", "fetch"):
        done = run_cli("weights", action, "m", "--registry", str(registry), "--cache-dir", str(cache))
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
        assert done.stdout == ""
    assert canary.read_bytes() == b"precious: a user's file of another size"
    assert snapshot(tmp_path) == before
    assert server.log == []


# -- issue #13: malformed safetensors, npz and json files ----------------------------------------------

def _st(header: dict | bytes, body: bytes = b"", length: int | None = None) -> bytes:
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(head) if length is None else length) + head + body


def _t(dtype: str = "F32", shape: object = (1,), offsets: object = (0, 4)) -> dict:
    return {"dtype": dtype, "shape": list(shape) if isinstance(shape, tuple) else shape,
            "data_offsets": list(offsets) if isinstance(offsets, tuple) else offsets}


@pytest.mark.parametrize("blob, why", [
    (_st({}, length=100), "header length 100 out of range"),
    (_st({}, length=2**64 - 1), "header length"),
    (_st({"a": _t(offsets=(-4, 0))}, b"\0" * 4), "invalid data offsets"),
    (_st({"a": _t(offsets=(0, 8))}, b"\0" * 4), "invalid data offsets"),
    (_st({"a": _t(offsets=(4, 0))}, b"\0" * 4), "invalid data offsets"),
    (_st({"a": _t(offsets=(False, True), dtype="U8")}, b"\0"), "invalid data offsets"),
    (_st({"a": _t(offsets=(0, 4.0))}, b"\0" * 4), "invalid data offsets"),
    (_st({"a": _t(offsets=[0])}, b"\0" * 4), "invalid data offsets"),
    (_st({"a": _t(), "b": _t()}, b"\0" * 4), "overlaps"),
    (_st({"a": _t(offsets=(4, 8))}, b"\0" * 8), "holes"),
    (_st({"a": _t(shape=(2,))}, b"\0" * 4), "bytes for shape"),
    (_st({"a": _t(dtype="X99")}, b"\0" * 4), "unsupported dtype"),
    (_st({"a": _t(dtype=["F32"])}, b"\0" * 4), "unsupported dtype"),
    (_st({"a": _t(dtype=None)}, b"\0" * 4), "unsupported dtype"),
    (_st({"a": _t(shape=(-1,))}, b"\0" * 4), "invalid shape"),
    (_st({"a": _t(shape=[1.0])}, b"\0" * 4), "invalid shape"),
    (_st({"a": _t(shape=["1"])}, b"\0" * 4), "invalid shape"),
    (_st({"a": _t(shape=[True], dtype="U8", offsets=(0, 1))}, b"\0"), "invalid shape"),
    (_st({"a": _t(shape=None)}, b"\0" * 4), "invalid shape"),
    (_st({"a": _t(shape=[1] * 33)}, b"\0" * 4), "invalid shape"),
    (_st({"a": _t(shape=(2**62, 2**62))}, b"\0" * 4), "bytes for shape"),
    (_st({"a": _t(shape=(2**40,) * 30)}, b"\0" * 4), "bytes for shape"),
    (_st({"a": _t(shape=(0, 2**62, 2**62), offsets=(0, 0))}), "too big"),
    (_st({"a": 5}, b""), "not an object"),
    (_st({"a": [0, 4]}, b""), "not an object"),
    (_st({"__metadata__": [], "a": _t()}, b"\0" * 4), "__metadata__"),
    (_st({"__metadata__": "x", "a": _t()}, b"\0" * 4), "__metadata__"),
    (_st({"__metadata__": 0}), "__metadata__"),
    (_st({"__metadata__": {"k": 1}}), "__metadata__"),
    (_st({"__metadata__": {"k": None}}), "__metadata__"),
    (_st(b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {"dtype": "U8", "shape": [1], '
         b'"data_offsets": [0, 1]}}', b"\0"), "appears twice"),
    (_st(b'{"a": {"dtype": "U8", "dtype": "F32", "shape": [1], "data_offsets": [0, 1]}}', b"\0"), "appears twice"),
    (_st(b'{"\xff": 1}'), "not UTF-8"),
    (_st(b"[" * 100_000 + b"]" * 100_000), "nested too deeply"),
    (_st(b'{"a": {"dtype": "U8", "shape": [' + b"1" * 5001 + b'], "data_offsets": [0, 1]}}', b"\0"), "too long"),
    (_st(b"{"), "not valid JSON"),
])
def test_malformed_safetensors_headers_are_one_line_errors(tmp_path, blob, why):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(blob)
    with pytest.raises(MalformedFileError, match=re.escape(why)) as info:
        load_file(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 600


def test_safetensors_edge_cases_that_are_valid(tmp_path):
    # A bfloat16 scalar (the widening used to fail on 0-d arrays), a null __metadata__, an empty tensor.
    bits = np.array([1.5], np.float32).view(np.uint32) >> 16
    blob = _st({"__metadata__": None, "s": _t("BF16", (), (0, 2)), "e": _t("F32", (0, 3), (2, 2))},
               bits.astype("<u2").tobytes())
    arrays, metadata = parse_safetensors(blob)
    assert arrays["s"].shape == () and float(arrays["s"]) == 1.5 and arrays["s"].dtype == np.float32
    assert arrays["e"].shape == (0, 3) and metadata == {}


def test_overlapping_safetensors_entries_are_refused_before_copying(tmp_path):
    """Two thousand entries all claiming the whole 64 KB buffer: refused before any is copied (the
    parser used to copy each one, 128 MB for a 200 KB file, and only then notice the overlap)."""
    body = bytes(65536)
    blob = _st({f"t{i}": _t("U8", (65536,), (0, 65536)) for i in range(2000)}, body)
    tracemalloc.start()
    try:
        with pytest.raises(MalformedFileError, match="overlaps"):
            parse_safetensors(blob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * len(blob), (peak, len(blob))


def _npz_with(member: bytes, name: str = "a.npy") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, member)
    return buffer.getvalue()


@pytest.mark.parametrize("blob, why", [
    (b"PK\x03\x04" + bytes(60), "not a valid .npz"),
    (_npz_with(b"\x93NUMPY\x01\x00" + struct.pack("<H", 118)
               + b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }".ljust(117) + b"\n"
               + bytes(16)), "declares 8000000000000 bytes"),
    (_npz_with(b"\x93NUMPY\x01\x00" + struct.pack("<H", 54) + b"{'descr': 7".ljust(53) + b"\n"), "not a valid .npz"),
    # a shape of booleans or negative numbers parses as a Python literal and used to reach numpy's reshape
    (_npz_with(b"\x93NUMPY\x01\x00" + struct.pack("<H", 118)
               + b"{'descr': '<f4', 'fortran_order': False, 'shape': (True,), }".ljust(117) + b"\n"
               + bytes(4)), "declares the shape"),
    (_npz_with(b"\x93NUMPY\x01\x00" + struct.pack("<H", 118)
               + b"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }".ljust(117) + b"\n"
               + bytes(4)), "declares the shape"),
])
def test_malformed_npz_is_refused_before_numpy_allocates(tmp_path, blob, why):
    path = tmp_path / "bad.npz"
    path.write_bytes(blob)
    with pytest.raises(MalformedFileError, match=why) as info:
        load_file(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content, why", [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"1" * 5001, "too long"),
    (b"\xff", "not UTF-8"),
])
def test_malformed_json_assets(tmp_path, content, why):
    path = tmp_path / "map.json"
    path.write_bytes(content)
    with pytest.raises(MalformedFileError, match=why):
        load_file(path)


def test_the_fetcher_imports_nothing_of_the_project_but_version():
    """weights_fetcher is a stand-alone leaf: only the standard library, numpy/requests (lazily) and
    ``..version``."""
    offenders = []
    for source in sorted((ROOT / "weights_fetcher").glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level >= 2 and node.module != "version":
                offenders.append(f"{source.name}: from {'.' * node.level}{node.module or ''} import ...")
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            if any(name == "avi_talking" or name.startswith("avi_talking.") or name == "bpy" for name in names):
                offenders.append(f"{source.name}: imports {names}")
    assert offenders == []


# -- Blender preferences ------------------------------------------------------------------------------

class RecordingLayout:
    """Stands in for ``UILayout`` (which only exists while Blender draws a region) and records calls."""

    def __init__(self, log: list | None = None) -> None:
        self.log = log if log is not None else []
        self.enabled = True

    def _child(self) -> RecordingLayout:
        return RecordingLayout(self.log)

    def box(self) -> RecordingLayout:
        return self._child()

    def row(self, **_kw) -> RecordingLayout:
        return self._child()

    def column(self, **_kw) -> RecordingLayout:
        return self._child()

    def label(self, text: str = "", icon: str = "NONE") -> None:
        self.log.append(("label", text, icon))

    def prop(self, data, name: str, **_kw) -> None:
        assert hasattr(data, name), name
        self.log.append(("prop", name, ""))

    def progress(self, factor: float = 0.0, type: str = "BAR", text: str = "") -> None:
        self.log.append(("progress", text, str(factor)))

    def operator(self, idname: str, text: str = "", icon: str = "NONE"):
        self.log.append(("operator", idname, icon))
        return type("Props", (), {})()

    def labels(self) -> str:
        return "\n".join(text for kind, text, _ in self.log if kind == "label")


@pytest.mark.bpy
def test_preferences_register_draw_and_fetch(tmp_path, server):
    bpy = pytest.importorskip("bpy")
    from avi_talking.addon import preferences as prefs_mod

    url = server.add("/bl.npz", PAYLOAD)
    registry = write_registry(tmp_path / "registry.json", entry("bl-model", PAYLOAD, [url], file="bl.npz"))
    system = bpy.context.preferences.system
    online_before = system.use_online_access
    # Another test may have registered the whole add-on already: only undo what this test does.
    mine = [cls for cls in prefs_mod.CLASSES if not cls.is_registered]
    for cls in mine:
        bpy.utils.register_class(cls)
    addon = bpy.context.preferences.addons.get(prefs_mod.ADDON_PACKAGE)
    added = addon is None
    if added:
        addon = bpy.context.preferences.addons.new()
        addon.module = prefs_mod.ADDON_PACKAGE
    try:
        prefs = prefs_mod.get_preferences()
        assert prefs is not None and type(prefs).bl_idname == "avi_talking"
        prefs.weights_registry = str(registry)
        prefs.weights_cache_dir = str(tmp_path / "cache")
        icons = bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items.keys()

        system.use_online_access = False
        layout = RecordingLayout()
        prefs.draw_weights(layout, bpy.context)
        text = layout.labels()
        assert "bl-model 1.0 (model, 200.0 KB)" in text and "not downloaded" in text
        assert "Downloads are off" in text and url in text
        assert all(icon in icons for kind, _, icon in layout.log if kind == "label")
        with pytest.raises(RuntimeError, match="offline"):
            bpy.ops.avitalk.fetch_weights(asset="bl-model")
        assert server.log == []

        system.use_online_access = True
        assert bpy.app.online_access
        assert bpy.ops.avitalk.fetch_weights(asset="bl-model") == {"FINISHED"}  # synchronous in background
        assert (tmp_path / "cache" / "bl-model" / "1.0" / "bl.npz").read_bytes() == PAYLOAD
        layout = RecordingLayout()
        prefs.draw_weights(layout, bpy.context)
        assert "verified" in layout.labels()
        assert ("operator", "avitalk.fetch_weights", "IMPORT") not in layout.log

        # The background-thread job (used when Blender has a UI) with Cancel, driven directly.
        slow = server.add("/slow.npz", PAYLOAD, delay=0.05, chunk=4096)
        write_registry(registry, entry("slow", PAYLOAD, [slow], file="slow.npz"))
        os.utime(registry, (1, 1))  # the preferences re-read a registry when its mtime changes
        job = prefs_mod.FetchJob("slow")
        thread = threading.Thread(target=job.run, args=(prefs_mod.make_store(prefs),))
        prefs_mod._jobs["slow"] = job
        thread.start()
        layout = RecordingLayout()
        prefs.draw_weights(layout, bpy.context)
        assert any(kind == "progress" for kind, *_ in layout.log)
        assert ("operator", "avitalk.cancel_fetch_weights", "CANCEL") in layout.log
        assert bpy.ops.avitalk.cancel_fetch_weights(asset="slow") == {"FINISHED"}
        thread.join(10)
        assert job.finished and job.error is None and "cancelled" in job.message
        prefs_mod._jobs.clear()
    finally:
        system.use_online_access = online_before
        if added:
            bpy.context.preferences.addons.remove(addon)
        prefs_mod.unregister_extra()
        for cls in reversed(mine):
            bpy.utils.unregister_class(cls)
    if len(mine) == len(prefs_mod.CLASSES):
        assert not hasattr(bpy.types, "AVITALK_OT_fetch_weights")
        assert not hasattr(bpy.types, "AVITALK_AddonPreferences")
