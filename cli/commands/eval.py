"""``avitalk eval --model NAME|PATH --set DIR``: measure a model on a corpus split; writes report.md,
metrics.json and PNG plots (docs/eval.md)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from ...core.common.errors import AviTalkError
from ...core.common.progress import TextBar


def add_parser(sub: Any) -> None:
    p = sub.add_parser("eval", help="measure a model against a corpus split (report.md, metrics.json, plots)",
                       description="Run a model on each clip's augmented audio and compare with the clip's targets: "
                                   "lip closure, jaw, silence, energy correlation, lag, LVE, FDD, instruction "
                                   "adherence, diversity over seeds, and stage-1 scores when the model predicts "
                                   "instructions.")
    p.add_argument("--model", required=True, metavar="NAME|PATH",
                   help="a registered model (procedural) or weights with a JSON model card")
    p.add_argument("--set", required=True, dest="corpus", metavar="DIR", help="corpus folder (avitalk corpus build)")
    p.add_argument("--split", default="test", help="train, val or test (default test)")
    p.add_argument("--out", metavar="DIR", help="report folder (default eval-<model>-<split>)")
    p.add_argument("--seeds", type=int, default=10, help="takes per clip for the diversity measure (default 10)")
    p.add_argument("--max-clips", type=int, metavar="N", help="only the first N clips of the split")
    p.add_argument("--transcripts", action="store_true",
                   help="give the model each clip's text (forced alignment) instead of phone recognition")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes (default 2)")
    p.add_argument("--plots", type=int, default=3, metavar="N", help="clips to plot (default 3)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ...core.corpus.dataset import Corpus
    from ...core.eval.registry import load_model
    from ...core.eval.report import check_report_dir, write_report
    from ...core.eval.runner import EvalOptions, evaluate

    if args.seeds < 1:
        raise AviTalkError("--seeds must be at least 1")
    if args.max_clips is not None and args.max_clips < 1:
        raise AviTalkError("--max-clips must be at least 1")
    if args.workers < 1:
        raise AviTalkError("--workers must be at least 1")
    corpus = Corpus(args.corpus)
    model = load_model(args.model)  # fail on a bad model before any work
    out = Path(args.out) if args.out else Path(f"eval-{Path(model.name).name}-{args.split}")
    check_report_dir(out)
    options = EvalOptions(args.split, args.seeds, args.max_clips, args.transcripts, args.workers, max(0, args.plots))
    bar = TextBar()
    bar.enabled = bar.enabled and not args.quiet
    try:
        result = evaluate(corpus, args.model, options, bar)
    finally:
        bar.close()
    info = {"path": str(corpus.root), "seed": corpus.manifest.get("seed"), "fps": corpus.fps, "split": args.split}
    command = "avitalk " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "avitalk eval"
    write_report(result, out, options, info, command)
    if not args.quiet:
        s = result.summary
        print(f"{result.model} on {s['clips']} {args.split} clips: closure {s['bilabial_closure']:.3f}, "
              f"LVE {s['lve_mm']:.2f} mm, lag {s['lag_frames_median']:+.0f} frames", file=sys.stderr)
    print(f"wrote {out}")
    return 0
