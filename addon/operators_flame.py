"""Operators for FLAME heads: add one from the user's model file, link a model file to an existing rig (the
MPI FLAME add-on's) so ARKit bakes can be retargeted, and import a research FLAME sequence onto the
active FLAME rig. The work is in ``core.flame`` and ``flame_rig``/``bake``; errors are one line."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.types import Context, Event, Operator

from ..core.common.errors import AviTalkError
from ..core.flame.formats import FORMATS
from . import compat
from .bake import bake_animation, scene_fps
from .file_browser import pick_file_then_execute
from .flame_rig import LANDMARKS_PATH_PROPERTY, MODEL_PATH_PROPERTY, build_flame_object, find_flame_rig
from .preview_scene import add_preview_camera_and_light
from .types import OperatorResult

_FORMAT_ITEMS = [(f, f.upper() if f in ("deca", "emoca", "emote") else f.capitalize(), "") for f in FORMATS]


def _abspath(path: str) -> Path:
    return Path(bpy.path.abspath(path)).expanduser()


class AVITALK_OT_add_flame_head(Operator):
    """Add a FLAME head from your model file (.pkl/.npz): expression keys, correctives, neck/jaw/eye bones"""

    bl_idname = "avitalk.add_flame_head"
    bl_label = "Add FLAME Head"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="FLAME Model", description="generic_model.pkl, flame2023.pkl or a converted .npz", subtype="FILE_PATH"
    )
    filter_glob: bpy.props.StringProperty(default="*.pkl;*.npz", options={"HIDDEN"})  # type: ignore[valid-type]
    landmarks_path: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Landmarks",
        description="Optional landmark embedding (e.g. DECA's landmark_embedding.npy): without it, ARKit bakes "
                    "retarget only the jaw reliably",
        subtype="FILE_PATH",
    )
    n_expression: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Expressions", description="Expression shape keys to add (0 = all the model has)", default=0, min=0
    )
    with_camera: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Camera and Light", description="Also add a camera and a light framing the face", default=False
    )

    @classmethod
    def poll(cls, context: Context) -> bool:
        return context.mode == "OBJECT" and context.scene is not None

    def invoke(self, context: Context, event: Event) -> OperatorResult:
        self._use_preferences(context)
        return pick_file_then_execute(self, context)

    def _use_preferences(self, context: Context) -> None:
        """No file chosen: the FLAME model (and landmarks) set in the preferences."""
        from .preferences import get_preferences

        prefs = get_preferences(context)
        if prefs is not None and not self.filepath and prefs.flame_model_path.strip():
            self.filepath = prefs.flame_model_path.strip()
            if not self.landmarks_path:
                self.landmarks_path = prefs.flame_landmarks_path.strip()

    def execute(self, context: Context) -> OperatorResult:
        scene, view_layer = context.scene, context.view_layer
        if scene is None or view_layer is None:
            return {"CANCELLED"}
        self._use_preferences(context)
        from ..core.flame.landmarks import load_embedding
        from ..core.flame.loading import load_flame

        try:
            if not self.filepath:
                raise AviTalkError("choose your FLAME model file (.pkl or .npz)")
            model_path = _abspath(self.filepath)
            model = load_flame(model_path)
            landmarks = _abspath(self.landmarks_path) if self.landmarks_path else None
            if landmarks is not None:
                load_embedding(landmarks, len(model.faces))
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        collection = context.collection or scene.collection
        cursor = scene.cursor.location
        obj = build_flame_object(model, collection, view_layer, location=(cursor.x, cursor.y, cursor.z),
                                 n_expression=self.n_expression or None, model_path=model_path,
                                 landmarks_path=landmarks)
        if self.with_camera:
            add_preview_camera_and_light(scene, obj)
        for other in view_layer.objects:
            other.select_set(False)
        obj.select_set(True)
        view_layer.objects.active = obj
        if landmarks is None:
            self.report({"WARNING"}, "no landmark file: ARKit bakes onto this head retarget only the jaw reliably")
        return {"FINISHED"}


class AVITALK_OT_link_flame_model(Operator):
    """Link the FLAME model file a rig comes from (e.g. the MPI add-on's), so lip sync can be retargeted"""

    bl_idname = "avitalk.link_flame_model"
    bl_label = "Link FLAME Model"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(name="FLAME Model", subtype="FILE_PATH")  # type: ignore[valid-type]
    filter_glob: bpy.props.StringProperty(default="*.pkl;*.npz", options={"HIDDEN"})  # type: ignore[valid-type]
    landmarks_path: bpy.props.StringProperty(name="Landmarks", subtype="FILE_PATH")  # type: ignore[valid-type]

    @classmethod
    def poll(cls, context: Context) -> bool:
        return find_flame_rig(context.active_object) is not None

    def invoke(self, context: Context, event: Event) -> OperatorResult:
        return pick_file_then_execute(self, context)

    def execute(self, context: Context) -> OperatorResult:
        from ..core.flame.landmarks import load_embedding
        from ..core.flame.loading import load_flame

        rig = find_flame_rig(context.active_object)
        if rig is None:
            return {"CANCELLED"}
        try:
            model_path = _abspath(self.filepath)
            model = load_flame(model_path)
            if rig.n_expression > model.n_expression:
                raise AviTalkError(f"the rig has {rig.n_expression} expression keys but {model_path.name} only "
                                   f"{model.n_expression}: is it the right model?")
            landmarks = _abspath(self.landmarks_path) if self.landmarks_path else None
            if landmarks is not None:
                load_embedding(landmarks, len(model.faces))
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        rig.mesh[MODEL_PATH_PROPERTY] = str(model_path.resolve())
        if landmarks is not None:
            rig.mesh[LANDMARKS_PATH_PROPERTY] = str(landmarks.resolve())
        elif LANDMARKS_PATH_PROPERTY in rig.mesh.keys():
            del rig.mesh[LANDMARKS_PATH_PROPERTY]
        return {"FINISHED"}


class AVITALK_OT_import_flame_sequence(Operator):
    """Key a DECA, EMOCA, DiffPoseTalk or EMOTE sequence onto the active FLAME rig, with the panel's audio"""

    bl_idname = "avitalk.import_flame_sequence"
    bl_label = "Import FLAME Sequence"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(name="Sequence", subtype="FILE_PATH")  # type: ignore[valid-type]
    filter_glob: bpy.props.StringProperty(default="*.npz;*.json", options={"HIDDEN"})  # type: ignore[valid-type]
    format: bpy.props.EnumProperty(name="Format", items=_FORMAT_ITEMS, default="auto")  # type: ignore[valid-type]
    fps: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="FPS", description="The sequence's frame rate (0: what the file says, else the scene's)",
        default=0.0, min=0.0, max=240.0,
    )
    use_audio: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Use Panel Audio", description="Add the panel's audio file as the sound strip", default=True
    )
    offset: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Offset", description="Seconds the face starts after the audio (negative: drop frames)", default=0.0,
        unit="TIME_ABSOLUTE",
    )
    head_pose: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Head Pose", description="Keep the global head rotation (keyed on the neck bone)", default=False
    )

    @classmethod
    def poll(cls, context: Context) -> bool:
        return find_flame_rig(context.active_object) is not None

    def invoke(self, context: Context, event: Event) -> OperatorResult:
        return pick_file_then_execute(self, context)

    def execute(self, context: Context) -> OperatorResult:
        from ..core.audio.loader import load_audio
        from ..core.flame.formats import align_to_audio, read_sequence

        scene = context.scene
        if scene is None:
            return {"CANCELLED"}
        settings = getattr(scene, "avi_talking", None)
        audio_setting = settings.audio_path if settings is not None and self.use_audio else ""
        try:
            if not self.filepath:
                raise AviTalkError("choose a sequence file (.npz or .json)")
            anim = read_sequence(_abspath(self.filepath), fps=self.fps or None, fmt=self.format,
                                 head_pose=self.head_pose, default_fps=scene_fps(scene))
            audio_path = _abspath(audio_setting) if audio_setting else None
            audio = load_audio(audio_path) if audio_path is not None else None
            anim = align_to_audio(anim, self.offset, audio.duration if audio is not None else None)
            sound = audio_path if audio_path is not None and compat.audio_supported() else None
            result = bake_animation(context.active_object, anim, scene=scene, audio_path=sound,
                                    frame_start=scene.frame_start)
        except ImportError as exc:
            self.report({"ERROR"}, f"Blender's Python lacks {exc.name or exc}, which reading this audio needs: "
                                   "give a WAV file")
            return {"CANCELLED"}
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for note in result.notes:
            self.report({"WARNING"}, note)
        self.report({"INFO"}, f"keyed {len(result.keyed)} FLAME channels over {anim.n_frames} frames")
        return {"FINISHED"}


CLASSES = (AVITALK_OT_add_flame_head, AVITALK_OT_link_flame_model, AVITALK_OT_import_flame_sequence)
