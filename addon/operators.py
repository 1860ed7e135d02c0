"""Operators: add the built-in head; Analyze (stage 1 → the segment list); Bake (the model → a new take
Action on the active object); segment split/merge; switch takes.

Analyze and Bake run their model work through ``job_operator.WorkerJobOperator``: modal with progress
and Esc in the UI, synchronous from scripts and under ``--background``. Nothing in the scene changes
until the work has succeeded, and each bake is one undo step."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import bpy
from bpy.types import Context, Operator

from ..core.animation import Animation, normalize_fps
from ..core.common.errors import AviTalkError
from ..core.instructions.track import track_from_dict
from ..core.pipeline.options import GenerateOptions
from ..core.rigs.report import channels_phrase, unplaced_phrase
from . import compat, head_motion, panel_layers, rig_mapping, segments, takes, timeline, worker_session
from .bake import bake_animation, scene_fps
from .flame_rig import find_flame_rig
from .head import build_head_object
from .head_motion import head_bone_of
from .job_operator import MISSING_DEPS, WorkerJobOperator
from .preview_scene import add_preview_camera_and_light
from .types import OperatorResult

__all__ = ["CLASSES", "MISSING_DEPS"]


def _settings(context: Context) -> Any:
    return getattr(context.scene, "avi_talking", None)


def _audio_path(settings: Any) -> Path:
    if not settings.audio_path:
        raise AviTalkError("choose an audio file first")
    path = Path(bpy.path.abspath(settings.audio_path))
    if not path.is_file():
        raise AviTalkError(f"audio file {path} does not exist")
    return path


class AVITALK_OT_add_head(Operator):
    """Add the built-in preview head (52 ARKit shape keys)"""

    bl_idname = "avitalk.add_head"
    bl_label = "Add Built-in Head"
    bl_options = {"REGISTER", "UNDO"}

    with_camera: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Camera and Light", description="Also add a camera and a light framing the face", default=False
    )

    def execute(self, context: Context) -> OperatorResult:
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


class AVITALK_OT_analyze(WorkerJobOperator):
    """Read the audio with stage 1: fill the segment list with editable instructions"""

    bl_idname = "avitalk.analyze"
    bl_label = "Analyze"
    bl_options = {"REGISTER", "UNDO"}
    job_op = "analyze"

    @classmethod
    def poll(cls, context: Context) -> bool:
        return super().poll(context) and _settings(context) is not None

    def job_params(self, context: Context) -> dict[str, Any]:
        return {"audio": str(_audio_path(_settings(context)))}

    def job_finished(self, context: Context, result: dict[str, Any], warnings: tuple[str, ...]) -> None:
        settings = _settings(context)
        count = segments.fill(settings, result["segments"])
        settings.segments_audio = str(result.get("audio_sha256", ""))
        for note in (*result.get("audio_warnings", ()), *result.get("notes", ()), *warnings):
            self.report({"WARNING"}, str(note))
        self.report({"INFO"}, f"{count} segments from {result.get('model', 'stage 1')}")


class AVITALK_OT_bake_audio(WorkerJobOperator):
    """Animate the active object's shape keys from the audio and the segments' instructions (a new take)"""

    bl_idname = "avitalk.bake_audio"
    bl_label = "Bake"
    bl_options = {"REGISTER", "UNDO"}
    job_op = "generate"

    new_take: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="New Take", description="Bake with the next seed (a different take of the same instructions)",
        default=False, options={"SKIP_SAVE"})

    _target = ""
    _audio: Path | None = None
    _tmp: Path | None = None
    _seed = 0

    @classmethod
    def poll(cls, context: Context) -> bool:
        obj = context.active_object
        return (super().poll(context) and obj is not None and obj.type in {"MESH", "ARMATURE"}
                and _settings(context) is not None)

    def job_params(self, context: Context) -> dict[str, Any]:
        scene, obj, settings = context.scene, context.active_object, _settings(context)
        if scene is None or obj is None:
            raise AviTalkError("select the head to bake onto")
        if takes.shape_key_of(obj) is None and find_flame_rig(obj) is None:
            raise AviTalkError(f"object {obj.name!r} has no shape keys to animate")
        audio = _audio_path(settings)
        panel_layers.bake_options(scene)  # what the bake would refuse, refused before the model runs
        bone = head_bone_of(obj, settings)
        if bone is not None:
            head_motion.find_head_armature(obj, bone)
        if find_flame_rig(obj) is None:
            rig_mapping.bake_inputs(obj)
        fps = scene_fps(scene) if settings.use_scene_fps else normalize_fps(settings.fps)
        model = worker_session.model_settings(context)
        self._seed = settings.seed + 1 if self.new_take else settings.seed
        self._target, self._audio = obj.name, audio
        edited = None  # stage 1 predicts the instructions, unless the artist has segments (the procedural ignores them)
        if model.model != "procedural" and len(settings.segments):
            edited = tuple(track_from_dict({"segments": segments.track(settings)}))
        # only the procedural model reads the transcript (stage 2 hears the audio; the transcript may be there for
        # the word markers, and would only earn a warning worded for the command line)
        transcript = (settings.transcript or None) if model.model == "procedural" else None
        options = GenerateOptions(
            model=model.model, device=model.device, runtime=model.runtime, fps=fps, seed=self._seed, lips=settings.lips,
            expression=settings.expression, blinks=settings.blinks, head=settings.head, transcript=transcript,
            instructions=edited)
        self._tmp = Path(tempfile.mkdtemp(prefix="avitalk-take-"))
        return {"audio": str(audio), "output": str(self._tmp / "take.npz"), "options": options.to_params()}

    def _cleanup(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def execute(self, context: Context) -> OperatorResult:
        try:
            return super().execute(context)
        finally:
            self._cleanup()

    def invoke(self, context: Context, event: Any) -> OperatorResult:
        outcome = super().invoke(context, event)
        if "RUNNING_MODAL" not in outcome:
            self._cleanup()  # finished synchronously, or never started
        return outcome

    def modal(self, context: Context, event: Any) -> OperatorResult:
        outcome = super().modal(context, event)
        if "RUNNING_MODAL" not in outcome and "PASS_THROUGH" not in outcome:
            self._cleanup()
        return outcome

    def job_finished(self, context: Context, result: dict[str, Any], warnings: tuple[str, ...]) -> None:
        scene, settings = context.scene, _settings(context)
        obj = bpy.data.objects.get(self._target)
        if scene is None or obj is None or self._audio is None:
            raise AviTalkError(f"the object {self._target!r} is gone: nothing was baked")
        anim = Animation.load(result["animation"])
        key = takes.shape_key_of(obj)
        name, number = takes.take_name(self._audio.stem, key)
        sound = self._audio if compat.audio_supported() else None
        groups, layer = panel_layers.bake_options(scene)
        mapping, picks = rig_mapping.bake_inputs(obj) if find_flame_rig(obj) is None else (None, None)
        baked = bake_animation(obj, anim, scene=scene, audio_path=sound, action_name=name,
                               frame_start=scene.frame_start, channel_map=picks, mapping=mapping, groups=groups,
                               layer=layer, head_bone=head_bone_of(obj, settings))
        takes.mark_take(baked.action, takes.shape_key_of(obj), number)
        settings.seed = self._seed
        strip = compat.sound_strips(scene).get(baked.sound_strip) if baked.sound_strip else None
        if strip is not None:
            compat.show_waveform(strip)
        timeline.resync(scene)  # the bake may have changed the frame rate: markers move to their times
        for note in (*result.get("audio_warnings", ()), *warnings, *baked.notes):
            self.report({"WARNING"}, str(note))
        if sound is None:
            self.report({"WARNING"}, "this Blender build has no audio support: no sound strip was added")
        reused = " (audio analysis re-used)" if result.get("reused_analysis") else ""
        where = f" as layer {baked.layer!r}" if baked.layer else ""
        self.report({"INFO"}, f"baked {channels_phrase(len(baked.keyed), baked.unmatched, baked.groups)} into "
                              f"{baked.action.name!r}{where}{reused}{unplaced_phrase(baked.unmatched)}")


class AVITALK_OT_segment_split(Operator):
    """Split the active segment at the playhead (or in its middle when the playhead is outside it)"""

    bl_idname = "avitalk.segment_split"
    bl_label = "Split Segment"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: Context) -> OperatorResult:
        settings, scene = _settings(context), context.scene
        if settings is None or scene is None:
            return {"CANCELLED"}
        at = (scene.frame_current - scene.frame_start) / scene_fps(scene)
        try:
            segments.split(settings, settings.active_segment, at)
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


class AVITALK_OT_segment_merge(Operator):
    """Merge the active segment with the next one (keeping the active one's text)"""

    bl_idname = "avitalk.segment_merge"
    bl_label = "Merge with Next"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: Context) -> OperatorResult:
        settings = _settings(context)
        if settings is None:
            return {"CANCELLED"}
        try:
            segments.merge(settings, settings.active_segment)
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


class AVITALK_OT_use_take(Operator):
    """Make this take the active animation of the selected head"""

    bl_idname = "avitalk.use_take"
    bl_label = "Use Take"
    bl_options = {"REGISTER", "UNDO"}

    action: bpy.props.StringProperty(name="Action")  # type: ignore[valid-type]

    def execute(self, context: Context) -> OperatorResult:
        key = takes.shape_key_of(context.active_object)
        action = bpy.data.actions.get(self.action)
        if key is None or action is None or context.scene is None:
            self.report({"ERROR"}, f"no take {self.action!r} for the selected object")
            return {"CANCELLED"}
        takes.use_take(context.scene, key, action)
        return {"FINISHED"}


CLASSES = (AVITALK_OT_add_head, AVITALK_OT_analyze, AVITALK_OT_bake_audio, AVITALK_OT_segment_split,
           AVITALK_OT_segment_merge, AVITALK_OT_use_take)
