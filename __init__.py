"""AVI-Talking: speech-driven expressive facial animation.

This file is both the Blender extension entry point and the root of the ``avi_talking`` Python
package. It must import without bpy, so the add-on is only imported inside ``register``.

Blender 4.2+ loads it as an extension (``blender_manifest.toml``) and ignores ``bl_info``; older Blender
(Debian's 3.4, used for the windowed tests and the README pictures) loads it as a legacy add-on from
``bl_info`` and runs the 4.2 code path (``addon/compat.py`` holds the differences).
"""

from __future__ import annotations

__version__ = "0.1.0"

bl_info = {
    "name": "AVI-Talking",
    "author": "AVI-Talking developers",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "3D View > Sidebar > AVI Talk",
    "description": "Speech-driven lip sync and expressive facial animation",
    "category": "Animation",
}


def register() -> None:
    from .addon import register as _register

    _register()


def unregister() -> None:
    from .addon import unregister as _unregister

    _unregister()
