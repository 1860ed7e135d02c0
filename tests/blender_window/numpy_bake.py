"""Runs inside a windowed Blender (``scripts/blender_ui.py``; args: AUDIO) with no worker Python configured and
none to be found: the default Analyze and Bake, invoked as the buttons do (modal, progress on a timer), must
run inside Blender's own Python with its numpy alone.

Steps: enable the add-on with its default preferences; note what the worker detection and the preferences'
Test button find; add the built-in head; invoke Analyze, let the event loop run until the job ends; invoke Bake
likewise; read every shape key at every frame of the take as Blender evaluates it. The result JSON has the
keys, the take's meta, the segments as Bake sent them, and what would show a worker or a missing module."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import bpy

sys.path.insert(0, os.environ["AVITALK_SESSION_HELPERS"])
import blender_session as session

WAIT_SECONDS = 60.0
EXTRAS = ("torch", "soundfile", "soxr", "pocketsphinx", "librosa", "transformers")


def run_as_button(result: dict[str, Any], name: str, operator: Any) -> Generator[float, None, None]:
    """Invoke ``operator`` in the 3D View as its button does, then yield to Blender until its job ends."""
    from avi_talking.addon import worker_session

    with session.in_view3d():
        result[f"{name}_invoke"] = sorted(operator("INVOKE_DEFAULT"))
    running = worker_session.running
    job = running.job if running is not None else None
    start = time.monotonic()
    while worker_session.running is not None:
        if time.monotonic() - start > WAIT_SECONDS:
            raise TimeoutError(f"{name}: the job did not end in {WAIT_SECONDS:g} s")
        yield 0.05
    result[name] = {"seconds": round(time.monotonic() - start, 3), "error": job.error if job is not None else None,
                    "cancelled": job is not None and job.cancelled,
                    "client": type(job._owner).__name__ if job is not None else None}  # who ran it


def keys_at_every_frame(key: Any) -> dict[str, list[float]]:
    scene = bpy.context.scene
    names = [kb.name for kb in key.key_blocks][1:]  # not the Basis
    values: dict[str, list[float]] = {name: [] for name in names}
    for frame in range(scene.frame_start, scene.frame_end + 1):
        scene.frame_set(frame)
        for name in names:
            values[name].append(key.key_blocks[name].value)
    return values


def steps() -> session.Steps:
    audio = session.script_args()[0]
    result: dict[str, Any] = {"python": platform.python_version(), "numpy": __import__("numpy").__version__,
                              "executable": sys.executable}
    session.close_splash()
    yield 0.05
    session.enable_addon()
    from avi_talking.addon import compat, probe_report, segments, worker_session
    from avi_talking.core.worker import client

    prefs = session.preferences()
    result["preferences"] = {"model": prefs.model, "runtime": prefs.runtime, "run_mode": prefs.run_mode,
                             "worker_python": prefs.worker_python}
    result["candidates"] = client.python_candidates()
    try:
        result["detected"] = client.detect_python(prefs.worker_python)
    except client.WorkerError as exc:
        result["detected"], result["detect_error"] = None, str(exc)
    result["test"] = sorted(bpy.ops.avitalk.test_worker())  # the preferences' Test button
    result["test_report"] = probe_report.last_probe()
    result["extras_installed"] = [m for m in EXTRAS if importlib.util.find_spec(m) is not None]

    bpy.ops.avitalk.add_head()
    head = bpy.context.view_layer.objects.active
    settings = bpy.context.scene.avi_talking
    settings.audio_path = audio
    yield from run_as_button(result, "analyze", bpy.ops.avitalk.analyze)
    result["texts"] = [seg.text for seg in settings.segments]
    result["track"] = segments.track(settings)  # what Bake hands the model
    yield from run_as_button(result, "bake", bpy.ops.avitalk.bake_audio)

    scene, key = bpy.context.scene, head.data.shape_keys
    action = key.animation_data.action if key.animation_data is not None else None
    result["settings"] = {"seed": settings.seed, "lips": settings.lips, "expression": settings.expression,
                          "blinks": settings.blinks}
    result["take"] = None if action is None else {
        "name": action.name, "frame_start": scene.frame_start, "frame_end": scene.frame_end,
        "fps": scene.render.fps / scene.render.fps_base,
        "curves": sorted(fc.data_path.split('"')[1] for fc in compat.action_fcurves(action, key)),
        "meta": json.loads(action["avi_talking_meta"]), "keys": keys_at_every_frame(key)}
    result["worker_started"] = worker_session.worker_client() is not None
    result["children"] = sorted(pid for task in Path("/proc/self/task").glob("*")
                                for pid in (task / "children").read_text().split())
    result["imported"] = sorted(m for m in sys.modules if m.split(".")[0] in EXTRAS)
    return result


session.run_steps(steps())
