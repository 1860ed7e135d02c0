"""The Blender side: operators, panels, preferences, baking and rig building.

No model or signal-processing logic lives here; it calls ``core`` for that. Each UI module exposes a
``CLASSES`` tuple registered in order (and optional ``register_extra``/``unregister_extra`` hooks)."""

from __future__ import annotations

import importlib
from types import ModuleType

# Registered in this order, unregistered in reverse.
_UI_MODULES: tuple[str, ...] = ("properties", "preferences", "worker_session", "rig_mapping", "operators",
                                 "operators_segments", "operators_flame", "panels", "panel_layers")


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f".{name}", __package__) for name in _UI_MODULES]


def register() -> None:
    import bpy

    _provide_blender_audio()
    for module in _modules():
        for cls in getattr(module, "CLASSES", ()):
            bpy.utils.register_class(cls)
        hook = getattr(module, "register_extra", None)
        if hook is not None:
            hook()


def _provide_blender_audio() -> None:
    """Hand Blender's Audaspace (``aud``) to the audio loader: FLAC, Ogg and MP3 then decode inside Blender with
    nothing installed (core never imports Blender's modules itself)."""
    try:
        import aud
    except ImportError:  # a Blender built without audio (the bpy 4.2 module from PyPI)
        return
    from ..core.audio.backends import provide_aud

    provide_aud(aud)


def unregister() -> None:
    import bpy

    for module in reversed(_modules()):
        hook = getattr(module, "unregister_extra", None)
        if hook is not None:
            hook()
        for cls in reversed(getattr(module, "CLASSES", ())):
            bpy.utils.unregister_class(cls)
