"""Operators: add the built-in head; bake speech onto the active object's shape keys.

The bake runs synchronously for now (it takes seconds for a minute of speech); the core does all
the work and reports errors as one line."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import bpy
from bpy.types import Context, Operator

from ..core.animation import normalize_fps
from ..core.errors import AviTalkError
from . import compat
from .bake import bake_animation, scene_fps
from .head import build_head_object
from .preview_scene import add_preview_camera_and_light

_Result = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]
MISSING_DEPS = ("AVI-Talking needs soundfile, soxr and pocketsphinx in Blender's Python: install the "
                "extension build that bundles them (see the README)")


class AVITALK_OT_add_head(Operator):
    """Add the built-in preview head (52 ARKit shape keys)"""

    bl_idname = "avi_talking.add_head"
    bl_label = "Add Built-in Head"
    bl_options = {"REGISTER", "UNDO"}

    with_camera: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Camera and Light", description="Also add a camera and a light framing the face", default=False
    )

    def execute(self, context: Context) -> _Result:
        scene = context.scene
        if scene is None:
            return {"CANCELLED"}
        collection = context.collection or scene.collection
        obj = build_head_object(collection)
        obj.location = scene.cursor.location
        if self.with_camera:
            add_preview_camera_and_light(scene, obj)
        if context.view_layer is not None:
            for other in context.view_layer.objects:
                other.select_set(False)
            obj.select_set(True)
            context.view_layer.objects.active = obj
        return {"FINISHED"}


class AVITALK_OT_bake_audio(Operator):
    """Lip-sync the active object's shape keys to the chosen audio file (a new Action per bake)"""

    bl_idname = "avi_talking.bake_audio"
    bl_label = "Bake Lip Sync"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: Context) -> bool:
        obj = context.active_object
        return obj is not None and obj.type == "MESH" and getattr(context.scene, "avi_talking", None) is not None

    def execute(self, context: Context) -> _Result:
        scene = context.scene
        obj = context.active_object
        if scene is None or obj is None:
            return {"CANCELLED"}
        settings = scene.avi_talking  # type: ignore[attr-defined]
        try:
            audio = Path(bpy.path.abspath(settings.audio_path)) if settings.audio_path else None
            if audio is None:
                raise AviTalkError("choose an audio file first")
            fps = scene_fps(scene) if settings.use_scene_fps else normalize_fps(settings.fps)
            from ..core.pipeline import GenerateOptions, generate

            options = GenerateOptions(fps=fps, seed=settings.seed, transcript=settings.transcript or None,
                                      lips=settings.lips, expression=settings.expression, blinks=settings.blinks)
            animation, analysis = generate(audio, options)
            sound = audio if compat.audio_supported() else None
            result = bake_animation(obj, animation, scene=scene, audio_path=sound, frame_start=scene.frame_start)
        except ImportError:
            self.report({"ERROR"}, MISSING_DEPS)
            return {"CANCELLED"}
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for warning in (*analysis.audio.warnings, *result.notes):  # notes: e.g. how far a FLAME retarget holds
            self.report({"WARNING"}, warning)
        if sound is None:
            self.report({"WARNING"}, "this Blender build has no audio support: no sound strip was added")
        self.report({"INFO"}, f"baked {len(result.keyed)} channels into {result.action.name!r}")
        return {"FINISHED"}


CLASSES = (AVITALK_OT_add_head, AVITALK_OT_bake_audio)
