"""The default bake, numpy runtime against torch, on 60 s and 10 min of speech, in one run (issue #16).

    .venv/bin/python benchmarks/bench_default_bake.py [--seconds 60 600] [--runs 5] [--long-runs 3]
                                                      [--stage2-runs 5] [--bpy-python PYTHON]
                                                      [--no-stage2] [--no-zip]

For each length of espeak-ng speech (no recording needed), each run a fresh process:

  (a) ``avitalk bake X.wav -o out.blend`` as a user runs it: the default model (stage 1 + stage 2) on the
      default runtime (auto: numpy on the CPU);
  (b) the same with ``--runtime torch``;
  (c) "Blender's Python": the bpy venv's Python (--bpy-python, default this one) with torch, soundfile,
      soxr, pocketsphinx and librosa blocked (``sys.modules[m] = None`` before anything), running the same
      command in-process (``cli.main(["bake", ...])``), so numpy is all it has;

each as the best and median wall time of --runs (--long-runs for audio over 2 minutes; the three take
turns run by run, so a load that comes and goes slows each alike) and the largest peak RSS. Then one more
process each for (c) and (b) times every stage of the same job — imports, argument parsing, model loads,
load audio, the 30 fps front end, stage 1, stage 2 (log-mel, encoder, prior, decoder, the rest: resampling,
blinks, gaze), import bpy, scene + head, bake, save — with its peak RSS. "First job in Blender" is that
process's time less the imports and the argument parsing: in Blender, bpy and the add-on are loaded when a
job starts (the models are not: they load on the first job).

  (d) stage 2 alone, numpy against torch (benchmarks/bench_numpy_runtime.py: one process alternating the
      runtimes take by take, median of --stage2-runs after a warm-up; load time and peak RSS from a fresh
      process per runtime).

Last, the extension zip is built (scripts/build_extension.py) and its size printed. The load average is
printed with each section: the figures are only comparable within one run of a quiet machine.

Targets (issue #16): the whole default bake of 60 s in Blender's Python with numpy <= 2 s on 2 cores; a cold
``avitalk bake`` of 60 s <= 2.5 s; the zip <= 25 MB.

Takes about 4 minutes on a 2-core machine with the defaults (half of it the 10-minute runs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_numpy_runtime import MEMORY, SPEED, median
from bench_numpy_runtime import run as run_script
from bench_pipeline import make_speech

ROOT = Path(__file__).resolve().parent.parent
BLOCKED = ("torch", "soundfile", "soxr", "pocketsphinx", "librosa")  # what Blender's own Python lacks
TARGETS = {"blender_60s": 2.0, "cold_60s": 2.5, "zip_mb": 25.0}

# the avitalk command line in-process, after blocking modules (argv: blocked names, then the command's)
CLI = r"""
import sys
for name in filter(None, sys.argv[1].split(",")):
    sys.modules[name] = None
from avi_talking.cli import main
raise SystemExit(main(sys.argv[2:]))
"""

# the same job as `avitalk bake`, every stage timed (argv: blocked names, wav, out, runtime)
STAGES = r"""
import sys
for name in filter(None, sys.argv[1].split(",")):
    sys.modules[name] = None
import time
t_start = time.perf_counter()
import json, resource, warnings
from pathlib import Path
warnings.simplefilter("ignore")
from avi_talking.cli import build_parser
from avi_talking.cli.commands._common import options_from
from avi_talking.core.pipeline import generate as G
from avi_talking.core.stage1 import predict as P
from avi_talking.core.stage2.runtime import load_stage2
from avi_talking.core.worker.remote import generate_anywhere
times = {"import avi_talking": time.perf_counter() - t_start}
wav, out, runtime = sys.argv[2], sys.argv[3], sys.argv[4]


def timed(name, fn, then=None):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        result = fn(*args, **kwargs)
        times[name] = times.get(name, 0.0) + time.perf_counter() - t
        if then is not None:
            then(result)
        return result
    return wrapper


t = time.perf_counter()
args = build_parser().parse_args(["-q", "bake", wav, "-o", out, "--runtime", runtime])
options = options_from(args)
times["parse arguments"] = time.perf_counter() - t
t = time.perf_counter()
model = load_stage2(options.weights, options.device, options.runtime)
times["load stage 2"] = time.perf_counter() - t
t = time.perf_counter()
P._default_predictor()
times["load stage 1"] = time.perf_counter() - t


def split_prepare(prepared):
    times["stage 2 log-mel"] = prepared.timings["features"]
    times["stage 2 encoder"] = prepared.timings["encoder"]


