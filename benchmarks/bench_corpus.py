"""Corpus build throughput: builds a corpus into a temporary folder and prints audio hours per wall hour
and the extrapolated time for a 10-hour corpus (target: under an hour on a 2-core machine).

    .venv/bin/python benchmarks/bench_corpus.py [--hours 0.5] [--workers 2] [--seed 0] [--keep DIR]

The build runs in a fresh process through the CLI, as a user would run it, so process start-up, imports
and worker spawning are all counted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=0.5)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", metavar="DIR", help="build here and keep the corpus (must not exist)")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench_corpus_"))
    out = Path(args.keep) if args.keep else scratch / "corpus"
    try:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "avi_talking", "-q", "corpus", "build", "--hours", str(args.hours),
                               "--out", str(out), "--seed", str(args.seed), "--workers", str(args.workers)],
                              capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        manifest = json.loads((out / "manifest.json").read_text())
        seconds = sum(c["duration"] for c in manifest["clips"])
        size = sum(p.stat().st_size for p in out.iterdir())
        rate = seconds / wall
        print(f"cpu cores            {os.cpu_count()}, workers {args.workers}")
        print(f"built                {seconds / 3600:.3f} h of audio, {len(manifest['clips'])} clips, "
              f"{len(manifest['shards'])} shards, {size / 1e6:.0f} MB")
        print(f"wall time            {wall:.1f} s (whole command, fresh process)")
        print(f"throughput           {rate:.0f} audio hours per wall hour")
        print(f"10-hour corpus       {36000 / rate / 60:.1f} min (extrapolated; target < 60 min)")
        print(f"disk per audio hour  {size / 1e6 / (seconds / 3600):.0f} MB")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
