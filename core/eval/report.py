"""report.md + metrics.json + PNG plots for one evaluation, written atomically as a folder."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...version import __version__
from ..common.errors import AviTalkError
from .plots import plot_adherence, plot_curves, plot_table
from .runner import EvalOptions, EvalResult

REPORT, METRICS = "report.md", "metrics.json"
FALSE_CLOSURE_PHONES = 12  # rows of the report's false-closure-by-phone table (most wrongly closed frames first)


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def table_rows(s: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, model, target as a prediction, what is ideal)."""
    stage1 = s.get("stage1")
    rows = [
        ("bilabial closure (share of p/b/m, ±40 ms)", _fmt(s["bilabial_closure"]), _fmt(s["bilabial_closure_target"]),
         "1"),
        ("lips closed where the target's are apart (share of those frames)", _fmt(s.get("false_closure", math.nan)),
         "0.000", "0"),
        ("lip opening in speech (mean gap, mm)", _fmt(s.get("speech_gap_mm", math.nan), 2),
         _fmt(s.get("speech_gap_mm_target", math.nan), 2), "= target"),
        ("open-vowel jawOpen (mean at centres)", _fmt(s["open_vowel_jaw"]), _fmt(s["open_vowel_jaw_target"]),
         "= target"),
        ("open-vowel jaw ratio (model / target)", _fmt(s["open_vowel_jaw_ratio"]), "1.000", "1"),
        ("silence closure (share of pause frames)", _fmt(s["silence_closure"]), _fmt(s["silence_closure_target"]),
         "= target"),
        ("jawOpen-energy correlation", _fmt(s["jaw_energy_corr"]), _fmt(s["jaw_energy_corr_target"]), "= target"),
        ("lag, median (frames; + = late)", _fmt(s["lag_frames_median"], 1), "0.0", "0"),
        ("lag, mean |lag| (frames)", _fmt(s["lag_frames_mean_abs"], 2), "0.00", "0"),
        ("lip-vertex error LVE (mm)", _fmt(s["lve_mm"], 2), "0.00", "0"),
        ("upper-face dynamics deviation FDD (mm)", _fmt(s["fdd_mm"], 3), "0.000", "0"),
        ("MAE, all 52 channels", _fmt(s["mae_all"], 4), "0.0000", "0"),
        ("MAE, mouth channels", _fmt(s["mae_mouth"], 4), "0.0000", "0"),
        ("instruction adherence (realised / requested)", _fmt(s["adherence_ratio"]), "-", "1"),
        ("diversity over seeds (mean pairwise L2)", _fmt(s["diversity"], 4), "-", "> 0, natural"),
        ("diversity, expression channels (no mouth/jaw)", _fmt(s.get("diversity_expression", math.nan), 4), "-",
         "> 0"),
        ("diversity, mouth channels", _fmt(s.get("diversity_mouth", math.nan), 4), "-", "small"),
        ("bilabial closure, worst/best seed", f"{_fmt(s.get('bilabial_closure_seed_min', math.nan))}/"
         f"{_fmt(s.get('bilabial_closure_seed_max', math.nan))}", "-", "= seed 0"),
        ("bilabial closure, max change over seeds vs seed 0", _fmt(s.get("bilabial_closure_seed_max_change", math.nan)),
         "-", "≤ 0.02"),
        ("stage 1: emotion accuracy", _fmt(stage1["emotion_accuracy"]) if stage1 else "n/a", "-", "1"),
        ("stage 1: intensity MAE", _fmt(stage1["intensity_mae"]) if stage1 else "n/a", "-", "0"),
        ("stage 1: AU F1", _fmt(stage1["au_f1"]) if stage1 else "n/a", "-", "1"),
    ]
    return rows


def _clean(x: Any) -> Any:
    """NaN → null so metrics.json is strict JSON."""
    if isinstance(x, float):
        return None if math.isnan(x) else round(x, 6)
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def check_report_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / METRICS).is_file())):
        raise AviTalkError(f"output {out} exists and is not an earlier evaluation folder")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise AviTalkError(f"output folder {parent} does not exist")


