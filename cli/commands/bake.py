"""``avitalk bake IN -o OUT.blend``: audio → animation → keys on a head in a saved .blend.

The synthesis runs here; the Blender part lives in ``addon/headless.py`` and is imported only
now, so every other command works without bpy installed."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from ...core.animation import normalize_fps
from ...core.audio.loader import check_input_file, max_audio_bytes
from ...core.common.errors import AudioError, AviTalkError
from ...core.common.fileio import check_output_path
from ...core.common.progress import TextBar, scaled
from ...core.flame.landmarks import load_embedding
from ...core.flame.loading import load_flame
from ...core.worker.remote import generate_anywhere
from ._common import add_synthesis_arguments, load_headless, options_from
from ._inputs import named_inputs
from ._rig import add_rig_arguments, describe, rig_options, rig_parts


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bake", help="audio → keyed head in a .blend file (needs the bpy module)")
    add_synthesis_arguments(p)
    p.add_argument("-o", "--output", required=True, help="output .blend")
    p.add_argument("--blend", metavar="FILE", help="bake into a copy of this .blend instead of a new scene")
    p.add_argument("--object", metavar="NAME", help="object with the shape keys (default: a new built-in head)")
    p.add_argument("--flame", metavar="MODEL", help="FLAME model (.pkl/.npz): bake onto a new FLAME head (or the "
                   "--object FLAME rig), the ARKit animation retargeted to FLAME")
    p.add_argument("--landmarks", metavar="FILE", help="FLAME landmark embedding (e.g. DECA's "
                   "landmark_embedding.npy) for a retarget beyond the jaw")
    add_rig_arguments(p)
    p.set_defaults(run=run)


def _check_flame(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    """Validate --flame/--landmarks before any synthesis (a bad or unsafe file fails in one line)."""
    if args.landmarks and not args.flame:
        raise AviTalkError("--landmarks needs --flame (the model the landmarks belong to)")
    if not args.flame:
        return None, None
    model = load_flame(args.flame)
    if args.landmarks:
        load_embedding(args.landmarks, len(model.faces))
    return Path(args.flame), Path(args.landmarks) if args.landmarks else None


def run(args: argparse.Namespace) -> int:
    out = check_output_path(args.output, (".blend",), named_inputs(args))  # never over an input
    normalize_fps(args.fps)
    if args.object and not args.blend:
        raise AviTalkError("--object needs --blend (the file that holds the object)")
    # every input is a readable regular file before any work (a named pipe would block its reader)
    check_input_file(args.audio, "audio file", max_audio_bytes(args.max_duration), AudioError)
    options = options_from(args)  # every value, and every file the arguments name (kind, size, .blend header)
    blend = Path(args.blend) if args.blend else None
    parts = rig_parts(args)  # the mapping file, channel groups and layer: checked before any synthesis
    flame, landmarks = _check_flame(args)
    headless = load_headless()
    bar = TextBar()
    bar.enabled = bar.enabled and not args.quiet
    t0 = time.perf_counter()
    try:
        animation = generate_anywhere(args.audio, options, scaled(bar, 0.0, 0.9))
        bar("baking", 0.92)
        summary = headless.bake_to_blend(animation, Path(args.audio).resolve(), out, base_blend=blend,
                                         object_name=args.object, flame_model=flame, landmarks=landmarks,
                                         rig=rig_options(headless, parts))
        bar("saved", 1.0)
    finally:
        bar.close()
    for note in summary.notes:
        warnings.warn(note, stacklevel=1)
    if not args.quiet:
        print(f"baked {describe(summary)}, frames {summary.frames[0]}-{summary.frames[1]} at {animation.fps:.3f} "
              f"fps{' with sound' if summary.sound else ''} in {time.perf_counter() - t0:.1f} s{summary.not_placed}",
              file=sys.stderr)
    print(f"wrote {out}")
    return 0
