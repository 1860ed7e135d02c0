"""Which instructions stage 2 follows: the track given, a ``--text`` read by the parser, or stage 1's
prediction (with a warning when stage 1 is unsure)."""

from __future__ import annotations

import warnings

import numpy as np

from ..audio.loader import Audio
from ..common.errors import AviTalkError
from ..instructions.schema import Instruction, Segment
from ..instructions.track import check_track_against_audio
from .options import GenerateOptions

# Below this (duration-weighted) calibrated confidence, stage 1's silent choice is flagged: with 8 emotions
# chance is 0.125, and real voices land at 0.16-0.24 (docs/instructions.md).
LOW_CONFIDENCE = 0.3


def resolve_instructions(audio: Audio, options: GenerateOptions) -> tuple[list[Segment], str, list[float]]:
    """The instruction segments stage 2 follows, where they came from — the track given, the ``--text``
    parsed into one instruction over the whole clip, stage 1's prediction, or (while no stage-1 model is
    installed) a neutral instruction, with a warning — and stage 1's confidence per segment (else empty)."""
    if options.instructions is not None:
        check_track_against_audio(options.instructions, audio.duration)
        return list(options.instructions), "track", []
    if options.instruction_text is not None:
        return [Segment(0.0, max(audio.duration, 1e-3), parse_instruction(options.instruction_text),
                        options.instruction_text.strip())], "text", []
    from ..stage1.predict import predict

    predicted = predict(audio)
    if predicted:
        confidence = [p.confidence for p in predicted]
        span = [p.end - p.start for p in predicted]
        overall = float(np.average(confidence, weights=span)) if sum(span) > 0 else float(np.mean(confidence))
        if overall < LOW_CONFIDENCE:
            first = predicted[0].segment().text
            warnings.warn(f"stage 1 is unsure of the instructions it chose (confidence {overall:.2f}; first: "
                          f"{first!r}): check them with 'avitalk analyze' and pass --instructions, or give --text",
                          stacklevel=2)
        return [p.segment() for p in predicted], "stage 1", confidence
    warnings.warn("no stage-1 model is installed: a neutral instruction is used (give --text or --instructions)",
                  stacklevel=2)
    return [Segment(0.0, max(audio.duration, 1e-3), Instruction())], "neutral (no stage 1)", []


def parse_instruction(text: str) -> Instruction:
    """``--text``: free text → one instruction, through the instruction parser; what it could not use is
    reported as warnings."""
    if not text.strip():
        raise AviTalkError("the instruction text is empty")
    from ..instructions.parser import parse

    result = parse(text)
    if result.empty:
        raise AviTalkError(f"nothing in the instruction text {text.strip()[:60]!r} was understood "
                           "(try e.g. 'A happy person speaks with lip corners strongly pulled up.')")
    for note in result.warnings:
        warnings.warn(f"instruction text: {note}", stacklevel=2)
    if result.ignored:
        words = ", ".join(repr(i.word) for i in result.ignored[:6])
        warnings.warn(f"instruction text: ignored {words}", stacklevel=2)
    return result.instruction
