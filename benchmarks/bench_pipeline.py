"""60 s of speech → saved .blend: stage times and peak memory, cold (fresh processes).

    .venv/bin/python benchmarks/bench_pipeline.py [--seconds 60] [--runs 3] [--model stage2|procedural]
                                                  [--transcript]

Prints (1) the wall time of the whole ``avitalk bake`` command in a new process — imports, model
files and all, which is what the ≤ 8 s target is about — and (2) per-stage times and peak RSS
measured inside another fresh process. The speech is espeak-ng output, so no recording is needed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Maybe the baby wants more milk before bedtime.",
    "Please bring me the big blue bottle from the cupboard.",
    "We were walking home when the rain began to pour.",
    "My mother made marmalade in the summer months.",
    "Bob met Pam by the map near the old mill.",
]


def make_speech(seconds: float, path: Path) -> str:
    import numpy as np
    import soundfile as sf

    from avi_talking.core.tts import espeak

    parts, words, total, k = [], [], 0.0, 0
    while total < seconds:
        text = SENTENCES[k % len(SENTENCES)]
        speech = espeak.synthesize(text, rate=150 + 10 * (k % 5))
        gap = np.zeros(int(0.25 * speech.sr), np.float32)
        parts += [speech.samples, gap]
        words.append(text)
        total += speech.duration + 0.25
        k += 1
    samples = np.concatenate(parts)[: int(seconds * speech.sr)]
    sf.write(path, samples, speech.sr, subtype="PCM_16")
    return " ".join(words)


STAGES = r"""
import json, resource, sys, time
t = time.perf_counter()
from pathlib import Path
from avi_talking.core.audio.loader import load_audio
from avi_talking.core.pipeline.analysis import analyze_audio
from avi_talking.core.pipeline.generate import synthesize_animation
from avi_talking.core.pipeline.options import GenerateOptions
times = {"import": time.perf_counter() - t}
wav, out, transcript, model = Path(sys.argv[1]), Path(sys.argv[2]), (sys.argv[3] or None), sys.argv[4]
options = GenerateOptions(model=model, transcript=transcript)
if model != "procedural":
    from avi_talking.core.stage1.predict import load_predictor
    from avi_talking.core.stage2.runtime import load_stage2
    t = time.perf_counter(); load_stage2(); load_predictor(); times["load models"] = time.perf_counter() - t
t = time.perf_counter(); audio = load_audio(wav); times["load audio"] = time.perf_counter() - t
analysis = analyze_audio(audio, 30.0, transcript, with_phones=options.is_procedural)
times["features"] = analysis.timings["features"]
if options.is_procedural:
    times["phones"] = analysis.timings["phones"]
t = time.perf_counter()
anim = synthesize_animation(analysis, options)
times["synthesis"] = time.perf_counter() - t  # stage 2: stage 1's instructions + the network
t = time.perf_counter()
from avi_talking.addon import headless
times["import bpy"] = time.perf_counter() - t
summary = headless.bake_to_blend(anim, wav, out)
for stage in ("scene", "bake", "save"):
    times[stage] = summary.timings[stage]
times["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
times["blend_mb"] = out.stat().st_size / 1e6
print(json.dumps(times))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="stage2", help="stage2 (the default of avitalk bake) or procedural")
    parser.add_argument("--transcript", action="store_true",
                        help="procedural model: forced alignment instead of recognition")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        text = make_speech(args.seconds, wav)
        txt = Path(tmp) / "speech.txt"
        txt.write_text(text)
        extra = ["--model", args.model] + (["--transcript", str(txt)] if args.transcript else [])
        mode = "stage 1 + stage 2" if args.model != "procedural" else \
            "procedural, " + ("forced alignment" if args.transcript else "phone recognition")
        print(f"{args.seconds:.0f} s of espeak-ng speech, {mode}")
        walls = []
        for run in range(args.runs):
            out = Path(tmp) / f"cli{run}.blend"
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "avi_talking", "-q", "bake", str(wav), "-o", str(out), *extra],
                           check=True, capture_output=True)
            walls.append(time.perf_counter() - t)
        print(f"avitalk bake, cold process: best {min(walls):.2f} s, median {sorted(walls)[len(walls) // 2]:.2f} s "
              f"over {args.runs} runs (target <= 8 s)")
        out = Path(tmp) / "stages.blend"
        proc = subprocess.run([sys.executable, "-c", STAGES, str(wav), str(out), text if args.transcript else "",
                               args.model],
                              check=True, capture_output=True, text=True)
        stages = json.loads(proc.stdout.strip().splitlines()[-1])
        for name, value in stages.items():
            unit = "MB" if name.endswith("_mb") else "s"
            print(f"  {name:<14} {value:8.3f} {unit}")


if __name__ == "__main__":
    main()
