"""One planned clip → augmented audio, targets, true phones and its manifest entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio.loader import TARGET_SR
from ..instructions import Instruction, Segment, segment_to_dict, to_text
from ..phonemes import Phone
from . import augment
from .head_motion import head_motion
from .plan import ClipPlan
from .speech import render
from .targets import Targets, make_targets
from .voices import SPLIT_VARIANTS


@dataclass
class BuiltClip:
    audio: np.ndarray  # int16, 16 kHz, augmented
    targets: np.ndarray  # float32 [T, 52]
    head: np.ndarray  # float32 [T, 3] radians (HEAD_ROTATIONS)
    phones: list[Phone]
    meta: dict[str, Any]


def build_clip(plan: ClipPlan, fps: float) -> BuiltClip:
    rng = np.random.default_rng([plan.seed, plan.index, 0xC11])
    speech = render(plan)
    factor = augment.draw_speed(rng)
    samples, phones, segment_times = augment.speed(speech.samples, speech.phones, speech.segment_times, factor)
    instructions = [seg.instruction for seg in plan.segments]
    targets = make_targets(samples, phones, segment_times, instructions, fps, rng)
    head, head_gain = _head(targets, instructions, fps, np.random.default_rng([plan.seed, plan.index, 0x4EAD]))
    params = augment.draw(rng)
    if factor != 1.0:
        params["speed"] = factor
    babble_voices = tuple(f"{plan.accent}+{v}" for v in SPLIT_VARIANTS[plan.split])  # no voice leaks across splits
    audio = augment.apply(samples, params, rng, babble_voices, phones)
    segments = []
    for seg, (start, end) in zip(plan.segments, segment_times, strict=True):
        entry = segment_to_dict(Segment(start, end, seg.instruction, to_text(seg.instruction)))
        p = seg.prosody
        entry["sentences"] = list(seg.sentences)
        entry["prosody"] = {"rate": p.rate, "pitch": p.pitch, "pitch_range": p.pitch_range, "volume": p.volume,
                            "word_gap": p.word_gap}
        segments.append(entry)
    meta: dict[str, Any] = {
        "id": plan.clip_id,
        "index": plan.index,
        "split": plan.split,
        "voice": plan.voice,
        "engine": plan.engine,
        "accent": plan.accent,
        "variant": plan.variant,
        "text": plan.text,
        "emotion": plan.segments[0].instruction.emotion,
        "intensity": round(plan.segments[0].instruction.intensity, 4),
        "segments": segments,
        "duration": round(len(audio) / TARGET_SR, 6),
        "samples": int(len(audio)),
        "frames": int(len(targets.values)),
        "phones": len(phones),
        "augmentation": params,
        "variation": {**targets.info, "head_expressiveness": round(head_gain, 4)},
    }
    return BuiltClip(audio, targets.values, head, phones, meta)


def _head(targets: Targets, instructions: list[Instruction], fps: float,
          rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Head rotations on the clean speech's accents (its own generator, so the face targets are unchanged)."""
    n = len(targets.values)
    weights = targets.weights if targets.weights is not None else np.ones((1, n))
    return head_motion(targets.accents, np.arange(n) / fps, weights, instructions, rng)
