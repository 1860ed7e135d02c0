"""Helpers for scripts that run inside a windowed Blender started by ``scripts/blender_ui.py``: enable the
add-on through Blender's add-on loader, open the 3D View sidebar on the add-on's tab, show the add-on's
preferences in an editor, count the draws of panels, force redraws, and hand results back as JSON.

Import it in such a script with::

    sys.path.insert(0, os.environ["AVITALK_SESSION_HELPERS"])
    import blender_session
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any

import addon_utils  # Blender's own add-on loader
import bpy

ADDON = "avi_talking"
TAB = "AVI Talk"


def script_args() -> list[str]:
    """The arguments after ``--`` on Blender's command line."""
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []


def enable_addon() -> Any:
    """Enable the add-on as a user would (``bl_info``, ``register()``); raises with the loader's error."""
    errors: list[BaseException] = []
    module = addon_utils.enable(ADDON, default_set=True, handle_error=errors.append)
    if module is None or errors:
        raise RuntimeError(f"enabling {ADDON} failed: {errors[0] if errors else 'no module'}")
    return module


def preferences() -> Any:
    return bpy.context.preferences.addons[ADDON].preferences


def window() -> Any:
    return bpy.context.window_manager.windows[0]


def area_of(kind: str) -> Any:
    """The first area of type ``kind`` in the window's screen."""
    return next(area for area in window().screen.areas if area.type == kind)


def region_of(area: Any, kind: str) -> Any:
    return next(region for region in area.regions if region.type == kind)


def in_view3d() -> Any:
    """A context override for operators that need an area (undo): the window, its 3D View and that view's
    main region. Open it right around the call: ``wm.redraw_timer`` leaves the context without an area."""
    win = window()
    area = area_of("VIEW_3D")
    return bpy.context.temp_override(window=win, screen=win.screen, area=area, region=region_of(area, "WINDOW"))


Steps = Generator[float, None, dict[str, Any]]


def run_steps(steps: Steps) -> None:
    """Run ``steps`` from Blender's event loop: each ``yield SECONDS`` hands control back to Blender (events
    are handled, regions redrawn) for that long; the generator's return value goes to :func:`finish`. An
    exception ends the session with its traceback in the result's ``error``."""

    def tick() -> float | None:
        try:
            with bpy.context.temp_override(window=window()):
                delay = next(steps)
        except StopIteration as done:
            finish(done.value)
        except Exception:
            traceback.print_exc()
            finish({"error": traceback.format_exc()})
        return max(delay, 0.01)

    bpy.app.timers.register(tick, first_interval=0.1)


def press_esc() -> None:
    """Press and release Esc (handled when Blender next handles events)."""
    win = window()
    win.event_simulate(type="ESC", value="PRESS")
    win.event_simulate(type="ESC", value="RELEASE")


def close_splash() -> None:
    """Close the splash screen (a first start, as ``--factory-startup`` is, shows it; it takes all events)."""
    press_esc()


def show_sidebar() -> Any:
    """Open the 3D View's sidebar and return its region (on whichever tab it opens)."""
    area = area_of("VIEW_3D")
    area.spaces.active.show_region_ui = True
    redraw()
    return region_of(area, "UI")


def last_tab(region: Any) -> None:
    """Show the sidebar's last tab (a just-enabled add-on's), as a user would with Ctrl+Shift+Tab over it
    (simulated events: Blender 3.4 has no ``Region.active_panel_category``). From the first tab, where a
    sidebar opens, Ctrl+Shift+Tab wraps around to the last. The switch happens when Blender handles the
    events, after the current step."""
    win = window()
    # near the region's top, over the first panel: where an overlapping sidebar has no panel, events go to
    # the 3D View under it (whose Ctrl+Shift+Tab is the snapping menu)
    x, y = region.x + region.width // 2, region.y + region.height - 40
    win.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
    win.event_simulate(type="TAB", value="PRESS", x=x, y=y, ctrl=True, shift=True)
    win.event_simulate(type="TAB", value="RELEASE", x=x, y=y, ctrl=True, shift=True)


