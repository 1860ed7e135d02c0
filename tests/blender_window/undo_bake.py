"""Runs inside a windowed Blender (``scripts/blender_ui.py``; args: AUDIO): Bake, then Edit > Undo and
Redo (``ed.undo``/``ed.redo``, which need a window), comparing the scene with what it was.

The scene before the bake is not a default one: the head's shape keys have a value set and an Action
the artist made, the frame rate and range are not the audio's. Snapshots (see ``snapshot``) are taken
before the bake, after it, after one undo, after redo, and after a second bake followed by one undo;
the result JSON has them all, for the test to compare."""

from __future__ import annotations

import os
import sys
from typing import Any

import bpy

sys.path.insert(0, os.environ["AVITALK_SESSION_HELPERS"])
import blender_session as session

HEAD = "AVI Head"
ARTIST_ACTION = "Artist Blink"


def snapshot() -> dict[str, Any]:
    """What a bake changes, by name (undo replaces every Python reference to Blender data)."""
    from avi_talking.addon import compat

    scene = bpy.context.scene
    key = bpy.data.objects[HEAD].data.shape_keys
    ad = key.animation_data
    return {
        "fps": [scene.render.fps, round(scene.render.fps_base, 6)],
        "frames": [scene.frame_start, scene.frame_end, scene.frame_current],
        "sync_mode": scene.sync_mode,
        "actions": sorted([a.name, a.use_fake_user, a.users, len(compat.action_fcurves(a, key)),
                           a.get("avi_talking_take")] for a in bpy.data.actions),
        "sounds": sorted(sound.name for sound in bpy.data.sounds),
        "strips": sorted([s.name, s.channel, s.frame_start, s.frame_final_end]
                         for s in compat.iter_sound_strips(scene)),
        "key_action": ad.action.name if ad is not None and ad.action is not None else None,
        "key_values": {kb.name: round(kb.value, 6) for kb in key.key_blocks if kb.value},
        "seed": scene.avi_talking.seed,
        "objects": sorted(obj.name for obj in bpy.data.objects),
    }


def set_up_scene(audio: str) -> None:
    """The head with an artist's Action and a shape-key value, a 24 fps scene of frames 10..90, and the
    panel set to bake at 30 fps."""
    from avi_talking.addon import compat
    from avi_talking.addon.keyframes import write_keys

    bpy.ops.avitalk.add_head()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    scene.frame_start, scene.frame_end, scene.frame_current = 10, 90, 10
    key = bpy.data.objects[HEAD].data.shape_keys
    key.key_blocks["jawOpen"].value = 0.3
    artist = bpy.data.actions.new(ARTIST_ACTION)
    curve = compat.new_action_fcurve(artist, key, 'key_blocks["eyeBlinkLeft"].value')
    write_keys(curve, [10.0, 14.0, 18.0], [0.0, 1.0, 0.0])
    compat.assign_action(key, artist)
    scene.avi_talking.audio_path = audio
    scene.avi_talking.use_scene_fps, scene.avi_talking.fps = False, 30.0  # the bake changes the frame rate


def steps() -> session.Steps:
    audio = session.script_args()[0]
    result: dict[str, Any] = {}
    session.close_splash()
    yield 0.05
    session.enable_addon()
    prefs = session.preferences()
    prefs.model = "procedural"
    prefs.run_mode = "WORKER"
    set_up_scene(audio)
    with session.in_view3d():
        bpy.ops.ed.undo_push(message="Set up the shot")
    result["before"] = snapshot()

    # as the Bake button calls it: EXEC (synchronous) with an undo push (bpy.ops calls push none by default)
    result["bake"] = sorted(bpy.ops.avitalk.bake_audio("EXEC_DEFAULT", True))
    result["baked"] = snapshot()
    with session.in_view3d():
        result["undo"] = sorted(bpy.ops.ed.undo())
    yield 0.05
    result["undone"] = snapshot()
    with session.in_view3d():
        result["redo"] = sorted(bpy.ops.ed.redo())
    yield 0.05
    result["redone"] = snapshot()

    result["bake2"] = sorted(bpy.ops.avitalk.bake_audio("EXEC_DEFAULT", True, new_take=True))
    result["baked2"] = snapshot()
    with session.in_view3d():
        bpy.ops.ed.undo()
    yield 0.05
    result["undone2"] = snapshot()
    return result


session.run_steps(steps())
