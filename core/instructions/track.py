"""The instruction track file (DESIGN.md): ``{"segments": [{"start", "end", "text", "emotion",
"intensity", "aus"}]}`` ↔ a list of ``Segment``. A segment without an artist's text is written with the
text derived from its structure (``text.to_text``).

A track is a file a user hands over, so what it may ask for is bounded (``TRACK``): at most
``MAX_SEGMENTS`` segments, ``MAX_TEXT_CHARS`` characters of text each and ``MAX_TRACK_TEXT_CHARS`` in all,
a file of at most ``MAX_TRACK_BYTES``; once the audio is known, ``check_track_against_audio`` also bounds
the segments per second of audio and warns about segments past its end. Every problem is one line that
names the file and the JSON path of the bad value (``segments[3].start must be a number, not a string``).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from ..common.errors import FormatError
from ..common.fileio import read_json
from ..common.jsonspec import JsonPath, ListOf, Num, Obj, Opt, Str, invalid, validate
from .schema import INSTRUCTION, MAX_TEXT_CHARS, Instruction, Segment
from .text import to_text

MAX_SEGMENTS = 10_000  # whatever the audio: a 30-minute clip cut every 0.2 s
MAX_TRACK_TEXT_CHARS = 1_000_000  # all segments' texts together (they are stored in the animation)
MAX_TRACK_BYTES = 8 * 1024 * 1024  # `avitalk analyze` writes about 1.5 kB per segment
MAX_SEGMENTS_PER_SECOND = 4.0  # a segment shorter than the 0.25 s cross-fade cannot show an expression
MIN_SEGMENTS_ALLOWED = 16  # ... but a short clip may still have a few short segments
MAX_SECONDS = 24 * 3600.0  # segment times beyond a day are not a real clip

SEGMENT = Obj({
    "start": Num(0.0, MAX_SECONDS),
    "end": Num(0.0, MAX_SECONDS),
    "text": Opt(Str(max_len=MAX_TEXT_CHARS)),
    **INSTRUCTION.fields,
})
TRACK = Obj({"segments": ListOf(SEGMENT, max_items=MAX_SEGMENTS)})


def segment_to_dict(segment: Segment) -> dict[str, Any]:
    return {"start": round(segment.start, 4), "end": round(segment.end, 4),
            "text": segment.text or to_text(segment.instruction), **segment.instruction.to_dict()}


def _segment(clean: dict[str, Any], where: str, path: JsonPath) -> Segment:
    start, end = clean["start"], clean["end"]
    if end <= start:
        raise invalid(where, (*path, "end"), f"must be after start ({start:g} s), not {end:g}")
    try:
        return Segment(start, end, Instruction.from_clean(clean), clean.get("text", ""))
    except FormatError as exc:  # the spec has checked everything these check; kept as a safety net
        raise invalid(where, path, f"is not a valid segment: {exc}") from None


def segment_from_dict(data: dict[str, Any]) -> Segment:
    return _segment(validate(data, SEGMENT, "instruction segment"), "instruction segment", ())


def _track(data: Any, where: str) -> list[Segment]:
    clean = validate(data, TRACK, where)
    segments = [_segment(s, where, ("segments", k)) for k, s in enumerate(clean["segments"])]
    for k, (a, b) in enumerate(zip(segments, segments[1:], strict=False)):
        if b.start < a.end - 1e-6:
            raise invalid(where, ("segments", k + 1, "start"),
                          f"({b.start:.3f} s) is before segments[{k}] ends ({a.end:.3f} s): segments must be in "
                          "time order and must not overlap")
    text = sum(len(s.text) for s in segments)
    if text > MAX_TRACK_TEXT_CHARS:
        raise invalid(where, ("segments",), f"hold {text} characters of text in all; at most "
                                            f"{MAX_TRACK_TEXT_CHARS} are allowed")
    return segments


def track_to_dict(segments: list[Segment]) -> dict[str, Any]:
    return {"segments": [segment_to_dict(s) for s in segments]}


def track_from_dict(data: dict[str, Any]) -> list[Segment]:
    return _track(data, "instruction track")


def read_track(path: str | Path) -> list[Segment]:
    p = Path(path)
    return _track(read_json(p, "instruction track", max_bytes=MAX_TRACK_BYTES), f"instruction track {p}")


def max_segments_for(duration: float) -> int:
    """How many segments a track may have for ``duration`` seconds of audio."""
    per_audio = math.ceil(max(duration, 0.0) * MAX_SEGMENTS_PER_SECOND) if math.isfinite(duration) else MAX_SEGMENTS
    return min(MAX_SEGMENTS, max(MIN_SEGMENTS_ALLOWED, per_audio))


def check_track_against_audio(segments: list[Segment] | tuple[Segment, ...], duration: float) -> None:
    """Once the audio is loaded: refuse a track with more segments than ``max_segments_for(duration)``
    (FormatError) and warn about segments that start at or after the end of the audio (they have no
    frames to act on)."""
    allowed = max_segments_for(duration)
    if len(segments) > allowed:
        raise FormatError(f"the instruction track has {len(segments)} segments for {duration:.2f} s of audio; at "
                          f"most {allowed} are allowed ({MAX_SEGMENTS_PER_SECOND:g} per second)")
    past = [k for k, s in enumerate(segments) if s.start >= duration]
    if past:
        first = segments[past[0]]
        more = f" (and {len(past) - 1} more)" if len(past) > 1 else ""
        warnings.warn(f"instruction segments[{past[0]}] starts at {first.start:.2f} s, after the audio ends "
                      f"({duration:.2f} s){more}: it has no effect", stacklevel=2)
