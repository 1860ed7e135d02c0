"""Corpus → stage-1 training tables: one row per true instruction segment (features and labels) and one
row per phrase cut (is it the boundary between two instruction segments?).

Features are computed once per clip from the *augmented* audio the model will hear; a split's tables
can be cached as a plain ``.npz`` (no pickle) keyed by the corpus manifest's hash.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.loader import from_samples
from ..common.progress import ProgressFn, null_progress
from ..corpus.dataset import Corpus, CorpusClip
from ..instructions import EMOTIONS
from .features import FEATURE_NAMES, FPS, FrameFeatures, frame_features, segment_stats, segment_vector
from .segment import BOUNDARY_NAMES, boundary_vector, phrase_cuts

BOUNDARY_TOLERANCE = 0.3  # a candidate within this many seconds of the true boundary is "the" boundary
CACHE_VERSION = 6


@dataclass
class Tables:
    x: np.ndarray  # [N, F] segment features (FEATURE_NAMES)
    emotion: np.ndarray  # [N] index into EMOTIONS
    intensity: np.ndarray  # [N]
    aus: np.ndarray  # [N, A] AU intensities in the order of ``au_names``
    segment_clip: np.ndarray  # [N] clip number of each segment
    bx: np.ndarray  # [M, B] boundary candidate features (BOUNDARY_NAMES)
    by: np.ndarray  # [M] 1 where the candidate is a true boundary
    boundary_clip: np.ndarray  # [M]
    clip_ids: np.ndarray  # [C] str

    def __len__(self) -> int:
        return len(self.x)


def _clip_rows(clip: CorpusClip, au_names: tuple[str, ...]) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # clipping/silence warnings are the corpus's business
        ff = frame_features(from_samples(clip.audio, clip.sr, name=clip.id))
    whole = segment_stats(ff, 0, ff.n_frames)
    xs, emo, inten, aus = [], [], [], []
    for seg in clip.segments:
        xs.append(segment_vector(ff, ff.frame_at(seg.start), ff.frame_at(seg.end), whole))
        emo.append(EMOTIONS.index(seg.instruction.emotion))
        inten.append(seg.instruction.intensity)
        aus.append([seg.instruction.aus.get(a, 0.0) for a in au_names])
    truth = [s.start for s in clip.segments[1:]]
    bx, by = boundary_rows(ff, truth)
    return {"x": np.array(xs, np.float32), "emotion": np.array(emo, np.int64), "intensity": np.array(inten, np.float32),
            "aus": np.array(aus, np.float32).reshape(len(xs), len(au_names)), "bx": bx, "by": by}


def boundary_rows(ff: FrameFeatures, truth: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Features of every phrase cut of a clip, comparing the phrases either side (as ``manner_change`` does
    at inference), and whether a true boundary is near."""
    cuts = phrase_cuts(ff)
    edges = [0, *(c.frame for c in cuts), ff.n_frames]
    rows = [boundary_vector(ff, cut, edges[k], edges[k + 2]) for k, cut in enumerate(cuts)]
    labels = [float(any(abs(cut.time - t) <= BOUNDARY_TOLERANCE for t in truth)) for cut in cuts]
    return (np.array(rows, np.float32).reshape(len(rows), len(BOUNDARY_NAMES)), np.array(labels, np.float32))


def _work(item: tuple[CorpusClip, tuple[str, ...]]) -> tuple[str, dict[str, np.ndarray]]:
    return item[0].id, _clip_rows(*item)


def _stack(parts: list[dict[str, np.ndarray]], key: str, width: int | None, dtype: type) -> np.ndarray:
    if not parts:
        return np.zeros((0, width) if width is not None else 0, dtype)
    return np.concatenate([p[key] for p in parts]).astype(dtype)


def build_tables(corpus: Corpus, split: str, au_names: tuple[str, ...], workers: int = 1,
                 progress: ProgressFn = null_progress, limit: int | None = None) -> Tables:
    entries = corpus.entries(split)[:limit] if limit else corpus.entries(split)
    wanted = {e["id"] for e in entries}
    items: Iterator[tuple[CorpusClip, tuple[str, ...]]] = ((c, au_names) for c in corpus.clips(split, ids=wanted))
    parts: list[dict[str, np.ndarray]] = []
    got: list[str] = []
    if workers > 1 and len(wanted) > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for clip_id, rows in pool.imap(_work, items, chunksize=4):  # imap keeps the clip order
                parts.append(rows)
                got.append(clip_id)
                progress(f"features {split}", len(parts) / len(wanted))
    else:
        for item in items:
            clip_id, rows = _work(item)
            parts.append(rows)
            got.append(clip_id)
            progress(f"features {split}", len(parts) / len(wanted))
    return Tables(
        x=_stack(parts, "x", len(FEATURE_NAMES), np.float32),
        emotion=_stack(parts, "emotion", None, np.int64),
        intensity=_stack(parts, "intensity", None, np.float32),
        aus=_stack(parts, "aus", len(au_names), np.float32),
        segment_clip=np.concatenate([np.full(len(p["x"]), k) for k, p in enumerate(parts)] or [np.zeros(0)])
        .astype(np.int64),
        bx=_stack(parts, "bx", len(BOUNDARY_NAMES), np.float32),
        by=_stack(parts, "by", None, np.float32),
        boundary_clip=np.concatenate([np.full(len(p["by"]), k) for k, p in enumerate(parts)] or [np.zeros(0)])
        .astype(np.int64),
        clip_ids=np.array(got, dtype=str),
    )


def concat_tables(parts: list[Tables]) -> Tables:
    """One table from several (clip numbers renumbered)."""
    if len(parts) == 1:
        return parts[0]
    seg_offset = np.cumsum([0] + [len(p.clip_ids) for p in parts])
    return Tables(
        x=np.concatenate([p.x for p in parts]), emotion=np.concatenate([p.emotion for p in parts]),
        intensity=np.concatenate([p.intensity for p in parts]), aus=np.concatenate([p.aus for p in parts]),
        segment_clip=np.concatenate([p.segment_clip + o for p, o in zip(parts, seg_offset, strict=False)]),
        bx=np.concatenate([p.bx for p in parts]), by=np.concatenate([p.by for p in parts]),
        boundary_clip=np.concatenate([p.boundary_clip + o for p, o in zip(parts, seg_offset, strict=False)]),
        clip_ids=np.concatenate([p.clip_ids for p in parts]))


def corpus_key(corpus: Corpus, split: str, au_names: tuple[str, ...], limit: int | None) -> str:
    manifest = (corpus.root / "manifest.json").read_bytes()
    h = hashlib.sha256(manifest)
    h.update(f"{split}|{','.join(au_names)}|{limit}|{CACHE_VERSION}|{FPS}|{','.join(FEATURE_NAMES)}".encode())
    h.update(",".join(BOUNDARY_NAMES).encode())
    return h.hexdigest()[:16]


def load_or_build(corpus: Corpus, split: str, au_names: tuple[str, ...], cache: Path | None, workers: int = 1,
                  progress: ProgressFn = null_progress, limit: int | None = None) -> Tables:
    """``build_tables`` through a cache folder (``None``: no cache)."""
    path = cache / f"stage1-{split}-{corpus_key(corpus, split, au_names, limit)}.npz" if cache else None
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as data:
            return Tables(**{k: data[k] for k in Tables.__dataclass_fields__})
    tables = build_tables(corpus, split, au_names, workers, progress, limit)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **{k: getattr(tables, k) for k in Tables.__dataclass_fields__})
        tmp.replace(path)
    return tables
