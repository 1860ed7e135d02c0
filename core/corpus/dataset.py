"""Reading a built corpus: clips by split with audio, targets, true phones and instruction segments.

Shards are opened with ``allow_pickle=False`` and one at a time, so memory holds one shard (about
15 minutes of audio) however large the corpus is.

    corpus = Corpus("/tmp/corpus")
    for clip in corpus.clips("train"):
        clip.audio, clip.targets, clip.phones, clip.segments
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..arkit import ARKIT52, HEAD_ROTATIONS
from ..audio.loader import TARGET_SR
from ..common.errors import FormatError
from ..common.fileio import sha256_file
from ..instructions import Segment, segment_from_dict
from ..phonemes import Phone
from .build import FORMAT_VERSION, MANIFEST
from .shards import PHONE_SET


@dataclass
class CorpusClip:
    id: str
    split: str
    audio: np.ndarray  # float32 mono at 16 kHz (the augmented audio a model hears)
    sr: int
    targets: np.ndarray  # float32 [T, 52] ARKit values at ``fps``
    head: np.ndarray | None  # float32 [T, 3] head rotations in radians (HEAD_ROTATIONS); None in older corpora
    fps: float
    phones: list[Phone]  # the true phones
    segments: list[Segment]  # instruction segments (text in ``Segment.text``)
    meta: dict[str, Any]  # the manifest entry

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sr

    @property
    def text(self) -> str:
        return str(self.meta.get("text", ""))


class Corpus:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / MANIFEST
        if not path.is_file():
            raise FormatError(f"{self.root} is not a corpus folder (no {MANIFEST})")
        try:
            self.manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"{path} is not valid JSON: {exc}") from exc
        if self.manifest.get("format") != "avi-talking-corpus":
            raise FormatError(f"{path} is not an AVI-Talking corpus manifest")
        if int(self.manifest.get("format_version", 0)) > FORMAT_VERSION:
            raise FormatError(f"{path} was written by a newer version (format {self.manifest['format_version']})")
        self.fps = float(self.manifest["fps"])

    @property
    def has_head(self) -> bool:
        """Whether the shards hold head rotations (corpora built since head motion was added)."""
        return list(self.manifest.get("head_channels", [])) == list(HEAD_ROTATIONS)

    def entries(self, split: str | None = None) -> list[dict[str, Any]]:
        clips = list(self.manifest["clips"])
        return [c for c in clips if split is None or c["split"] == split]

    def __len__(self) -> int:
        return len(self.manifest["clips"])

    @property
    def splits(self) -> dict[str, dict[str, Any]]:
        return dict(self.manifest["splits"])

    def verify(self) -> list[str]:
        """Names of shards that are missing or whose sha256 differs from the manifest."""
        bad = []
        for shard in self.manifest["shards"]:
            path = self.root / shard["name"]
            if not path.is_file() or sha256_file(path) != shard["sha256"]:
                bad.append(shard["name"])
        return bad

    def clips(self, split: str | None = None, limit: int | None = None,
              ids: set[str] | None = None) -> Iterator[CorpusClip]:
        """Clips in manifest order, optionally one split, a set of ids, or the first ``limit``."""
        wanted = [c for c in self.entries(split) if ids is None or c["id"] in ids]
        if limit is not None:
            wanted = wanted[:limit]
        by_shard: dict[str, list[dict[str, Any]]] = {}
        for entry in wanted:
            by_shard.setdefault(entry["shard"], []).append(entry)
        for shard, entries in by_shard.items():
            yield from self._read_shard(shard, entries)

    def _read_shard(self, name: str, entries: list[dict[str, Any]]) -> Iterator[CorpusClip]:
        path = self.root / name
        if not path.is_file():
            raise FormatError(f"corpus shard {path} is missing")
        with np.load(path, allow_pickle=False) as data:
            ids = [str(x) for x in data["clip_ids"]]
            channels = tuple(str(c) for c in data["channels"])
            if channels != ARKIT52:
                raise FormatError(f"{name}: target channels are not ARKit-52")
            fps = float(data["fps"])
            arrays = {k: data[k] for k in ("audio", "audio_offsets", "targets", "target_offsets", "phone_labels",
                                           "phone_starts", "phone_ends", "phone_offsets")}
            head = data["head"] if "head" in data.files else None
            if head is not None and (head.ndim != 2 or head.shape != (len(arrays["targets"]), 3)):
                raise FormatError(f"{name}: head rotations do not match the targets")
        position = {clip_id: k for k, clip_id in enumerate(ids)}
        for entry in entries:
            if entry["id"] not in position:
                raise FormatError(f"{name} does not hold clip {entry['id']}")
            k = position[entry["id"]]
            a0, a1 = arrays["audio_offsets"][k : k + 2]
            t0, t1 = arrays["target_offsets"][k : k + 2]
            p0, p1 = arrays["phone_offsets"][k : k + 2]
            phones = [Phone(PHONE_SET[int(label)], float(s), float(e)) for label, s, e in
                      zip(arrays["phone_labels"][p0:p1], arrays["phone_starts"][p0:p1],
                          arrays["phone_ends"][p0:p1], strict=True)]
            yield CorpusClip(
                id=entry["id"], split=entry["split"],
                audio=arrays["audio"][a0:a1].astype(np.float32) / 32768.0, sr=TARGET_SR,
                targets=arrays["targets"][t0:t1].astype(np.float32),
                head=None if head is None else head[t0:t1].astype(np.float32), fps=fps, phones=phones,
                segments=[segment_from_dict(s) for s in entry["segments"]], meta=entry,
            )
