"""The instruction segments in the panel: filling them from an analysis, reading them back as an
instruction track for the model, what the parser understood, the structured editor (emotion, intensity, a
slider per action unit) kept in step with the text both ways, and split / merge / retime (with the timeline's
segment markers following).

No model logic here: the interpretation is ``core.instructions.parser.parse`` and the sentence a structure
makes is ``core.instructions.text.to_text``; this module only moves values between them and Blender
properties. The text stays the source of truth: what is baked is what the parser reads from it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..core.common.errors import AviTalkError
from ..core.instructions.adverbs import bin_centre
from ..core.instructions.lexicon import BARE_EMOTION_VALUE
from ..core.instructions.parser import parse
from ..core.instructions.prototypes import expansion
from ..core.instructions.schema import AUS, Instruction
from ..core.instructions.text import reading_line, to_text
from . import timeline

MIN_LENGTH = 0.1  # seconds: no segment gets shorter by splitting or retiming
DEFAULT_INTENSITY = 0.5  # an added action unit starts here ("fairly")
# an emotion picked while the intensity is 0 starts where the plain word reads ("quite": typing "angry" and
# picking angry give the same face)
EMOTION_INTENSITY = BARE_EMOTION_VALUE
_retiming = False  # set while this module moves boundaries (the property updates call back into it)
_syncing = False  # set while the text and the structured editor are written from each other (ditto)


def au_prop(code: str) -> str:
    """The segment property of an action unit's slider: 'AU4' → 'au_AU4'."""
    return f"au_{code}"


def interpret(seg: Any) -> None:
    """Refresh what the parser read from ``seg.text``; the structured editor shows that reading unless the
    editor itself wrote the text."""
    result = parse(seg.text)
    seg.emotion = result.instruction.emotion
    seg.intensity = result.instruction.intensity
    seg.aus = json.dumps(result.instruction.aus)
    seg.ignored = ", ".join(item.word for item in result.ignored)
    seg.notes = "; ".join(result.warnings)
    seg.understood = not result.empty
    if not _syncing:
        _show_structure(seg, result.instruction)
    if not _retiming:  # a bulk change (fill, split) syncs once at its end
        timeline.sync_segment_markers(seg.id_data)


def _show_structure(seg: Any, instruction: Instruction) -> None:
    global _syncing
    _syncing = True
    try:
        seg.edit_emotion = instruction.emotion
        seg.edit_intensity = instruction.intensity
        for code in AUS:
            setattr(seg, au_prop(code), instruction.aus.get(code, 0.0))
    finally:
        _syncing = False


def structure(seg: Any) -> Instruction:
    """The structured editor's values as an Instruction (no intensity for neutral; AUs at 0 left out)."""
    emotion = str(seg.edit_emotion)
    aus = {code: value for code in AUS if (value := float(getattr(seg, au_prop(code)))) > 0.0}
    return Instruction(emotion, float(seg.edit_intensity) if emotion != "neutral" else 0.0, aus)


def structure_changed(seg: Any, what: str) -> None:
    """After the emotion, the intensity or an action unit's slider moved: the sentence is rewritten from
    the structure (``to_text``) and read back by the parser, which gives the sliders' values to within an
    adverb's bin (seven per 0..1). The sliders keep what the artist set."""
    global _syncing
    if _syncing:
        return
    _syncing = True
    try:
        if what == "emotion" and seg.edit_emotion != "neutral" and seg.edit_intensity <= 0.0:
            seg.edit_intensity = EMOTION_INTENSITY
        if what in ("emotion", "intensity"):
            _follow_prototype(seg)
        seg.text = to_text(structure(seg))  # its update re-reads it (interpret)
    finally:
        _syncing = False


def _follow_prototype(seg: Any) -> None:
    """The emotion or its intensity moved: the sliders that show what the emotion word stands for (its
    prototype's units, ``prototypes.expansion``) move to the new emotion's at the new intensity; the units
    the artist set to other values stay. Called while ``_syncing`` (the sliders' updates do nothing)."""
    try:
        old = Instruction(str(seg.emotion), float(seg.intensity), aus_of(seg))  # the reading before the change
    except AviTalkError:
        old = Instruction()
    for code, value in expansion(old.emotion, old.intensity).items():
        if abs(getattr(seg, au_prop(code)) - value) < 1e-6:
            setattr(seg, au_prop(code), 0.0)
    own = structure(seg).aus
    emotion = str(seg.edit_emotion)
    for code, value in expansion(emotion, bin_centre(float(seg.edit_intensity)), own).items():
        setattr(seg, au_prop(code), value)


def reading(seg: Any, room: float | None = None, measure: Callable[[str], float] | None = None) -> str:
    """The panel's "Read as: ..." line: what the parser made of the text, the units the emotion word stands for
    included; in the longest form that fits ``room`` (measured by ``measure``) when given, else by name. The
    last resort, at the sidebar's default width, counts the units ('surprised (0.50) + 4 AUs', without "Read
    as"): the sliders below name each one."""
    try:
        instruction = Instruction(str(seg.emotion), float(seg.intensity), aus_of(seg))
    except AviTalkError:
        return "?"
    forms = [f"Read as: {reading_line(instruction, style)}" for style in ("names", "codes", "short", "count")]
    forms.append(reading_line(instruction, "count"))
    if room is None or measure is None:
        return forms[0]
    return next((form for form in forms if measure(form) <= room), forms[-1])


def show_readings(settings: Any) -> int:
    """Fill the editor of segments that have a reading but an empty editor (saved before the editor existed):
    it shows the reading. The text, the reading and the markers stay as they are. Returns how many."""
    shown = 0
    for seg in settings.segments:
        if seg.edit_emotion != "neutral" or seg.edit_intensity > 0 or any(
                getattr(seg, au_prop(code)) > 0 for code in AUS):
            continue
        try:
            reading = Instruction(str(seg.emotion), float(seg.intensity), aus_of(seg))
        except AviTalkError:  # a reading this version cannot hold: the next text edit makes a new one
            continue
        if reading.emotion != "neutral" or reading.aus:
            _show_structure(seg, reading)
            shown += 1
    return shown


def set_au(seg: Any, code: str, value: float) -> None:
    """Set one action unit's slider (adding or removing the unit; the text follows)."""
    setattr(seg, au_prop(code), value)


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
    timeline.sync_segment_markers(settings.id_data)
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
    timeline.sync_segment_markers(seg.id_data)


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
    timeline.sync_segment_markers(settings.id_data)
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
    timeline.sync_segment_markers(settings.id_data)
