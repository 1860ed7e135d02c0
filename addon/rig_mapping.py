"""The mapping editor: which shape key each ARKit channel drives on the selected rig (``object.avi_talking_mapping``).

*Match Shape Keys* fills the list from the automatic, name-tolerant matching (``core.rigs.names``); the
panel lists the channels it could not match, each with a shape-key picker. A bake uses the list as
overrides on top of the automatic matches (an empty entry leaves its channel unkeyed)."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.props import CollectionProperty, StringProperty
from bpy.types import Context, Operator, PropertyGroup

from ..core.arkit import ARKIT52
from ..core.rigs.names import match_names
from .takes import shape_key_of
from .types import OperatorResult


class AVITALK_PG_channel_map(PropertyGroup):
    channel: StringProperty(name="Channel", description="ARKit channel of the animation")  # type: ignore[valid-type]
    block: StringProperty(name="Shape Key", description="The rig's shape key this channel drives (empty: none)")  # type: ignore[valid-type]


def overrides(obj: Any) -> dict[str, str]:
    """The edited mapping of ``obj`` (channel → shape key, ``""`` = not keyed); empty when never filled."""
    items = getattr(obj, "avi_talking_mapping", None)
    return {item.channel: item.block for item in items} if items is not None else {}


def fill(obj: Any) -> tuple[int, int]:
    """(Re)fill the mapping from the automatic matches, keeping manual picks; (matched, total)."""
    key = shape_key_of(obj)
    blocks = [kb.name for kb in key.key_blocks[1:]] if key is not None else []
    kept = {c: b for c, b in overrides(obj).items() if b in blocks}
    auto = match_names(ARKIT52, blocks)
    obj.avi_talking_mapping.clear()
    for channel in ARKIT52:
        item = obj.avi_talking_mapping.add()
        item.channel = channel
        item.block = kept.get(channel, auto.get(channel, ""))
    return sum(1 for item in obj.avi_talking_mapping if item.block), len(ARKIT52)


class AVITALK_OT_match_shape_keys(Operator):
    """Match the 52 ARKit channels to the selected rig's shape keys (tolerant of case, prefixes and sides)"""

    bl_idname = "avitalk.match_shape_keys"
    bl_label = "Match Shape Keys"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: Context) -> bool:
        return shape_key_of(context.active_object) is not None

    def execute(self, context: Context) -> OperatorResult:
        obj = context.active_object
        if obj is None:
            return {"CANCELLED"}
        matched, total = fill(obj)
        self.report({"INFO"}, f"{matched} of {total} channels matched on {obj.name!r}")
        return {"FINISHED"}


def register_extra() -> None:
    bpy.types.Object.avi_talking_mapping = CollectionProperty(type=AVITALK_PG_channel_map)  # type: ignore[attr-defined]


def unregister_extra() -> None:
    del bpy.types.Object.avi_talking_mapping  # type: ignore[attr-defined]


CLASSES = (AVITALK_PG_channel_map, AVITALK_OT_match_shape_keys)
