"""The asset registry: which files exist, where to download them, and how to recognise them.

``registry.json`` (next to this module) is the project's list; ``--registry FILE`` or a mirror may
supply another with the same format (see docs/weights.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import RegistryError, UnknownAssetError
from .loading import LOADABLE_SUFFIXES

SCHEMA_VERSION = 1
KINDS = ("model", "rig", "mapping")
STATUSES = ("released", "planned")
DEFAULT_REGISTRY = Path(__file__).resolve().parent / "registry.json"
# Local assets are relative to the package root (= the repository / extension root).
PACKAGE_ROOT = Path(__file__).resolve().parent.parent

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
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
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"registry file {source} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"cannot read registry {source}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RegistryError(f"registry {source} is not valid JSON: {exc}") from None
    return parse_registry(raw, source)


def parse_registry(raw: Any, source: Path | None = None) -> Registry:
    where = str(source) if source else "registry"
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: the top level must be an object with 'schema' and 'assets'")
    if raw.get("schema") != SCHEMA_VERSION:
        raise RegistryError(f"{where}: unsupported schema {raw.get('schema')!r} (this version reads "
                            f"{SCHEMA_VERSION})")
    entries = raw.get("assets")
    if not isinstance(entries, list):
        raise RegistryError(f"{where}: 'assets' must be a list")
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
    name = entry.get("name")
    if isinstance(name, str):
        where = f"{where} ({name})"
    is_local = "local" in entry
    allowed = _LOCAL_KEYS if is_local else _REMOTE_KEYS
    unknown = sorted(set(entry) - allowed)
    if unknown:
        # Strict on purpose: a misspelt "sha256" must not silently disable verification.
        raise RegistryError(f"{where}: unknown field(s) {', '.join(unknown)}")

    name = _string(entry, "name", where)
    if not _NAME_RE.match(name):
        raise RegistryError(f"{where}: name must be lower-case letters, digits, '.', '_' or '-'")
    kind = _string(entry, "kind", where)
    if kind not in KINDS:
        raise RegistryError(f"{where}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    status = entry.get("status", "released")
    if status not in STATUSES:
        raise RegistryError(f"{where}: status must be one of {', '.join(STATUSES)}")
    description = _string(entry, "description", where)
    if "\n" in description:
        raise RegistryError(f"{where}: description must be one line")
    common: dict[str, Any] = {
        "name": name,
        "version": _string(entry, "version", where),
        "kind": kind,
        "license": _string(entry, "license", where),
        "description": description,
        "status": status,
    }

    sha256 = _optional_sha256(entry, where)
    size = _optional_size(entry, where)
    if is_local:
        local = _string(entry, "local", where)
        parts = PurePosixPath(local).parts
        if PurePosixPath(local).is_absolute() or ".." in parts or "\\" in local or not parts:
            raise RegistryError(f"{where}: 'local' must be a relative path inside the add-on")
        return Asset(**common, local=local, sha256=sha256, size=size)

    file = _string(entry, "file", where)
    if "/" in file or "\\" in file or file.startswith("."):
        raise RegistryError(f"{where}: 'file' must be a plain file name")
    if not file.lower().endswith(LOADABLE_SUFFIXES):
        raise RegistryError(f"{where}: 'file' must end in {', '.join(LOADABLE_SUFFIXES)} "
                            "(pickle-based formats can run code and are not accepted)")
    urls = entry.get("urls")
    if (not isinstance(urls, list) or not urls
            or not all(isinstance(u, str) and u.startswith(("https://", "http://")) for u in urls)):
        raise RegistryError(f"{where}: 'urls' must be a non-empty list of http(s) URLs")
    if sha256 is None or size is None:
        raise RegistryError(f"{where}: a downloadable asset needs 'sha256' and 'size'")
    return Asset(**common, file=file, urls=tuple(urls), sha256=sha256, size=size)


def _string(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RegistryError(f"{where}: '{key}' must be a non-empty string")
    return value


def _optional_sha256(entry: Mapping[str, Any], where: str) -> str | None:
    value = entry.get("sha256")
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256_RE.match(value):
        raise RegistryError(f"{where}: 'sha256' must be 64 lower-case hex digits")
    return value


def _optional_size(entry: Mapping[str, Any], where: str) -> int | None:
    value = entry.get("size")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RegistryError(f"{where}: 'size' must be a positive number of bytes")
    return value
