"""``blender -c avitalk ...``: the ``avitalk`` command line inside Blender (4.2+ has
``bpy.utils.register_cli_command``; older versions have no ``-c`` and skip it). Model work runs in a
worker process when Blender's Python has no torch (``core.worker.remote``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bpy

_handle: Any = None


def avitalk_command(argv: Sequence[str]) -> int:
    from ..core.cli import main

    return main(list(argv))


def register_extra() -> None:
    global _handle
    register = getattr(bpy.utils, "register_cli_command", None)
    if register is not None and _handle is None:
        _handle = register("avitalk", avitalk_command)


def unregister_extra() -> None:
    global _handle
    if _handle is not None:
        bpy.utils.unregister_cli_command(_handle)
        _handle = None
