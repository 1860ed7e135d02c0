"""espeak-ng voices for the corpus: accents × voice variants, the split rule, and emotion prosody.

Split rule: a voice *variant* (``+f4``) belongs to exactly one split, so no test or validation
variant is ever heard in training; accents are shared (there are only eight).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# espeak-ng English voices (language names) and how often each is drawn
ACCENTS: dict[str, float] = {
    "en-us": 0.35, "en-us-nyc": 0.1, "en": 0.15, "en-gb-x-rp": 0.1, "en-gb-scotland": 0.08,
    "en-gb-x-gbclan": 0.07, "en-gb-x-gbcwmd": 0.07, "en-029": 0.08,
}  # fmt: skip

# variants under espeak-ng-data/voices/!v that sound human (robots, whisper and effects left out)
SPLIT_VARIANTS: dict[str, tuple[str, ...]] = {
    "train": (
        "m1", "m2", "m3", "m5", "m7", "m8", "f1", "f3", "f5", "klatt", "klatt4", "klatt5", "klatt6",
        "Alex", "Alicia", "Denis", "Gene", "Mike", "michel", "max", "john", "paul", "quincy", "rob",
        "robert", "edward", "david", "benjamin", "caleb", "grandpa", "norbert", "adam", "boris",
        "linda", "steph", "belinda", "aunty", "grandma", "shelby", "croak", "Mario", "Michael",
    ),
    "val": ("f2", "m4", "klatt2", "Lee", "zac"),
    "test": ("f4", "m6", "klatt3", "Annie", "travis"),
}  # fmt: skip
SPLITS: tuple[str, ...] = ("train", "val", "test")
SPLIT_SHARE: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}


def split_of_variant(variant: str) -> str:
    for split, variants in SPLIT_VARIANTS.items():
        if variant in variants:
            return split
    raise KeyError(f"voice variant {variant!r} is in no split")


@dataclass(frozen=True)
class Prosody:
    """espeak-ng parameters: rate in words per minute, pitch/range 0..100, volume 0..200, word gap in
    10 ms units."""

    rate: int
    pitch: int
    pitch_range: int
    volume: int
    word_gap: int


# Emotion offsets at intensity 1: (rate factor − 1, pitch, range, volume). Angry is loud, fast, a little
# low with a wide range; sad slow, quiet, low and flat; surprised high and wide; fearful fast and high.
EMOTION_PROSODY: dict[str, tuple[float, int, int, int]] = {
    "neutral": (0.0, 0, 0, 0),
    "happy": (0.08, 12, 15, 10),
    "sad": (-0.22, -12, -25, -30),
    "angry": (0.12, -6, 25, 40),
    "surprised": (0.05, 20, 30, 15),
    "fearful": (0.15, 15, -10, -10),
    "disgusted": (-0.1, -8, 5, 0),
    "contempt": (-0.08, -5, -10, -5),
}


def base_prosody(rng: np.random.Generator) -> Prosody:
    """A speaker's own manner, before emotion."""
    return Prosody(int(rng.integers(135, 215)), int(rng.integers(25, 76)), int(rng.integers(20, 81)),
                   int(rng.integers(80, 121)), int(rng.choice([0, 0, 0, 1, 2, 3])))


def emotional_prosody(base: Prosody, emotion: str, intensity: float) -> Prosody:
    rate_f, pitch, rng_, volume = EMOTION_PROSODY[emotion]
    return Prosody(
        int(np.clip(round(base.rate * (1.0 + rate_f * intensity)), 90, 320)),
        int(np.clip(round(base.pitch + pitch * intensity), 0, 100)),
        int(np.clip(round(base.pitch_range + rng_ * intensity), 0, 100)),
        int(np.clip(round(base.volume + volume * intensity), 20, 200)),
        base.word_gap,
    )
