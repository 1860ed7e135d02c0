"""The instruction track file (DESIGN.md): ``{"segments": [{"start", "end", "text", "emotion",
"intensity", "aus"}]}`` ↔ a list of ``Segment``. A segment without an artist's text is written with the
text derived from its structure (``text.to_text``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..common.errors import FormatError
from ..common.fileio import read_json
from .schema import Instruction, Segment
from .text import to_text


def segment_to_dict(segment: Segment) -> dict[str, Any]:
    return {"start": round(segment.start, 4), "end": round(segment.end, 4),
            "text": segment.text or to_text(segment.instruction), **segment.instruction.to_dict()}


def segment_from_dict(data: dict[str, Any]) -> Segment:
    for key in ("start", "end"):
        if key not in data:
            raise FormatError(f"instruction segment is missing {key!r}")
    return Segment(float(data["start"]), float(data["end"]), Instruction.from_dict(data), str(data.get("text", "")))


def track_to_dict(segments: list[Segment]) -> dict[str, Any]:
    return {"segments": [segment_to_dict(s) for s in segments]}


def track_from_dict(data: dict[str, Any]) -> list[Segment]:
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
        raise FormatError("an instruction track is an object with a 'segments' list")
    segments = [segment_from_dict(s) for s in data["segments"]]
    for a, b in zip(segments, segments[1:], strict=False):
        if b.start < a.end - 1e-6:
            raise FormatError(f"instruction segments overlap at {b.start:.3f} s")
    return segments


def read_track(path: str | Path) -> list[Segment]:
    return track_from_dict(read_json(Path(path), "instruction track"))
