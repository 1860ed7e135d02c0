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
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import CacheError
from .registry import Asset

APP_NAME = "avi-talking"
ENV_CACHE_DIR = "AVITALK_CACHE_DIR"
ENV_OFFLINE = "AVITALK_OFFLINE"
_TRUE = {"1", "true", "yes", "on"}
# Opening with this flag fails on a symbolic link (POSIX); Windows has no such flag.
NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)


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


def confined(cache_dir: Path, path: Path) -> Path:
    """Return ``path`` if it lies strictly inside ``cache_dir`` once '..' and every symbolic link
    (in the cache root, in the folders below it, and the file itself) are resolved; raise
    :class:`CacheError` otherwise.

    Every write, rename, unlink and lock in the cache goes through this check first, right before
    the operation: the registry is validated so that its names cannot leave the cache, and this
    catches what validation cannot see (an :class:`Asset` built by hand, a symlink someone placed in
    the cache). A symlinked cache root (e.g. to another disk) is fine: both sides are resolved."""
    try:
        root = cache_dir.resolve()
        real = path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # RuntimeError: a symlink loop; ValueError: NUL
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        raise CacheError(f"cannot use {path} in the weights cache {cache_dir}: {reason}") from None
    if root not in real.parents:
        raise CacheError(f"refusing to use {path}: it resolves to {real}, outside the weights cache {root} "
                         "(a symbolic link in the cache, or a registry entry that leaves it)")
    return path


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


def write_stamp(cache_dir: Path, dest: Path, sha256: str) -> None:
    """Remember a successful verification. Best effort: a read-only cache just re-hashes next time
    (and a stamp path that leaves the cache is simply not written)."""
    try:
        stamp = confined(cache_dir, stamp_file(dest))
        st = dest.stat()
        text = json.dumps({"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
        # O_NOFOLLOW: never write through a symlink that appeared after the check.
        fd = os.open(stamp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except (OSError, CacheError):
        pass


_MAX_STAMP_BYTES = 4096


def stamp_matches(dest: Path, sha256: str) -> bool:
    try:
        # Non-blocking and regular files only: a FIFO or device planted as a stamp must not hang a
        # UI's draw function.
        fd = os.open(stamp_file(dest), os.O_RDONLY | NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return False
            raw = fh.read(_MAX_STAMP_BYTES + 1)  # a stamp is ~120 bytes; never read a huge one
        if len(raw) > _MAX_STAMP_BYTES:
            return False
        stamp = json.loads(raw.decode("utf-8"))
        st = dest.stat()
    except (OSError, ValueError, RecursionError):
        return False
    return (isinstance(stamp, dict) and stamp.get("sha256") == sha256
            and stamp.get("size") == st.st_size and stamp.get("mtime_ns") == st.st_mtime_ns)


def remove_cached(cache_dir: Path, dest: Path) -> str | None:
    """Delete a cached file and its stamp; return why it could not be deleted, or None. Nothing
    outside ``cache_dir`` is ever removed."""
    try:
        confined(cache_dir, dest)
    except CacheError as exc:
        return str(exc)
    with contextlib.suppress(OSError, CacheError):
        confined(cache_dir, stamp_file(dest)).unlink(missing_ok=True)
    try:
        dest.unlink(missing_ok=True)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def exists(path: Path) -> bool:
    """Like ``Path.exists``, but a path the system cannot use (a name too long, a NUL byte) is a
    :class:`CacheError` rather than an ``OSError`` or ``ValueError``."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, ValueError) as exc:
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        raise CacheError(f"cannot use {path}: {reason}") from None
    return True


def _size_or_none(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except (OSError, ValueError):
        return None


def state_of(asset: Asset, cache_dir: Path, package_root: Path) -> AssetState:
    """Cheap (stat calls only) and never raises: safe to call from a UI's draw function."""
    if asset.is_local:
        present = _size_or_none(asset.local_path(package_root)) is not None
        return AssetState.LOCAL if present else AssetState.LOCAL_ABSENT
    dest = asset_file(cache_dir, asset)
    size = _size_or_none(dest)
    if size is None:
        part = part_file(dest)
        try:
            return AssetState.PARTIAL if part.is_file() else AssetState.MISSING
        except (OSError, ValueError):
            return AssetState.MISSING
    if size != asset.size:
        return AssetState.INVALID
    assert asset.sha256 is not None
    return AssetState.VERIFIED if stamp_matches(dest, asset.sha256) else AssetState.PRESENT


def partial_bytes(asset: Asset, cache_dir: Path) -> int:
    if asset.is_local:
        return 0
    return _size_or_none(part_file(asset_file(cache_dir, asset))) or 0
