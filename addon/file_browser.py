"""The one way the add-on's file operators ask for a file."""

from __future__ import annotations

from bpy.types import Context, Operator

from .types import OperatorResult


def pick_file_then_execute(op: Operator, context: Context, always_ask: bool = False) -> OperatorResult:
    """Run at once when the file is already set (scripts, preferences) or there is no window to browse in, else
    open the file browser (``always_ask``: also when a file name was filled in as a suggestion)."""
    if (getattr(op, "filepath", "") and not always_ask) or context.window_manager is None:
        return op.execute(context)
    context.window_manager.fileselect_add(op)
    return {"RUNNING_MODAL"}
