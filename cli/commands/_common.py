"""Arguments shared by the commands that turn audio into animation."""

from __future__ import annotations

import argparse
from types import ModuleType

from ...core.common.errors import AviTalkError
from ...core.instructions import check_text_length, read_track
from ...core.lipsync.phone_timing import read_transcript
from ...core.pipeline.options import DEVICES, RUNTIMES, GenerateOptions
from ._inputs import check_file_arguments

_D = GenerateOptions  # the one set of defaults: the options type's own


def add_synthesis_arguments(p: argparse.ArgumentParser, audio: bool = True) -> None:
    if audio:
        p.add_argument("audio", help="speech audio: WAV, FLAC, OGG or MP3")
    p.add_argument("--fps", type=float, default=_D.fps, help=f"frame rate (default {_D.fps:g}; 29.97 etc. allowed)")
    p.add_argument("--seed", type=int, default=_D.seed, help="take number: same seed, same animation")
    p.add_argument("--transcript", metavar="TEXT|FILE",
                   help="what is said (text or a .txt file): forced alignment instead of phone recognition")
    p.add_argument("--model", default=_D.model, metavar="stage2|procedural|PATH",
                   help="synthesis model: stage2 (the trained model, default; needs torch), procedural (the "
                        "baseline), or the folder of other stage-2 weights")
    p.add_argument("--device", default=_D.device, metavar="|".join(DEVICES),
                   help=f"where stage 2 runs (default {_D.device}: a CUDA GPU when torch sees one, else the CPU)")
    p.add_argument("--runtime", default=_D.runtime, metavar="|".join(RUNTIMES),
                   help=f"stage 2's runtime (default {_D.runtime}: numpy on the CPU, no torch needed; torch for a "
                        "CUDA GPU)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--instructions", metavar="JSON",
                     help="instruction track (an edited 'avitalk analyze' output) for stage 2")
    how.add_argument("--text", metavar="TEXT",
                     help="one instruction for the whole clip, e.g. \"A happy person speaks with lip corners "
                          "strongly pulled up.\" (with neither, stage 1 decides)")
    p.add_argument("--lips", type=float, default=_D.lips, help=f"articulation strength (default {_D.lips:g})")
    p.add_argument("--expression", type=float, default=_D.expression,
                   help=f"brow/expression strength (default {_D.expression:g})")
    p.add_argument("--blinks", type=float, default=_D.blinks,
                   help=f"blink frequency, 0 for none (default {_D.blinks:g})")
    p.add_argument("--head", type=float, default=_D.head, metavar="K",
                   help=f"head-motion strength, 0 for none (default {_D.head:g}; stage 2 only)")
    p.add_argument("--max-duration", type=float, default=_D.max_seconds, metavar="SECONDS",
                   help=f"refuse longer audio (default {_D.max_seconds:.0f})")


def options_from(args: argparse.Namespace) -> GenerateOptions:
    """Options from the arguments; every file and value is checked here, before any work is done."""
    check_file_arguments(args)
    if args.text is not None and not check_text_length(args.text, "--text").strip():
        raise AviTalkError("--text is empty")
    return GenerateOptions(
        model=args.model, device=args.device, runtime=args.runtime, fps=args.fps, seed=args.seed,
        transcript=read_transcript(args.transcript) if args.transcript else None,
        instructions=tuple(read_track(args.instructions)) if args.instructions else None,
        instruction_text=args.text, lips=args.lips, expression=args.expression, blinks=args.blinks,
        head=args.head, max_seconds=args.max_duration)


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
