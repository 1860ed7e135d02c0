"""``avitalk import SEQ -o OUT``: a research FLAME sequence (DECA, EMOCA, DiffPoseTalk, EMOTE or a plain
``.npz`` with ``exp``/``jaw_pose``) → a ``flame``-space Animation file, or a keyed FLAME head in a .blend.

The command is ``import``; the module cannot be named after a Python keyword."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from ...core.animation import normalize_fps
from ...core.audio.loader import DEFAULT_MAX_SECONDS, check_input_file, load_audio, max_audio_bytes
from ...core.common.errors import AudioError, AviTalkError
from ...core.common.fileio import check_output_path
from ...core.flame.formats import FORMATS, align_to_audio, read_sequence
from ...core.flame.loading import load_flame
from ._common import load_headless
from ._inputs import check_file_arguments, named_inputs

OUTPUTS = (".npz", ".json", ".blend")
MAX_SEQUENCE_BYTES = 4 << 30  # a FLAME sequence: about 1 kB a frame, so hours of frames fit


def add_parser(sub: Any) -> None:
    p = sub.add_parser("import", help="FLAME sequence (DECA, EMOCA, DiffPoseTalk, EMOTE, .npz) → animation or .blend")
    p.add_argument("sequence", help=".npz or .json file, or an EMOCA output folder")
    p.add_argument("-o", "--output", required=True, help="output .npz/.json animation, or .blend")
    p.add_argument("--format", default="auto", choices=FORMATS, help="what wrote the sequence (default: detect)")
    p.add_argument("--fps", type=float, help="the sequence's frame rate (needed unless the file states it)")
    p.add_argument("--audio", metavar="FILE", help="the speech it belongs to: checked for length, and the .blend's "
                   "sound strip")
    p.add_argument("--offset", type=float, default=0.0, metavar="SECONDS",
                   help="the face starts this long after the audio (negative: drops the first frames)")
    p.add_argument("--head-pose", action="store_true", help="keep the global head rotation (keyed on the neck)")
    p.add_argument("--flame", metavar="MODEL", help="FLAME model (.pkl/.npz) for a new FLAME head in the .blend")
    p.add_argument("--blend", metavar="FILE", help="bake into a copy of this .blend instead (with --object)")
    p.add_argument("--object", metavar="NAME", help="the FLAME rig in --blend (ours or the MPI FLAME add-on's)")
    p.set_defaults(run=run)



def _check_arguments(args: argparse.Namespace, out: Path) -> None:
    to_blend = out.suffix.lower() == ".blend"
    if args.fps is not None:
        normalize_fps(args.fps)
    if args.object and not args.blend:
        raise AviTalkError("--object needs --blend (the file that holds the FLAME rig)")
    if args.blend and not args.object:
        raise AviTalkError("--blend needs --object (the FLAME rig to key)")
    if not to_blend and (args.flame or args.blend):
        raise AviTalkError("--flame and --blend make a .blend: use -o something.blend")
    if to_blend and not (args.flame or args.blend):
        raise AviTalkError("a .blend output needs a head: --flame MODEL, or --blend FILE --object RIG")
    if to_blend and args.flame and args.blend:
        raise AviTalkError("use either --flame (a new head) or --blend/--object (an existing rig)")
    # every input file is a readable regular file (a named pipe would block its reader), a --blend a .blend
    if not Path(args.sequence).is_dir():  # an EMOCA output is a folder
        check_input_file(args.sequence, "sequence file", MAX_SEQUENCE_BYTES)
    if args.audio:
        check_input_file(args.audio, "audio file", max_audio_bytes(DEFAULT_MAX_SECONDS), AudioError)
    check_file_arguments(args)


def run(args: argparse.Namespace) -> int:
    inputs = [("sequence", args.sequence), *named_inputs(args)]
    out = check_output_path(args.output, OUTPUTS, inputs)  # never over an input
    _check_arguments(args, out)
    if args.flame:
        load_flame(args.flame)  # a bad or unsafe model file fails here, before anything is written
    anim = read_sequence(args.sequence, fps=args.fps, fmt=args.format, head_pose=args.head_pose)
    audio = load_audio(args.audio) if args.audio else None
    anim = align_to_audio(anim, args.offset, audio.duration if audio is not None else None)
    if audio is not None:
        anim.meta.update(audio=Path(args.audio).name, audio_sha256=audio.sha256, duration=audio.duration)
    if out.suffix.lower() != ".blend":
        anim.save(out)
    else:
        headless = load_headless()
        summary = headless.bake_to_blend(anim, Path(args.audio) if audio is not None else None, out,
                                         base_blend=Path(args.blend) if args.blend else None,
                                         object_name=args.object,
                                         flame_model=Path(args.flame) if args.flame else None)
        for note in summary.notes:
            warnings.warn(note, stacklevel=1)
        if not args.quiet:
            print(f"baked {summary.channels} on {summary.object_name!r}, frames {summary.frames[0]}-"
                  f"{summary.frames[1]} at {anim.fps:.3f} fps{' with sound' if summary.sound else ''}"
                  f"{summary.not_placed}", file=sys.stderr)
    if not args.quiet:
        print(f"{anim.n_frames} frames of {anim.meta.get('format', 'FLAME')} at {anim.fps:.3f} fps", file=sys.stderr)
    print(f"wrote {out}")
    return 0
