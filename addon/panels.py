"""The sidebar panel (3D View > Sidebar > AVI Talk)."""

from __future__ import annotations

from bpy.types import Context, Panel


class AVITALK_PT_main(Panel):
    bl_label = "AVI-Talking"
    bl_idname = "AVITALK_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "AVI Talk"

    def draw(self, context: Context) -> None:
        layout = self.layout
        scene = context.scene
        settings = getattr(scene, "avi_talking", None)
        if settings is None or layout is None:
            return
        layout.operator("avi_talking.add_head", icon="MONKEY")
        col = layout.column(align=True)
        col.prop(settings, "audio_path")
        col.prop(settings, "transcript")
        row = layout.row(align=True)
        row.prop(settings, "use_scene_fps", text="Scene FPS")
        sub = row.row(align=True)
        sub.enabled = not settings.use_scene_fps
        sub.prop(settings, "fps")
        col = layout.column(align=True)
        col.prop(settings, "lips", slider=True)
        col.prop(settings, "expression", slider=True)
        col.prop(settings, "blinks", slider=True)
        layout.prop(settings, "seed")
        obj = context.active_object
        target = obj.name if obj is not None else "no active object"
        layout.operator("avi_talking.bake_audio", icon="SPEAKER")
        layout.label(text=f"Target: {target}", icon="OBJECT_DATA")


CLASSES = (AVITALK_PT_main,)
