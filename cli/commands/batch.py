"""``avitalk batch DIR -o OUTDIR``: every audio file in a folder → a baked .blend each (the built-in head,
or ``--object`` in a copy of ``--blend``), or with ``--takes`` one .blend holding one take (Action) per
file on the chosen rig. One failing file does not stop the others: a summary lists successes and
failures (also written as ``OUTDIR/batch_summary.json``); the exit code is 0 when all succeeded, 1 when
some failed, 2 on bad arguments. Every output is planned and checked against every input before the
first file is read; interrupted (Ctrl-C: exit 130), the summary still lists what finished and what
was not started."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from ...core.audio.loader import check_input_file, max_audio_bytes
from ...core.common.errors import AudioError, AviTalkError
from ...core.common.fileio import atomic_output, refuse_inputs_as_outputs
from ...core.worker.remote import generate_anywhere
from ._common import add_synthesis_arguments, load_headless, options_from
from ._inputs import named_inputs
from ._rig import RigParts, add_rig_arguments, rig_options, rig_parts

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
    add_rig_arguments(p)
    p.set_defaults(run=run)


def audio_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise AviTalkError(f"folder {folder} does not exist")
    # not only regular files: a named pipe or a dangling link called x.wav is reported as a failed file
    files = sorted(p for p in folder.iterdir() if not p.is_dir() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise AviTalkError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {folder}")
    return files


def output_names(files: list[Path]) -> dict[Path, str]:
    """``stem.blend``, or ``stem_ext.blend`` where two files share a stem."""
    stems = [f.stem for f in files]
    return {f: f"{f.stem}.blend" if stems.count(f.stem) == 1 else f"{f.stem}_{f.suffix[1:].lower()}.blend"
            for f in files}


def planned_outputs(args: argparse.Namespace, files: list[Path], out_dir: Path) -> list[tuple[str, Path]]:
    """Every file the batch will write, as ``(what, path)``; two audio files must not share an output."""
    if args.takes:
        planned = [("--takes file", out_dir / Path(args.takes).name)]
    else:
        names = output_names(files)
        planned = [(f"output of {audio.name}", out_dir / names[audio]) for audio in files]
        seen: dict[str, str] = {}
        for audio in files:
            other = seen.setdefault(names[audio], audio.name)
            if other != audio.name:
                raise AviTalkError(f"{other} and {audio.name} would both be saved as {names[audio]}: rename one")
    return [*planned, ("summary", out_dir / SUMMARY)]


def _check_plan(args: argparse.Namespace, files: list[Path], out_dir: Path) -> None:
    """Before any work: no output is (or resolves to) an input, and each can be written."""
    if out_dir.exists() and not out_dir.is_dir():
        raise AviTalkError(f"output folder {out_dir} is not a folder")
    planned = planned_outputs(args, files, out_dir)
    refuse_inputs_as_outputs(planned, [*named_inputs(args), *(("audio file", audio) for audio in files)])
    for what, path in planned:
        if path.is_dir() or (path.exists() and not path.is_file()):
            raise AviTalkError(f"{what} {path} exists and is not a regular file")


def run(args: argparse.Namespace) -> int:
    if args.instructions:
        raise AviTalkError("--instructions is one clip's track: batch runs stage 1 per file (or use --text)")
    if args.object and not args.blend:
        raise AviTalkError("--object needs --blend (the file that holds the object)")
    if args.takes and not args.takes.lower().endswith(".blend"):
        raise AviTalkError("--takes names a .blend file")
    options = options_from(args)  # every value, and every file the arguments name (the --blend header, ...)
    parts = rig_parts(args)  # the mapping file, channel groups and layer
    blend = Path(args.blend).resolve() if args.blend else None
    files = audio_files(Path(args.folder))
    out_dir = Path(args.output)
    _check_plan(args, files, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    headless = load_headless()
    if blend is not None:
        headless.open_blend(blend)  # a damaged --blend fails once, before any file is synthesised
    names = output_names(files)
    report: list[dict[str, Any]] = []
    takes: list[tuple[Path, Any]] = []
    t_all = time.perf_counter()
    started = 0
    try:
        for k, audio in enumerate(files, 1):
            started = k
            report.append(_bake_one(args, audio, out_dir / names[audio], options, headless, blend, takes, parts))
            entry = report[-1]
            status = f"ok {entry.get('output', '')}{_placed(entry)}" if entry["ok"] else f"FAILED: {entry['error']}"
            print(f"[{k}/{len(files)}] {audio.name}: {status}", file=sys.stderr)
        if args.takes and takes:
            _save_takes(args, report, takes, out_dir, headless, blend, parts)
            for entry in report:
                if entry["ok"]:
                    print(f"{entry['audio']}: {entry['output']}{_placed(entry)}", file=sys.stderr)
    except BaseException as exc:  # Ctrl-C (or a bug): record what finished, then stop as the CLI does
        if args.takes:
            for entry in report:
                if entry["ok"]:
                    entry.update(ok=False, error="stopped before the takes file was saved")
        stopped = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped by {type(exc).__name__}"
        _write_summary(out_dir, report, files, t_all, stopped, files[len(report):started])
        print(f"batch: {stopped} after {len(report)} of {len(files)} files (summary in {out_dir / SUMMARY})")
        raise
    failed = [e for e in report if not e["ok"]]
    _write_summary(out_dir, report, files, t_all, None, [])
    print(f"batch: {len(report) - len(failed)} baked, {len(failed)} failed "
          f"(summary in {out_dir / SUMMARY})")
    for entry in failed:
        print(f"  failed: {entry['audio']}: {entry['error']}")
    return 1 if failed else 0


def _placed(entry: dict[str, Any]) -> str:
    """`` (baked 50 of 52 channels; not placed: tongueOut, …)`` for a baked file's line."""
    return f" ({entry['baked']})" if "baked" in entry else ""


