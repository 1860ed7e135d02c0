"""Per-scene settings the panel edits (``scene.avi_talking``)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, PointerProperty, StringProperty
from bpy.types import PropertyGroup


class AVITALK_PG_settings(PropertyGroup):
    audio_path: StringProperty(  # type: ignore[valid-type]
        name="Audio", description="Speech audio (WAV, FLAC, OGG or MP3)", subtype="FILE_PATH"
    )
    transcript: StringProperty(  # type: ignore[valid-type]
        name="Transcript",
        description="What is said (optional): forced alignment instead of phone recognition",
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


def register_extra() -> None:
    bpy.types.Scene.avi_talking = PointerProperty(type=AVITALK_PG_settings)  # type: ignore[attr-defined]


def unregister_extra() -> None:
    del bpy.types.Scene.avi_talking  # type: ignore[attr-defined]


CLASSES = (AVITALK_PG_settings,)