G.load_audio = timed("load audio", G.load_audio)
G.analyze_audio = timed("front end 30 fps", G.analyze_audio)
P.predict = timed("stage 1", P.predict)
model.prepare = timed("stage 2 prepare", model.prepare, split_prepare)
model.styles = timed("stage 2 prior", model.styles)
model.decode = timed("stage 2 decoder", model.decode)
model.animate = timed("stage 2 animate", model.animate)
t = time.perf_counter()
animation = generate_anywhere(wav, options)
times["generate"] = time.perf_counter() - t
times["stage 2 rest"] = times.pop("stage 2 animate") - times["stage 2 prior"] - times["stage 2 decoder"]
times.pop("stage 2 prepare")
t = time.perf_counter()
from avi_talking.addon import headless
times["import bpy"] = time.perf_counter() - t
summary = headless.bake_to_blend(animation, Path(wav).resolve(), Path(out))
times["scene + head"] = summary.timings["scene"] + summary.timings["retarget"]
times["bake"] = summary.timings["bake"]
times["save"] = summary.timings["save"]
times["total"] = time.perf_counter() - t_start
times["first job in Blender"] = times["total"] - times["import avi_talking"] - times["parse arguments"] \
    - times["import bpy"]
times["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
times["runtime"] = animation.meta.get("runtime")
times["torch imported"] = sys.modules.get("torch") is not None
print(json.dumps(times))
"""

STAGE_ROWS = ("import avi_talking", "parse arguments", "load stage 2", "load stage 1", "load audio",
              "front end 30 fps", "stage 1", "stage 2 log-mel", "stage 2 encoder", "stage 2 prior",
              "stage 2 decoder", "stage 2 rest", "import bpy", "scene + head", "bake", "save", "total",
              "first job in Blender")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cold(cmds: dict[str, list[str]], runs: int, out: Path) -> dict[str, tuple[list[float], float]]:
    """Wall seconds of ``runs`` fresh processes of each command (each writes ``out``) and their largest peak RSS.
    The commands take turns run by run, so a load that comes and goes on the machine slows each alike."""
    walls: dict[str, list[float]] = {label: [] for label in cmds}
    peaks = dict.fromkeys(cmds, 0.0)
    for _ in range(runs):
        for label, cmd in cmds.items():
            out.unlink(missing_ok=True)
            with tempfile.TemporaryFile() as err:
                t = time.perf_counter()
                proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
                _, status, usage = os.wait4(proc.pid, 0)
                walls[label].append(time.perf_counter() - t)
                proc.returncode = os.waitstatus_to_exitcode(status)
                if proc.returncode != 0 or not out.is_file():
                    err.seek(0)
                    raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.read().decode()}")
            peaks[label] = max(peaks[label], usage.ru_maxrss / 1024)
    return {label: (walls[label], peaks[label]) for label in cmds}


def stages(python: str, blocked: tuple[str, ...], wav: Path, out: Path, runtime: str) -> dict:
    proc = subprocess.run([python, "-c", STAGES, ",".join(blocked), str(wav), str(out), runtime],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best_median(walls: list[float]) -> str:
    return f"{min(walls):6.2f} / {sorted(walls)[len(walls) // 2]:6.2f}"


def bench_bake(seconds: float, wav: Path, tmp: Path, args: argparse.Namespace) -> dict:
    runs = args.runs if seconds <= 120 else args.long_runs
    out = tmp / "out.blend"
    bake = ["-q", "bake", str(wav), "-o", str(out)]
    modes = {
        "(a) avitalk bake (runtime auto -> numpy)": [sys.executable, "-m", "avi_talking", *bake],
        "(b) avitalk bake --runtime torch": [sys.executable, "-m", "avi_talking", *bake, "--runtime", "torch"],
        "(c) Blender's Python, numpy only": [args.bpy_python, "-c", CLI, ",".join(BLOCKED), *bake],
    }
    print(f"\n== {seconds:.0f} s of speech: cold processes taking turns, wall s best / median of {runs}, largest "
          f"peak RSS (load average {load()}) ==")
    result: dict = {"cold": {}}
    for label, (walls, peak) in cold(modes, runs, out).items():
        result["cold"][label[:3]] = walls
        print(f"  {label:<44} {best_median(walls)}   {peak:5.0f} MB")
    numpy_stages = stages(args.bpy_python, BLOCKED, wav, out, "auto")
    torch_stages = stages(sys.executable, (), wav, out, "torch")
    result["stages"] = numpy_stages
    print(f"  stages of one more process each, s         numpy (c)  torch (b)   (load average {load()})")
    for row in STAGE_ROWS:
        print(f"    {row:<41} {numpy_stages.get(row, 0.0):9.3f}  {torch_stages.get(row, 0.0):9.3f}")
    print(f"    {'peak RSS MB':<41} {numpy_stages['peak_rss_mb']:9.0f}  {torch_stages['peak_rss_mb']:9.0f}")
    used = [f"{s['runtime']}/{'torch' if s['torch imported'] else 'no torch'}" for s in (numpy_stages, torch_stages)]
    print(f"    {'runtime used / torch imported':<41} {used[0]:>9}  {used[1]:>9}")
    return result


def bench_stage2(seconds: float, wav: Path, runs: int) -> None:
    speed = run_script(SPEED, [str(wav), "cpu", str(runs)], 0)
    print(f"  (d) stage 2 alone, {speed['seconds']:.0f} s (median of {runs} alternating takes; load average "
          f"{load()}):")
    print(f"      {'runtime':<8} {'log-mel':>8} {'encoder':>8} {'animate':>8} {'stage 2':>8} {'RTF':>7} "
          f"{'import+load':>11} {'peak RSS':>9}")
    totals = {}
    for runtime in ("numpy", "torch"):
        memory = run_script(MEMORY, [str(wav), runtime, "cpu"], 0)
        rows = speed["rows"][runtime]
        total = totals[runtime] = median(rows, "total")
        print(f"      {runtime:<8} {median(rows, 'features'):8.3f} {median(rows, 'encoder'):8.3f} "
              f"{median(rows, 'animate'):8.3f} {total:8.3f} {total / speed['seconds']:7.4f} "
              f"{memory['load_s']:11.2f} {memory['peak_rss_mb']:6.0f} MB")
    print(f"      numpy / torch: {totals['numpy'] / totals['torch']:.2f}x")


def zip_size(tmp: Path) -> float:
    dist = tmp / "dist"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--output-dir", str(dist)],
                          capture_output=True, text=True, check=False)
    zips = sorted(dist.glob("*.zip"))
    if proc.returncode != 0 or not zips:
        raise SystemExit(proc.stderr or proc.stdout)
    size = zips[-1].stat().st_size / 1e6
    print(f"\nextension zip {zips[-1].name}: {size:.1f} MB (target <= {TARGETS['zip_mb']:g} MB)")
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[60.0, 600.0], help="speech lengths")
    parser.add_argument("--runs", type=int, default=5, help="cold runs per mode (default 5)")
    parser.add_argument("--long-runs", type=int, default=3, help="cold runs per mode for audio over 2 min")
    parser.add_argument("--stage2-runs", type=int, default=5, help="alternating stage-2 takes per runtime")
    parser.add_argument("--bpy-python", default=sys.executable,
                        help="the Python with bpy that stands for Blender's (default: this one)")
    parser.add_argument("--no-stage2", action="store_true", help="leave out (d), stage 2 alone")
    parser.add_argument("--no-zip", action="store_true", help="leave out the extension zip")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {load()}; Python {sys.executable}; Blender's stand-in "
          f"{args.bpy_python} without {', '.join(BLOCKED)}")
    t0 = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory(prefix="avitalk-bench-") as name:
        tmp = Path(name)
        for seconds in args.seconds:
            wav = tmp / f"speech_{seconds:g}.wav"
            make_speech(seconds, wav)
            results[seconds] = bench_bake(seconds, wav, tmp, args)
            if not args.no_stage2:
                bench_stage2(seconds, wav, args.stage2_runs)
        size = None if args.no_zip else zip_size(tmp)
    if 60.0 in results:
        cold_a, cold_c = results[60.0]["cold"]["(a)"], results[60.0]["cold"]["(c)"]
        job = results[60.0]["stages"]["first job in Blender"]
        print(f"\ntargets, 60 s: cold avitalk bake best {min(cold_a):.2f} s (<= {TARGETS['cold_60s']:g} s: "
              f"{'met' if min(cold_a) <= TARGETS['cold_60s'] else 'missed'}); Blender's Python, numpy: cold "
              f"process best {min(cold_c):.2f} s, first job with bpy loaded {job:.2f} s (<= "
              f"{TARGETS['blender_60s']:g} s: {'met' if job <= TARGETS['blender_60s'] else 'missed'})"
              + ("" if size is None else f"; zip {size:.1f} MB"))
    print(f"benchmark wall {time.perf_counter() - t0:.0f} s, load average at the end {load()}")


if __name__ == "__main__":
    main()