def _record(entry: dict[str, Any], summary: Any) -> None:
    """What was placed, in the summary: the words of the line and the channels not placed."""
    entry.update(baked=f"baked {summary.channels}{summary.not_placed}", not_placed=list(summary.unplaced))


def _bake_one(args: argparse.Namespace, audio: Path, output: Path, options: Any, headless: ModuleType,
              blend: Path | None, takes: list[tuple[Path, Any]], parts: RigParts) -> dict[str, Any]:
    t0 = time.perf_counter()
    entry: dict[str, Any] = {"audio": audio.name}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # checked here too: a worker (blender -c avitalk) may hash the file before its loader sees it
            check_input_file(audio, "audio file", max_audio_bytes(options.max_seconds), AudioError)
            animation = generate_anywhere(audio, options)
            if args.takes:
                takes.append((audio, animation))
            else:
                summary = headless.bake_to_blend(animation, audio.resolve(), output, base_blend=blend,
                                                 object_name=args.object, rig=rig_options(headless, parts))
                entry.update(output=output.name, action=summary.action_name, frames=list(summary.frames))
                _record(entry, summary)
        entry.update(ok=True, warnings=list(dict.fromkeys(str(w.message) for w in caught)))
    except AviTalkError as exc:
        entry.update(ok=False, error=str(exc))
    entry["seconds"] = round(time.perf_counter() - t0, 2)
    return entry


def _save_takes(args: argparse.Namespace, report: list[dict[str, Any]], takes: list[tuple[Path, Any]],
                out_dir: Path, headless: ModuleType, blend: Path | None, parts: RigParts) -> None:
    try:
        result = headless.bake_takes_to_blend(takes, out_dir / Path(args.takes).name, base_blend=blend,
                                              object_name=args.object, rig=rig_options(headless, parts))
        for entry in report:
            if entry["ok"]:
                entry.update(output=Path(args.takes).name, action=result[entry["audio"]].action_name)
                _record(entry, result[entry["audio"]])
    except AviTalkError as exc:
        for entry in report:
            if entry["ok"]:
                entry.update(ok=False, error=f"saving the takes failed: {exc}")


def _write_summary(out_dir: Path, report: list[dict[str, Any]], files: list[Path], t_all: float,
                   stopped: str | None, unfinished: list[Path]) -> None:
    """``batch_summary.json``, written atomically. After an interrupt it also names the file that was being
    baked (``unfinished``: nothing of it was written) and the files not started."""
    failed = sum(1 for e in report if not e["ok"])
    summary: dict[str, Any] = {"files": report, "baked": len(report) - failed, "failed": failed,
                               "unfinished": [f.name for f in unfinished],
                               "not_started": [f.name for f in files[len(report) + len(unfinished):]],
                               "seconds": round(time.perf_counter() - t_all, 2)}
    if stopped is not None:
        summary["stopped"] = stopped
    with atomic_output(out_dir / SUMMARY) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
