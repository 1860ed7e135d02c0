"""The README's panel pictures: runs inside a windowed Blender started by ``scripts/blender_ui.py``
(``scripts/screenshot_panel.sh`` does that). Args: AUDIO OUT.png [MODEL].

Adds the built-in head, analyses AUDIO, gives the first segment a happier instruction and moves two of its
sliders (the text follows), puts word markers from AUDIO's transcript (AUDIO with .txt, when there is one)
on the timeline, bakes with MODEL (default: the preferences' default, stage 2) in the worker process, moves
to the frame where the mouth is widest, frames the head and saves the 3D View with its sidebar open on the
add-on's tab as OUT.png, and the timeline with the segment and word markers as OUT_timeline.png."""

from __future__ import annotations

import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import bpy
from mathutils import Euler

sys.path.insert(0, os.environ["AVITALK_SESSION_HELPERS"])
import blender_session as session

INSTRUCTION = "A happy person speaks with a broad smile and raised brows"


def widest_mouth_frame(key: Any) -> int:
    """The keyed frame with the largest jawOpen value of the key's active take."""
    from avi_talking.addon import compat

    curves = compat.action_fcurves(key.animation_data.action, key)
    jaw = next(c for c in curves if c.data_path == 'key_blocks["jawOpen"].value')
    best = max(jaw.keyframe_points, key=lambda point: point.co[1])
    return int(best.co[0])


def steps() -> session.Steps:
    args = session.script_args()
    out = Path(args[1]).resolve()
    audio = Path(args[0]).name  # shown in the panel: a copy in Blender's working folder, not a machine path
    shutil.copyfile(args[0], audio)
    session.close_splash()
    yield 0.05
    session.enable_addon()
    from avi_talking.addon import panels, takes

    counter = session.DrawCounter([panels.AVITALK_PT_main, panels.AVITALK_UL_segments])
    prefs = session.preferences()
    prefs.run_mode = "WORKER"
    if len(args) > 2:
        prefs.model = args[2]

    cube = bpy.data.objects.get("Cube")
    if cube is not None:
        bpy.data.objects.remove(cube)
    bpy.ops.avitalk.add_head()
    head = bpy.context.active_object
    settings = bpy.context.scene.avi_talking
    settings.audio_path = audio
    if "FINISHED" not in bpy.ops.avitalk.analyze():
        raise RuntimeError("Analyze failed (see the console)")
    first = settings.segments[0]
    first.text = INSTRUCTION
    first.edit_intensity = 0.8  # the sliders rewrite the text: "An extremely happy person … jaw mildly dropped"
    first.au_AU26 = 0.35
    transcript = Path(args[0]).with_suffix(".txt")
    if transcript.is_file():
        settings.transcript = transcript.read_text(encoding="utf-8").strip()
        if "FINISHED" not in bpy.ops.avitalk.word_markers():
            raise RuntimeError("Word Markers failed (see the console)")
    if "FINISHED" not in bpy.ops.avitalk.bake_audio():
        raise RuntimeError("Bake failed (see the console)")
    scene = bpy.context.scene
    scene.frame_set(widest_mouth_frame(takes.shape_key_of(head)))

    area = session.area_of("VIEW_3D")
    shading = area.spaces.active.shading
    shading.color_type = "MATERIAL"  # the head's material colours in the solid view
    area.spaces.active.overlay.show_floor = area.spaces.active.overlay.show_cursor = False
    area.spaces.active.overlay.show_axis_x = area.spaces.active.overlay.show_axis_y = False
    view = area.spaces.active.region_3d
    view.view_perspective = "PERSP"
    view.view_rotation = Euler((math.radians(82), 0.0, math.radians(-28))).to_quaternion()  # three-quarter
    region = session.show_sidebar()
    session.last_tab(region)
    yield 0.1
    with session.in_view3d():
        bpy.ops.view3d.view_selected()  # frames the selected head, with the sidebar open
    head.select_set(False)  # no selection outline; it stays the active object (the panel's target)
    session.park_mouse()
    timeline_area = session.area_of("DOPESHEET_EDITOR")  # the default layout's Timeline
    with bpy.context.temp_override(window=session.window(), area=timeline_area,
                                   region=session.region_of(timeline_area, "WINDOW")):
        bpy.ops.action.view_all()  # the whole baked range, with every marker
    yield 0.1
    session.screenshot(out, area)
    timeline_out = out.with_name(f"{out.stem}_timeline.png")
    session.screenshot(timeline_out, timeline_area)
    return {"screenshot": str(out), "timeline": str(timeline_out), "counts": counter.counts,
            "draw_errors": counter.errors, "model": prefs.model, "head_faces": len(head.data.polygons),
            "markers": len(scene.timeline_markers), "text": first.text}


session.run_steps(steps())
