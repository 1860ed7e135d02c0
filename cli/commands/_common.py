"""Arguments shared by the commands that turn audio into animation."""

from __future__ import annotations

import argparse
from types import ModuleType

from ...core.audio.loader import DEFAULT_MAX_SECONDS
from ...core.common.errors import AviTalkError
from ...core.instructions import check_text_length, read_track
from ...core.lipsync.phone_timing import read_transcript
from ...core.pipeline.generate import CLI_DEFAULT_MODEL, GenerateOptions, check_model


def add_synthesis_arguments(p: argparse.ArgumentParser, audio: bool = True) -> None:
    if audio:
        p.add_argument("audio", help="speech audio: WAV, FLAC, OGG or MP3")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate (default 30; 29.97 etc. allowed)")
    p.add_argument("--seed", type=int, default=0, help="take number: same seed, same animation")
    p.add_argument("--transcript", metavar="TEXT|FILE",
                   help="what is said (text or a .txt file): forced alignment instead of phone recognition")
    p.add_argument("--model", default=CLI_DEFAULT_MODEL, metavar="stage2|procedural|PATH",
                   help="synthesis model: stage2 (the trained model, default; needs torch), procedural (the "
                        "baseline), or the folder of other stage-2 weights")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--instructions", metavar="JSON",
                     help="instruction track (an edited 'avitalk analyze' output) for stage 2")
    how.add_argument("--text", metavar="TEXT",
                     help="one instruction for the whole clip, e.g. \"A happy person speaks with lip corners "
                          "strongly pulled up.\" (with neither, stage 1 decides)")
    p.add_argument("--lips", type=float, default=1.0, help="articulation strength (default 1)")
    p.add_argument("--expression", type=float, default=1.0, help="brow/expression strength (default 1)")
    p.add_argument("--blinks", type=float, default=1.0, help="blink frequency, 0 for none (default 1)")
    p.add_argument("--max-duration", type=float, default=DEFAULT_MAX_SECONDS, metavar="SECONDS",
                   help=f"refuse longer audio (default {DEFAULT_MAX_SECONDS:.0f})")


def options_from(args: argparse.Namespace) -> GenerateOptions:
    """Options from the arguments; every file and value is checked here, before any work is done."""
    check_model(args.model)
    for name in ("lips", "expression", "blinks"):
        value = getattr(args, name)
        if not 0.0 <= value <= 10.0:
            raise AviTalkError(f"--{name} must be between 0 and 10, not {value}")
    transcript = read_transcript(args.transcript) if args.transcript else None
    segments = tuple(read_track(args.instructions)) if args.instructions else None
    if args.text is not None and not check_text_length(args.text, "--text").strip():
        raise AviTalkError("--text is empty")
    return GenerateOptions(
        fps=args.fps, seed=args.seed, transcript=transcript, model=args.model, max_seconds=args.max_duration,
        lips=args.lips, expression=args.expression, blinks=args.blinks, instructions=segments,
        instruction_text=args.text,
    )


def load_headless() -> ModuleType:
    """``addon.headless`` for commands that write a .blend: one line naming the extra when bpy is missing."""
    try:
        from ...addon import headless
    except ImportError as exc:
        if "bpy" in str(exc):
            raise AviTalkError("a .blend output needs Blender's bpy module: "
                               "pip install 'avi-talking[blender]'") from exc
        raise
    return headless
