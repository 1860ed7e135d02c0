"""Per-scene settings the panel edits (``scene.avi_talking``), with the instruction segments.

Each segment keeps its editable text and, beside it, what the instruction parser read from it (emotion,
intensity, action units, ignored words), refreshed whenever the text changes. Moving a segment's start
or end moves the neighbouring segment's boundary with it, so the track stays without gaps or overlaps."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)
from bpy.types import Context, PropertyGroup

from . import segments


def _text_changed(self: AVITALK_PG_segment, context: Context) -> None:
    segments.interpret(self)


def _start_changed(self: AVITALK_PG_segment, context: Context) -> None:
    segments.retimed(self, "start")


def _end_changed(self: AVITALK_PG_segment, context: Context) -> None:
    segments.retimed(self, "end")


class AVITALK_PG_segment(PropertyGroup):
    start: FloatProperty(  # type: ignore[valid-type]
        name="Start", description="Start of the segment (seconds from the audio start)", min=0.0, unit="TIME_ABSOLUTE",
        precision=2, step=10, update=_start_changed)
    end: FloatProperty(  # type: ignore[valid-type]
        name="End", description="End of the segment (seconds)", min=0.0, unit="TIME_ABSOLUTE", precision=2, step=10,
        update=_end_changed)
    text: StringProperty(  # type: ignore[valid-type]
        name="Instruction", description="How this stretch is spoken, in words (edit freely: the parser reads it)",
        update=_text_changed)
    # what the parser read from the text (shown in the panel, sent to the model)
    emotion: StringProperty(name="Emotion", default="neutral")  # type: ignore[valid-type]
    intensity: FloatProperty(name="Intensity", min=0.0, max=1.0)  # type: ignore[valid-type]
    aus: StringProperty(name="Action Units", description="JSON: action unit → intensity")  # type: ignore[valid-type]
    ignored: StringProperty(name="Ignored Words")  # type: ignore[valid-type]
    notes: StringProperty(name="Parser Notes")  # type: ignore[valid-type]
    understood: BoolProperty(name="Understood", default=True)  # type: ignore[valid-type]


class AVITALK_PG_settings(PropertyGroup):
    audio_path: StringProperty(  # type: ignore[valid-type]
        name="Audio", description="Speech audio (WAV, FLAC, OGG or MP3)", subtype="FILE_PATH"
    )
    transcript: StringProperty(  # type: ignore[valid-type]
        name="Transcript",
        description="What is said (optional): forced alignment instead of phone recognition (procedural model)",
    )
    seed: IntProperty(name="Seed", description="Take number: same seed, same animation", default=0, min=0)  # type: ignore[valid-type]
    use_scene_fps: BoolProperty(  # type: ignore[valid-type]
        name="Use Scene Frame Rate", description="Bake at the scene's frame rate", default=True
    )
    fps: FloatProperty(name="FPS", description="Frame rate to bake at", default=30.0, min=1.0, max=240.0)  # type: ignore[valid-type]
    lips: FloatProperty(name="Lips", description="Articulation strength", default=1.0, min=0.0, max=2.0)  # type: ignore[valid-type]
    expression: FloatProperty(  # type: ignore[valid-type]
        name="Expression", description="Brow and expression strength", default=1.0, min=0.0, max=2.0
    )
    blinks: FloatProperty(  # type: ignore[valid-type]
        name="Blinks", description="Blink frequency (0 = none)", default=1.0, min=0.0, max=3.0
    )
    segments: CollectionProperty(type=AVITALK_PG_segment)  # type: ignore[valid-type]
    active_segment: IntProperty(name="Active Segment", default=0, min=0)  # type: ignore[valid-type]
    segments_audio: StringProperty(  # type: ignore[valid-type]
        name="Analysed Audio", description="sha256 of the audio the segments were analysed from")
    show_takes: BoolProperty(name="Takes", default=True)  # type: ignore[valid-type]


def register_extra() -> None:
    bpy.types.Scene.avi_talking = PointerProperty(type=AVITALK_PG_settings)  # type: ignore[attr-defined]


def unregister_extra() -> None:
    del bpy.types.Scene.avi_talking  # type: ignore[attr-defined]


CLASSES = (AVITALK_PG_segment, AVITALK_PG_settings)
