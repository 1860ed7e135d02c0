"""report.md + metrics.json + PNG plots for ``avitalk eval --real``, written atomically as a folder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ...version import __version__
from .plots import plot_real_clip
from .real import PAUSE_MARGIN, RealOptions, RealResult
from .report import METRICS, REPORT, _clean, _fmt, write_folder


def summary_rows(s: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(metric, value, what is ideal) for the overall table."""
    head = "n/a (no head channels)" if s["head_std"] is None else _fmt(s["head_std"], 4)
    return [
        (f"pause closure (pause frames ≥ {PAUSE_MARGIN * 1000:.0f} ms inside pauses ≥ 0.2 s, lips < 1 mm)",
         _fmt(s["pause_closure"]), "1"),
        ("pause closure, all pause frames", _fmt(s["pause_closure_all"]), "near 1"),
        (f"bilabial closure (±40 ms of p/b/m; {s['bilabials']} in {s['clips_with_bilabials']} transcribed clips)",
         _fmt(s["bilabial_closure"]), "1"),
        ("jawOpen–loudness r (lag 0, mean over clips)", _fmt(s["jaw_loudness_r"]), "high"),
        ("jawOpen–loudness r at the best lag", _fmt(s["jaw_loudness_r_at_lag"]), "high"),
        ("best lag, median (frames; + = jaw late)", _fmt(s["jaw_loudness_lag_median"], 1), "0"),
        ("best lag, mean abs lag (frames)", _fmt(s["jaw_loudness_lag_mean_abs"], 2), "0"),
        ("mouth motion in speech (mean abs Δ of mouth channels per frame)", _fmt(s["mouth_motion"], 4), "> 0"),
        ("lip-gap std in speech (mm)", _fmt(s["lip_gap_std_speech"], 2), "> 0"),
        ("lips open in speech (share of speech frames)", _fmt(s["lips_open_in_speech"]), "high, < 1"),
        ("brow motion in speech (mean std of brow channels)", _fmt(s["brow_std"], 4), "> 0, small"),
        ("eye squint in speech, mean / std", f"{_fmt(s['squint_mean'], 3)} / {_fmt(s['squint_std'], 4)}", "-"),
        ("head motion (mean std of head channels, radians)", head, "> 0"),
        ("head rotation std in speech (degrees)", _fmt(s["head_std_deg"], 2), "≥ 0.6"),
        ("brow raise ~ pitch accents r / shuffled accents |r|",
         f"{_fmt(s['brow_accent_r'], 3)} / {_fmt(s['brow_accent_r_shuffled'], 3)}", "first > second"),
        ("head nods ~ pitch accents r / shuffled accents |r|",
         f"{_fmt(s['head_accent_r'], 3)} / {_fmt(s['head_accent_r_shuffled'], 3)}", "first > second"),
        ("instruction emotions (segments; stage 1 or --text)",
         ", ".join(f"{k} {v}" for k, v in s["emotions"].items()) or "n/a", "-"),
        ("instruction intensity, mean", _fmt(s["intensity_mean"], 2), "-"),
        ("stage 1 confidence, mean", _fmt(s["confidence_mean"], 2), "-"),
        ("real-time factor (generate / audio seconds)", _fmt(s["rtf"], 3), "small"),
    ]


def _plot_name(file: str) -> str:
    return "curves_" + re.sub(r"[^A-Za-z0-9._-]", "_", Path(file).stem) + ".png"


def _stage1(record: dict[str, Any]) -> str:
    return "; ".join(f"{s['emotion']} {s['intensity']:.2f}" + (f" ({s['confidence']:.2f})" if s["confidence"]
                                                                is not None else "") for s in record["instructions"])


def clip_table(records: list[dict[str, Any]]) -> list[str]:
    lines = ["| file | s | pauses | pause closure | all pause frames | bilabial (n) | r | lag | mouth abs Δ | "
             "gap std | brow std | squint | head ° | instructions (emotion intensity (conf)) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in records:
        bil = f"{_fmt(r['bilabial_closure'], 2)} ({r['bilabials']})" if r["bilabials"] else "n/a"
        lag = "n/a" if r["jaw_loudness_lag"] is None or r["jaw_loudness_lag"] != r["jaw_loudness_lag"] else (
            f"{r['jaw_loudness_lag']:+.0f}")
        lines.append(f"| {r['file']} | {r['duration']:.1f} | {len(r['pauses'])} | {_fmt(r['pause_closure'], 2)} | "
                     f"{_fmt(r['pause_closure_all'], 2)} | {bil} | {_fmt(r['jaw_loudness_r'], 2)} | {lag} | "
                     f"{_fmt(r['mouth_motion'], 4)} | {_fmt(r['lip_gap_std_speech'], 2)} | {_fmt(r['brow_std'], 4)} | "
                     f"{_fmt(r['squint_mean'], 3)} | {_fmt(r['head_std_deg'], 2)} | {_stage1(r) or '-'} |")
    return lines


def _instruction_line(options: RealOptions) -> str:
    if options.model == "procedural":
        return "none (the procedural model follows no instructions)"
    return f"`--text {options.text!r}` for every file" if options.text else "the default path (stage 1 decides)"


def write_real_report(result: RealResult, out: Path, folder: Path, options: RealOptions, command: str) -> Path:
    def fill(tmp: Path) -> None:
        s = result.summary
        plots = [plot_real_clip(c, tmp / _plot_name(c["file"]), result.model).name for c in result.curves]
        metrics = {"generator": f"avi_talking {__version__}", "model": result.model, "command": command,
                   "real": {"path": str(folder)},
                   "options": {"text": options.text, "seed": options.seed, "fps": options.fps,
                               "pause_margin": PAUSE_MARGIN},
                   "summary": s, "clips": result.clips}
        (tmp / METRICS).write_text(json.dumps(_clean(metrics), indent=1) + "\n", encoding="utf-8")
        lines = [
            f"# Real recordings: {result.model}",
            "",
            f"- recordings: `{folder}`: {s['clips']} files, {s['seconds']:.1f} s",
            f"- instructions: {_instruction_line(options)}; "
            f"seed {options.seed}; {options.fps:g} fps",
            f"- command: `{command}`",
            "- no labels: pauses come from voice activity, p/b/m from forced alignment of `<stem>.txt` where "
            "present. Definitions: docs/eval.md.",
            "",
            "| metric | value | ideal |",
            "|---|---:|---|",
            *[f"| {a} | {b} | {c} |" for a, b, c in summary_rows(s)],
            "",
            "## Per recording",
            "",
            *clip_table(result.clips),
            "",
        ]
        notes = [(r["file"], n) for r in result.clips for n in r["notes"]]
        if notes:
            lines += ["## Notes", "", *[f"- {f}: {n}" for f, n in notes], ""]
        lines += ["## Curves", "", *[f"![{p}]({p})" for p in plots], ""]
        (tmp / REPORT).write_text("\n".join(lines), encoding="utf-8")

    return write_folder(out, fill)