def write_folder(out: Path, fill: Callable[[Path], None]) -> Path:
    """Make the report folder ``out`` atomically: ``fill`` writes into a hidden temporary folder beside it,
    which then replaces ``out`` (an earlier report) in one rename; on any failure nothing is left."""
    check_report_dir(out)
    parent = out.parent if str(out.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    try:
        os.chmod(tmp, 0o755)
        fill(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def write_report(result: EvalResult, out: Path, options: EvalOptions, corpus_info: dict[str, Any],
                 command: str) -> Path:
    def fill(tmp: Path) -> None:
        s = result.summary
        rows = table_rows(s)
        plot_table(rows, tmp / "metrics_table.png", f"{result.model} on {corpus_info['split']} ({s['clips']} clips)")
        plots = [plot_curves(c, tmp / f"curves_{c['id']}.png", result.model).name for c in result.curves]
        if s["adherence"]:
            plot_adherence(s["adherence"], tmp / "adherence.png", result.model)
        metrics = {"generator": f"avi_talking {__version__}", "model": result.model, "command": command,
                   "corpus": corpus_info,
                   "options": {"split": options.split, "seeds": options.seeds, "max_clips": options.max_clips,
                               "transcripts": options.transcripts},
                   "summary": s, "clips": result.clips}
        (tmp / METRICS).write_text(json.dumps(_clean(metrics), indent=1) + "\n", encoding="utf-8")
        (tmp / REPORT).write_text(_markdown(result, rows, plots, corpus_info, options, command), encoding="utf-8")

    return write_folder(out, fill)


def _markdown(result: EvalResult, rows: list[tuple[str, str, str, str]], plots: list[str],
              corpus: dict[str, Any], options: EvalOptions, command: str) -> str:
    s = result.summary
    lines = [
        f"# Evaluation: {result.model}",
        "",
        f"- corpus: `{corpus['path']}` (seed {corpus.get('seed')}, {corpus.get('fps')} fps), "
        f"split **{options.split}**: {s['clips']} clips, {s['seconds'] / 60:.1f} min, {s['bilabials']} bilabials",
        f"- phones for the model: {'forced alignment of the clip text' if options.transcripts else 'recognition'}; "
        f"takes per clip: {options.seeds} seeds (seed 0 is compared with the target)",
        f"- command: `{command}`",
        "- definitions: docs/eval.md. *target (reference)* is the same metric computed on the corpus targets.",
        "",
        "| metric | model | target (reference) | ideal |",
        "|---|---:|---:|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        "![metrics](metrics_table.png)",
        "",
        "## Instruction adherence per action unit",
        "",
    ]
    if s["adherence"]:
        lines += ["| AU | n | requested | realised vs neutral | ratio |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {au} | {v['n']} | {v['requested']:.3f} | {v['realised']:.3f} | {v['ratio']:.3f} |"
                  for au, v in s["adherence"].items()]
        lines += ["", "![adherence](adherence.png)", ""]
    else:
        lines += ["No instruction in this split has an AU at or above the presence threshold.", ""]
    by_phone = s.get("false_closure_by_phone") or {}
    if by_phone:  # where the false closures sit: the sounds the model takes for p/b/m
        lines += ["## Lips closed where the target's are apart, by true phone", "",
                  "| phone | frames apart | closed | share |", "|---|---:|---:|---:|"]
        lines += [f"| {ph} | {v['apart']} | {v['closed']} | {v['share']:.3f} |"
                  for ph, v in list(by_phone.items())[:FALSE_CLOSURE_PHONES]]
        lines += [""]
    lines += ["## Stage 1", ""]
    if s["stage1"] is None:
        lines += ["Not applicable: this model predicts no instructions.", ""]
    else:
        lines += [f"emotion accuracy {_fmt(s['stage1']['emotion_accuracy'])}, intensity MAE "
                  f"{_fmt(s['stage1']['intensity_mae'])}, AU F1 {_fmt(s['stage1']['au_f1'])}", ""]
    lines += ["## Curves", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(lines)
