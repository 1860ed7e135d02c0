"""What a bare emotion word does through the shipped stage 2: per emotion ("A happy person speaks." ...), the
mean over speech frames of the emotion's main ARKit channels, next to the neutral instruction's, and how
much of the requested action units the animation realises (adherence: realised / requested, summed).

    .venv/bin/python benchmarks/bench_emotion_prototypes.py CLIP.wav [--json OUT.json] [--runtime numpy]

``--json`` also keeps each emotion's frame with a moderately open mouth mid-speech (52 ARKit values), for the
picture of the eight emotions (scripts/render_head.py --emotions OUT.json).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from avi_talking.core.arkit import INDEX
from avi_talking.core.instructions import Segment
from avi_talking.core.instructions.text import EMOTION_WORDS, reading_line
from avi_talking.core.metrics.scores import adherence
from avi_talking.core.pipeline.generate import generate
from avi_talking.core.pipeline.instruction_choice import parse_instruction
from avi_talking.core.pipeline.options import GenerateOptions

# the channels that make each emotion readable (both sides averaged)
MAIN_CHANNELS: dict[str, tuple[str, ...]] = {
    "neutral": ("browDown", "mouthSmile"),
    "happy": ("mouthSmile", "cheekSquint"),
    "sad": ("browInnerUp", "browDown", "mouthFrown"),  # inner ends up, not pulled back down
    "angry": ("browDown", "eyeSquint"),
    "surprised": ("browInnerUp", "browOuterUp", "eyeWide"),
    "fearful": ("browInnerUp", "browDown", "eyeWide", "mouthStretch"),  # raised and drawn together: not surprise
    "disgusted": ("noseSneer", "mouthUpperUp"),
    "contempt": ("mouthSmileLeft", "mouthSmileRight", "mouthDimpleLeft"),
}


def sentence(emotion: str, how: str = "") -> str:
    if emotion == "neutral":
        return "A neutral person speaks."
    word = f"{how} {EMOTION_WORDS[emotion]}".strip()
    return f"{'An' if word[0] in 'aeiou' else 'A'} {word} person speaks."


def channel(values: np.ndarray, name: str) -> np.ndarray:
    """One channel, or the mean of its Left/Right pair."""
    if name in INDEX:
        return values[:, INDEX[name]]
    return 0.5 * (values[:, INDEX[name + "Left"]] + values[:, INDEX[name + "Right"]])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--runtime", default="numpy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--adverb", default="", help="an intensity word before the emotion ('very', 'slightly')")
    args = parser.parse_args()
    runs = {}
    for emotion in MAIN_CHANNELS:
        start = time.perf_counter()
        options = GenerateOptions(instruction_text=sentence(emotion, args.adverb), runtime=args.runtime, seed=args.seed)
        gen = generate(args.clip, options)
        runs[emotion] = gen
        print(f"{emotion}: {time.perf_counter() - start:.1f} s", flush=True)
    voiced = runs["neutral"].analysis.features.voiced
    neutral = runs["neutral"].animation.values[:, :52]  # the face (head rotations after it)
    n = min(len(voiced), len(neutral))
    speech = np.flatnonzero(voiced[:n])
    # the picture's frame: a moderately open mouth in the middle half of the speech (the neutral take's jaw
    # nearest its 60th percentile there), so each face shows its mouth as well as its brows; a frame at a
    # p/b/m hides the mouth, the widest vowel lets the open jaw dominate every face
    middle = speech[len(speech) // 4 : max(len(speech) // 4 + 1, 3 * len(speech) // 4)]
    jaw = neutral[middle, INDEX["jawOpen"]]
    mid = int(middle[int(np.argmin(np.abs(jaw - np.percentile(jaw, 60))))])
    fps = runs["neutral"].animation.fps
    print(f"\n{len(speech)} speech frames of {n}; mid-speech frame {mid}\n")
    print("| emotion | text | channel | mean over speech | neutral instruction |")
    print("|---|---|---|---|---|")
    requested = realised = 0.0
    out: dict[str, object] = {"clip": str(args.clip), "mid_frame": mid, "emotions": {}}
    for emotion, gen in runs.items():
        values = gen.animation.values[:n, :52]
        instruction = parse_instruction(sentence(emotion, args.adverb))
        for name in MAIN_CHANNELS[emotion]:
            mean = float(channel(values[speech], name).mean())
            base = float(channel(neutral[speech], name).mean())
            print(f"| {emotion} | {sentence(emotion, args.adverb)} | {name} | {mean:.3f} | {base:.3f} |")
        # speech frames only, as one segment over them all
        for _au, want, got in adherence(values[speech], neutral[speech], [Segment(0.0, 1e9, instruction)], fps):
            requested += want
            realised += got
        out["emotions"][emotion] = {  # type: ignore[index]
            "text": sentence(emotion, args.adverb), "instruction": instruction.to_dict(),
            "reading": reading_line(instruction),
            "means": {name: float(channel(values[speech], name).mean()) for name in MAIN_CHANNELS[emotion]},
            "mid_frame": [float(v) for v in values[mid]],
        }
    ratio = realised / requested if requested else float("nan")
    print(f"\nadherence over the eight (speech frames): realised / requested = {ratio:.3f}")
    out["adherence_ratio"] = ratio
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
