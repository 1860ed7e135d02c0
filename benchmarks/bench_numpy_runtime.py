"""Stage 2 alone on the numpy runtime against the torch runtime, in one run: 60 s and 600 s of speech.

    .venv/bin/python benchmarks/bench_numpy_runtime.py [--seconds 60 600] [--runs 5] [--device cpu]
                                                        [--threads N]

Time: one process loads both runtimes and alternates them take by take (numpy, torch, numpy, ...), so a
machine whose load changes while it runs slows both alike; the figure is the median of ``--runs`` takes of
prepare (log-mel front end + audio encoder) + animate (instruction encoder, prior, decoder, resampling,
blinks, gaze), after one untimed warm-up take each; RTF = that time / audio duration. The front end is the
same code in both runtimes and is also shown apart ("net only" leaves it out). Memory and load time: one
fresh process per runtime (import + model load, then one take), so its peak RSS is that runtime's alone.

Threads are the machine's unless ``--threads`` sets OPENBLAS_NUM_THREADS/OMP_NUM_THREADS/MKL_NUM_THREADS for
the children (the torch runtime pins itself to one CPU thread either way, core/stage2/torch_backend.py).
The speech is espeak-ng output repeated.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import make_speech

SEGMENTS = r"""
from avi_talking.core.instructions import Instruction, Segment
def segments(duration):
    return [Segment(0.0, duration / 2, Instruction("happy", 0.6, {"AU6": 0.4, "AU12": 0.6})),
            Segment(duration / 2, duration, Instruction("sad", 0.5, {"AU1": 0.5, "AU15": 0.5}))]
"""

# one runtime in a fresh process: import + load time, one take, peak RSS
MEMORY = SEGMENTS + r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
wav, runtime, device = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
from avi_talking.core.audio.loader import load_audio
from avi_talking.core.stage2.synth import Stage2Model
model = Stage2Model.load(device=device, runtime=runtime)
load_s = time.perf_counter() - t
audio = load_audio(wav, max_seconds=3600)
anim = model.animate(model.prepare(audio, 30.0), segments(audio.duration), 0)
print(json.dumps({"load_s": load_s, "runtime": anim.meta["runtime"], "torch_imported": "torch" in sys.modules,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# both runtimes in one process, alternating take by take
SPEED = SEGMENTS + r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
wav, device, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
from avi_talking.core.audio.loader import load_audio
from avi_talking.core.stage2.synth import Stage2Model
models = [Stage2Model.load(runtime="numpy"), Stage2Model.load(device=device, runtime="torch")]
audio = load_audio(wav, max_seconds=3600)
segs = segments(audio.duration)
for model in models:  # one-off costs (thread pools, first allocations): untimed
    model.animate(model.prepare(audio, 30.0), segs, 0)
rows = {m.runtime: [] for m in models}
for r in range(runs):
    for model in models:
        t0 = time.perf_counter()
        prepared = model.prepare(audio, 30.0)
        t1 = time.perf_counter()
        model.animate(prepared, segs, r + 1)
        if device.startswith("cuda") and model.runtime == "torch":
            import torch
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        rows[model.runtime].append({"features": prepared.timings["features"], "encoder": prepared.timings["encoder"],
                                    "animate": t2 - t1, "total": t2 - t0})
print(json.dumps({"seconds": audio.duration, "rows": rows}))
"""


def run(script: str, args: list[str], threads: int) -> dict:
    env = dict(os.environ)
    if threads:
        env.update({k: str(threads) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median(rows: list[dict], key: str) -> float:
    values = sorted(r[key] for r in rows)
    return values[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, nargs="+", default=[60.0, 600.0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="the torch runtime's device (numpy always runs on the CPU)")
    parser.add_argument("--threads", type=int, default=0, help="BLAS/OpenMP threads for the children (default: "
                                                                "the machine's)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; threads {args.threads or 'as the machine gives'}; torch device {args.device}; "
          f"median of {args.runs} alternating takes after a warm-up")
    print(f"{'audio':>7} {'runtime':>8} {'front end':>10} {'encoder':>8} {'animate':>8} {'stage 2 s':>10} "
          f"{'RTF':>8} {'net only':>9} {'load s':>7} {'peak RSS MB':>12} {'torch loaded':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in args.seconds:
            wav = Path(tmp) / f"speech_{seconds:g}.wav"
            make_speech(seconds, wav)
            speed = run(SPEED, [str(wav), args.device, str(args.runs)], args.threads)
            totals = {}
            for runtime in ("numpy", "torch"):
                device = "cpu" if runtime == "numpy" else args.device
                memory = run(MEMORY, [str(wav), runtime, device], args.threads)
                rows = speed["rows"][runtime]
                total = totals[runtime] = median(rows, "total")
                net = median(rows, "encoder") + median(rows, "animate")
                print(f"{speed['seconds']:6.0f}s {runtime:>8} {median(rows, 'features'):10.3f} "
                      f"{median(rows, 'encoder'):8.3f} {median(rows, 'animate'):8.3f} {total:10.3f} "
                      f"{total / speed['seconds']:8.4f} {net:9.3f} {memory['load_s']:7.2f} "
                      f"{memory['peak_rss_mb']:12.0f} {str(memory['torch_imported']):>13}")
            print(f"{'':>7} numpy / torch stage-2 time: {totals['numpy'] / totals['torch']:.2f}×")


if __name__ == "__main__":
    main()
