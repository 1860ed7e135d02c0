"""Takes: each bake is a new Action named "AVI <audio> take N", kept (fake user) and switchable.

An Action is a take when it carries ``TAKE_PROPERTY`` (set by the bake operator); actions the artist
made never do, so nothing here renames, reuses or removes them."""

from __future__ import annotations

import re
from typing import Any

import bpy

from . import compat

TAKE_PROPERTY = "avi_talking_take"  # the take number
TARGET_PROPERTY = "avi_talking_target"  # name of the shape-key datablock the take was baked for


def shape_key_of(obj: Any) -> Any:
    from .flame_rig import find_flame_rig

    rig = find_flame_rig(obj)
    mesh = rig.mesh if rig is not None else obj
    return getattr(getattr(mesh, "data", None), "shape_keys", None)


def takes_for(key: Any) -> list[Any]:
    """The take actions baked for ``key``, oldest first."""
    if key is None:
        return []
    found = [a for a in bpy.data.actions if a.get(TAKE_PROPERTY) is not None and a.get(TARGET_PROPERTY) == key.name]
    return sorted(found, key=lambda a: (int(a[TAKE_PROPERTY]), a.name))


def take_name(audio_stem: str, key: Any) -> tuple[str, int]:
    """The next take's name and number for this audio on ``key``."""
    pattern = re.compile(rf"^AVI {re.escape(audio_stem)} take (\d+)")
    numbers = [int(m.group(1)) for a in takes_for(key) if (m := pattern.match(a.name))]
    number = max(numbers, default=0) + 1
    return f"AVI {audio_stem} take {number}", number


def mark_take(action: Any, key: Any, number: int) -> None:
    action[TAKE_PROPERTY] = number
    action[TARGET_PROPERTY] = key.name
    action.use_fake_user = True  # kept when another take is active


def current_take(key: Any) -> Any:
    ad = getattr(key, "animation_data", None)
    return ad.action if ad is not None else None


def use_take(scene: Any, key: Any, action: Any) -> None:
    """Make ``action`` the active take on ``key`` and fit the scene's frame range to it."""
    previous = current_take(key)
    if previous is not None:
        previous.use_fake_user = True
    compat.assign_action(key, action)
    first, last = (int(round(f)) for f in action.frame_range)
    scene.frame_start = first
    scene.frame_end = max(first, last)
