"""Stage-2 speed and memory: real-time factor for 60 s of speech, cost against duration, and the peak
memory of a 10-minute file — each measurement in a fresh process.

    .venv/bin/python benchmarks/bench_stage2.py [--seconds 60] [--runs 5] [--long-minutes 10]
                                                [--model DIR] [--device cpu|cuda] [--threads N]

RTF = (features + audio encoder + prior + decoder + blinks/gaze) / audio duration, model load excluded
(it is reported separately), for one take with one instruction. Memory: peak RSS of the process above
its level after loading torch and the model, and tracemalloc's peak of Python/numpy allocations, while
a 10-minute file goes through. The speech is espeak-ng output repeated, so no recording is needed.

Closure over seeds and the diversity of takes are measured by ``avitalk eval`` (docs/eval.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import make_speech

ONE = r"""
import json, resource, sys, time, tracemalloc, warnings
warnings.simplefilter("ignore")
wav, model_dir, device = sys.argv[1], sys.argv[2] or None, sys.argv[3]
threads, runs = int(sys.argv[4]), int(sys.argv[5])
import torch
if threads:
    torch.set_num_threads(threads)
from avi_talking.core.audio.loader import load_audio
from avi_talking.core.instructions import Instruction, Segment
from avi_talking.core.stage2.synth import Stage2Model
t = time.perf_counter(); model = Stage2Model.load(model_dir, device=device); load_s = time.perf_counter() - t
base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # torch + model loaded, no audio yet
audio = load_audio(wav, max_seconds=3600)
seg = [Segment(0.0, audio.duration, Instruction("happy", 0.6, {"AU6": 0.4, "AU12": 0.6}))]
model.animate(model.prepare(audio, 30.0), seg, 0)  # first call pays one-off costs (thread pools): not timed
rows = []
tracemalloc.start()
for r in range(runs):
    t0 = time.perf_counter()
    prepared = model.prepare(audio, 30.0)
    t1 = time.perf_counter()
    anim = model.animate(prepared, seg, r)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t2 = time.perf_counter()
    rows.append({"features": prepared.timings["features"], "encoder": prepared.timings["encoder"],
                 "synthesis": t2 - t1, "total": t2 - t0})
_, traced_peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": audio.duration, "load_s": load_s, "runs": rows, "frames": anim.n_frames,
                  "threads": torch.get_num_threads(), "rss_before_mb": base_rss, "peak_rss_mb": peak_rss,
                  "tracemalloc_peak_mb": traced_peak / 2**20}))
"""


def measure(wav: Path, model: str, device: str, threads: int, runs: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", ONE, str(wav), model, device, str(threads), str(runs)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--model", default="", help="weights folder (default: the shipped weights)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        make_speech(args.seconds, wav)
        r = measure(wav, args.model, args.device, args.threads, args.runs)
        totals = sorted(x["total"] for x in r["runs"])
        median = totals[len(totals) // 2]
        print(f"{r['seconds']:.0f} s of speech, {r['frames']} frames, device {args.device}, {r['threads']} threads; "
              f"model load {r['load_s']:.2f} s (excluded)")
        for key in ("features", "encoder", "synthesis", "total"):
            vals = sorted(x[key] for x in r["runs"])
            print(f"  {key:<10} median {vals[len(vals) // 2]:.3f} s   min {vals[0]:.3f} s")
        print(f"RTF (median of {args.runs}): {median / r['seconds']:.4f}   (best {totals[0] / r['seconds']:.4f})")

        print("\ncost against duration (one run each, fresh process):")
        print(f"{'minutes':>8} {'total s':>8} {'s per min':>10} {'peak RSS MB':>12} {'above load MB':>14} "
              f"{'tracemalloc MB':>15}")
        minutes = sorted({1.0, 2.5, 5.0, args.long_minutes})
        for mins in minutes:
            long_wav = Path(tmp) / f"long_{mins}.wav"
            make_speech(60.0 * mins, long_wav)
            x = measure(long_wav, args.model, args.device, args.threads, 1)
            t = x["runs"][0]["total"]
            print(f"{mins:8.1f} {t:8.2f} {t / mins:10.3f} {x['peak_rss_mb']:12.0f} "
                  f"{x['peak_rss_mb'] - x['rss_before_mb']:14.0f} {x['tracemalloc_peak_mb']:15.1f}")


if __name__ == "__main__":
    main()
