"""``avitalk batch DIR -o OUTDIR``: every audio file in a folder → a baked .blend each (the built-in head,
or ``--object`` in a copy of ``--blend``), or with ``--takes`` one .blend holding one take (Action) per
file on the chosen rig. One failing file does not stop the others: a summary lists successes and
failures (also written as ``OUTDIR/batch_summary.json``); the exit code is 0 when all succeeded, 1 when
some failed, 2 on bad arguments."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from ...core.common.errors import AviTalkError
from ...core.common.fileio import atomic_output
from ...core.worker.remote import generate_anywhere
from ._common import add_synthesis_arguments, load_headless, options_from

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
SUMMARY = "batch_summary.json"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("batch", help="a folder of audio files → baked .blend files, with a summary",
                       description="Bake every audio file (WAV, FLAC, OGG, MP3) in a folder: one .blend per "
                                   "file, or with --takes one .blend with a take per file.")
    p.add_argument("folder", help="folder with the audio files (not searched recursively)")
    add_synthesis_arguments(p, audio=False)
    p.add_argument("-o", "--output", required=True, help="output folder (created if missing)")
    p.add_argument("--blend", metavar="FILE", help="bake into copies of this .blend instead of a new scene")
    p.add_argument("--object", metavar="NAME", help="object with the shape keys (default: a new built-in head)")
    p.add_argument("--takes", metavar="NAME.blend",
                   help="one .blend (in the output folder) with one take per audio file on the rig")
    p.set_defaults(run=run)


def audio_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise AviTalkError(f"folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise AviTalkError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {folder}")
    return files


def output_names(files: list[Path]) -> dict[Path, str]:
    """``stem.blend``, or ``stem_ext.blend`` where two files share a stem."""
    stems = [f.stem for f in files]
    return {f: f"{f.stem}.blend" if stems.count(f.stem) == 1 else f"{f.stem}_{f.suffix[1:].lower()}.blend"
            for f in files}


def run(args: argparse.Namespace) -> int:

    if args.instructions:
        raise AviTalkError("--instructions is one clip's track: batch runs stage 1 per file (or use --text)")
    if args.object and not args.blend:
        raise AviTalkError("--object needs --blend (the file that holds the object)")
    if args.takes and not args.takes.lower().endswith(".blend"):
        raise AviTalkError("--takes names a .blend file")
    blend = Path(args.blend).resolve() if args.blend else None
    if blend is not None and not blend.is_file():
        raise AviTalkError(f"blend file {blend} does not exist")
    files = audio_files(Path(args.folder))
    options = options_from(args)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    headless = load_headless()
    names = output_names(files)
    report: list[dict[str, Any]] = []
    takes: list[tuple[Path, Any]] = []
    t_all = time.perf_counter()
    for k, audio in enumerate(files, 1):
        t0 = time.perf_counter()
        entry: dict[str, Any] = {"audio": audio.name}
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                animation = generate_anywhere(audio, options)
                if args.takes:
                    takes.append((audio, animation))
                else:
                    output = out_dir / names[audio]
                    summary = headless.bake_to_blend(animation, audio.resolve(), output, base_blend=blend,
                                                     object_name=args.object)
                    entry.update(output=output.name, action=summary.action_name, frames=list(summary.frames))
            entry.update(ok=True, warnings=list(dict.fromkeys(str(w.message) for w in caught)))
        except AviTalkError as exc:
            entry.update(ok=False, error=str(exc))
        entry["seconds"] = round(time.perf_counter() - t0, 2)
        report.append(entry)
        status = f"ok {entry.get('output', '')}" if entry["ok"] else f"FAILED: {entry['error']}"
        print(f"[{k}/{len(files)}] {audio.name}: {status}", file=sys.stderr)
    if args.takes and takes:
        try:
            result = headless.bake_takes_to_blend(takes, out_dir / Path(args.takes).name, base_blend=blend,
                                                  object_name=args.object)
            for entry in report:
                if entry["ok"]:
                    entry.update(output=Path(args.takes).name, action=result[entry["audio"]])
        except AviTalkError as exc:
            for entry in report:
                if entry["ok"]:
                    entry.update(ok=False, error=f"saving the takes failed: {exc}")
    failed = [e for e in report if not e["ok"]]
    with atomic_output(out_dir / SUMMARY) as tmp:
        tmp.write_text(json.dumps({"files": report, "baked": len(report) - len(failed), "failed": len(failed),
                                   "seconds": round(time.perf_counter() - t_all, 2)}, indent=1) + "\n",
                       encoding="utf-8")
    print(f"batch: {len(report) - len(failed)} baked, {len(failed)} failed "
          f"(summary in {out_dir / SUMMARY})")
    for entry in failed:
        print(f"  failed: {entry['audio']}: {entry['error']}")
    return 1 if failed else 0
