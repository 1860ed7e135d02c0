"""Arguments shared by the commands that turn audio into animation."""

from __future__ import annotations

import argparse

from ..audio import DEFAULT_MAX_SECONDS
from ..phones import read_transcript
from ..pipeline import MODELS, GenerateOptions


def add_synthesis_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("audio", help="speech audio: WAV, FLAC, OGG or MP3")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate (default 30; 29.97 etc. allowed)")
    p.add_argument("--seed", type=int, default=0, help="take number: same seed, same animation")
    p.add_argument("--transcript", metavar="TEXT|FILE",
                   help="what is said (text or a .txt file): forced alignment instead of phone recognition")
    p.add_argument("--model", default="procedural", choices=MODELS, help="synthesis model")
    p.add_argument("--lips", type=float, default=1.0, help="articulation strength (default 1)")
    p.add_argument("--expression", type=float, default=1.0, help="brow/expression strength (default 1)")
    p.add_argument("--blinks", type=float, default=1.0, help="blink frequency, 0 for none (default 1)")
    p.add_argument("--max-duration", type=float, default=DEFAULT_MAX_SECONDS, metavar="SECONDS",
                   help=f"refuse longer audio (default {DEFAULT_MAX_SECONDS:.0f})")


def options_from(args: argparse.Namespace) -> GenerateOptions:
    transcript = read_transcript(args.transcript) if args.transcript else None
    return GenerateOptions(
        fps=args.fps, seed=args.seed, transcript=transcript, model=args.model, max_seconds=args.max_duration,
        lips=args.lips, expression=args.expression, blinks=args.blinks,
    )
