"""Where assets live on disk and what state they are in.

Layout: ``<cache>/<name>/<version>/<file>``, with ``<file>.part`` (a download in progress, resumable),
``<file>.lock`` (held while downloading) and ``.<file>.verified`` (size, mtime and sha256 of the last
successful verification, so a UI can show "verified" without re-hashing) beside it.

The cache folder is, in order: what the caller passes (``--cache-dir``, the Blender add-on's
``bpy.utils.extension_path_user`` folder or its preference), ``$AVITALK_CACHE_DIR``, then the
platform's user cache folder (the same rules as platformdirs' ``user_cache_dir``, written out here so
that Blender's Python needs no extra package)."""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .registry import Asset

APP_NAME = "avi-talking"
ENV_CACHE_DIR = "AVITALK_CACHE_DIR"
ENV_OFFLINE = "AVITALK_OFFLINE"
_TRUE = {"1", "true", "yes", "on"}


class AssetState(enum.StrEnum):
    MISSING = "missing"            # remote asset, nothing in the cache
    PARTIAL = "partial"            # an interrupted download that the next fetch resumes
    PRESENT = "present"            # right size, not verified since it last changed
    VERIFIED = "verified"          # sha256 checked and unchanged since
    INVALID = "invalid"            # wrong size: will be removed and fetched again
    LOCAL = "local"                # ships with the add-on and is there
    LOCAL_ABSENT = "local-absent"  # ships with the add-on but is not in this installation


def user_cache_dir() -> Path:
    """The platform's per-user cache folder for this application."""
    home = Path.home()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / APP_NAME / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / APP_NAME
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # XDG says relative values are invalid and must be ignored.
    base_path = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".cache"
    return base_path / APP_NAME


def default_cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE_DIR, "").strip()
    if env:
        return Path(env).expanduser()
    return user_cache_dir() / "weights"


def offline_by_env() -> bool:
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in _TRUE


def asset_folder(cache_dir: Path, asset: Asset) -> Path:
    return cache_dir / asset.name / asset.version


def asset_file(cache_dir: Path, asset: Asset) -> Path:
    if asset.file is None:
        raise ValueError(f"{asset.name} is a local asset and has no cache file")
    return asset_folder(cache_dir, asset) / asset.file


def part_file(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def lock_file(dest: Path) -> Path:
    return dest.with_name(dest.name + ".lock")


def stamp_file(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.verified")


def hash_file(path: Path, on_bytes: Callable[[int], None] | None = None, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            done += len(block)
            if on_bytes is not None:
                on_bytes(done)
    return digest.hexdigest()


def write_stamp(dest: Path, sha256: str) -> None:
    """Remember a successful verification. Best effort: a read-only cache just re-hashes next time."""
    try:
        st = dest.stat()
        stamp_file(dest).write_text(json.dumps({"sha256": sha256, "size": st.st_size,
                                                "mtime_ns": st.st_mtime_ns}), encoding="utf-8")
    except OSError:
        pass


def stamp_matches(dest: Path, sha256: str) -> bool:
    try:
        stamp = json.loads(stamp_file(dest).read_text(encoding="utf-8"))
        st = dest.stat()
    except (OSError, ValueError):
        return False
    return (isinstance(stamp, dict) and stamp.get("sha256") == sha256
            and stamp.get("size") == st.st_size and stamp.get("mtime_ns") == st.st_mtime_ns)


def remove_cached(dest: Path) -> str | None:
    """Delete a cached file and its stamp; return why it could not be deleted, or None."""
    with contextlib.suppress(OSError):
        stamp_file(dest).unlink(missing_ok=True)
    try:
        dest.unlink(missing_ok=True)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def state_of(asset: Asset, cache_dir: Path, package_root: Path) -> AssetState:
    """Cheap (stat calls only): safe to call from a UI's draw function."""
    if asset.is_local:
        return AssetState.LOCAL if asset.local_path(package_root).exists() else AssetState.LOCAL_ABSENT
    dest = asset_file(cache_dir, asset)
    try:
        size = dest.stat().st_size
    except OSError:
        return AssetState.PARTIAL if part_file(dest).is_file() else AssetState.MISSING
    if size != asset.size:
        return AssetState.INVALID
    assert asset.sha256 is not None
    return AssetState.VERIFIED if stamp_matches(dest, asset.sha256) else AssetState.PRESENT


def partial_bytes(asset: Asset, cache_dir: Path) -> int:
    if asset.is_local:
        return 0
    try:
        return part_file(asset_file(cache_dir, asset)).stat().st_size
    except OSError:
        return 0
