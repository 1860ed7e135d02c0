"""The sidebar panel (3D View > Sidebar > AVI Talk)."""

from __future__ import annotations

import json
from typing import Any

import bpy
from bpy.types import Context, Panel, UILayout, UIList

from ..core.instructions.au_names import au_label, au_name, au_short_name
from ..core.instructions.schema import AUS
from . import compat, head_motion, segments, takes, timeline, ui_text, worker_session
from .bake import META_PROPERTY, scene_fps
from .operators_segments import word_markers_unavailable


class AVITALK_UL_segments(UIList):
    """One row per instruction segment: a jump to its start, its times and the emotion it reads as (the text,
    the times and the structure are edited in the active segment's box below the list, where they have room
    at the sidebar's default width)."""

    def draw_item(self, context: Context | None, layout: UILayout, data: Any | None, item: Any | None,
                  icon: int | None, active_data: Any, active_property: str | None, index: int | None = 0,
                  flt_flag: int | None = 0) -> None:
        if item is None:
            return
        row = layout.row(align=True)
        jump = row.operator("avitalk.segment_jump", text="", icon="TIME", emboss=False)
        if jump is not None:
            jump.index = index or 0
        # the times (no unit: the row is narrow) get what the longest need — the last segment's, as the times
        # only grow — and the emotion the rest
        times = segment_times(item, unit="")
        longest = segment_times(data.segments[-1], unit="") if data is not None and len(data.segments) else times
        measure = ui_text.measurer(context)
        room = ui_text.label_width(context, ui_text.ICON_WIDTH + ui_text.LIST_MARGIN)
        split = row.split(factor=min(max((measure(longest) + 10 * ui_text.ui_scale(context)) / room, 0.3), 0.75),
                          align=True)
        split.label(text=times)
        ok = item.understood and not item.ignored
        split.label(text=item.emotion, icon="NONE" if ok else "ERROR")


def segment_times(seg: Any, unit: str = " s") -> str:
    """'0.00–1.25 s'."""
    return f"{seg.start:.2f}–{seg.end:.2f}{unit}"


def _au_text(context: Context, code: str, width: float) -> str:
    """The slider's label: 'Brow lowerer (AU4)' where it fits beside the value, else the name alone, else
    in fewer letters ('Lip corner puller L')."""
    measure = ui_text.measurer(context)
    room = width - measure("0.00") - 30 * ui_text.ui_scale(context)  # the value and the slider's padding
    for text in (au_label(code), au_name(code)):
        if measure(text) <= room:
            return text
    return au_short_name(code)


def _draw_segment(layout: UILayout, context: Context, settings: Any, k: int) -> None:
    """The active segment: its times, its text in full (wrapped; a wide editor in a dialog) and the structured
    editor — emotion, intensity and a slider per action unit it has, plus a menu to add one."""
    seg = settings.segments[k]
    box = layout.box()
    head = box.row(align=True)
    head.label(text=f"Segment {k + 1}: {segment_times(seg)}")
    jump = head.operator("avitalk.segment_jump", text="", icon="TIME")
    if jump is not None:
        jump.index = k
    times = box.column(align=True)
    times.prop(seg, "start", text="Start (s)")
    times.prop(seg, "end", text="End (s)")
    ui_text.draw_wrapped(box, context, seg.text or "(no instruction: neutral)", in_box=True)
    row = box.row(align=True)
    row.prop(seg, "text", text="")
    edit = row.operator("avitalk.segment_edit_text", text="", icon="GREASEPENCIL")
    if edit is not None:
        edit.index = k
    # one line: the emotion and every unit the text stands for (an emotion word brings its prototype's)
    box.label(text=segments.reading(seg, ui_text.label_width(context, ui_text.BOX_MARGIN), ui_text.measurer(context)))
    col = box.column(align=True)
    col.prop(seg, "edit_emotion", text="")
    sub = col.row(align=True)
    sub.enabled = seg.edit_emotion != "neutral"
    sub.prop(seg, "edit_intensity", slider=True)
    # the units the segment has, one slider each (at 0 a unit leaves the text: Backspace over it resets it)
    slider_width = ui_text.label_width(context, ui_text.BOX_MARGIN)
    aus = box.column(align=True)
    for code in AUS:
        prop = segments.au_prop(code)
        if getattr(seg, prop) > 0.0:
            aus.prop(seg, prop, text=_au_text(context, code, slider_width), slider=True)
    box.operator_menu_enum("avitalk.segment_au", "au", text="Add Action Unit", icon="ADD")
    if not seg.understood:
        ui_text.draw_wrapped(box, context, "Nothing understood: this segment is neutral", icon="ERROR", in_box=True)
    if seg.ignored:
        ui_text.draw_wrapped(box, context, f"Ignored: {seg.ignored}", icon="ERROR", in_box=True)
    if seg.notes:
        ui_text.draw_wrapped(box, context, seg.notes, icon="INFO", in_box=True)


