"""The asset registry: which files exist, where to download them, and how to recognise them.

``registry.json`` (next to this module) is the project's list; ``--registry FILE`` or a mirror may
supply another with the same format (see docs/weights.md)."""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from .errors import RegistryError, UnknownAssetError
from .loading import LOADABLE_SUFFIXES
from .untrusted_json import decode_json, show

SCHEMA_VERSION = 1
KINDS = ("model", "rig", "mapping")
STATUSES = ("released", "planned")
DEFAULT_REGISTRY = Path(__file__).resolve().parent / "registry.json"
# Local assets are relative to the package root (= the repository / extension root).
PACKAGE_ROOT = Path(__file__).resolve().parent.parent

# Every field that becomes part of a path (name, version, file, each part of local) is one plain
# ASCII path component: no separators, no '..', no drive letters, no look-alike characters. The
# patterns are used with fullmatch (``$`` would accept a trailing newline).
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_FILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
_LOCAL_PART_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_URL_RE = re.compile(r"https?://[\x21-\x7e]+")  # printable ASCII, no spaces or control characters
# Names Windows reserves for devices, whatever the extension ("nul.npz" opens the null device).
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
# Characters refused in free text: controls (terminal escapes), format characters (bidi overrides
# that make a line read differently than it is), surrogates and line/paragraph separators.
_BAD_TEXT_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}

MAX_REGISTRY_BYTES = 8 * 1024 * 1024  # the project's registry is ~1 KB; a mirror's a few KB per asset
_MAX_ASSETS = 10_000
_MAX_URLS = 16
_MAX_URL_CHARS = 2048
_MAX_TEXT_CHARS = 2000
_MAX_LOCAL_PARTS = 16
MAX_SIZE = 1 << 44  # 16 TiB: larger than any model, small enough to rule out absurd numbers
_COMMON_KEYS = {"name", "version", "kind", "license", "description", "status"}
_REMOTE_KEYS = _COMMON_KEYS | {"file", "urls", "sha256", "size"}
_LOCAL_KEYS = _COMMON_KEYS | {"local", "sha256", "size"}


@dataclass(frozen=True)
class Asset:
    """One registry entry. Remote assets have ``file``, ``urls``, ``sha256`` and ``size``; local ones
    (shipped inside the add-on) have ``local``, a path relative to the package root."""

    name: str
    version: str
    kind: str
    license: str
    description: str
    status: str = "released"
    file: str | None = None
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    size: int | None = None
    local: str | None = None

    @property
    def is_local(self) -> bool:
        return self.local is not None

    @property
    def url(self) -> str:
        """The first (preferred) URL, for messages."""
        return self.urls[0] if self.urls else ""

    def local_path(self, root: Path = PACKAGE_ROOT) -> Path:
        if self.local is None:
            raise ValueError(f"{self.name} is not a local asset")
        return root / PurePosixPath(self.local)


@dataclass(frozen=True)
class Registry:
    assets: tuple[Asset, ...]
    source: Path | None = None

    def __iter__(self) -> Iterator[Asset]:
        return iter(self.assets)

    def __len__(self) -> int:
        return len(self.assets)

    def names(self) -> list[str]:
        return [a.name for a in self.assets]

    def get(self, name: str) -> Asset:
        for asset in self.assets:
            if asset.name == name:
                return asset
        known = ", ".join(self.names()) or "none"
        where = f" in {self.source}" if self.source else ""
        raise UnknownAssetError(f"no asset named {name!r}{where} (known: {known})")


def load_registry(path: str | Path | None = None) -> Registry:
    """Read and validate a registry file (the project's own when ``path`` is None)."""
    source = Path(path) if path is not None else DEFAULT_REGISTRY
    raw = _read_json(source)
    return parse_registry(raw, source)


