"""Corpus voices: espeak-ng accents × voice variants, the other engines' voices, the split rule, and
emotion prosody.

Split rule: an espeak-ng voice *variant* (``+f4``) belongs to exactly one split, so no test or validation
variant is ever heard in training; accents are shared (there are only eight). The other engines' voices
are split by speaker too (``ENGINE_VOICES``); the only neural voice (Piper's joe) trains.
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

# How often each engine speaks a clip (``avitalk corpus build --engines`` overrides), and each engine's
# voices per split. flite and festival's kal are one speaker (kal16 a 16 kHz build of him): all in val,
# so no val speaker trains. SLT (flite and festival HTS) and awb/rms train; festival's ked is the test.
ENGINES: tuple[str, ...] = ("espeak", "piper", "flite", "festival")
ENGINE_SHARE: dict[str, float] = {"espeak": 0.45, "piper": 0.25, "flite": 0.18, "festival": 0.12}
ENGINE_VOICES: dict[str, dict[str, tuple[str, ...]]] = {
    "piper": {"train": ("joe",), "val": (), "test": ()},
    "flite": {"train": ("awb", "rms", "slt"), "val": ("kal", "kal16"), "test": ()},
    "festival": {"train": ("slt_hts",), "val": ("kal",), "test": ("ked",)},
}
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
    """A speaker's own manner, before emotion: wide ranges (real speakers run from slow and flat to
    fast and lively; the real clips measure 1.8-3.2 semitones of F0 spread)."""
    return Prosody(int(rng.integers(120, 231)), int(rng.integers(15, 86)), int(rng.integers(10, 96)),
                   int(rng.integers(60, 141)), int(rng.choice([0, 0, 0, 1, 2, 3])))


def engine_controls(p: Prosody) -> dict[str, float]:
    """The espeak-ng prosody as the other engines' controls: speed factor, semitones from the voice's
    own pitch, F0-spread factor, output gain (see ``core/tts``)."""
    return {"rate": p.rate / 170.0, "pitch_st": (p.pitch - 50) / 50.0 * 5.0,
            "range_factor": 0.4 + 1.2 * p.pitch_range / 100.0, "gain": p.volume / 100.0}


def emotional_prosody(base: Prosody, emotion: str, intensity: float) -> Prosody:
    rate_f, pitch, rng_, volume = EMOTION_PROSODY[emotion]
    return Prosody(
        int(np.clip(round(base.rate * (1.0 + rate_f * intensity)), 90, 320)),
        int(np.clip(round(base.pitch + pitch * intensity), 0, 100)),
        int(np.clip(round(base.pitch_range + rng_ * intensity), 0, 100)),
        int(np.clip(round(base.volume + volume * intensity), 20, 200)),
        base.word_gap,
    )
