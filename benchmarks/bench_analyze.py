"""60 s of speech → instruction track: how long `avitalk analyze` takes (stage 1, no LLM).

    .venv/bin/python benchmarks/bench_analyze.py [--seconds 60] [--runs 3] [--wav FILE]

Prints (1) the wall time of the whole ``avitalk analyze`` command in a fresh process (imports, loading
the weights, everything), and (2) per-stage times measured in this process: loading the audio, the
front end (log-mel, level, voice activity), the pitch tracker, segmentation, and the network. The speech
is espeak-ng output (several voices and rates), so no recording is needed; ``--wav`` times your own.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Maybe the baby wants more milk before bedtime.",
    "I cannot believe you did that again, this is outrageous!",
    "We were walking home when the rain began to pour.",
    "Oh, that is wonderful news, thank you so much!",
    "Please bring me the big blue bottle from the cupboard.",
]


def make_speech(seconds: float, path: Path) -> None:
    import numpy as np
    import soundfile as sf

    from avi_talking.core.tts import espeak

    parts, total, k = [], 0.0, 0
    while total < seconds:
        speech = espeak.synthesize(SENTENCES[k % len(SENTENCES)], voice=("en-us", "en", "en-us+f2")[k % 3],
                                   rate=140 + 15 * (k % 5), pitch=30 + 10 * (k % 4))
        gap = np.zeros(int(0.35 * speech.sr), np.float32)
        parts += [speech.samples, gap]
        total += speech.duration + 0.35
        k += 1
    sf.write(path, np.concatenate(parts)[: int(seconds * speech.sr)], speech.sr, subtype="PCM_16")


def stage_times(wav: Path) -> dict[str, float]:
    from avi_talking.core.audio.features import extract_features
    from avi_talking.core.audio.loader import load_audio
    from avi_talking.core.audio.pitch import track_pitch
    from avi_talking.core.stage1.features import FPS, frame_features
    from avi_talking.core.stage1.predict import load_predictor

    times: dict[str, float] = {}
    t = time.perf_counter()
    predictor = load_predictor()
    times["load weights"] = time.perf_counter() - t
    t = time.perf_counter()
    audio = load_audio(wav)
    times["load audio"] = time.perf_counter() - t
    t = time.perf_counter()
    front = extract_features(audio, FPS)
    times["front end (mel, level, VAD)"] = time.perf_counter() - t
    t = time.perf_counter()
    track_pitch(audio.samples, audio.sr, n_frames=front.n_frames)
    times["pitch (YIN)"] = time.perf_counter() - t
    t = time.perf_counter()
    ff = frame_features(audio)
    times["frame features (both above)"] = time.perf_counter() - t
    t = time.perf_counter()
    bounds = predictor.split(ff)
    times["segmentation"] = time.perf_counter() - t
    t = time.perf_counter()
    segments = predictor.predict(ff, bounds)
    times["statistics + network"] = time.perf_counter() - t
    times["segments"] = float(len(segments))
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--wav", type=Path, help="time this file instead of generated speech")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wav = args.wav or Path(tmp) / "speech.wav"
        if args.wav is None:
            make_speech(args.seconds, wav)
        out = Path(tmp) / "instr.json"
        walls = []
        for _ in range(args.runs):
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "avi_talking", "-q", "analyze", str(wav), "-o", str(out)],
                                  capture_output=True, text=True, check=False)
            walls.append(time.perf_counter() - t)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
        runs = [stage_times(wav) for _ in range(args.runs)]
        import soundfile as sf

        duration = sf.info(str(wav)).duration
    print(f"audio: {duration:.1f} s ({'given' if args.wav else 'espeak-ng speech'})")
    print(f"avitalk analyze, cold process: median {statistics.median(walls):.2f} s over {args.runs} runs "
          f"(min {min(walls):.2f}, max {max(walls):.2f}); {duration / statistics.median(walls):.0f}x real time")
    print("in-process stages (median):")
    for key in runs[0]:
        value = statistics.median(r[key] for r in runs)
        print(f"  {key:<30} {value:8.3f}" + ("" if key == "segments" else " s"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
