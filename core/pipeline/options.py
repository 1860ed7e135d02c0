"""The one description of a generation job: ``GenerateOptions``, with the one set of defaults, checked when
made, and one wire format (``to_params``/``from_params``) for the worker protocol. The command line, the worker
and the add-on all build it; nothing else turns settings into worker parameters.

Importable in Blender's own Python (numpy only: no torch, soundfile or pocketsphinx)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..animation import normalize_fps
from ..audio.loader import DEFAULT_MAX_SECONDS
from ..common.errors import AviTalkError
from ..instructions.schema import Segment, check_text_length
from ..instructions.track import segment_from_dict, segment_to_dict
from ..stage2.runtime import RUNTIME_CHOICES, check_runtime

MODELS = ("stage2", "procedural")
DEVICES = ("auto", "cuda", "cpu")  # or "cuda:N"
RUNTIMES = RUNTIME_CHOICES
MAX_STRENGTH = 10.0
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_TRANSCRIPT_CHARS = 200_000  # about 8 hours of speech: far beyond the audio limit


def check_model(model: str) -> None:
    if model not in MODELS and not Path(model).exists():
        raise AviTalkError(f"unknown model {model!r}: use {' or '.join(MODELS)}, or the path of stage-2 weights")


def check_device(device: str) -> str:
    choice = device.strip().lower() or "auto"
    if choice not in DEVICES and not re.fullmatch(r"cuda:\d{1,2}", choice):
        raise AviTalkError(f"unknown compute device {device!r}: use auto, cuda or cpu")
    return choice


@dataclass(frozen=True)
class GenerateOptions:
    """How to animate one audio file. Every value is checked here, so a bad one fails before any work."""

    model: str = "stage2"  # "stage2" (the trained model), "procedural" (the baseline), or stage-2 weights' path
    fps: float = 30.0
    seed: int = 0  # the take: same seed, same animation
    transcript: str | None = None  # what is said (procedural: forced alignment instead of recognition)
    instructions: tuple[Segment, ...] | None = None  # an instruction track (stage 2)
    instruction_text: str | None = None  # one instruction for the whole clip (stage 2)
    lips: float = 1.0
    expression: float = 1.0
    blinks: float = 1.0
    head: float = 1.0  # head-motion strength (0: no head channels in the animation)
    device: str = "auto"  # where stage 2 runs: auto, cpu, cuda, cuda:N
    runtime: str = "auto"  # stage 2's runtime: numpy (no torch needed), torch, or auto (torch only for CUDA)
    max_seconds: float = DEFAULT_MAX_SECONDS  # longer audio is refused

    def __post_init__(self) -> None:
        check_model(self.model)
        object.__setattr__(self, "fps", normalize_fps(_number("fps", self.fps)))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise AviTalkError(f"the seed must be a whole number from 0 to {MAX_SEED}, not {self.seed!r}")
        for name in ("lips", "expression", "blinks", "head"):
            value = _number(name, getattr(self, name))
            if not 0.0 <= value <= MAX_STRENGTH:
                raise AviTalkError(f"{name} must be between 0 and {MAX_STRENGTH:g}, not {value:g}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "max_seconds", check_duration_limit(self.max_seconds))
        object.__setattr__(self, "device", check_device(self.device))
        object.__setattr__(self, "runtime", check_runtime(self.runtime))
        if self.runtime == "numpy" and self.device.startswith("cuda"):
            raise AviTalkError("the numpy runtime runs on the CPU: choose the torch runtime for a CUDA device")
        if self.instructions is not None and self.instruction_text is not None:
            raise AviTalkError("give either an instruction track or an instruction text, not both")
        if self.instructions is not None:
            object.__setattr__(self, "instructions", tuple(self.instructions))
            if not self.instructions:
                raise AviTalkError("the instruction track has no segments")
        if self.instruction_text is not None and not check_text_length(self.instruction_text,
                                                                       "the instruction text").strip():
            raise AviTalkError("the instruction text is empty")
        if self.transcript is not None and len(self.transcript) > MAX_TRANSCRIPT_CHARS:
            raise AviTalkError(f"the transcript is {len(self.transcript)} characters long; at most "
                               f"{MAX_TRANSCRIPT_CHARS} are allowed")
        if self.transcript is not None and not self.transcript.strip():
            raise AviTalkError("the transcript is empty")

    @property
    def is_procedural(self) -> bool:
        return self.model == "procedural"

    @property
    def weights(self) -> str | None:
        """Stage-2 weights to load: None for the shipped ones."""
        return None if self.model in MODELS else self.model

    def to_params(self) -> dict[str, Any]:
        """The JSON-safe wire format (the worker protocol's ``generate`` options)."""
        params: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.instructions is not None:
            params["instructions"] = [segment_to_dict(s) for s in self.instructions]
        return params

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GenerateOptions:
        """The inverse of ``to_params``; unknown keys are refused (a newer client talking to an older worker)."""
        if not isinstance(params, dict):
            raise AviTalkError("generation options must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise AviTalkError(f"unknown generation option(s): {', '.join(unknown)}")
        values = dict(params)
        track = values.get("instructions")
        if track is not None:
            if not isinstance(track, list):
                raise AviTalkError("the options' instructions must be a list of segments")
            values["instructions"] = tuple(segment_from_dict(s) for s in track)
        for name in ("model", "device", "runtime"):
            if name in values and not isinstance(values[name], str):
                raise AviTalkError(f"the option {name} must be a string")
        for name in ("transcript", "instruction_text"):
            if values.get(name) is not None and not isinstance(values[name], str):
                raise AviTalkError(f"the option {name} must be a string or null")
        return cls(**values)


def check_duration_limit(value: object) -> float:
    """``--max-duration``: a finite, positive number of seconds (NaN would switch the limit off)."""
    limit = _number("the maximum duration", value)
    if limit <= 0:
        raise AviTalkError(f"the maximum duration must be a positive number of seconds, not {limit:g}")
    return limit


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AviTalkError(f"{name} must be a number, not {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise AviTalkError(f"{name} must be a finite number, not {value!r}")
    return number
