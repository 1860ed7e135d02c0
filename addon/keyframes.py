"""The key-writing helpers of the add-on: bulk keys through ``foreach_set``, never ``keyframe_insert``.
``write_keys`` fills one curve (shape keys and everything else); ``write_rotation_keys`` makes and fills the
curves of one rotation property (head and FLAME bones, the built-in head's neck pivot).

``keyframe_insert`` costs a property lookup, an undo push and a curve re-sort per key (about 10 s for
100 channels × 1800 frames); ``keyframe_points.add`` + ``foreach_set`` writes the same in milliseconds.
"""

from __future__ import annotations

from typing import cast

import bpy
import numpy as np

from . import compat


def interpolation_code(name: str) -> int:
    """The integer ``foreach_set`` expects for an interpolation enum identifier (``LINEAR`` is 1 on 4.2
    and 5.0); read from RNA so a renumbering cannot silently change the meaning."""
    prop = cast(bpy.types.EnumProperty, bpy.types.Keyframe.bl_rna.properties["interpolation"])
    items = prop.enum_items
    if name not in items:
        raise ValueError(f"unknown keyframe interpolation {name!r}; use one of {', '.join(items.keys())}")
    return int(items[name].value)


def write_keys(
    fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray, interpolation: str = "LINEAR"
) -> None:
    """Replace the keys of ``fcurve`` with ``(frames[i], values[i])`` pairs, all with ``interpolation``.

    Values are written as given (float32, Blender's storage type). Frames need not be sorted:
    ``fcurve.update()`` sorts them and recomputes the handles."""
    frames = np.asarray(frames, dtype=np.float32).reshape(-1)
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    if frames.shape != values.shape:
        raise ValueError(f"{frames.size} frames but {values.size} values")
    if not (np.isfinite(frames).all() and np.isfinite(values).all()):
        raise ValueError("frames and values must be finite")
    code = interpolation_code(interpolation)

    points = fcurve.keyframe_points
    points.clear()
    n = frames.size
    if n:
        points.add(n)
        co = np.empty(2 * n, dtype=np.float32)
        co[0::2] = frames
        co[1::2] = values
        points.foreach_set("co", co)
        points.foreach_set("interpolation", np.full(n, code, dtype=np.int32))
    fcurve.update()


def write_rotation_keys(
    action: bpy.types.Action,
    id_data: bpy.types.ID,
    data_path: str,
    frames: np.ndarray,
    values: np.ndarray,
    group: str | None = None,
) -> None:
    """Key a rotation property (``rotation_euler``, ``rotation_quaternion``, ``rotation_axis_angle``, on an
    object or a pose bone) in a new curve per component: ``values`` is ``[T, k]`` (k = 3 or 4), one row per
    frame. The curves are grouped under ``group`` (a bone's name, or the object's)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] not in (3, 4):
        raise ValueError(f"rotation values have shape {values.shape}, expected [frames, 3 or 4]")
    for index in range(values.shape[1]):
        fcurve = compat.new_action_fcurve(action, id_data, data_path, index, group)
        write_keys(fcurve, frames, values[:, index])
