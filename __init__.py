"""AVI-Talking: speech-driven expressive facial animation.

This file is both the Blender extension entry point and the root of the ``avi_talking`` Python
package. It must import without bpy, so the add-on is only imported inside ``register``.
"""

from __future__ import annotations

__version__ = "0.1.0"


def register() -> None:
    from .addon import register as _register

    _register()


def unregister() -> None:
    from .addon import unregister as _unregister

    _unregister()
