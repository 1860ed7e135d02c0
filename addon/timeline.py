"""Markers on the timeline: one at each segment's start, named by its emotion ("S1 angry"), and optionally
one per transcript word. The artist scrubs and sees where a segment starts.

Markers have no custom properties, so the scene remembers which ones the add-on placed: a JSON list of
``[name, frame, seconds]`` in a custom property per kind. Only markers matching such an entry by name and
frame are ever removed or replaced — a marker the artist made, renamed or moved is left alone. Times map
to frames as the bake places them: ``scene.frame_start + seconds × fps`` (the scene's rate, which a bake
sets), so after a bake at another rate ``resync`` moves them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import bpy

from .bake import scene_fps

SEGMENT_MARKERS = "avi_talking_segment_markers"
WORD_MARKERS = "avi_talking_word_markers"
_MAX_NAME = 63  # Blender's marker name length


def frame_of(scene: bpy.types.Scene, seconds: float) -> int:
    """The frame where ``seconds`` from the audio start is (where the bake keys it)."""
    return int(scene.frame_start + round(seconds * scene_fps(scene)))


def segment_marker_name(index: int, emotion: str) -> str:
    return f"S{index + 1} {emotion}"


def _owned(scene: bpy.types.Scene, kind: str) -> list[tuple[str, int, float]]:
    try:
        data = json.loads(scene.get(kind, "[]"))
        return [(str(name), int(frame), float(seconds)) for name, frame, seconds in data]
    except (TypeError, ValueError):  # not ours to read (edited by hand): forget it, remove nothing
        return []


def owned_markers(scene: bpy.types.Scene, kind: str = SEGMENT_MARKERS) -> list[Any]:
    """The scene's markers the add-on placed (of ``kind``) and that are still as it placed them."""
    wanted = {(name, frame) for name, frame, _ in _owned(scene, kind)}
    return [m for m in scene.timeline_markers if (m.name, m.frame) in wanted]


def _replace(scene: bpy.types.Scene, kind: str, items: Sequence[tuple[str, float]]) -> None:
    """Make ``items`` (name, seconds) the add-on's markers of ``kind``: nothing changes when they already are."""
    planned = [(name[:_MAX_NAME], frame_of(scene, seconds), round(seconds, 4)) for name, seconds in items]
    current = owned_markers(scene, kind)
    if sorted((m.name, m.frame) for m in current) == sorted((n, f) for n, f, _ in planned) and \
            len(current) == len(_owned(scene, kind)):
        scene[kind] = json.dumps(planned)  # the same markers; the times may have been refined
        return
    for marker in current:
        scene.timeline_markers.remove(marker)
    for name, frame, _ in planned:
        scene.timeline_markers.new(name, frame=frame)
    if planned:
        scene[kind] = json.dumps(planned)
    elif scene.get(kind) is not None:
        del scene[kind]


def sync_segment_markers(scene: bpy.types.Scene) -> None:
    """A marker at each segment's start named by what it reads as; none when the panel's option is off."""
    settings = getattr(scene, "avi_talking", None)
    if settings is None:
        return
    items: list[tuple[str, float]] = []
    if settings.segment_markers:
        items = [(segment_marker_name(k, seg.emotion), seg.start) for k, seg in enumerate(settings.segments)]
    _replace(scene, SEGMENT_MARKERS, items)


def set_word_markers(scene: bpy.types.Scene, words: Iterable[tuple[str, float]]) -> int:
    """A marker at each word's start (replacing the previous word markers); returns how many."""
    items = [(word, float(start)) for word, start in words]
    _replace(scene, WORD_MARKERS, items)
    return len(items)


def clear_word_markers(scene: bpy.types.Scene) -> None:
    _replace(scene, WORD_MARKERS, [])


def resync(scene: bpy.types.Scene) -> None:
    """Put every add-on marker back where its time is at the scene's current rate and start (after a bake)."""
    sync_segment_markers(scene)
    words = _owned(scene, WORD_MARKERS)
    if words:
        _replace(scene, WORD_MARKERS, [(name, seconds) for name, _, seconds in words])


def word_count(scene: bpy.types.Scene) -> int:
    return len(owned_markers(scene, WORD_MARKERS))
