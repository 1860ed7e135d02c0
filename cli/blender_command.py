"""``blender -c avitalk ...``: the ``avitalk`` command line inside Blender (4.2+ has
``bpy.utils.register_cli_command``; older versions have no ``-c`` and skip it). Model work runs in a
worker process when Blender's Python has no torch (``core.worker.remote``).

Registered from the extension's ``register()`` beside the add-on (the package root composes both), so the
add-on itself never reaches up into the command line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_handle: Any = None


def avitalk_command(argv: Sequence[str]) -> int:
    from . import main

    return main(list(argv))


def register() -> None:
    import bpy

    global _handle
    register_command = getattr(bpy.utils, "register_cli_command", None)
    if register_command is not None and _handle is None:
        _handle = register_command("avitalk", avitalk_command)


def unregister() -> None:
    import bpy

    global _handle
    if _handle is not None:
        bpy.utils.unregister_cli_command(_handle)
        _handle = None
