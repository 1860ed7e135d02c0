"""Runs inside a windowed Blender (``scripts/blender_ui.py``; args: AUDIO): the add-on's panels, segment
list and preferences drawn for real, around a real Analyze and a modal Bake in the worker process.

Steps: enable the add-on; add the built-in head; Analyze (synchronous, in the worker) and edit a
segment's text; rename a shape key and Match Shape Keys (so the mapping lists it); open the 3D View
sidebar on the add-on's tab and draw; invoke Bake as a user does (modal: timer ticks, progress) and draw
while it runs; draw the takes; invoke Bake again and press Esc; show the add-on's preferences (after
Test Worker) in a Preferences editor and draw. Each ``draw`` is counted by a wrapper; the result JSON
has the counts, the errors and what each step produced."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import bpy

sys.path.insert(0, os.environ["AVITALK_SESSION_HELPERS"])
import blender_session as session

EDITED_TEXT = "A happy person speaks with a broad smile, raised brows and zorbly flutter"
WAIT_SECONDS = 60.0


def wait_for_job(result: dict[str, Any], key: str, counter: session.DrawCounter) -> Any:
    """Yield to Blender until the modal operator's job ends (the event loop redraws what the operator tags);
    records the panel draws while it ran."""
    from avi_talking.addon import worker_session

    start, draws = time.monotonic(), counter.counts["AVITALK_PT_main"]
    job = worker_session.running.job if worker_session.running is not None else None
    while worker_session.running is not None:
        if time.monotonic() - start > WAIT_SECONDS:
            raise TimeoutError(f"{key}: the job did not end in {WAIT_SECONDS:g} s")
        yield 0.1
    result[key] = {"seconds": round(time.monotonic() - start, 2),
                   "draws_while_running": counter.counts["AVITALK_PT_main"] - draws,
                   "cancelled": job is not None and job.cancelled, "error": job.error if job is not None else None}


def steps() -> session.Steps:
    audio = session.script_args()[0]
    result: dict[str, Any] = {}
    session.close_splash()
    yield 0.05
    session.enable_addon()
    from avi_talking.addon import panels, preferences, takes

    session.open_by_default(panels.AVITALK_PT_mapping, panels.AVITALK_PT_flame)
    counter = session.DrawCounter([panels.AVITALK_PT_main, panels.AVITALK_PT_mapping, panels.AVITALK_PT_flame,
                                   panels.AVITALK_UL_segments, preferences.AVITALK_AddonPreferences])
    prefs = session.preferences()
    prefs.model = "procedural"
    prefs.run_mode = "WORKER"

    bpy.ops.avitalk.add_head()
    head = bpy.context.active_object
    result["head_faces"] = len(head.data.polygons)
    settings = bpy.context.scene.avi_talking
    settings.audio_path = audio
    result["analyze"] = sorted(bpy.ops.avitalk.analyze())
    settings.segments[0].text = EDITED_TEXT
    result["segments"] = [{"start": s.start, "end": s.end, "emotion": s.emotion, "ignored": s.ignored}
                          for s in settings.segments]

    # a rig name the matcher cannot place: the Rig Mapping panel lists it with a shape-key picker
    head.data.shape_keys.key_blocks["jawOpen"].name = "MTH_open"
    result["match"] = sorted(bpy.ops.avitalk.match_shape_keys())
    result["unmatched"] = [item.channel for item in head.avi_talking_mapping if not item.block]

    region = session.show_sidebar()
    session.last_tab(region)
    yield 0.05
    session.redraw()
    result["tab"] = dict(counter.counts)

    with session.in_view3d():
        result["bake_invoke"] = sorted(bpy.ops.avitalk.bake_audio("INVOKE_DEFAULT"))
    yield from wait_for_job(result, "bake", counter)
    session.redraw()
    key = takes.shape_key_of(head)
    result["takes"] = [action.name for action in takes.takes_for(key)]

    with session.in_view3d():
        result["esc_invoke"] = sorted(bpy.ops.avitalk.bake_audio("INVOKE_DEFAULT", new_take=True))
    session.press_esc()
    yield from wait_for_job(result, "esc", counter)
    result["takes_after_esc"] = [action.name for action in takes.takes_for(key)]

    result["test_worker"] = sorted(bpy.ops.avitalk.test_worker())
    session.show_addon_preferences(session.area_of("VIEW_3D"))
    yield 0.05
    session.redraw()
    result["counts"] = counter.counts
    result["draw_errors"] = counter.errors
    return result


session.run_steps(steps())
