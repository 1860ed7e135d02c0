"""Per-scene settings the panel edits (``scene.avi_talking``), with the instruction segments.

Each segment keeps its editable text and, beside it, what the instruction parser read from it (emotion,
intensity, action units, ignored words), refreshed whenever the text changes, and the structured editor's
values (emotion, intensity, a slider per action unit) that rewrite the text when moved (``segments.py``).
Moving a segment's start or end moves the neighbouring segment's boundary with it, so the track stays
without gaps or overlaps."""

from __future__ import annotations

from typing import cast

import bpy
from bpy.app.handlers import persistent
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)
from bpy.types import Context, PropertyGroup

from ..core.instructions.au_names import au_label
from ..core.instructions.schema import AUS, EMOTIONS
from ..core.instructions.text import EMOTION_WORDS
from . import segments, timeline


def _text_changed(self: AVITALK_PG_segment, context: Context) -> None:
    segments.interpret(self)


def _start_changed(self: AVITALK_PG_segment, context: Context) -> None:
    segments.retimed(self, "start")


def _end_changed(self: AVITALK_PG_segment, context: Context) -> None:
    segments.retimed(self, "end")


def _emotion_changed(self: AVITALK_PG_segment, context: Context) -> None:
    segments.structure_changed(self, "emotion")


def _intensity_changed(self: AVITALK_PG_segment, context: Context) -> None:
    segments.structure_changed(self, "intensity")


def _au_changed(self: AVITALK_PG_segment, context: Context) -> None:
    segments.structure_changed(self, "au")


def _markers_changed(self: AVITALK_PG_settings, context: Context) -> None:
    timeline.sync_segment_markers(cast(bpy.types.Scene, self.id_data))


EMOTION_ITEMS = [(e, EMOTION_WORDS[e].capitalize(), f"Speak {EMOTION_WORDS[e]}") for e in EMOTIONS]


class AVITALK_PG_segment(PropertyGroup):
    # plain seconds with two decimals: Blender 3.4 draws a TIME_ABSOLUTE unit rounded to whole seconds
    start: FloatProperty(  # type: ignore[valid-type]
        name="Start", description="Start of the segment (seconds from the audio start)", min=0.0, precision=2,
        step=10, update=_start_changed)
    end: FloatProperty(  # type: ignore[valid-type]
        name="End", description="End of the segment (seconds from the audio start)", min=0.0, precision=2, step=10,
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
    # the structured editor: shows the parser's reading of the text; moving one rewrites the text (segments.py)
    edit_emotion: EnumProperty(  # type: ignore[valid-type]
        name="Emotion", description="The emotion (rewrites the instruction text)", items=EMOTION_ITEMS,
        default="neutral", update=_emotion_changed)
    edit_intensity: FloatProperty(  # type: ignore[valid-type]
        name="Intensity", description="How strongly the emotion shows (rewrites the instruction text)", min=0.0,
        max=1.0, precision=2, update=_intensity_changed)
    # and au_AU1 … au_AU45R, one slider per action unit (added below)


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
    head: FloatProperty(  # type: ignore[valid-type]
        name="Head", description="Head-motion strength (0 = none; models trained with head motion only)",
        default=1.0, min=0.0, max=2.0
    )
    head_bone: StringProperty(  # type: ignore[valid-type]
        name="Head Bone",
        description="The bone of the rig's armature that the head rotations turn (empty: not placed; the built-in "
                    "head turns about its own neck pivot, a FLAME rig its neck joint)",
    )
    segments: CollectionProperty(type=AVITALK_PG_segment)  # type: ignore[valid-type]
    active_segment: IntProperty(name="Active Segment", default=0, min=0)  # type: ignore[valid-type]
    segments_audio: StringProperty(  # type: ignore[valid-type]
        name="Analysed Audio", description="sha256 of the audio the segments were analysed from")
    show_takes: BoolProperty(name="Takes", default=True)  # type: ignore[valid-type]
    segment_markers: BoolProperty(  # type: ignore[valid-type]
        name="Segment Markers", description="A timeline marker at each segment's start, named by its emotion",
        default=True, update=_markers_changed)


# One slider per action unit the instruction language knows, named in plain words ("Brow lowerer (AU4)").
# Written as annotation strings, like the class body's (``from __future__ import annotations``): Blender
# evaluates them at registration. A property object with an ``update`` callback placed here instead makes
# bpy 4.2 crash (segfault) when Python exits after the add-on was unregistered.
for _code in AUS:
    _label = au_label(_code)
    _about = f"{_label}: how strongly (rewrites the instruction text)"
    AVITALK_PG_segment.__annotations__[segments.au_prop(_code)] = (
        f"FloatProperty(name={_label!r}, description={_about!r}, min=0.0, max=1.0, precision=2, update=_au_changed)")


@persistent
def _show_saved_readings(_file: object = None) -> None:
    """After a .blend loads: segments saved before the structured editor existed show their reading in it."""
    for scene in bpy.data.scenes:
        settings = getattr(scene, "avi_talking", None)
        if settings is not None:
            segments.show_readings(settings)


def register_extra() -> None:
    bpy.types.Scene.avi_talking = PointerProperty(type=AVITALK_PG_settings)  # type: ignore[attr-defined]
    bpy.app.handlers.load_post.append(_show_saved_readings)


def unregister_extra() -> None:
    if _show_saved_readings in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_show_saved_readings)
    del bpy.types.Scene.avi_talking  # type: ignore[attr-defined]


CLASSES = (AVITALK_PG_segment, AVITALK_PG_settings)
