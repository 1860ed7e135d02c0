"""``avitalk corpus build --hours H --out DIR --seed S`` (and ``info DIR``, ``verify DIR``): the synthetic
phoneme-timed training corpus (docs/corpus.md)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ...core.animation import normalize_fps
from ...core.common.errors import AviTalkError
from ...core.common.progress import TextBar
from ...core.phonemes import ARPABET


def add_parser(sub: Any) -> None:
    p = sub.add_parser("corpus", help="build, describe or verify the synthetic training corpus",
                       description="The synthetic corpus: espeak-ng speech with exact phone times, augmented "
                                   "audio, ARKit-52 targets and instruction texts (docs/corpus.md).")
    actions = p.add_subparsers(dest="corpus_command", metavar="ACTION", parser_class=type(p))
    actions.required = True
    b = actions.add_parser("build", help="build a corpus into a new folder")
    b.add_argument("--hours", type=float, required=True, help="hours of audio to make")
    b.add_argument("--out", required=True, help="output folder (must not exist, or be empty)")
    b.add_argument("--seed", type=int, default=0, help="the same seed builds the same bytes (default 0)")
    b.add_argument("--fps", type=float, default=30.0, help="frame rate of the targets (default 30)")
    b.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="worker processes (default: 2, or 1 on a single core)")
    b.add_argument("--shard-minutes", type=float, default=15.0, help="audio per shard file (default 15)")
    b.add_argument("--engines", metavar="NAME=SHARE,...",
                   help="how often each speech engine speaks a clip (default espeak=0.45,piper=0.25,flite=0.18,"
                        "festival=0.12; an engine left out is not used)")
    i = actions.add_parser("info", help="summarise a built corpus")
    i.add_argument("dir")
    v = actions.add_parser("verify", help="check every shard against the sha256 in the manifest")
    v.add_argument("dir")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.corpus_command == "build":
        return _build(args)
    from ...core.corpus.dataset import Corpus

    corpus = Corpus(args.dir)
    if args.corpus_command == "verify":
        bad = corpus.verify()
        if bad:
            raise AviTalkError(f"{len(bad)} shard(s) missing or changed: {', '.join(bad[:5])}")
        print(f"{len(corpus.manifest['shards'])} shards verified")
        return 0
    for split, info in corpus.splits.items():
        print(f"{split:<6} {info['clips']:>6} clips  {info['seconds'] / 3600:7.3f} h")
    print(f"seed {corpus.manifest['seed']}, {corpus.fps:g} fps, {len(corpus.manifest['shards'])} shards")
    return 0


def _build(args: argparse.Namespace) -> int:
    from ...core.corpus.build import build_corpus, parse_engine_share

    fps = normalize_fps(args.fps)
    bar = TextBar()
    bar.enabled = bar.enabled and not args.quiet
    try:
        summary = build_corpus(args.out, args.hours, args.seed, fps=fps, workers=args.workers,
                               engine_share=None if args.engines is None else parse_engine_share(args.engines),
                               shard_seconds=60.0 * args.shard_minutes, progress=bar)
    finally:
        bar.close()
    if not args.quiet:
        err = sys.stderr
        for split in ("train", "val", "test"):
            print(f"{split:<6} {summary.split_clips.get(split, 0):>6} clips  "
                  f"{summary.split_seconds.get(split, 0.0) / 3600:7.3f} h", file=err)
        print("emotions: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.emotions.items())), file=err)
        total = sum(summary.phone_counts.values()) or 1
        print(f"phones (the engines' true times; {total} in all):", file=err)
        for row in range(0, len(ARPABET), 8):
            print("  " + "  ".join(f"{p:>2} {100 * summary.phone_counts.get(p, 0) / total:4.1f}%"
                                   for p in ARPABET[row : row + 8]), file=err)
        missing = summary.missing_phones()
        if missing:
            print(f"warning: phones never spoken: {' '.join(missing)}", file=err)
        print(f"built {summary.seconds / 3600:.3f} h of audio ({summary.clips} clips) in "
              f"{summary.wall_seconds:.1f} s with {summary.workers} worker(s): "
              f"{summary.throughput:.0f} audio hours per wall hour", file=err)
    print(f"wrote {summary.out}")
    return 0
