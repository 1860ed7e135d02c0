"""``avitalk generate IN -o OUT.npz|.json|.csv``: audio → Animation file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ...core.animation import SUFFIXES
from ...core.common.fileio import check_output_path
from ...core.common.progress import TextBar
from ...core.pipeline.generate import generate
from ._common import add_synthesis_arguments, options_from
from ._inputs import named_inputs


def add_parser(sub: Any) -> None:
    p = sub.add_parser("generate", help="audio → animation file (.npz, .json, or Live Link Face .csv)")
    add_synthesis_arguments(p)
    p.add_argument("-o", "--output", required=True, help="output .npz, .json or .csv")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = check_output_path(args.output, SUFFIXES, named_inputs(args))  # never over an input
    options = options_from(args)  # every value checked before any work
    bar = TextBar()
    bar.enabled = bar.enabled and not args.quiet
    try:
        animation = generate(args.audio, options, bar).animation
    finally:
        bar.close()
    animation.save(out)
    if not args.quiet:
        print(f"{animation.n_frames} frames at {animation.fps:.3f} fps", file=sys.stderr)
    print(f"wrote {out}")
    return 0
