"""The model contract: what every animation model (the procedural baseline, stage 2, any trained model a
user registers) offers, and what it returns. It sits below the models and below ``eval`` (which keeps the
registry and the yardstick), so neither has to import the other to agree on it.

A model turns audio (plus optional instruction segments and a seed) into an Animation, and may also
predict instructions (stage 1). Work that does not depend on the seed or the instructions — the audio
analysis — happens once per clip in ``prepare``; ``generate`` is then called for every seed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .animation import Animation
from .audio.loader import Audio
from .instructions.schema import Segment


@dataclass
class ModelOutput:
    animation: Animation
    instructions: list[Segment] | None = None  # stage-1 predictions, when the model makes them


class Model(Protocol):
    name: str

    def prepare(self, audio: Audio, fps: float, transcript: str | None = None) -> Any:
        """Seed-independent analysis of one clip."""
        ...

    def generate(self, prepared: Any, instructions: list[Segment] | None, seed: int) -> ModelOutput:
        """One take. ``instructions`` None: the model decides (stage 1 runs, if it has one)."""
        ...


# A factory builds a model from its weights (None: the shipped default).
ModelFactory = Callable[[Path | None], Model]
