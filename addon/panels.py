"""The sidebar panel (3D View > Sidebar > AVI Talk)."""

from __future__ import annotations

import json
from typing import Any

from bpy.types import Context, Panel, UILayout, UIList

from . import compat, takes, worker_session
from .bake import META_PROPERTY
from .segments import aus_of


class AVITALK_UL_segments(UIList):
    """One row per instruction segment: its times and the editable text (start and end are edited in the
    active segment's box below the list, where they have room at the sidebar's default width)."""

    def draw_item(self, context: Context | None, layout: UILayout, data: Any | None, item: Any | None,
                  icon: int | None, active_data: Any, active_property: str | None, index: int | None = 0,
                  flt_flag: int | None = 0) -> None:
        if item is None:
            return
        row = layout.row(align=True)
        times = row.row(align=True)
        times.ui_units_x = 3.5
        times.label(text=f"{item.start:.1f}–{item.end:.1f}")
        row.prop(item, "text", text="", emboss=False, icon="NONE" if item.understood and not item.ignored else "ERROR")


def _draw_interpretation(layout: UILayout, seg: Any) -> None:
    """What the parser read from the active segment's text: emotion, intensity, AU bars, ignored words."""
    box = layout.box()
    times = box.row(align=True)
    times.prop(seg, "start")
    times.prop(seg, "end")
    box.prop(seg, "text", text="")
    emotion = seg.emotion if seg.emotion == "neutral" else f"{seg.emotion}, intensity {seg.intensity:.2f}"
    box.label(text=f"Read as: {emotion}", icon="INFO")
    col = box.column(align=True)
    for au, value in aus_of(seg).items():
        compat.progress(col, value, f"{au} {value:.2f}")
    if not seg.understood:
        box.label(text="Nothing understood: this segment is neutral", icon="ERROR")
    if seg.ignored:
        box.label(text=f"Ignored: {seg.ignored}", icon="ERROR")
    if seg.notes:
        box.label(text=seg.notes, icon="INFO")


def _draw_takes(layout: UILayout, context: Context) -> None:
    key = takes.shape_key_of(context.active_object)
    found = takes.takes_for(key)
    if not found:
        return
    box = layout.box()
    box.label(text="Takes", icon="ACTION")
    current = takes.current_take(key)
    for action in found:
        meta = _meta(action)
        row = box.row(align=True)
        props = row.operator("avitalk.use_take", text=action.name,
                             icon="CHECKMARK" if action == current else "BLANK1", depress=action == current)
        if props is not None:
            props.action = action.name
        row.label(text=f"seed {meta.get('seed', '?')}, {str(meta.get('model', '?')).split(':')[0]}")


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
        obj = context.active_object
        layout.label(text=f"Target: {obj.name if obj is not None else 'no active object'}", icon="OBJECT_DATA")

        running = worker_session.running
        if running is not None and not running.job.done:
            compat.progress(layout, running.job.fraction, f"{running.label}: {running.job.stage}")
            layout.label(text="Esc cancels", icon="CANCEL")

        layout.operator("avitalk.analyze", icon="VIEWZOOM")
        if len(settings.segments):
            row = layout.row()
            row.template_list("AVITALK_UL_segments", "", settings, "segments", settings, "active_segment", rows=4)
            side = row.column(align=True)
            side.operator("avitalk.segment_split", text="", icon="ADD")
            side.operator("avitalk.segment_merge", text="", icon="REMOVE")
            if 0 <= settings.active_segment < len(settings.segments):
                _draw_interpretation(layout, settings.segments[settings.active_segment])

        row = layout.row(align=True)
        row.prop(settings, "use_scene_fps", text="Scene FPS")
        sub = row.row(align=True)
        sub.enabled = not settings.use_scene_fps
        sub.prop(settings, "fps")
        col = layout.column(align=True)
        col.prop(settings, "lips", slider=True)
        col.prop(settings, "expression", slider=True)
        col.prop(settings, "blinks", slider=True)
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
