"""What the baseline does on real recordings that have no transcript or labels.

    .venv/bin/python benchmarks/bench_real_speech.py DIR_WITH_WAVS [--fps 30] [--model procedural|stage2|PATH]
                                                  [--text "A neutral person speaks."]

Per file: duration; real-time factor of the whole generate step; share of pause frames (no voice
activity) with the lips closed on the built-in head, over all pause frames and over those at least
0.1 s from speech; jawOpen–loudness correlation and its best lag (frames; + = jaw late); share of
speech frames with visible lip opening; mean absolute frame-to-frame change of jawOpen (smoothness).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from avi_talking.core.pipeline.generate import generate
from avi_talking.core.pipeline.options import GenerateOptions
from avi_talking.core.rigs.builtin_head.measure import lip_gap_mm

CLOSED_MM = 1.0


def best_lag(a: np.ndarray, b: np.ndarray, reach: int = 10) -> tuple[int, float]:
    a = (a - a.mean()) / (a.std() + 1e-9)
    b = (b - b.mean()) / (b.std() + 1e-9)
    scores = {}
    for lag in range(-reach, reach + 1):
        x, y = (a[lag:], b[: len(b) - lag]) if lag >= 0 else (a[:lag], b[-lag:])
        scores[lag] = float(np.mean(x * y))
    lag = max(scores, key=lambda k: scores[k])
    return lag, scores[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--model", default="procedural", help="procedural (default), stage2, or stage-2 weights")
    parser.add_argument("--text", help="stage 2: one instruction for every file instead of stage 1's prediction")
    args = parser.parse_args()
    print(f"{'file':<32} {'sec':>5} {'RTF':>6} {'pause closed':>12} {'deep pause':>10} {'jaw~loud r':>10} {'lag':>4} "
          f"{'open in speech':>14} {'|d jaw|':>8}")
    if args.model != "procedural":  # load once before timing, as the first file would otherwise pay for it
        from avi_talking.core.stage2.runtime import load_stage2

        load_stage2(None if args.model == "stage2" else args.model)
    rows = []
    for path in sorted(args.folder.glob("*.wav")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            done = generate(path, GenerateOptions(fps=args.fps, model=args.model, instruction_text=args.text))
            anim, analysis = done.animation, done.analysis
            elapsed = time.perf_counter() - t0
        feats = analysis.features
        gap = lip_gap_mm(anim.values)
        jaw = anim.channel("jawOpen")
        pause = ~feats.voiced
        # pause frames at least 0.1 s from any speech: past the relax ramp
        reach = max(1, round(0.1 * args.fps))
        near_speech = np.convolve(feats.voiced.astype(float), np.ones(2 * reach + 1), mode="same") > 0
        deep = pause & ~near_speech
        lag, r = best_lag(jaw, feats.loudness)
        row = (elapsed / anim.duration, np.mean(gap[pause] < CLOSED_MM) if pause.any() else np.nan,
               np.mean(gap[deep] < CLOSED_MM) if deep.any() else np.nan, r, abs(lag),
               np.mean(gap[feats.voiced] > CLOSED_MM), np.mean(np.abs(np.diff(jaw))))
        rows.append(row)
        print(f"{path.name[:32]:<32} {anim.duration:5.1f} " + _columns(row, lag=f"{lag:4d}"))

    if rows:
        m = np.nanmean(np.array(rows, dtype=float), axis=0)
        print(f"{'mean (lag: mean |lag|)':<32} {'':>5} " + _columns(tuple(m), lag=f"{m[4]:4.1f}"))


def _columns(row: tuple, lag: str) -> str:
    """RTF, pause closed, deep pause, r, lag, open in speech, |d jaw| — one file's or the mean."""
    return (f"{row[0]:6.3f} {row[1]:12.2f} {row[2]:10.2f} {row[3]:10.2f} {lag} {row[5]:14.2f} {row[6]:8.3f}")


if __name__ == "__main__":
    main()
