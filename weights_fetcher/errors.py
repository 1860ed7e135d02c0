"""Errors raised by the weights fetcher. Every message is one line, so a CLI can print it after
``error: `` and the Blender UI can show it in a report."""

from __future__ import annotations


class WeightsError(Exception):
    """Base class: something about an asset cannot be done, explained in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class RegistryError(WeightsError):
    """The registry file is missing or malformed."""


class UnknownAssetError(WeightsError):
    """No asset of that name in the registry."""


class OfflineError(WeightsError):
    """A download is needed but network access is off (``AVITALK_OFFLINE`` or Blender's switch)."""


class DownloadError(WeightsError):
    """The file could not be downloaded from any of its URLs."""


class SizeError(DownloadError):
    """The server offers (or sent) a file whose size differs from the registry's."""


class ChecksumError(DownloadError):
    """The file's sha256 differs from the registry's; the file has been removed."""


class CacheError(WeightsError):
    """The cache folder cannot be created or written."""


class NotFetchedError(WeightsError):
    """The asset is not in the cache yet (and no download was asked for)."""


class LocalAssetMissingError(WeightsError):
    """A local asset (one that ships with the add-on) is not in this installation."""


class UnsafeFormatError(WeightsError):
    """The file is not one of the formats that can be loaded without running code."""


class MalformedFileError(WeightsError):
    """The file has an accepted format but its content is broken."""


class FetchCancelled(WeightsError):
    """The caller cancelled the download; the partial file is kept for a later resume."""
