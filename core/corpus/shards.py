"""Shard files: plain ``.npz`` archives (no pickled objects) written byte-for-byte reproducibly.

``np.savez`` stamps each member with the current time, so the same data would hash differently on
every build; this writer fixes the timestamps and the member order instead. Members:

    clip_ids [n] str · fps () float64 · channels [52] str
    audio [Σ samples] int16 at 16 kHz   · audio_offsets [n+1] int64
    targets [Σ frames, 52] float16      · target_offsets [n+1] int64
    head [Σ frames, 3] float32 (radians: headYaw, headPitch, headRoll; absent in corpora before 0.3)
    phone_labels [Σ phones] uint8 (index into PHONE_SET) · phone_starts/phone_ends float32 seconds
    phone_offsets [n+1] int64
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..common.fileio import sha256_file
from ..phonemes import ARPABET, SILENCE

PHONE_SET: tuple[str, ...] = (SILENCE, *ARPABET)
PHONE_INDEX = {p: i for i, p in enumerate(PHONE_SET)}
_EPOCH = (1980, 1, 1, 0, 0, 0)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Write ``arrays`` (in the given order) as an uncompressed .npz; returns the file's sha256."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(array), allow_pickle=False)
    return sha256_file(path)


def offsets(lengths: list[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)
