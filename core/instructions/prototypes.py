"""Typical action units per emotion (EMFACS-style prototypes) and seeded per-clip variation.

Weights are AU intensities at emotion intensity 1. ``required`` AUs always appear; ``optional`` ones
appear with the given chance; ``one_of`` picks one alternative (e.g. an angry mouth is tightened or
pressed). Contempt is one-sided: the side is drawn per clip.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .adverbs import MIN_AU, bin_centre
from .schema import BILATERAL_OF, EMOTIONS, Instruction


@dataclass(frozen=True)
class Prototype:
    required: dict[str, float]
    optional: dict[str, tuple[float, float]] = field(default_factory=dict)  # AU → (weight, chance)
    one_of: tuple[dict[str, float], ...] = ()


# Sad and fearful lean on the units that tell them apart on a face (measured through stage 2 on the built-in
# head, docs/instructions.md): sadness on the inner brow and the lip corners, with less brow lowerer (AU4 pulls
# the raised inner ends back down and flattens the oblique brow); fear on brows raised *and* drawn together
# (AU1 over AU2, with AU4), wide eyes and lips stretched sideways, which keep it from reading as surprise.
PROTOTYPES: dict[str, Prototype] = {
    "neutral": Prototype({}),
    "happy": Prototype({"AU6": 0.7, "AU12": 0.9}, {"AU25": (0.35, 0.4)}),
    "sad": Prototype({"AU1": 0.9, "AU4": 0.4, "AU15": 0.9}, {"AU17": (0.4, 0.4)}),
    "angry": Prototype({"AU4": 0.9, "AU5": 0.5, "AU7": 0.7}, {"AU17": (0.3, 0.3)},
                       ({"AU23": 0.6}, {"AU24": 0.7}, {"AU23": 0.5, "AU24": 0.6})),
    "surprised": Prototype({"AU1": 0.8, "AU2": 0.8, "AU5": 0.8, "AU26": 0.6}, {"AU25": (0.5, 0.6)}),
    "fearful": Prototype({"AU1": 0.9, "AU2": 0.5, "AU4": 0.7, "AU5": 0.9, "AU20": 0.9, "AU26": 0.4},
                         {"AU25": (0.4, 0.5), "AU45": (0.6, 0.3)}),
    # AU9 0.9, AU10 0.8 (were 0.8, 0.6): at the plain word's 0.643 the nose wrinkle and the raised upper lip were
    # the subtlest of the eight on the built-in head; now AU9 reads "quite", AU10 "fairly"
    "disgusted": Prototype({"AU9": 0.9, "AU15": 0.5}, {"AU4": (0.3, 0.3)},
                           ({"AU10": 0.8}, {"AU10": 0.4, "AU17": 0.4})),
    # 0.9 (was 0.6): at the bare word's 0.643 a 0.6 smirk stayed in the "mildly" bin and the face read as neutral
    "contempt": Prototype({}, {}, ({"AU12L": 0.9, "AU14L": 0.9}, {"AU12R": 0.9, "AU14R": 0.9})),
}

# weak AUs that may come on top of an emotion without contradicting it (small variation)
EXTRAS: dict[str, tuple[str, ...]] = {
    "neutral": ("AU1", "AU2", "AU4", "AU7", "AU45"),
    "happy": ("AU1", "AU2", "AU26", "AU45"),
    "sad": ("AU7", "AU17", "AU45"),
    "angry": ("AU9", "AU10", "AU45"),
    "surprised": ("AU25", "AU45"),
    "fearful": ("AU7", "AU45"),
    "disgusted": ("AU4", "AU7", "AU45"),
    "contempt": ("AU2", "AU7", "AU45"),
}
_DROP_CHANCE = 0.12  # a required AU is left out now and then (people differ)
_EXTRA_CHANCE = 0.2  # and a stray weak AU is added now and then


# EMFACS units the sampler above only draws now and then but a bare emotion word should show: fear's lid
# tightener (1+2+4+5+7+20+26). Disgust's AU16 (lower lip depressor) is not a unit of ``schema.AUS`` — adding
# one would change stage 2's input size — so disgust reads as 9+15 with AU10 (EMFACS's 9/10 variants).
_EMFACS_EXTRA: dict[str, dict[str, float]] = {"fearful": {"AU7": 0.4}}


def prototype_aus(emotion: str, intensity: float = 1.0) -> dict[str, float]:
    """The required AUs of ``emotion`` at ``intensity`` (first alternative for ``one_of``) plus the EMFACS
    extras above, no randomness."""
    proto = PROTOTYPES[emotion]
    base = dict(proto.required)
    if proto.one_of:
        base.update(proto.one_of[0])
    base.update(_EMFACS_EXTRA.get(emotion, {}))
    return {k: min(1.0, w * intensity) for k, w in base.items()}


def _base(au: str) -> str:
    return BILATERAL_OF.get(au, au)


def expansion(emotion: str, intensity: float, named: Iterable[str] = ()) -> dict[str, float]:
    """What a bare emotion word adds to an instruction: ``prototype_aus`` at ``intensity``, each value moved to
    its adverb bin's centre (so text → instruction → text is stable), leaving out the units the text already
    ``named`` (either side of them: "left brow lowered" stands for the brow) and, when the text names a unit of
    ``one_of`` alternatives, the default alternative's units those alternatives do not all share ("lips
    pressed" replaces anger's tightened lips; "chin raised" keeps disgust's AU10, as in its 10+17 variant; a
    right-side smirk replaces contempt's left). Neutral adds nothing."""
    if emotion == "neutral" or intensity <= 0.0:
        return {}
    given = {_base(au) for au in named}
    proto = PROTOTYPES[emotion]
    picked = [alt for alt in proto.one_of if given & {_base(au) for au in alt}]
    replaced = {au for au in (proto.one_of[0] if picked else {}) if not all(au in alt for alt in picked)}
    out: dict[str, float] = {}
    for au, value in prototype_aus(emotion, intensity).items():
        if _base(au) in given or au in replaced:
            continue
        if value >= MIN_AU:
            out[au] = bin_centre(value)
    return out


def sample_instruction(emotion: str, intensity: float, rng: np.random.Generator) -> Instruction:
    """A varied instruction for ``emotion``: prototype AUs scaled by ``intensity`` × U(0.8, 1.2),
    occasional drops and extras. Neutral gets intensity 0 and at most a couple of weak AUs."""
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}")
    aus: dict[str, float] = {}
    if emotion == "neutral":
        for _ in range(int(rng.integers(0, 3)) if rng.random() < 0.4 else 0):
            aus[str(rng.choice(EXTRAS["neutral"]))] = float(rng.uniform(0.05, 0.25))
        return Instruction("neutral", 0.0, aus)
    proto = PROTOTYPES[emotion]
    weights = dict(proto.required)
    if proto.one_of:
        weights.update(proto.one_of[int(rng.integers(len(proto.one_of)))])
    for name, (weight, chance) in proto.optional.items():
        if rng.random() < chance:
            weights[name] = weight
    if len(weights) > 2:
        for name in list(weights):
            if rng.random() < _DROP_CHANCE / len(weights):
                del weights[name]
    for name, weight in weights.items():
        aus[name] = float(np.clip(weight * intensity * rng.uniform(0.8, 1.2), 0.0, 1.0))
    if rng.random() < _EXTRA_CHANCE:
        choices = [a for a in EXTRAS[emotion] if a not in aus]
        if choices:
            aus[str(rng.choice(choices))] = float(rng.uniform(0.05, 0.2))
    aus = {k: v for k, v in aus.items() if v >= 0.03}
    return Instruction(emotion, float(intensity), aus)
