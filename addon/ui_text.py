"""Long text in a narrow panel: wrapped into several labels by measuring it in the UI font against the
region's width, so nothing is cut to "A fairly surpr…ldly dropped." at the sidebar's default width.

Blender's ``label`` never wraps and cuts what does not fit; the width a label gets is the region's width less
the panel's margins (and a box's, and an icon's). ``wrap`` is plain Python over a measuring function;
``draw_wrapped`` measures with ``blf`` in the UI style's font size times the UI scale."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bpy.types import Context, UILayout

# Unscaled pixels (× the UI scale): what a label in a sidebar panel does not get of the region's width (the
# panel's inset and the tab column: 57 px of 229 at a UI scale of 1.04 in Blender 3.4, plus a little room),
# what a box takes, and an icon.
PANEL_MARGIN = 58.0
BOX_MARGIN = 10.0
ICON_WIDTH = 22.0
LIST_MARGIN = 16.0  # a list row's own inset
SIDEBAR_DEFAULT_WIDTH = 220.0  # the sidebar's width (unscaled) where a draw has no region: scripts, tests
DEFAULT_POINTS = 11.0  # Blender's widget font size


def wrap(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``width`` by ``measure`` (a word wider than a
    line is cut at the characters). Whitespace runs become single spaces; an empty text gives no lines."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if measure(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        while measure(word) > width and len(word) > 1:  # a word longer than a line
            cut = max(1, _fitting_prefix(word, width, measure))
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    return lines


def _fitting_prefix(word: str, width: float, measure: Callable[[str], float]) -> int:
    low, high = 0, len(word)
    while low < high:
        mid = (low + high + 1) // 2
        if measure(word[:mid]) <= width:
            low = mid
        else:
            high = mid - 1
    return low


def ui_scale(context: Context | None) -> float:
    """The UI scale (DPI and the Resolution Scale preference); 1 where Blender has no window."""
    preferences = getattr(context, "preferences", None)
    scale = float(preferences.system.ui_scale) if preferences is not None else 0.0
    return scale if scale > 0 else 1.0


def font_pixels(context: Context | None) -> float:
    """The UI's widget font size in pixels."""
    preferences = getattr(context, "preferences", None)
    points = float(preferences.ui_styles[0].widget.points) if preferences is not None else DEFAULT_POINTS
    return points * ui_scale(context)


def measurer(context: Context | None) -> Callable[[str], float]:
    """``text → width in pixels`` in the UI font at this UI scale."""
    import blf

    pixels = font_pixels(context)

    def measure(text: str) -> float:
        blf.size(0, pixels)  # font 0 is the UI font; the UI sets its own size before it draws
        return float(blf.dimensions(0, text)[0])

    return measure


def label_width(context: Context | None, margin: float = 0.0) -> float:
    """Pixels a label gets in a sidebar panel: the region's width less the panel's margin and ``margin`` more
    (unscaled pixels: a box, an icon, an indent)."""
    scale = ui_scale(context)
    region = getattr(context, "region", None)
    region_width = float(region.width) if region is not None and region.width > 1 else SIDEBAR_DEFAULT_WIDTH * scale
    return max(region_width - (PANEL_MARGIN + margin) * scale, 4 * ICON_WIDTH * scale)


def wrapped_lines(context: Context | None, text: str, margin: float = 0.0, width: float | None = None) -> list[str]:
    """``text`` as the lines ``draw_wrapped`` draws (``width``: the pixels a line gets, else a sidebar panel's)."""
    return wrap(text, label_width(context, margin) if width is None else width, measurer(context))


def draw_wrapped(layout: UILayout, context: Context | None, text: str, icon: str = "NONE", in_box: bool = False,
                 width: float | None = None) -> list[str]:
    """Draw ``text`` as labels, one per wrapped line (the first with ``icon``, the others indented as far; ``width``:
    the pixels a line gets, else a sidebar panel's, less a box's margin with ``in_box``). Returns the lines."""
    margin = (BOX_MARGIN if in_box else 0.0) + (ICON_WIDTH if icon != "NONE" else 0.0)
    lines = wrapped_lines(context, text, margin, width)
    col = layout.column(align=True)
    for k, line in enumerate(lines):
        line_icon: Any = icon if k == 0 else ("BLANK1" if icon != "NONE" else "NONE")  # an icon name
        col.label(text=line, icon=line_icon)
    return lines