def _read_json(source: Path) -> Any:
    try:
        info = os.stat(source)
        if not stat.S_ISREG(info.st_mode):
            # A FIFO or device (/dev/zero, /dev/stdin) would block or never end.
            raise RegistryError(f"registry {source} is not a regular file")
        if info.st_size > MAX_REGISTRY_BYTES:
            raise RegistryError(f"registry {source} is {info.st_size} bytes, more than the "
                                f"{MAX_REGISTRY_BYTES} a registry may have")
        with open(source, "rb") as fh:
            data = fh.read(MAX_REGISTRY_BYTES + 1)  # bounded even if the file grows meanwhile
    except FileNotFoundError:
        raise RegistryError(f"registry file {source} does not exist") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise RegistryError(f"cannot read registry {source}: {_os_reason(exc)}") from None
    if len(data) > MAX_REGISTRY_BYTES:
        raise RegistryError(f"registry {source} is larger than the {MAX_REGISTRY_BYTES} bytes a registry may have")
    return decode_json(data, f"registry {source}", RegistryError)


def _os_reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def parse_registry(raw: Any, source: Path | None = None) -> Registry:
    """Validate an already decoded registry (any Python value) and build a :class:`Registry`."""
    where = str(source) if source else "registry"
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: the top level must be an object with 'schema' and 'assets'")
    schema = raw.get("schema")
    # Strict type: True == 1 and 1.0 == 1 in Python, and neither is a schema number.
    if type(schema) is not int or schema != SCHEMA_VERSION:
        raise RegistryError(f"{where}: unsupported schema {show(schema)} (this version reads "
                            f"{SCHEMA_VERSION})")
    entries = raw.get("assets")
    if not isinstance(entries, list):
        raise RegistryError(f"{where}: 'assets' must be a list")
    if len(entries) > _MAX_ASSETS:
        raise RegistryError(f"{where}: more than {_MAX_ASSETS} assets")
    assets: list[Asset] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        asset = _parse_asset(entry, f"{where}: asset #{index + 1}")
        if asset.name in seen:
            raise RegistryError(f"{where}: asset {asset.name!r} is listed twice")
        seen.add(asset.name)
        assets.append(asset)
    return Registry(tuple(assets), source)


def _parse_asset(entry: Any, where: str) -> Asset:
    if not isinstance(entry, dict):
        raise RegistryError(f"{where} must be an object")
    if not all(isinstance(key, str) for key in entry):
        raise RegistryError(f"{where}: field names must be strings")
    name = entry.get("name")
    if isinstance(name, str) and _NAME_RE.fullmatch(name):
        where = f"{where} ({name})"
    is_local = "local" in entry
    allowed = _LOCAL_KEYS if is_local else _REMOTE_KEYS
    unknown = sorted(set(entry) - allowed)
    if unknown:
        # Strict on purpose: a misspelt "sha256" must not silently disable verification.
        raise RegistryError(f"{where}: unknown field(s) {', '.join(show(k) for k in unknown[:5])}")

    name = _component(entry, "name", _NAME_RE, where,
                      "lower-case letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit)")
    version = _component(entry, "version", _VERSION_RE, where,
                         "letters, digits, '.', '_', '+' or '-' (at most 64, starting with a letter or digit)")
    kind = entry.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise RegistryError(f"{where}: kind must be one of {', '.join(KINDS)}, not {show(kind)}")
    status = entry.get("status", "released")
    if not isinstance(status, str) or status not in STATUSES:
        raise RegistryError(f"{where}: status must be one of {', '.join(STATUSES)}, not {show(status)}")
    common: dict[str, Any] = {
        "name": name,
        "version": version,
        "kind": kind,
        "license": _text(entry, "license", where),
        "description": _text(entry, "description", where),
        "status": status,
    }

    sha256 = _optional_sha256(entry, where)
    size = _optional_size(entry, where)
    if is_local:
        return Asset(**common, local=_local(entry, where), sha256=sha256, size=size)

    file = _component(entry, "file", _FILE_RE, where,
                      "a plain file name of letters, digits, '.', '_', '+' or '-' (at most 128)")
    if not file.lower().endswith(LOADABLE_SUFFIXES):
        raise RegistryError(f"{where}: 'file' must end in {', '.join(LOADABLE_SUFFIXES)} "
                            "(pickle-based formats can run code and are not accepted)")
    urls = _urls(entry, where)
    if sha256 is None or size is None:
        raise RegistryError(f"{where}: a downloadable asset needs 'sha256' and 'size'")
    return Asset(**common, file=file, urls=urls, sha256=sha256, size=size)


