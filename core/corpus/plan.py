"""The corpus plan: every clip's split, voice, sentences, instructions and prosody, drawn in one
process from the seed before any audio is made, so the corpus is the same whatever the worker count.

Sentences are unique across the whole corpus (a drawn duplicate is redrawn), so no test or validation
text is ever in training; voice variants are split by ``voices.SPLIT_VARIANTS``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..instructions import EMOTIONS, Instruction, sample_instruction
from .sentences import SentenceGenerator
from .voices import (
    ACCENTS,
    ENGINE_SHARE,
    ENGINE_VOICES,
    SPLIT_SHARE,
    SPLIT_VARIANTS,
    SPLITS,
    Prosody,
    base_prosody,
    emotional_prosody,
)

# seconds per word at rate R is about SECONDS_PER_WORD * 60 / R (espeak-ng, measured on these sentences)
SECONDS_PER_WORD = 0.92
EMOTION_SHARE = {e: (0.25 if e == "neutral" else 0.75 / 7) for e in EMOTIONS}
TWO_SEGMENT_SHARE = 0.3
_EMPHATIC = {"angry": 0.35, "surprised": 0.35, "happy": 0.2, "fearful": 0.2}


@dataclass(frozen=True)
class SegmentPlan:
    sentences: tuple[str, ...]
    emphasis: tuple[int, ...]  # per sentence, the word to stress (−1: none)
    instruction: Instruction
    prosody: Prosody


@dataclass(frozen=True)
class ClipPlan:
    index: int
    clip_id: str
    split: str
    accent: str  # espeak-ng language (for the babble voices of every engine's clips)
    variant: str  # espeak-ng variant, or the engine's voice name
    segments: tuple[SegmentPlan, ...]
    lead: float  # silence before the speech, seconds
    tail: float  # silence after it
    gaps: tuple[float, ...]  # pauses between consecutive sentences of the clip
    seed: int  # the corpus seed; the clip's own generator is seeded with (seed, index)
    engine: str = "espeak"

    @property
    def voice(self) -> str:
        return f"{self.accent}+{self.variant}" if self.engine == "espeak" else f"{self.engine}:{self.variant}"

    @property
    def text(self) -> str:
        return " ".join(s for seg in self.segments for s in seg.sentences)

    def estimated_seconds(self) -> float:
        speech = sum(SECONDS_PER_WORD * 60.0 / seg.prosody.rate * len(s.split())
                     for seg in self.segments for s in seg.sentences)
        return speech + self.lead + self.tail + sum(self.gaps)


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


class Planner:
    def __init__(self, seed: int, engine_share: dict[str, float] | None = None) -> None:
        self.seed = seed
        self.engine_share = dict(ENGINE_SHARE if engine_share is None else engine_share)
        self.rng = np.random.default_rng([seed, 0x91A7])
        self.generator = SentenceGenerator()
        self.seen: set[str] = set()

    def _sentence(self) -> str:
        for _ in range(50):
            text = self.generator.sentence(self.rng)
            if text not in self.seen:
                self.seen.add(text)
                return text
        raise RuntimeError("the sentence generator keeps repeating itself")

    def _segment(self, n_sentences: int, emotion: str, intensity: float, base: Prosody) -> SegmentPlan:
        rng = self.rng
        instruction = sample_instruction(emotion, intensity, rng)
        sentences = tuple(self._sentence() for _ in range(n_sentences))
        chance = 0.15 + _EMPHATIC.get(emotion, 0.0) * intensity
        emphasis = tuple(int(rng.integers(len(s.split()))) if rng.random() < chance else -1 for s in sentences)
        return SegmentPlan(sentences, emphasis, instruction, emotional_prosody(base, emotion, intensity))

    def clip(self, index: int) -> ClipPlan:
        rng = self.rng
        split = _choice(rng, SPLIT_SHARE)
        # engines with a voice in this split (espeak-ng has voices in every split)
        engines = {e: w for e, w in self.engine_share.items()
                   if w > 0 and (e == "espeak" or ENGINE_VOICES[e][split])} or {"espeak": 1.0}
        engine = _choice(rng, engines)
        variants = SPLIT_VARIANTS[split] if engine == "espeak" else ENGINE_VOICES[engine][split]
        variant = variants[int(rng.integers(len(variants)))]
        accent = _choice(rng, ACCENTS)
        base = base_prosody(rng)
        emotion = _choice(rng, EMOTION_SHARE)
        intensity = float(rng.uniform(0.2, 1.0))
        segments: tuple[SegmentPlan, ...]
        if rng.random() < TWO_SEGMENT_SHARE:
            second = _choice(rng, EMOTION_SHARE)
            second_intensity = float(rng.uniform(0.2, 1.0))
            if second == emotion:  # same emotion: make the instructions differ in strength
                second_intensity = float(np.clip(1.2 - intensity + rng.uniform(-0.1, 0.1), 0.2, 1.0))
            segments = (self._segment(int(rng.integers(1, 3)), emotion, intensity, base),
                        self._segment(int(rng.integers(1, 3)), second, second_intensity, base))
        else:
            segments = (self._segment(int(rng.integers(1, 4)), emotion, intensity, base),)
        n_sentences = sum(len(s.sentences) for s in segments)
        gaps = tuple(float(rng.uniform(0.12, 0.9)) for _ in range(n_sentences - 1))
        return ClipPlan(index, f"{split}-{index:06d}", split, accent, variant, segments,
                        float(rng.uniform(0.1, 0.6)), float(rng.uniform(0.15, 0.6)), gaps, self.seed, engine)


def plan_corpus(hours: float, seed: int, engine_share: dict[str, float] | None = None) -> list[ClipPlan]:
    """Clips until their estimated duration reaches ``hours`` (the built corpus reports the real total)."""
    planner = Planner(seed, engine_share)
    plans: list[ClipPlan] = []
    total = 0.0
    while total < hours * 3600.0:
        plan = planner.clip(len(plans))
        plans.append(plan)
        total += plan.estimated_seconds()
    for split in SPLITS:  # every split gets at least one clip, even in a tiny corpus
        if not any(p.split == split for p in plans):
            plans.append(_forced_split(planner, len(plans), split))
    return plans


def _forced_split(planner: Planner, index: int, split: str) -> ClipPlan:
    plan = planner.clip(index)
    variants = SPLIT_VARIANTS[split]
    variant = variants[index % len(variants)]
    return ClipPlan(plan.index, f"{split}-{index:06d}", split, plan.accent, variant, plan.segments, plan.lead,
                    plan.tail, plan.gaps, plan.seed, "espeak")
