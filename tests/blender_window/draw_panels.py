"""Runs inside a windowed Blender (``scripts/blender_ui.py``; args: AUDIO, with its transcript beside it as
AUDIO's .txt): the add-on's panels, segment list and preferences drawn for real, at the sidebar's default
width, around a real Analyze, a modal Bake and word alignment in the worker process.

Steps: enable the add-on; add the built-in head; Analyze (synchronous, in the worker) and edit a
segment's text; rename a shape key and Match Shape Keys (so the mapping lists it); open the 3D View
sidebar on the add-on's tab and draw (the wrapped text is recorded: its lines and the width they had);
screenshot, invoke Bake as a user does (modal: timer ticks, progress) and screenshot at once: which
sidebar rows changed, and which operators can start meanwhile; draw the takes; invoke Bake again and
press Esc; Word Markers from the transcript (modal, in the worker: Blender 3.4's Python has no
pocketsphinx) and with Run In = Blender what the panel says instead; jump to a segment; open the text
editor dialog and close it; show the add-on's preferences (after Test Worker) in a Preferences editor and
draw. Each ``draw`` is counted by a wrapper; the result JSON has the counts, the errors and what each step
produced."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
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


def record_wrapping(wrapped: list[dict[str, Any]]) -> None:
    """Record each wrapped text the add-on draws: its lines, the width they had and the widest line's width."""
    from avi_talking.addon import ui_text

    original = ui_text.draw_wrapped

    def recording(layout: Any, context: Any, text: str, icon: str = "NONE", in_box: bool = False,
                  width: float | None = None) -> list[str]:
        lines = original(layout, context, text, icon, in_box, width)
        margin = (ui_text.BOX_MARGIN if in_box else 0.0) + (ui_text.ICON_WIDTH if icon != "NONE" else 0.0)
        measure = ui_text.measurer(context)
        region = getattr(context, "region", None)
        wrapped.append({"text": text, "lines": lines, "region_width": region.width if region is not None else None,
                        "width": ui_text.label_width(context, margin) if width is None else width,
                        "widest": max((measure(line) for line in lines), default=0.0), "dialog": width is not None})
        return lines

    ui_text.draw_wrapped = recording  # the panels call it through the module


def steps() -> session.Steps:
    audio = session.script_args()[0]
    result: dict[str, Any] = {}
    shots = Path(tempfile.mkdtemp(prefix="shots-"))
    session.close_splash()
    yield 0.05
    session.enable_addon()
    from avi_talking.addon import operators_segments, panel_layers, panels, preferences, takes, timeline

    session.open_by_default(panels.AVITALK_PT_mapping, panels.AVITALK_PT_flame, panel_layers.AVITALK_PT_bake_layer,
                            panel_layers.AVITALK_PT_rig_fit)
    counter = session.DrawCounter([panels.AVITALK_PT_main, panels.AVITALK_PT_mapping, panels.AVITALK_PT_flame,
                                   panel_layers.AVITALK_PT_bake_layer, panel_layers.AVITALK_PT_rig_fit,
                                   panels.AVITALK_UL_segments, preferences.AVITALK_AddonPreferences,
                                   operators_segments.AVITALK_OT_segment_edit_text])
    wrapped: list[dict[str, Any]] = []
    record_wrapping(wrapped)
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
    session.park_mouse()
    yield 0.05
    session.redraw()
    result["tab"] = dict(counter.counts)
    result["sidebar"] = {"region_width": region.width, "ui_scale": bpy.context.preferences.system.ui_scale}
    result["wrapped"] = list(wrapped)

    # a job starts: the panel keeps its height (the sub-panels stay put), and what would start another is greyed
    area = session.area_of("VIEW_3D")
    session.screenshot(shots / "idle.png", area)
    with session.in_view3d():
        result["bake_invoke"] = sorted(bpy.ops.avitalk.bake_audio("INVOKE_DEFAULT"))
    session.screenshot(shots / "running.png", area)  # the first draw with the job running
    result["poll_while_running"] = {name: bool(getattr(bpy.ops.avitalk, name).poll())
                                    for name in ("analyze", "bake_audio", "word_markers", "cancel_job")}
    result["rows_changed"] = session.changed_rows(shots / "idle.png", shots / "running.png", area, region)
    yield from wait_for_job(result, "bake", counter)
    session.redraw()
    key = takes.shape_key_of(head)
    result["takes"] = [action.name for action in takes.takes_for(key)]

    with session.in_view3d():
        result["esc_invoke"] = sorted(bpy.ops.avitalk.bake_audio("INVOKE_DEFAULT", new_take=True))
    session.press_esc()
    yield from wait_for_job(result, "esc", counter)
    result["takes_after_esc"] = [action.name for action in takes.takes_for(key)]

    # word markers: aligned in the worker (this Blender's Python has no pocketsphinx)
    scene = bpy.context.scene
    settings.transcript = Path(audio).with_suffix(".txt").read_text(encoding="utf-8")
    with session.in_view3d():
        result["words_invoke"] = sorted(bpy.ops.avitalk.word_markers("INVOKE_DEFAULT"))
    yield from wait_for_job(result, "words", counter)
    by_frame = sorted(timeline.owned_markers(scene, timeline.WORD_MARKERS), key=lambda m: m.frame)
    result["word_markers"] = [m.name for m in by_frame]
    result["segment_markers"] = sorted((m.frame, m.name) for m in timeline.owned_markers(scene))
    prefs.run_mode = "IN_PROCESS"  # jobs kept inside Blender: the panel says why there are no word markers
    result["words_unavailable"] = operators_segments.word_markers_unavailable(bpy.context)
    result["words_poll_in_process"] = bool(bpy.ops.avitalk.word_markers.poll())
    del wrapped[:]
    session.redraw()
    result["wrapped_in_process"] = [entry["text"] for entry in wrapped]
    prefs.run_mode = "WORKER"
    result["jump"] = sorted(bpy.ops.avitalk.segment_jump(index=1))
    result["jump_frame"] = [scene.frame_current, timeline.frame_of(scene, settings.segments[1].start)]

    # the wide text editor: a dialog, drawn by Blender, closed with Esc
    del wrapped[:]
    with session.in_view3d():
        result["dialog_invoke"] = sorted(bpy.ops.avitalk.segment_edit_text("INVOKE_DEFAULT", index=0))
    yield 0.2
    session.redraw()
    result["dialog_wrapped"] = [entry for entry in wrapped if entry["dialog"]]
    session.press_esc()
    yield 0.1

    result["test_worker"] = sorted(bpy.ops.avitalk.test_worker())
    session.show_addon_preferences(session.area_of("VIEW_3D"))
    yield 0.05
    session.redraw()
    result["counts"] = counter.counts
    result["draw_errors"] = counter.errors
    return result


session.run_steps(steps())
