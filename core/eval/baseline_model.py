"""The procedural baseline as a model of the contract (``core/model_contract.py``), so ``avitalk eval``
measures it like any trained model."""

from __future__ import annotations

from typing import Any

from ..audio.loader import Audio
from ..instructions.schema import Segment
from ..model_contract import ModelOutput


class ProceduralModel:
    """The procedural baseline through the normal pipeline: pocketsphinx phones (recognition, or
    alignment when a transcript is given) + coarticulated visemes. It ignores instructions."""

    name = "procedural"

    def prepare(self, audio: Audio, fps: float, transcript: str | None = None) -> Any:
        from ..pipeline.analysis import analyze_audio

        return analyze_audio(audio, fps, transcript)

    def generate(self, prepared: Any, instructions: list[Segment] | None, seed: int) -> ModelOutput:
        from ..pipeline.generate import synthesize_animation
        from ..pipeline.options import GenerateOptions

        options = GenerateOptions(model="procedural", fps=prepared.features.fps, seed=seed)
        return ModelOutput(synthesize_animation(prepared, options))
