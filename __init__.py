"""AVI-Talking: speech-driven expressive facial animation.

This file is both the Blender extension entry point and the root of the ``avi_talking`` Python
package. It must import without bpy, so the add-on is only imported inside ``register``.

Blender 4.2+ loads it as an extension (``blender_manifest.toml``) and ignores ``bl_info``; older Blender
(Debian's 3.4, used for the windowed tests and the README pictures) loads it as a legacy add-on from
``bl_info`` and runs the 4.2 code path (``addon/compat.py`` holds the differences).
"""

from __future__ import annotations

from .version import __version__

bl_info = {
    "name": "AVI-Talking",
    "author": "AVI-Talking developers",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "3D View > Sidebar > AVI Talk",
    "description": "Speech-driven lip sync and expressive facial animation",
    "category": "Animation",
}


__all__ = ["__version__", "bl_info", "register", "unregister"]


def register() -> None:
    # The composition root: the add-on (panels, operators) and, beside it, ``blender -c avitalk``.
    from .addon import register as register_addon
    from .cli.blender_command import register as register_command

    register_addon()
    register_command()


def unregister() -> None:
    from .addon import unregister as unregister_addon
    from .cli.blender_command import unregister as unregister_command

    unregister_command()
    unregister_addon()
