"""Downloadable assets (models, rig definitions, channel mappings): a registry, checksum-verified
downloads with resume, a per-user cache, and clear offline behaviour. See docs/weights.md.

Imports only the standard library and ``requests`` (lazily, when a download starts); numpy only in
``loading`` when tensors are opened. Never bpy: inside Blender the add-on passes the cache folder and
its online-access switch in."""

from __future__ import annotations

from .cache import ENV_CACHE_DIR, ENV_OFFLINE, AssetState, default_cache_dir, user_cache_dir
from .errors import (
    CacheError,
    ChecksumError,
    DownloadError,
    FetchCancelled,
    LocalAssetMissingError,
    MalformedFileError,
    NotFetchedError,
    OfflineError,
    RegistryError,
    SizeError,
    UnknownAssetError,
    UnsafeFormatError,
    WeightsError,
)
from .loading import LOADABLE_SUFFIXES, LoadedFile, check_loadable, load_file
from .progress import ProgressCallback, ProgressEvent, TextProgress, human_size
from .registry import DEFAULT_REGISTRY, KINDS, Asset, Registry, load_registry, parse_registry
from .store import AssetStore

__all__ = [
    "DEFAULT_REGISTRY", "ENV_CACHE_DIR", "ENV_OFFLINE", "KINDS", "LOADABLE_SUFFIXES",
    "Asset", "AssetState", "AssetStore", "CacheError", "ChecksumError", "DownloadError", "FetchCancelled",
    "LoadedFile", "LocalAssetMissingError", "MalformedFileError", "NotFetchedError", "OfflineError",
    "ProgressCallback", "ProgressEvent", "Registry", "RegistryError", "SizeError", "TextProgress",
    "UnknownAssetError", "UnsafeFormatError", "WeightsError",
    "check_loadable", "default_cache_dir", "human_size", "load_file", "load_registry", "parse_registry",
    "user_cache_dir",
]
