"""``avitalk train stage1 --corpus DIR --out DIR [--epochs N] [--seed S]``: the speech → instruction model
(docs/instructions.md). Writes ``model.safetensors`` + ``model.json`` (the model card) into ``--out``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ...core.common.errors import AviTalkError
from ...core.common.progress import TextBar
from ._provenance import portable_command


def add_parser(actions: Any) -> None:
    t = actions.add_parser("stage1", help="speech → instructions (emotion, intensity, AUs, segments)",
                           description="Train the stage-1 predictor on a corpus: features of every segment, a small "
                                       "MLP (torch), calibration and thresholds on the val split, scores on val and "
                                       "test. Same corpus + seed → same weights.")
    t.add_argument("--corpus", required=True, metavar="DIR", action="append",
                   help="corpus folder (avitalk corpus build); repeat to train on several")
    t.add_argument("--out", required=True, metavar="DIR", help="folder for model.safetensors and model.json")
    t.add_argument("--epochs", type=int, default=80, help="training epochs (default 80; the best val epoch is kept)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    t.add_argument("--hidden", default="128,64", help="hidden layer widths (default 128,64)")
    t.add_argument("--cache", metavar="DIR", help="cache the corpus features here (re-training skips extraction)")
    t.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="feature processes (default 2)")
    t.add_argument("--max-clips", type=int, metavar="N", help="use only the first N clips of each split")
    t.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ...core.stage1.train import TrainOptions, train_stage1

    if args.epochs < 1:
        raise AviTalkError("--epochs must be at least 1")
    if args.workers < 1:
        raise AviTalkError("--workers must be at least 1")
    if args.max_clips is not None and args.max_clips < 1:
        raise AviTalkError("--max-clips must be at least 1")
    try:
        hidden = tuple(int(h) for h in str(args.hidden).split(","))
    except ValueError:
        raise AviTalkError(f"--hidden must be comma-separated widths, not {args.hidden!r}") from None
    if not hidden or min(hidden) < 1:
        raise AviTalkError("--hidden needs at least one positive width")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise AviTalkError(f"--out {out} is a file, not a folder")
    command = portable_command() if sys.argv[1:] else "avitalk train stage1"
    options = TrainOptions(tuple(Path(c) for c in args.corpus), out, epochs=args.epochs, seed=args.seed, hidden=hidden,
                           workers=args.workers, cache=Path(args.cache) if args.cache else None,
                           max_clips=args.max_clips, command=command)
    bar = TextBar()
    bar.enabled = bar.enabled and not args.quiet

    def log(line: str) -> None:
        if not args.quiet:
            bar.close()
            print(line, file=sys.stderr)

    try:
        card = train_stage1(options, bar, log)
    finally:
        bar.close()
    if not args.quiet:
        for split in ("val", "test"):
            m = card["metrics"][split]["own_segmentation"]
            b = m.get("boundaries", {})
            print(f"{split}: emotion accuracy {_num(m.get('emotion_accuracy'))}, intensity MAE "
                  f"{_num(m.get('intensity_mae'))}, AU F1 {_num(m.get('au_f1'))}, boundary F1 {_num(b.get('f1'))} "
                  f"({m.get('segments', 0)} segments)", file=sys.stderr)
        print(f"{card['parameters']} parameters, trained in {card['training']['wall_seconds']:.0f} s", file=sys.stderr)
        weights = out / card["weights"]
        print(f"registry fields for {weights}: \"sha256\": \"{card['weights_sha256']}\", "
              f"\"size\": {weights.stat().st_size}", file=sys.stderr)
    print(f"wrote {out / 'model.json'}")
    return 0


def _num(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "n/a"
