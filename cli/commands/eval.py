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
    p.add_argument("--model", metavar="NAME|PATH",
                   help="a registered model (procedural) or weights with a JSON model card; with --real: stage2 "
                        "(default), procedural, or stage-2 weights")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--set", dest="corpus", metavar="DIR", help="corpus folder (avitalk corpus build)")
    source.add_argument("--real", metavar="DIR",
                        help="a folder of real recordings (no labels; <stem>.txt transcripts optional): pause "
                             "closure, bilabials, jaw-loudness, motion and stage 1's choices per file")
    p.add_argument("--text", metavar="INSTRUCTION", help="--real: one instruction for every file (stage 2)")
    p.add_argument("--seed", type=int, metavar="N", help="--real: the take (default 0)")
    p.add_argument("--split", default="test", help="train, val or test (default test)")
    p.add_argument("--out", metavar="DIR", help="report folder (default eval-<model>-<split>)")
    p.add_argument("--seeds", type=int, default=10, help="takes per clip for the diversity measure (default 10)")
    p.add_argument("--max-clips", type=int, metavar="N", help="only the first N clips of the split")
    p.add_argument("--transcripts", action="store_true",
                   help="give the model each clip's text (forced alignment) instead of phone recognition")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes (default 2)")
    p.add_argument("--plots", type=int, default=3, metavar="N",
                   help="clips to plot (default 3; with --real: every file, none with 0)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.real is not None:
        return run_real(args)
    if args.model is None:
        raise AviTalkError("--set needs --model")
    if args.text is not None or args.seed is not None:
        raise AviTalkError("--text and --seed go with --real (--set uses each clip's instructions and --seeds)")
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
    write_report(result, out, options, info, _command())
    if not args.quiet:
        s = result.summary
        print(f"{result.model} on {s['clips']} {args.split} clips: closure {s['bilabial_closure']:.3f}, "
              f"LVE {s['lve_mm']:.2f} mm, lag {s['lag_frames_median']:+.0f} frames", file=sys.stderr)
    print(f"wrote {out}")
    return 0


def _command() -> str:
    return "avitalk " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "avitalk eval"


def run_real(args: argparse.Namespace) -> int:
    """``--real DIR``: every recording through the default generation path, measured without labels."""
    from ...core.eval.real import RealOptions, audio_files, evaluate_real
    from ...core.eval.real_report import write_real_report
    from ...core.eval.report import check_report_dir
    from ...core.pipeline.options import GenerateOptions

    if args.transcripts or args.max_clips is not None or args.split != "test":
        raise AviTalkError("--split, --max-clips and --transcripts go with --set (--real reads <stem>.txt itself)")
    model = args.model or "stage2"
    seed = 0 if args.seed is None else args.seed
    GenerateOptions(model=model, seed=seed, instruction_text=args.text)  # a bad option fails before any work
    folder = Path(args.real)
    audio_files(folder)
    out = Path(args.out) if args.out else Path(f"eval-real-{Path(model).name}")
    check_report_dir(out)
    options = RealOptions(model=model, text=args.text, seed=seed, plots=args.plots > 0)
    bar = TextBar()
    bar.enabled = bar.enabled and not args.quiet
    try:
        result = evaluate_real(folder, options, bar)
    finally:
        bar.close()
    write_real_report(result, out, folder, options, _command())
    if not args.quiet:
        s = result.summary
        print(f"{result.model} on {s['clips']} recordings: pause closure {s['pause_closure']:.3f} "
              f"(all pause frames {s['pause_closure_all']:.3f}), jaw-loudness r {s['jaw_loudness_r']:.2f}",
              file=sys.stderr)
    print(f"wrote {out}")
    return 0
