"""HTTP transfer of one asset into its ``.part`` file: resume with Range requests, retry transient
failures with backoff, try each mirror URL in turn, and check size and sha256 before returning.

Built on ``requests`` (bundled with Blender's Python, and what pooch itself uses underneath): pooch has
neither resume nor locking, so those would have to be written around it anyway — see docs/weights.md."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..version import __version__
from .cache import NOFOLLOW, hash_file
from .errors import CacheError, ChecksumError, DownloadError, FetchCancelled, SizeError
from .lock import CancelToken
from .progress import DOWNLOAD, RETRY, VERIFY, ProgressCallback, ProgressEvent
from .registry import Asset

if TYPE_CHECKING:
    import requests

# Small enough that a dropped connection loses little: bytes read into a chunk that never completes
# are gone, only whole chunks reach the .part file.
CHUNK = 16 * 1024
USER_AGENT = f"avi-talking-weights-fetcher/{__version__}"
_MAX_BACKOFF = 60.0  # seconds between two attempts, however many retries were asked for
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class _Transient(Exception):
    """Worth another attempt at the same URL (resuming what has arrived)."""


class _Permanent(Exception):
    """This URL will not give the right file; try the next one."""

    def __init__(self, message: str, kind: type[DownloadError] = DownloadError) -> None:
        super().__init__(message)
        self.kind = kind


def new_session() -> requests.Session:
    try:
        import requests
    except ImportError:
        # Blender bundles requests and pip installs it with the project; a bare Python may lack it.
        raise DownloadError("downloading needs the 'requests' package (pip install requests)") from None

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def download(asset: Asset, part: Path, *, session: requests.Session,
             progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
             retries: int = 3, timeout: float = 30.0, backoff: float = 1.0) -> None:
    """Fill ``part`` with the asset's bytes and verify them. On return the file is complete and its
    sha256 matches; on failure the error says what happened at each URL. A partial file is kept after
    transient failures and cancellation (the next call resumes it) and deleted when it is known bad."""
    assert asset.size is not None and asset.sha256 is not None and asset.file is not None
    failures: list[str] = []
    kind: type[DownloadError] = DownloadError

    def emit(stage: str, done: int = 0, message: str = "") -> None:
        if progress is not None:
            progress(ProgressEvent(asset.name, stage, done, asset.size or 0, message))

    for url in asset.urls:
        attempt = 0
        resumed = False       # some bytes came from an earlier attempt or an earlier run
        restarted = False     # already re-downloaded from zero once after a mismatch
        while True:
            _check_cancel(cancel)
            resumed = resumed or _size(part) > 0
            try:
                _transfer(url, part, asset.size, session, emit, cancel, timeout)
            except _Transient as exc:
                failures.append(f"{url}: {exc}")
                if attempt < retries:
                    delay = min(backoff * 2 ** min(attempt, 16), _MAX_BACKOFF)
                    attempt += 1
                    emit(RETRY, _size(part), f"{exc}; retrying in {delay:.1f} s "
                                             f"(attempt {attempt + 1} of {retries + 1})")
                    _sleep(delay, cancel)
                    continue
                break
            except _Permanent as exc:
                failures.append(f"{url}: {exc}")
                kind = exc.kind
                break

            emit(VERIFY, asset.size, "verifying sha256")
            try:
                actual = hash_file(part)
            except OSError as exc:
                raise CacheError(f"cannot read {part}: {exc.strerror or exc}") from None
            if actual == asset.sha256:
                return
            part.unlink(missing_ok=True)
            if resumed and not restarted:
                # The bad bytes may be stale ones from an earlier attempt: one clean download decides.
                restarted, resumed = True, False
                emit(RETRY, 0, "sha256 mismatch after a resumed download; downloading again from the start")
                continue
            failures.append(f"{url}: sha256 mismatch (expected {asset.sha256}, got {actual}); "
                            "the downloaded file was deleted")
            kind = ChecksumError
            break
    raise kind(f"could not download {asset.file} for {asset.name}: {' | '.join(failures)}")


def _transfer(url: str, part: Path, size: int, session: requests.Session, emit: Any,
              cancel: CancelToken | None, timeout: float) -> None:
    import requests

    offset = _size(part)
    if offset > size:
        part.unlink(missing_ok=True)
        offset = 0
    if offset == size:
        return  # a previous run got every byte but stopped before verifying
    _check_space(part.parent, size - offset)

    # identity: a compressed transfer would break both the byte count and the Range offsets.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = session.get(url, headers=headers, stream=True, timeout=timeout)
    except requests.RequestException as exc:
        raise _Transient(_describe(exc)) from None

    with response:
        status = response.status_code
        if status == 416 and offset:
            part.unlink(missing_ok=True)
            raise _Transient("the server refused to resume; starting over")
        if status in (408, 429) or status >= 500:
            raise _Transient(f"HTTP {status} {response.reason or ''}".strip())
        if status not in (200, 206):
            raise _Permanent(f"HTTP {status} {response.reason or ''}".strip())

        if status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                part.unlink(missing_ok=True)
                raise _Transient("the server resumed at the wrong offset; starting over")
            if match.group(3) != "*" and int(match.group(3)) != size:
                raise _Permanent(f"the server's file is {int(match.group(3))} bytes, the registry says "
                                 f"{size}", SizeError)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        else:
            # 200: the server ignored the Range header (or there was none) and sends everything.
            offset = 0
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) != size:
                raise _Permanent(f"the server's file is {int(length)} bytes, the registry says {size}",
                                 SizeError)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC

        written = offset
        emit(DOWNLOAD, written)
        try:
            # NOFOLLOW: the store checked that the .part lies in the cache; a symlink put there since
            # must not redirect (or truncate) a file elsewhere.
            fh = os.fdopen(os.open(part, flags | getattr(os, "O_BINARY", 0) | NOFOLLOW, 0o644), "wb")
        except OSError as exc:
            raise CacheError(f"cannot write {part}: {exc.strerror or exc}") from None
        try:
            chunks = response.iter_content(CHUNK)
            while True:
                _check_cancel(cancel)
                try:
                    chunk = next(chunks, None)
                except requests.RequestException as exc:
                    raise _Transient(f"connection lost after {written} of {size} bytes "
                                     f"({_describe(exc)})") from None
                if chunk is None:
                    break
                if written + len(chunk) > size:
                    fh.close()
                    part.unlink(missing_ok=True)
                    raise _Permanent(f"the server sent more than the registry's {size} bytes", SizeError)
                try:
                    fh.write(chunk)
                except OSError as exc:
                    raise CacheError(f"cannot write {part}: {exc.strerror or exc}") from None
                written += len(chunk)
                emit(DOWNLOAD, written)
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fh.close()
    if written < size:
        raise _Transient(f"the connection closed after {written} of {size} bytes")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _check_space(folder: Path, needed: int) -> None:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < needed:
        raise CacheError(f"not enough free space in {folder}: {needed} bytes needed, {free} free")


def _check_cancel(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.is_set():
        raise FetchCancelled("download cancelled; the partial file is kept and the next fetch resumes it")


def _sleep(seconds: float, cancel: CancelToken | None) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        _check_cancel(cancel)
        time.sleep(min(left, 0.1))


def _describe(exc: Exception) -> str:
    import requests

    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the server closed the connection early"
    return type(exc).__name__
