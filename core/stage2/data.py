"""Training data: corpus clips → network inputs held in memory (log-mel, targets, segment conditions),
cached on disk beside the run so a resumed run does not recompute them, and batches of whole clips of
similar length."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.loader import Audio
from ..common.errors import AviTalkError
from ..common.progress import ProgressFn, null_progress
from ..corpus.dataset import Corpus
from ..phonemes import Phone
from .conditioning import boundaries, instruction_matrix, ordered
from .config import Stage2Config
from .frontend import network_input

CACHE_VERSION = 1


@dataclass
class ClipData:
    id: str
    mel: np.ndarray  # [T·k, n_mels] float16, normalised
    targets: np.ndarray  # [T, 52 (+3 head rotations, radians)] float16
    cuts: list[float]  # segment boundaries (s)
    instructions: np.ndarray  # [S, INSTRUCTION_DIM] float32
    phones: list[Phone] | None = None  # kept for validation clips (closure on the true phones)

    @property
    def frames(self) -> int:
        return len(self.targets)


def clip_data(clip_audio: np.ndarray, sr: int, targets: np.ndarray, segments: list, cfg: Stage2Config,
              clip_id: str = "", head: np.ndarray | None = None) -> ClipData:
    audio = Audio(np.asarray(clip_audio, np.float32), sr, sr, 1, "corpus", "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mel, _ = network_input(audio, cfg.fps, cfg.mel_rate)
    frames = len(mel) // cfg.mel_rate
    if cfg.head_channels:
        if head is None:
            raise AviTalkError(f"clip {clip_id} has no head rotations: rebuild the corpus, or train with --no-head")
        targets = np.concatenate([np.asarray(targets, np.float32), np.asarray(head, np.float32)], 1)
    t = np.asarray(targets, np.float32)[:frames]
    if len(t) < frames:  # a target a frame short is held on its last frame
        t = np.concatenate([t, np.repeat(t[-1:], frames - len(t), axis=0)])
    segs = ordered(segments)
    return ClipData(clip_id, mel.astype(np.float16), t.astype(np.float16), boundaries(segs),
                    instruction_matrix(segs))


def sentences(text: str) -> list[str]:
    """A clip's text as its sentences, lower-case with single spaces (how held-out text is compared)."""
    return [" ".join(s.lower().split()) for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def held_out_sentences(corpus: Corpus) -> frozenset[str]:
    """Every sentence of the corpus's val and test clips."""
    return frozenset(s for split in ("val", "test") for c in corpus.entries(split)
                     for s in sentences(str(c.get("text", ""))))


def speaks_any(entry: dict[str, Any], wanted: frozenset[str]) -> bool:
    """Whether a manifest entry's clip says any of these sentences (``sentences``' form)."""
    return bool(wanted) and not wanted.isdisjoint(sentences(str(entry.get("text", ""))))


def _entries(corpus: Corpus, split: str, limit: int | None, exclude: frozenset[str]) -> list[dict[str, Any]]:
    """The split's manifest entries (the first ``limit``), less any clip that speaks a sentence in ``exclude``."""
    return [c for c in corpus.entries(split) if not speaks_any(c, exclude)][: limit or None]


def _key(corpus: Corpus, split: str, cfg: Stage2Config, ids: list[str]) -> str:
    facts = {"version": CACHE_VERSION, "corpus_seed": corpus.manifest.get("seed"), "fps": corpus.fps,
             "shards": [s["sha256"] for s in corpus.manifest["shards"] if s["split"] == split],
             "ids": hashlib.sha256("\n".join(ids).encode()).hexdigest(), "fps_model": cfg.fps,
             "mel_rate": cfg.mel_rate, "n_mels": cfg.n_mels, "head": cfg.head_channels}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def load_split(corpus: Corpus, split: str, cfg: Stage2Config, limit: int | None = None, cache: Path | None = None,
               keep_phones: bool = False, progress: ProgressFn = null_progress,
               exclude: frozenset[str] = frozenset()) -> list[ClipData]:
    """All clips of a split (or the first ``limit``) as network inputs; read from/written to ``cache``.
    ``exclude``: sentences no clip may speak (another corpus's held-out text, ``held_out_sentences``)."""
    if abs(corpus.fps - cfg.fps) > 1e-6:
        raise AviTalkError(f"corpus targets are at {corpus.fps} fps but the model runs at {cfg.fps} fps")
    entries = _entries(corpus, split, limit, exclude)
    if not entries:
        raise AviTalkError(f"corpus {corpus.root} has no {split} clips")
    key = _key(corpus, split, cfg, [c["id"] for c in entries])
    path = cache / f"{split}-{key}.npz" if cache else None
    if path is not None and path.is_file() and not keep_phones:
        return _read_cache(path)
    out: list[ClipData] = []
    for k, clip in enumerate(corpus.clips(split, ids={c["id"] for c in entries})):
        data = clip_data(clip.audio, clip.sr, clip.targets, clip.segments, cfg, clip.id, clip.head)
        if keep_phones:
            data.phones = clip.phones
        out.append(data)
        progress(f"reading {split}", (k + 1) / len(entries))
    if path is not None and not keep_phones:
        _write_cache(path, out)
    return out


def _write_cache(path: Path, clips: list[ClipData]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, ids=np.array([c.id for c in clips]),
             mel=np.concatenate([c.mel for c in clips]), mel_len=np.array([len(c.mel) for c in clips]),
             targets=np.concatenate([c.targets for c in clips]), frames=np.array([c.frames for c in clips]),
             cuts=np.array([x for c in clips for x in c.cuts], np.float64),
             n_segments=np.array([len(c.instructions) for c in clips]),
             instructions=np.concatenate([c.instructions for c in clips]))
    tmp.replace(path)


def _read_cache(path: Path) -> list[ClipData]:
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    mel_at = np.concatenate([[0], np.cumsum(d["mel_len"])])
    tgt_at = np.concatenate([[0], np.cumsum(d["frames"])])
    seg_at = np.concatenate([[0], np.cumsum(d["n_segments"])])
    cut_at = np.concatenate([[0], np.cumsum(d["n_segments"] - 1)])
    return [ClipData(str(d["ids"][i]), d["mel"][mel_at[i]:mel_at[i + 1]], d["targets"][tgt_at[i]:tgt_at[i + 1]],
                     [float(x) for x in d["cuts"][cut_at[i]:cut_at[i + 1]]],
                     d["instructions"][seg_at[i]:seg_at[i + 1]])
            for i in range(len(d["ids"]))]


def batches(clips: list[ClipData], frames_per_batch: int, rng: np.random.Generator) -> list[list[int]]:
    """Clip indices grouped into batches of similar length (padding stays small), in random order."""
    order = np.argsort([c.frames + rng.uniform(0, 30) for c in clips], kind="stable")
    out: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        longest_if = max(longest, clips[i].frames)
        if current and longest_if * (len(current) + 1) > frames_per_batch:
            out.append(current)
            current, longest_if = [], clips[i].frames
        current.append(int(i))
        longest = longest_if
    if current:
        out.append(current)
    return [out[k] for k in rng.permutation(len(out))]