def _draw_status(layout: UILayout, context: Context) -> None:
    """One row, always: the target, or while a job runs its progress and a cancel button. The panel keeps its
    height when a job starts, so the sub-panels below need no re-layout (Blender animates that, and until it
    has, their headers were drawn over the Seed and Bake rows)."""
    row = layout.row(align=True)
    running = worker_session.running
    if running is not None and worker_session.busy():
        compat.progress(row, running.job.fraction, f"{running.label}: {running.job.stage}")
        row.operator("avitalk.cancel_job", text="", icon="CANCEL")
        return
    obj = context.active_object
    row.label(text=f"Target: {obj.name if obj is not None else 'no active object'}", icon="OBJECT_DATA")


def _draw_timeline(layout: UILayout, context: Context, settings: Any) -> None:
    col = layout.column(align=True)
    col.label(text="Timeline markers:")
    row = col.row(align=True)
    row.prop(settings, "segment_markers", text="Segments", toggle=True)
    row.operator("avitalk.word_markers", text="Words", icon="MARKER")
    if context.scene is not None and timeline.word_count(context.scene):
        row.operator("avitalk.clear_word_markers", text="", icon="X")
    unavailable = word_markers_unavailable(context)
    if settings.transcript.strip() and unavailable:
        ui_text.draw_wrapped(layout, context, unavailable, icon="INFO")


def _draw_fps(layout: UILayout, context: Context, settings: Any) -> None:
    """The frame rate the bake will use: the scene's (shown as a number, not a greyed field) or the panel's."""
    row = layout.row(align=True)
    row.prop(settings, "use_scene_fps", text="Scene FPS")
    if settings.use_scene_fps and context.scene is not None:
        row.label(text=f"{scene_fps(context.scene):.4g} fps")
    else:
        row.prop(settings, "fps")


TAKE_PREFIX = "AVI "  # takes.take_name's: dropped from the buttons, which have little room


def _draw_takes(layout: UILayout, context: Context) -> None:
    key = takes.shape_key_of(context.active_object)
    found = takes.takes_for(key)
    if not found:
        return
    box = layout.box()
    box.label(text="Takes", icon="ACTION")
    current = takes.current_take(key)
    col = box.column(align=True)
    for action in found:
        meta = _meta(action)
        row = col.split(factor=0.68, align=True)
        name = action.name[len(TAKE_PREFIX):] if action.name.startswith(TAKE_PREFIX) else action.name
        props = row.operator("avitalk.use_take", text=name,
                             icon="CHECKMARK" if action == current else "BLANK1", depress=action == current)
        if props is not None:
            props.action = action.name
        row.label(text=f"seed {meta.get('seed', '?')}")
    if current is not None:
        meta = _meta(current)
        ui_text.draw_wrapped(box, context, f"{current.name}: {str(meta.get('model', '?')).split(':')[0]}, "
                             f"seed {meta.get('seed', '?')}", in_box=True)


