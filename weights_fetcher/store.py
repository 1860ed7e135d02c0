"""The one object callers use: a registry plus a cache folder plus the online/offline decision.

    store = AssetStore(load_registry(), cache_dir=None, online=True)
    path = store.fetch("some-model", progress=print)       # downloads if needed, verified
    path = store.resolve("some-model", override=args.weights)  # never downloads
    loaded = store.load("some-model")                        # safetensors / npz / json only
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import (
    ENV_OFFLINE,
    AssetState,
    asset_file,
    asset_folder,
    confined,
    default_cache_dir,
    exists,
    hash_file,
    lock_file,
    offline_by_env,
    part_file,
    partial_bytes,
    remove_cached,
    stamp_matches,
    state_of,
    write_stamp,
)
from .download import download, new_session
from .errors import (
    CacheError,
    ChecksumError,
    LocalAssetMissingError,
    NotFetchedError,
    OfflineError,
    SizeError,
    WeightsError,
)
from .loading import LoadedFile, check_loadable, load_file
from .lock import CancelToken, FileLock
from .progress import DONE, WAITING, ProgressCallback, ProgressEvent
from .registry import PACKAGE_ROOT, Asset, Registry, load_registry

if TYPE_CHECKING:
    import requests

_CACHE_HINT = "choose another cache folder (--cache-dir, $AVITALK_CACHE_DIR or the add-on preferences)"


class AssetStore:
    """Registry + cache folder + network policy.

    ``online=False`` is how a host application's own switch (Blender's "Allow Online Access") is
    passed in; ``offline_reason`` is the phrase used in the error. ``$AVITALK_OFFLINE=1`` always wins."""

    def __init__(self, registry: Registry | None = None, cache_dir: str | Path | None = None, *,
                 online: bool = True, offline_reason: str = "online access is turned off",
                 package_root: Path = PACKAGE_ROOT, retries: int = 3, timeout: float = 30.0,
                 backoff: float = 1.0, lock_timeout: float = 3600.0,
                 session: requests.Session | None = None) -> None:
        self.registry = registry if registry is not None else load_registry()
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.online = online
        self.offline_reason = offline_reason
        self.package_root = package_root
        self.retries = retries
        self.timeout = timeout
        self.backoff = backoff
        self.lock_timeout = lock_timeout
        self.session = session

    # -- queries (cheap) ------------------------------------------------------------------------

    def asset(self, name: str) -> Asset:
        return self.registry.get(name)

    def path_for(self, asset: Asset | str) -> Path:
        """Where the asset is (local) or would be (cached), whether or not it exists."""
        a = self._asset(asset)
        return a.local_path(self.package_root) if a.is_local else asset_file(self.cache_dir, a)

    def folder_for(self, asset: Asset | str) -> Path:
        a = self._asset(asset)
        return a.local_path(self.package_root).parent if a.is_local else asset_folder(self.cache_dir, a)

    def state(self, asset: Asset | str) -> AssetState:
        return state_of(self._asset(asset), self.cache_dir, self.package_root)

    def partial_bytes(self, asset: Asset | str) -> int:
        """Bytes of an interrupted download waiting to be resumed (0 if none)."""
        return partial_bytes(self._asset(asset), self.cache_dir)

    def offline(self) -> str | None:
        """Why downloads are not allowed now, or None when they are."""
        if offline_by_env():
            return f"{ENV_OFFLINE} is set"
        if not self.online:
            return self.offline_reason
        return None

    def offline_message(self, asset: Asset | str) -> str | None:
        """The one-line explanation given when ``asset`` would need a download now, or None if
        downloads are allowed: names the file, its URL and the folder to put it in by hand."""
        reason = self.offline()
        a = self._asset(asset)
        if reason is None or a.is_local:
            return None
        dest = asset_file(self.cache_dir, a)
        return (f"offline ({reason}): cannot download {a.file} from {a.url}; put the file by hand "
                f"in {dest.parent} (sha256 {a.sha256})")

    # -- actions --------------------------------------------------------------------------------

    def resolve(self, name: str, override: str | Path | None = None, *, download: bool = False,
                progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> Path:
        """The path to use for ``name``: ``override`` if given (a user's own file always wins),
        else the local or cached copy, verified. Downloads only when ``download`` is true."""
        asset = self.registry.get(name)  # even with an override: catches a misspelt name
        if override is not None and str(override):
            return self._override(override)
        if asset.is_local:
            return self._local(asset)
        dest = self._cached(asset)
        if exists(dest):
            try:
                return self._verify_cached(asset, dest, trust_stamp=True)
            except (ChecksumError, SizeError):
                if not download:
                    raise
        if download:
            return self.fetch(name, progress=progress, cancel=cancel)
        raise NotFetchedError(
            f"{asset.name} is not downloaded yet: run `avitalk weights fetch {asset.name}` (or use the "
            f"add-on preferences), or put {asset.file} from {asset.url} in {dest.parent}")

    def fetch(self, name: str, *, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> Path:
        """Make sure ``name`` is in the cache and verified; download it if needed. Returns its path."""
        asset = self.registry.get(name)
        if asset.is_local:
            return self._local(asset)
        assert asset.sha256 is not None and asset.size is not None
        dest = self._cached(asset)
        if exists(dest):
            try:
                return self._verify_cached(asset, dest, trust_stamp=True)
            except (ChecksumError, SizeError):
                pass  # removed; download a good copy below

        message = self.offline_message(asset)
        if message is not None:
            raise OfflineError(message)

        folder = confined(self.cache_dir, dest.parent)
        lock_path = confined(self.cache_dir, lock_file(dest))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # Again after mkdir: the folders it walked through are real now, not predictions.
            lock = FileLock(confined(self.cache_dir, lock_path), timeout=self.lock_timeout)

            def waiting() -> None:
                if progress is not None:
                    progress(ProgressEvent(asset.name, WAITING, 0, asset.size or 0,
                                           "waiting for another process downloading the same file"))

            lock.acquire(cancel=cancel, on_wait=waiting)
        except OSError as exc:
            raise CacheError(f"cannot write to the weights cache {folder} ({exc.strerror or exc}): "
                             f"{_CACHE_HINT}") from None
        with lock:
            # Another process may have finished it while we waited for the lock.
            if exists(dest):
                try:
                    return self._verify_cached(asset, dest, trust_stamp=True)
                except (ChecksumError, SizeError):
                    pass
            part = confined(self.cache_dir, part_file(dest))
            session = self.session or new_session()
            try:
                download(asset, part, session=session, progress=progress, cancel=cancel,
                         retries=self.retries, timeout=self.timeout, backoff=self.backoff)
            finally:
                if self.session is None:
                    session.close()
            try:
                confined(self.cache_dir, part)
                confined(self.cache_dir, dest)
                os.replace(part, dest)  # atomic: readers see no file or the whole verified file
                _fsync_dir(folder)
            except OSError as exc:
                raise CacheError(f"cannot place {dest.name} in {folder} ({exc.strerror or exc}): "
                                 f"{_CACHE_HINT}") from None
            write_stamp(self.cache_dir, dest, asset.sha256)
        if progress is not None:
            progress(ProgressEvent(asset.name, DONE, asset.size, asset.size, f"ready: {dest}"))
        return dest

    def verify(self, name: str, override: str | Path | None = None) -> Path:
        """Re-hash the asset now (never trusts the stamp). A cached file that does not match is removed."""
        asset = self.registry.get(name)
        if override is not None and str(override):
            return self._override(override)
        if asset.is_local:
            return self._local(asset, check_hash=True)
        dest = self._cached(asset)
        if not exists(dest):
            raise NotFetchedError(f"{asset.name} is not in the cache ({dest}): run "
                                  f"`avitalk weights fetch {asset.name}`")
        return self._verify_cached(asset, dest, trust_stamp=False)

    def load(self, name: str, override: str | Path | None = None, *, download: bool = False,
             progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> LoadedFile:
        """Open an asset's file (safetensors / npz / json only). Cached files are hashed on the very
        bytes that are parsed; a mismatch removes the file."""
        asset = self.registry.get(name)
        if override is not None and str(override):
            return load_file(self._override(override))
        path = self.resolve(name, download=download, progress=progress, cancel=cancel)
        if path.is_dir():
            raise WeightsError(f"{asset.name} is a folder ({path}); load the files inside it one by one")
        if asset.is_local:
            return load_file(path, sha256=asset.sha256)
        try:
            return load_file(path, sha256=asset.sha256)
        except ChecksumError as exc:
            raise ChecksumError(f"{exc}; {self._removed(path)}") from None

    # -- helpers --------------------------------------------------------------------------------

    def _asset(self, asset: Asset | str) -> Asset:
        return self.registry.get(asset) if isinstance(asset, str) else asset

    def _cached(self, asset: Asset) -> Path:
        """The asset's file in the cache, checked to lie inside it (see :func:`cache.confined`)."""
        return confined(self.cache_dir, asset_file(self.cache_dir, asset))

    def _override(self, override: str | Path) -> Path:
        path = Path(override).expanduser()
        if not exists(path):
            raise WeightsError(f"weights path {path} does not exist")
        if path.is_file():
            check_loadable(path)
        return path

    def _local(self, asset: Asset, check_hash: bool = False) -> Path:
        path = asset.local_path(self.package_root)
        if not exists(path):
            why = " (not trained yet)" if asset.status == "planned" else ""
            raise LocalAssetMissingError(
                f"{asset.name} ships with the add-on at {asset.local} but is not in this installation"
                f"{why}: expected {path}; train it with `avitalk train` or pass your own weights with "
                "--weights PATH")
        if check_hash and path.is_file() and asset.sha256 is not None:
            try:
                actual = hash_file(path)
            except OSError as exc:
                raise WeightsError(f"cannot read {path}: {exc.strerror or exc}") from None
            if actual != asset.sha256:
                raise ChecksumError(f"{path} does not match its sha256 (expected {asset.sha256}, "
                                    f"got {actual}); reinstall the add-on")
        return path

    def _verify_cached(self, asset: Asset, dest: Path, trust_stamp: bool) -> Path:
        assert asset.sha256 is not None and asset.size is not None
        confined(self.cache_dir, dest)
        try:
            info = dest.stat()
        except OSError as exc:
            raise NotFetchedError(f"cannot read {dest}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(info.st_mode):
            # A folder, FIFO or device where the file should be: never hashed (a FIFO would block)
            # and never removed automatically.
            raise CacheError(f"{dest} is not a regular file; remove it by hand and fetch {asset.name} again")
        if info.st_size != asset.size:
            raise SizeError(f"{dest.name} in {dest.parent} is {info.st_size} bytes, the registry says "
                            f"{asset.size}; {self._removed(dest)}")
        if trust_stamp and stamp_matches(dest, asset.sha256):
            return dest
        try:
            actual = hash_file(dest)
        except OSError as exc:
            raise CacheError(f"cannot read {dest}: {exc.strerror or exc}") from None
        if actual != asset.sha256:
            raise ChecksumError(f"{dest.name} in {dest.parent} does not match its sha256 (expected "
                                f"{asset.sha256}, got {actual}); {self._removed(dest)}")
        write_stamp(self.cache_dir, dest, asset.sha256)
        return dest

    def _removed(self, dest: Path) -> str:
        problem = remove_cached(self.cache_dir, dest)
        if problem is None:
            return "the file was removed, fetch it again"
        return f"remove it by hand, it could not be deleted ({problem})"


def _fsync_dir(folder: Path) -> None:
    # Make the rename durable; directories cannot be opened this way on Windows.
    if sys.platform == "win32":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
