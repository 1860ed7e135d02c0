"""The instruction segments in the panel: filling them from an analysis, reading them back as an
instruction track for the model, what the parser understood, and split / merge / retime.

No model logic here: the interpretation is ``core.instructions.parser.parse``; this module only moves
values between it and Blender properties."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..core.common.errors import AviTalkError
from ..core.instructions.parser import parse

MIN_LENGTH = 0.1  # seconds: no segment gets shorter by splitting or retiming
_retiming = False  # set while this module moves boundaries (the property updates call back into it)


def interpret(seg: Any) -> None:
    """Refresh what the parser read from ``seg.text``."""
    result = parse(seg.text)
    seg.emotion = result.instruction.emotion
    seg.intensity = result.instruction.intensity
    seg.aus = json.dumps(result.instruction.aus)
    seg.ignored = ", ".join(item.word for item in result.ignored)
    seg.notes = "; ".join(result.warnings)
    seg.understood = not result.empty


def aus_of(seg: Any) -> dict[str, float]:
    try:
        data = json.loads(seg.aus or "{}")
    except json.JSONDecodeError:
        return {}
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def fill(settings: Any, segments: Iterable[Mapping[str, Any]]) -> int:
    """Replace the panel's segments with an analysis' (``start``, ``end``, ``text``); returns how many."""
    global _retiming
    items = settings.segments
    items.clear()
    _retiming = True
    try:
        for data in segments:
            seg = items.add()
            seg.start, seg.end = float(data["start"]), float(data["end"])
            seg.text = str(data.get("text", ""))  # interprets it
    finally:
        _retiming = False
    settings.active_segment = 0
    return len(items)


def track(settings: Any) -> list[dict[str, Any]]:
    """The segments as an instruction track's segment dicts (the structure is what the parser read)."""
    out: list[dict[str, Any]] = []
    for k, seg in enumerate(settings.segments):
        if seg.end - seg.start < 1e-3:
            raise AviTalkError(f"segment {k + 1} ends ({seg.end:.2f} s) before it starts ({seg.start:.2f} s)")
        if out and seg.start < out[-1]["end"] - 1e-6:
            raise AviTalkError(f"segments {k} and {k + 1} overlap at {seg.start:.2f} s")
        out.append({"start": round(seg.start, 4), "end": round(seg.end, 4), "text": seg.text,
                    "emotion": seg.emotion, "intensity": round(seg.intensity, 4), "aus": aus_of(seg)})
    return out


def index_of(items: Any, seg: Any) -> int:
    pointer = seg.as_pointer()
    return next(k for k, other in enumerate(items) if other.as_pointer() == pointer)


def retimed(seg: Any, which: str) -> None:
    """After an edit of ``seg.start`` or ``seg.end``: clamp it, and move the neighbour's boundary with it."""
    global _retiming
    if _retiming:
        return
    items = seg.id_data.avi_talking.segments
    k = index_of(items, seg)
    _retiming = True
    try:
        if which == "start":
            low = items[k - 1].start + MIN_LENGTH if k > 0 else 0.0
            seg.start = min(max(seg.start, low), seg.end - MIN_LENGTH)
            if k > 0:
                items[k - 1].end = seg.start
        else:
            high = items[k + 1].end - MIN_LENGTH if k + 1 < len(items) else float("inf")
            seg.end = min(max(seg.end, seg.start + MIN_LENGTH), high)
            if k + 1 < len(items):
                items[k + 1].start = seg.end
    finally:
        _retiming = False


def split(settings: Any, index: int, at: float | None = None) -> int:
    """Split segment ``index`` at ``at`` seconds (its middle when ``at`` is outside it); both halves keep
    the text. Returns the index of the second half."""
    global _retiming
    items = settings.segments
    if not 0 <= index < len(items):
        raise AviTalkError("no segment to split: run Analyze first")
    seg = items[index]
    if seg.end - seg.start < 2 * MIN_LENGTH:
        raise AviTalkError(f"segment {index + 1} is too short to split ({seg.end - seg.start:.2f} s)")
    if at is None or not seg.start + MIN_LENGTH <= at <= seg.end - MIN_LENGTH:
        at = (seg.start + seg.end) / 2
    _retiming = True
    try:
        new = items.add()
        new.start, new.end, new.text = at, seg.end, seg.text
        items.move(len(items) - 1, index + 1)
        items[index].end = at
    finally:
        _retiming = False
    settings.active_segment = index + 1
    return index + 1


def merge(settings: Any, index: int) -> None:
    """Merge segment ``index`` with the next one; the merged segment keeps the first one's text."""
    global _retiming
    items = settings.segments
    if not 0 <= index < len(items) - 1:
        raise AviTalkError("select a segment that has a next one to merge with")
    _retiming = True
    try:
        items[index].end = items[index + 1].end
        items.remove(index + 1)
    finally:
        _retiming = False
    settings.active_segment = index