def _component(entry: Mapping[str, Any], key: str, pattern: re.Pattern[str], where: str, rule: str) -> str:
    """A field used as one path component in the cache."""
    value = entry.get(key)
    if not isinstance(value, str):
        raise RegistryError(f"{where}: '{key}' must be a string, not {show(value)}")
    if not _safe_component(value, pattern):
        raise RegistryError(f"{where}: '{key}' {show(value)} is not allowed: it must be {rule}, "
                            "not end in '.' and not be a Windows device name")
    return value


def _safe_component(value: str, pattern: re.Pattern[str]) -> bool:
    # Windows drops a trailing dot ("v1." is "v1") and maps device names anywhere in a path.
    return (pattern.fullmatch(value) is not None and not value.endswith(".")
            and value.split(".", 1)[0].lower() not in _WINDOWS_DEVICES)


def _local(entry: Mapping[str, Any], where: str) -> str:
    value = entry.get("local")
    problem = f"{where}: 'local' must be a relative path inside the add-on ('/'-separated plain names)"
    if not isinstance(value, str):
        raise RegistryError(f"{problem}, not {show(value)}")
    # One trailing '/' marks a folder; otherwise every part must be a plain name (no '', '.', '..').
    parts = value.removesuffix("/").split("/")
    if len(parts) > _MAX_LOCAL_PARTS or not all(_safe_component(p, _LOCAL_PART_RE) for p in parts):
        raise RegistryError(f"{problem}, not {show(value)}")
    return value


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RegistryError(f"{where}: '{key}' must be a non-empty string")
    if len(value) > _MAX_TEXT_CHARS:
        raise RegistryError(f"{where}: '{key}' is longer than {_MAX_TEXT_CHARS} characters")
    if any(unicodedata.category(ch) in _BAD_TEXT_CATEGORIES for ch in value):
        raise RegistryError(f"{where}: '{key}' must be one line of text without control characters")
    return value


def _urls(entry: Mapping[str, Any], where: str) -> tuple[str, ...]:
    urls = entry.get("urls")
    problem = f"{where}: 'urls' must be a non-empty list of at most {_MAX_URLS} http(s) URLs"
    if not isinstance(urls, list) or not 0 < len(urls) <= _MAX_URLS:
        raise RegistryError(problem)
    for url in urls:
        if not isinstance(url, str) or len(url) > _MAX_URL_CHARS or not _URL_RE.fullmatch(url):
            raise RegistryError(f"{problem}; {show(url)} is not one")
        try:
            host = urlsplit(url).hostname
        except ValueError:  # e.g. an unclosed IPv6 bracket
            host = None
        if not host:
            raise RegistryError(f"{problem}; {show(url)} has no host")
    return tuple(urls)


def _optional_sha256(entry: Mapping[str, Any], where: str) -> str | None:
    value = entry.get("sha256")
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256_RE.fullmatch(value):
        raise RegistryError(f"{where}: 'sha256' must be 64 lower-case hex digits")
    return value


def _optional_size(entry: Mapping[str, Any], where: str) -> int | None:
    value = entry.get("size")
    if value is None:
        return None
    # bool is a subclass of int; a float (even 3.0) is not a byte count.
    if type(value) is not int or not 0 < value <= MAX_SIZE:
        raise RegistryError(f"{where}: 'size' must be a positive whole number of bytes (at most {MAX_SIZE})")
    return value
