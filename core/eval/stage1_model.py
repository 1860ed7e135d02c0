"""Stage 1 as an ``avitalk eval`` model: the procedural baseline makes the animation (stage 1 does not
animate), the trained predictor makes the instruction segments the stage-1 scores are computed from.

    avitalk eval --model avi-stage1 --set DIR          # the shipped weights
    avitalk eval --model weights/stage1 --set DIR      # weights with a stage-1 model card
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..audio.loader import Audio
from ..instructions import Segment
from ..model_contract import ModelOutput
from ..stage1.predict import load_predictor
from .baseline_model import ProceduralModel


@dataclass
class _Prepared:
    procedural: Any
    instructions: list[Segment]


class Stage1EvalModel:
    def __init__(self, weights: Path | None = None) -> None:
        self.predictor = load_predictor(weights)
        self.procedural = ProceduralModel()
        self.name = "avi-stage1" if weights is None else str(weights)

    def prepare(self, audio: Audio, fps: float, transcript: str | None = None) -> Any:
        return _Prepared(self.procedural.prepare(audio, fps, transcript), self.predictor.analyze(audio).track())

    def generate(self, prepared: Any, instructions: list[Segment] | None, seed: int) -> ModelOutput:
        out = self.procedural.generate(prepared.procedural, instructions, seed)
        return ModelOutput(out.animation, list(prepared.instructions) if instructions is None else None)
