"""Operators of the segment editor and the timeline: jump to a segment, add or remove an action unit, edit
a segment's text in a wide dialog, word markers from the transcript, and cancel the running job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy
from bpy.types import Context, Event, Operator

from ..core.common.errors import AviTalkError
from ..core.instructions.au_names import au_label
from ..core.instructions.schema import AUS, MAX_TEXT_CHARS
from ..core.worker.needs import missing
from . import segments, timeline, ui_text, worker_session
from .job_operator import WorkerJobOperator
from .preferences import get_preferences
from .types import OperatorResult

DIALOG_WIDTH = 640  # unscaled pixels: the text editor dialog (the sidebar is about 220)
AU_ITEMS = [(code, au_label(code), f"Add {au_label(code)} to the segment's instruction") for code in AUS]
NO_POCKETSPHINX = ("Word markers need pocketsphinx: Blender's Python has none and Run In is set to Blender "
                   "(Preferences: Auto or Worker Process, with a Worker Python that has it)")


def _settings(context: Context) -> Any:
    return getattr(context.scene, "avi_talking", None)


def _segment(context: Context, index: int) -> Any:
    """Segment ``index`` (-1: the active one); raises AviTalkError when there is none."""
    settings = _settings(context)
    if settings is None or not len(settings.segments):
        raise AviTalkError("no segments: run Analyze first")
    k = settings.active_segment if index < 0 else index
    if not 0 <= k < len(settings.segments):
        raise AviTalkError(f"there is no segment {k + 1}")
    return settings.segments[k]


class AVITALK_OT_segment_jump(Operator):
    """Move the playhead to the start of this segment (and make it the active one)"""

    bl_idname = "avitalk.segment_jump"
    bl_label = "Jump to Segment"
    bl_options = {"REGISTER"}

    index: bpy.props.IntProperty(name="Segment", default=-1, options={"SKIP_SAVE"})  # type: ignore[valid-type]

    def execute(self, context: Context) -> OperatorResult:
        scene = context.scene
        try:
            seg = _segment(context, self.index)
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if scene is None:
            return {"CANCELLED"}
        if self.index >= 0:
            _settings(context).active_segment = self.index
        scene.frame_current = timeline.frame_of(scene, seg.start)
        return {"FINISHED"}


class AVITALK_OT_segment_au(Operator):
    """Set one action unit of the active segment (0 removes it); the instruction text is rewritten"""

    bl_idname = "avitalk.segment_au"
    bl_label = "Action Unit"
    bl_options = {"REGISTER", "UNDO"}
    bl_property = "au"

    au: bpy.props.EnumProperty(name="Action Unit", items=AU_ITEMS)  # type: ignore[valid-type]
    value: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Value", min=0.0, max=1.0, default=segments.DEFAULT_INTENSITY, options={"SKIP_SAVE"})
    index: bpy.props.IntProperty(name="Segment", default=-1, options={"SKIP_SAVE"})  # type: ignore[valid-type]

    def execute(self, context: Context) -> OperatorResult:
        try:
            seg = _segment(context, self.index)
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        segments.set_au(seg, self.au, self.value)
        return {"FINISHED"}


class AVITALK_OT_segment_edit_text(Operator):
    """Edit the segment's instruction in a wide dialog"""

    bl_idname = "avitalk.segment_edit_text"
    bl_label = "Edit Instruction"
    bl_options = {"REGISTER", "UNDO"}

    index: bpy.props.IntProperty(name="Segment", default=-1, options={"SKIP_SAVE"})  # type: ignore[valid-type]
    text: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Instruction", description="How this stretch is spoken, in words", options={"SKIP_SAVE"})

    def invoke(self, context: Context, event: Event) -> OperatorResult:
        try:
            self.text = _segment(context, self.index).text
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        wm = context.window_manager
        if wm is None or context.window is None:
            return self.execute(context)
        return wm.invoke_props_dialog(self, width=DIALOG_WIDTH)

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is None:
            return
        layout.prop(self, "text", text="")
        # the whole text, wrapped at the dialog's width (the field scrolls)
        width = (DIALOG_WIDTH - 30) * ui_text.ui_scale(context)
        ui_text.draw_wrapped(layout.box(), context, self.text, width=width)

    def execute(self, context: Context) -> OperatorResult:
        if len(self.text) > MAX_TEXT_CHARS:
            self.report({"ERROR"}, f"the instruction is {len(self.text)} characters long; at most {MAX_TEXT_CHARS}")
            return {"CANCELLED"}
        try:
            seg = _segment(context, self.index)
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        seg.text = self.text
        return {"FINISHED"}


def word_markers_unavailable(context: Context) -> str | None:
    """Why the transcript's words cannot be aligned from here, or None: the aligner (pocketsphinx) runs in
    Blender's Python when it has it, else in the worker — unless the preferences keep jobs inside Blender."""
    if not missing("align_words", {}):
        return None
    prefs = get_preferences(context)
    return NO_POCKETSPHINX if prefs is not None and prefs.run_mode == "IN_PROCESS" else None


class AVITALK_OT_word_markers(WorkerJobOperator):
    """Align the transcript to the audio and put a timeline marker at each word (replacing the previous ones)"""

    bl_idname = "avitalk.word_markers"
    bl_label = "Word Markers"
    bl_options = {"REGISTER", "UNDO"}
    job_op = "align_words"

    @classmethod
    def poll(cls, context: Context) -> bool:
        settings = _settings(context)
        return (super().poll(context) and settings is not None and bool(settings.transcript.strip())
                and word_markers_unavailable(context) is None)

    def job_params(self, context: Context) -> dict[str, Any]:
        settings = _settings(context)
        if not settings.audio_path:
            raise AviTalkError("choose an audio file first")
        audio = Path(bpy.path.abspath(settings.audio_path))
        if not audio.is_file():
            raise AviTalkError(f"audio file {audio} does not exist")
        return {"audio": str(audio), "transcript": settings.transcript}

    def job_finished(self, context: Context, result: dict[str, Any], warnings: tuple[str, ...]) -> None:
        scene = context.scene
        if scene is None:
            raise AviTalkError("no scene to mark")
        words = [(str(w["word"]), float(w["start"])) for w in result.get("words", ())]
        count = timeline.set_word_markers(scene, words)
        for note in warnings:
            self.report({"WARNING"}, str(note))
        self.report({"INFO"}, f"{count} word markers")


class AVITALK_OT_clear_word_markers(Operator):
    """Remove the word markers this add-on placed (markers you made are kept)"""

    bl_idname = "avitalk.clear_word_markers"
    bl_label = "Clear Word Markers"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: Context) -> OperatorResult:
        if context.scene is None:
            return {"CANCELLED"}
        timeline.clear_word_markers(context.scene)
        return {"FINISHED"}


class AVITALK_OT_cancel_job(Operator):
    """Cancel the running job (as Esc does)"""

    bl_idname = "avitalk.cancel_job"
    bl_label = "Cancel"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context: Context) -> bool:
        return worker_session.busy()

    def execute(self, context: Context) -> OperatorResult:
        running = worker_session.running
        if running is None:
            return {"CANCELLED"}
        running.job.cancel()  # the job's operator sees it on its next timer tick and reports "cancelled"
        return {"FINISHED"}


CLASSES = (AVITALK_OT_segment_jump, AVITALK_OT_segment_au, AVITALK_OT_segment_edit_text, AVITALK_OT_word_markers,
           AVITALK_OT_clear_word_markers, AVITALK_OT_cancel_job)