def _meta(action: Any) -> dict[str, Any]:
    try:
        data = json.loads(action.get(META_PROPERTY, "{}"))
    except (TypeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


class _Sidebar(Panel):
    """Where every panel of the add-on lives: the 3D View sidebar's AVI Talk tab (a base, never registered)."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "AVI Talk"


class _SubPanel(_Sidebar):
    bl_parent_id = "AVITALK_PT_main"
    bl_options = {"DEFAULT_CLOSED"}


class AVITALK_PT_main(_Sidebar):
    bl_label = "AVI-Talking"
    bl_idname = "AVITALK_PT_main"

    def draw(self, context: Context) -> None:
        layout = self.layout
        scene = context.scene
        settings = getattr(scene, "avi_talking", None)
        if settings is None or layout is None:
            return
        layout.operator("avitalk.add_head", icon="MONKEY")
        col = layout.column(align=True)
        col.prop(settings, "audio_path")
        col.prop(settings, "transcript")
        _draw_status(layout, context)

        layout.operator("avitalk.analyze", icon="VIEWZOOM")
        if len(settings.segments):
            # as many rows as segments, up to 8: no scroll bar taking the rows' width before that
            rows = min(max(len(settings.segments), 3), 8)
            layout.template_list("AVITALK_UL_segments", "", settings, "segments", settings, "active_segment", rows=rows)
            row = layout.row(align=True)
            row.operator("avitalk.segment_split", text="Split", icon="ADD")
            row.operator("avitalk.segment_merge", text="Merge", icon="REMOVE")
            if 0 <= settings.active_segment < len(settings.segments):
                _draw_segment(layout, context, settings, settings.active_segment)
        _draw_timeline(layout, context, settings)

        _draw_fps(layout, context, settings)
        col = layout.column(align=True)
        col.prop(settings, "lips", slider=True)
        col.prop(settings, "expression", slider=True)
        col.prop(settings, "blinks", slider=True)
        col.prop(settings, "head", slider=True)
        armature = head_motion.rig_armature(context.active_object)
        if armature is not None and isinstance(armature.data, bpy.types.Armature):
            layout.prop_search(settings, "head_bone", armature.data, "bones", icon="BONE_DATA")
        row = layout.row(align=True)
        row.prop(settings, "seed")
        row = layout.row(align=True)
        row.scale_y = 1.3
        row.operator("avitalk.bake_audio", icon="SPEAKER")
        take = row.operator("avitalk.bake_audio", text="New Take", icon="FILE_REFRESH")
        if take is not None:
            take.new_take = True
        _draw_takes(layout, context)


class AVITALK_PT_mapping(_SubPanel):
    bl_label = "Rig Mapping"
    bl_idname = "AVITALK_PT_mapping"

    def draw(self, context: Context) -> None:
        layout = self.layout
        obj = context.active_object
        key = takes.shape_key_of(obj)
        if layout is None:
            return
        if obj is None or key is None:
            layout.label(text="Select a mesh with shape keys", icon="INFO")
            return
        layout.operator("avitalk.match_shape_keys", icon="LINKED")
        items = getattr(obj, "avi_talking_mapping", ())
        if not len(items):
            layout.label(text="Not matched yet: names are matched automatically at bake time")
            return
        missing = [item for item in items if not item.block]
        layout.label(text=f"{len(items) - len(missing)} of {len(items)} channels matched",
                     icon="CHECKMARK" if not missing else "ERROR")
        col = layout.column(align=True)
        for item in missing:
            col.prop_search(item, "block", key, "key_blocks", text=item.channel)


class AVITALK_PT_flame(_SubPanel):
    bl_label = "FLAME"
    bl_idname = "AVITALK_PT_flame"

    def draw(self, context: Context) -> None:
        from .flame_rig import describe, find_flame_rig

        layout = self.layout
        if layout is None:
            return
        layout.operator("avitalk.add_flame_head", icon="ARMATURE_DATA")
        rig = find_flame_rig(context.active_object)
        if rig is None:
            layout.label(text="Select a FLAME head to import sequences", icon="INFO")
            return
        layout.label(text=describe(rig), icon="OUTLINER_OB_ARMATURE")
        layout.operator("avitalk.import_flame_sequence", icon="IMPORT")
        if rig.model_path is None:
            layout.label(text="Lip sync: link the FLAME model first", icon="ERROR")
            layout.operator("avitalk.link_flame_model", icon="LINKED")
        elif rig.landmarks_path is None:
            layout.label(text="Lip sync retargets only the jaw reliably", icon="ERROR")
            layout.label(text="(no landmark file: link one for lips and brows)")
            layout.operator("avitalk.link_flame_model", icon="LINKED")


CLASSES = (AVITALK_UL_segments, AVITALK_PT_main, AVITALK_PT_mapping, AVITALK_PT_flame)