def park_mouse() -> None:
    """Move the pointer into the 3D View, away from the sidebar, so no tooltip opens over the panel."""
    region = region_of(area_of("VIEW_3D"), "WINDOW")
    window().event_simulate(type="MOUSEMOVE", value="NOTHING", x=region.x + region.width // 3,
                            y=region.y + region.height // 2)


def region_pixels(path: Path, area: Any, region: Any) -> Any:
    """The RGBA pixels of ``region`` in a screenshot of ``area`` (``screenshot(path, area)``), as a numpy array
    of rows from the bottom up (Blender's image order)."""
    import numpy as np

    image = bpy.data.images.load(str(path))
    try:
        width, height = image.size
        pixels = np.empty(width * height * 4, dtype=np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    if (width, height) != (area.width, area.height):
        raise RuntimeError(f"the screenshot is {width}×{height}, the area {area.width}×{area.height}")
    x0, y0 = region.x - area.x, region.y - area.y
    return pixels.reshape(height, width, 4)[y0:y0 + region.height, x0:x0 + region.width]


def changed_rows(before: Path, after: Path, area: Any, region: Any) -> float:
    """The share of ``region``'s pixel rows that differ between two screenshots of ``area``."""
    import numpy as np

    a, b = region_pixels(before, area, region), region_pixels(after, area, region)
    differs = (np.abs(a - b) > 0.02).any(axis=(1, 2))
    return float(differs.mean())


def show_addon_preferences(area: Any) -> None:
    """Turn ``area`` into a Preferences editor on the Add-ons section, with this add-on expanded."""
    area.type = "PREFERENCES"
    bpy.context.preferences.active_section = "ADDONS"
    bpy.context.window_manager.addon_search = "AVI-Talking"
    addon_utils.modules(refresh=False)  # fills the add-on list the editor draws (and the operator reads)
    bpy.ops.preferences.addon_expand(module=ADDON)  # that list's flag (not the loaded module's)


def open_by_default(*panels: type) -> None:
    """Re-register sub-panels without ``DEFAULT_CLOSED``, so their ``draw`` runs without a click."""
    for panel in panels:
        bpy.utils.unregister_class(panel)
        panel.bl_options = set(getattr(panel, "bl_options", set())) - {"DEFAULT_CLOSED"}
        bpy.utils.register_class(panel)


def redraw(times: int = 1) -> None:
    """Draw every region of the window now (``wm.redraw_timer``) and swap the buffers."""
    bpy.ops.wm.redraw_timer(type="DRAW_WIN_SWAP", iterations=times)


class DrawCounter:
    """Wraps the ``draw`` of registered UI classes and counts the calls that returned normally; the
    exceptions are recorded (and re-raised, so Blender reports them as it would)."""

    def __init__(self, classes: Iterable[type]) -> None:
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []
        for cls in classes:
            self._wrap(cls, "draw_item" if hasattr(cls, "draw_item") else "draw")

    def _wrap(self, cls: type, method: str) -> None:
        # Blender passes as many arguments as the function's code declares, so the wrappers spell them out
        original: Callable[..., Any] = getattr(cls, method)
        name = cls.__name__
        self.counts[name] = 0

        def call(*args: Any) -> Any:
            try:
                value = original(*args)
            except Exception as exc:
                self.errors.append(f"{name}.{method}: {type(exc).__name__}: {exc}")
                raise
            self.counts[name] += 1
            return value

        def draw(self: Any, context: Any) -> None:
            call(self, context)

        def draw_item(self: Any, context: Any, layout: Any, data: Any, item: Any, icon: Any, active_data: Any,
                      active_property: Any, index: Any = 0, flt_flag: Any = 0) -> None:
            call(self, context, layout, data, item, icon, active_data, active_property, index, flt_flag)

        setattr(cls, method, draw_item if method == "draw_item" else draw)


def screenshot(path: Path, area: Any | None = None) -> None:
    """Save the window (or one area) as a PNG, as drawn now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    redraw()
    if area is None:
        bpy.ops.screen.screenshot(filepath=str(path))
        return
    with bpy.context.temp_override(window=window(), area=area):
        bpy.ops.screen.screenshot_area(filepath=str(path))


def finish(result: dict[str, Any]) -> None:
    """Disable the add-on (its worker stops), write ``result`` for the caller (``AVITALK_RESULT``) and quit
    Blender without saving anything."""
    addon_utils.disable(ADDON, default_set=True)
    target = os.environ.get("AVITALK_RESULT")
    if target:
        Path(target).write_text(json.dumps(result, indent=1, default=str))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # wm.quit_blender would write a recovery file and wait for the event loop
