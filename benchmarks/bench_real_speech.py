"""What a model does on real recordings that have no labels: a terminal table over ``core.eval.real`` (the
measures of ``avitalk eval --real``, docs/eval.md), with the real-time factor of the whole generate step.

    .venv/bin/python benchmarks/bench_real_speech.py DIR_WITH_AUDIO [--fps 30] [--model procedural|stage2|PATH]
                                                  [--text "A neutral person speaks."]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from avi_talking.core.eval.real import RealOptions, evaluate_real

COLUMNS = (("RTF", "rtf", 6, 3), ("pause closed", "pause_closure", 12, 2), ("all pause", "pause_closure_all", 9, 2),
           ("jaw~loud r", "jaw_loudness_r", 10, 2), ("lag", "jaw_loudness_lag", 4, 0),
           ("open in speech", "lips_open_in_speech", 14, 2), ("mouth |d|", "mouth_motion", 9, 4))


def _row(values: dict[str, float]) -> str:
    return " ".join(f"{values[key]:{width}.{digits}f}" for _, key, width, digits in COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--model", default="procedural", help="procedural (default), stage2, or stage-2 weights")
    parser.add_argument("--text", help="stage 2: one instruction for every file instead of stage 1's prediction")
    args = parser.parse_args()
    if args.model != "procedural":  # load once, as the first file would otherwise pay for it in its RTF
        from avi_talking.core.stage2.runtime import load_stage2

        load_stage2(None if args.model == "stage2" else args.model)
    result = evaluate_real(args.folder, RealOptions(args.model, args.text, fps=args.fps, plots=False))
    print(f"{'file':<32} {'sec':>5} " + " ".join(f"{name:>{width}}" for name, _, width, _ in COLUMNS))
    for clip in result.clips:
        print(f"{clip['file'][:32]:<32} {clip['duration']:5.1f} {_row(clip)}")
    s = result.summary
    mean = {**s, "jaw_loudness_lag": s["jaw_loudness_lag_mean_abs"]}
    print(f"{'overall (lag: mean |lag|)':<32} {'':>5} {_row(mean)}")


if __name__ == "__main__":
    main()
