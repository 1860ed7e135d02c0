"""Plot the baseline's curves for an audio file (the README's picture).

    .venv/bin/python scripts/plot_curves.py samples/sample.wav docs/images/curves.png [--transcript FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from avi_talking.core.lipsync.phone_timing import read_transcript
from avi_talking.core.phonemes import BILABIALS, SILENCE
from avi_talking.core.pipeline.generate import generate
from avi_talking.core.pipeline.options import GenerateOptions
from avi_talking.core.rigs.builtin_head.measure import lip_gap_mm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("audio", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--transcript")
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args()
    transcript = read_transcript(args.transcript) if args.transcript else None
    done = generate(args.audio, GenerateOptions(model="procedural", fps=args.fps, transcript=transcript))
    anim, analysis = done.animation, done.analysis
    t = anim.times()
    audio = analysis.audio
    fig, axes = plt.subplots(4, 1, figsize=(12, 7.5), sharex=True, gridspec_kw={"height_ratios": [1.2, 1.4, 0.8, 0.8]})
    axes[0].plot(np.arange(len(audio.samples)) / audio.sr, audio.samples, lw=0.3, color="0.4")
    for phone in analysis.phones:
        if phone.label == SILENCE:
            continue
        axes[0].axvspan(phone.start, phone.end, color="tab:red" if phone.label in BILABIALS else "tab:blue",
                        alpha=0.25 if phone.label in BILABIALS else 0.06, lw=0)
        axes[0].text(phone.centre, 0.9 * np.abs(audio.samples).max(), phone.label, fontsize=5.5, ha="center",
                     color="tab:red" if phone.label in BILABIALS else "0.2")
    axes[0].set_ylabel("audio +\nphones")
    for name in ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthStretchLeft", "mouthRollLower"):
        axes[1].plot(t, anim.channel(name), lw=1.1, label=name)
    axes[1].legend(fontsize=7, ncol=3, loc="upper right")
    axes[1].set_ylabel("mouth")
    axes[2].plot(t, lip_gap_mm(anim.values[:, :52]), color="k", lw=1.0)
    axes[2].set_ylabel("lip gap\n(mm)")
    for name in ("eyeBlinkLeft", "browInnerUp"):
        axes[3].plot(t, anim.channel(name), lw=1.1, label=name)
    axes[3].plot(t, analysis.features.voiced * 0.15, color="0.6", lw=0.8, label="voice activity")
    axes[3].legend(fontsize=7, loc="upper right")
    axes[3].set_ylabel("eyes, brows")
    axes[3].set_xlabel("seconds")
    fig.suptitle(f"{args.audio.name}: procedural baseline at {anim.fps:g} fps "
                 f"({'forced alignment' if transcript else 'phone recognition'}); red = p/b/m", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
