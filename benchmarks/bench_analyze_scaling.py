"""Stage 1's cost against the length of the speech: `analyze` on 60 s and on 600 s, and their ratio.

    .venv/bin/python benchmarks/bench_analyze_scaling.py [--seconds 60 600] [--gap 0.35] [--runs 1]

Linear cost means a ratio near the ratio of the lengths (10 for 60 s against 600 s); the target is ≤ 12.
Times are in-process (``Stage1Predictor.analyze`` on loaded audio: frame features, phrase segmentation,
statistics, network), the best of --runs, with the segmentation also timed alone. The speech is espeak-ng
sentences (benchmarks/bench_analyze.py) separated by --gap seconds of silence; a gap under the phrase pause
(0.25 s) leaves one long stretch, which the deepest-pause splitter has to cut.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_analyze import SENTENCES


def make_speech(seconds: float, gap: float, path: Path) -> None:
    import numpy as np
    import soundfile as sf

    from avi_talking.core.tts import espeak

    takes = [espeak.synthesize(text, voice=("en-us", "en", "en-us+f2")[k % 3], rate=140 + 15 * (k % 5),
                               pitch=30 + 10 * (k % 4)) for k, text in enumerate(SENTENCES)]
    sr = takes[0].sr
    parts, total, k = [], 0.0, 0
    while total < seconds:  # the same six takes over and over: synthesis is not what is timed
        parts += [takes[k % len(takes)].samples, np.zeros(int(gap * sr), np.float32)]
        total += takes[k % len(takes)].duration + gap
        k += 1
    sf.write(path, np.concatenate(parts)[: int(seconds * sr)], sr, subtype="PCM_16")


def time_analyze(wav: Path, runs: int) -> tuple[float, float, int]:
    from avi_talking.core.audio.loader import load_audio
    from avi_talking.core.stage1.features import frame_features
    from avi_talking.core.stage1.predict import load_predictor

    predictor = load_predictor()
    audio = load_audio(wav, max_seconds=3600)
    best, best_split, n = float("inf"), float("inf"), 0
    for _ in range(runs):
        t = time.perf_counter()
        result = predictor.analyze(audio)
        best = min(best, time.perf_counter() - t)
        n = len(result.segments)
        ff = frame_features(audio)
        t = time.perf_counter()
        predictor.split(ff)
        best_split = min(best_split, time.perf_counter() - t)
    return best, best_split, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, nargs=2, default=[60.0, 600.0])
    ap.add_argument("--gap", type=float, default=0.35, help="silence between sentences (default 0.35)")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in args.seconds:
            wav = Path(tmp) / f"speech-{seconds:g}.wav"
            make_speech(seconds, args.gap, wav)
            total, split, n = time_analyze(wav, args.runs)
            times.append(total)
            print(f"{seconds:6.0f} s of speech (gaps {args.gap:g} s): analyze {total:7.2f} s, of which "
                  f"segmentation {split:6.3f} s; {n} segments")
    short, long = args.seconds
    print(f"ratio {times[1] / times[0]:.1f} for {long / short:g}x the speech (linear: {long / short:g}; target ≤ 12)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
