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


class AVITALK_PT_flame(Panel):
    bl_label = "FLAME"
    bl_idname = "AVITALK_PT_flame"
    bl_parent_id = "AVITALK_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "AVI Talk"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Context) -> None:
        from .flame_rig import describe, find_flame_rig

        layout = self.layout
        if layout is None:
            return
        layout.operator("avi_talking.add_flame_head", icon="ARMATURE_DATA")
        rig = find_flame_rig(context.active_object)
        if rig is None:
            layout.label(text="Select a FLAME head to import sequences", icon="INFO")
            return
        layout.label(text=describe(rig), icon="OUTLINER_OB_ARMATURE")
        layout.operator("avi_talking.import_flame_sequence", icon="IMPORT")
        if rig.model_path is None:
            layout.label(text="Lip sync: link the FLAME model first", icon="ERROR")
            layout.operator("avi_talking.link_flame_model", icon="LINKED")
        elif rig.landmarks_path is None:
            layout.label(text="Lip sync retargets only the jaw reliably", icon="ERROR")
            layout.label(text="(no landmark file: link one for lips and brows)")
            layout.operator("avi_talking.link_flame_model", icon="LINKED")


CLASSES = (AVITALK_PT_main, AVITALK_PT_flame)
