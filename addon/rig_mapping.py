"""The rig mapping of the selected object: which shape keys each ARKit channel drives, saved with the rig.

*Match Shape Keys* fits the rig (``core.rigs.fit``: the presets — ARKit, ICT-FaceKit, Character Creator 3/4,
numbered ARKit — then tolerant names; one channel may drive both sided keys, a sided pair one key) and saves
the fit on the object as JSON text (custom property ``avi_talking_rig_mapping``, the format of
``core.rigs.mapping``), so it travels in the .blend; ``avitalk bake --blend F --object N`` uses it too. The
list ``object.avi_talking_mapping`` shows one key per channel with a picker: a pick that differs from the
saved mapping replaces that channel's keys at bake time (an empty pick leaves the channel unkeyed).
*Export Rig Mapping* writes the mapping with the picks applied (for ``--mapping FILE``); *Import Rig
Mapping* reads one (checked like every file: one line on error, nothing changed) and saves it on the rig."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy
from bpy.props import CollectionProperty, EnumProperty, StringProperty
from bpy.types import Context, Operator, PropertyGroup

from ..core.arkit import ARKIT52
from ..core.common.errors import AviTalkError
from ..core.rigs.fit import NAMES_ONLY, fit_rig
from ..core.rigs.mapping import RigMapping, mapping_from_text, read_mapping, write_mapping
from ..core.rigs.presets import PRESETS
from .file_browser import pick_file_then_execute
from .takes import shape_key_of
from .types import OperatorResult

SAVED_PROPERTY = "avi_talking_rig_mapping"  # on the rig object: its mapping as JSON text
PRESET_ITEMS = [("AUTO", "Best Fit", "Try every preset and the name matcher; keep the fit that places the most")]
PRESET_ITEMS += [(p.name, p.label, f"Fit with the {p.label} preset, then by name") for p in PRESETS]
PRESET_ITEMS += [(NAMES_ONLY, "Names Only", "Match by name only (case, prefixes and sides)")]


class AVITALK_PG_channel_map(PropertyGroup):
    channel: StringProperty(name="Channel", description="ARKit channel of the animation")  # type: ignore[valid-type]
    block: StringProperty(name="Shape Key", description="The rig's shape key this channel drives (empty: none)")  # type: ignore[valid-type]


def overrides(obj: Any) -> dict[str, str]:
    """The edited list of ``obj`` (channel → shape key, ``""`` = not keyed); empty when never filled."""
    items = getattr(obj, "avi_talking_mapping", None)
    return {item.channel: item.block for item in items} if items is not None else {}


def _blocks(obj: Any) -> list[str]:
    key = shape_key_of(obj)
    return [kb.name for kb in key.key_blocks[1:]] if key is not None else []


def saved_mapping(obj: Any) -> RigMapping | None:
    """The mapping saved on ``obj``, checked like a file (a damaged one is a one-line AviTalkError)."""
    text = obj.get(SAVED_PROPERTY) if obj is not None else None
    if text is None:
        return None
    if not isinstance(text, str):
        raise AviTalkError(f"the rig mapping saved on {obj.name!r} is not JSON text: run Match Shape Keys again")
    return mapping_from_text(text, f"the rig mapping saved on {obj.name!r}")


def bake_inputs(obj: Any, explicit: RigMapping | None = None) -> tuple[RigMapping | None, dict[str, str]]:
    """What a bake onto ``obj`` uses: ``(mapping, picks)``. ``explicit`` (a ``--mapping`` file) wins whole;
    else the saved mapping (None: the bake fits the rig itself) with the list's picks that differ from it."""
    if explicit is not None:
        return explicit, {}
    saved = saved_mapping(obj)
    items = overrides(obj)
    if not items:
        return saved, {}
    base = saved if saved is not None else fit_rig(ARKIT52, _blocks(obj)).mapping
    picks = {}
    for channel, block in items.items():
        keys = base.keys_of(channel)
        if (block and block not in keys) or (not block and keys):
            picks[channel] = block
    return saved, picks


def effective(obj: Any) -> RigMapping:
    """The mapping a bake onto ``obj`` would use for an ARKit take: saved (or fitted) with the picks."""
    saved, picks = bake_inputs(obj)
    blocks = _blocks(obj)
    base = saved if saved is not None else fit_rig(ARKIT52, blocks).mapping
    return base.with_picks(picks, blocks)


def save(obj: Any, mapping: RigMapping) -> None:
    """Save ``mapping`` on ``obj`` and show it in the list (first key of each channel)."""
    obj[SAVED_PROPERTY] = mapping.to_json()
    obj.avi_talking_mapping.clear()
    for channel in ARKIT52:
        item = obj.avi_talking_mapping.add()
        item.channel = channel
        keys = mapping.keys_of(channel)
        item.block = keys[0] if keys else ""


def fill(obj: Any, preset: str | None = None) -> tuple[int, int, str]:
    """Fit the rig (``preset``: one preset's fit, None: the best), save it, keep manual picks that still
    name a key; (matched, total, the preset used)."""
    blocks = _blocks(obj)
    previous = saved_mapping_or_none(obj)
    picks = {c: b for c, b in overrides(obj).items() if b in blocks and (previous is None or b not in
                                                                         previous.keys_of(c))}
    fit = fit_rig(ARKIT52, blocks, preset)
    mapping = fit.mapping.with_picks(picks, blocks) if _picks_fit(fit.mapping, picks, blocks) else fit.mapping
    save(obj, mapping)
    return len(mapping.placed()), len(ARKIT52), fit.label


def saved_mapping_or_none(obj: Any) -> RigMapping | None:
    try:
        return saved_mapping(obj)
    except AviTalkError:
        return None  # a damaged saved mapping is replaced by the new fit


def _picks_fit(mapping: RigMapping, picks: dict[str, str], blocks: list[str]) -> bool:
    try:
        mapping.with_picks(picks, blocks)
    except AviTalkError:
        return False  # a kept pick now clashes with the new fit: the fit wins
    return True


class AVITALK_OT_match_shape_keys(Operator):
    """Fit the 52 ARKit channels to the selected rig's shape keys (presets for ARKit, ICT-FaceKit, Character
    Creator and numbered names; tolerant of case, prefixes and sides) and save the mapping on the rig"""

    bl_idname = "avitalk.match_shape_keys"
    bl_label = "Match Shape Keys"
    bl_options = {"REGISTER", "UNDO"}

    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default="AUTO")  # type: ignore[valid-type]

    @classmethod
    def poll(cls, context: Context) -> bool:
        return shape_key_of(context.active_object) is not None

    def execute(self, context: Context) -> OperatorResult:
        obj = context.active_object
        if obj is None:
            return {"CANCELLED"}
        matched, total, label = fill(obj, None if self.preset == "AUTO" else self.preset)
        self.report({"INFO"}, f"{matched} of {total} channels matched on {obj.name!r} ({label})")
        return {"FINISHED"}


class AVITALK_OT_export_rig_mapping(Operator):
    """Write the selected rig's mapping (with your picks) to a JSON file, for another rig or avitalk --mapping"""

    bl_idname = "avitalk.export_rig_mapping"
    bl_label = "Export Rig Mapping"
    bl_options = {"REGISTER"}

    filepath: StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})  # type: ignore[valid-type]

    @classmethod
    def poll(cls, context: Context) -> bool:
        return shape_key_of(context.active_object) is not None

    def invoke(self, context: Context, event: Any) -> OperatorResult:
        obj = context.active_object
        self.filepath = f"{bpy.path.clean_name(obj.name) if obj is not None else 'rig'}_mapping.json"
        return pick_file_then_execute(self, context, always_ask=True)  # the name is only a suggestion

    def execute(self, context: Context) -> OperatorResult:
        obj = context.active_object
        if obj is None or not self.filepath:
            return {"CANCELLED"}
        path = Path(bpy.path.abspath(self.filepath))
        if path.suffix.lower() != ".json":
            path = path.with_suffix(".json")
        try:
            mapping = effective(obj)
            write_mapping(mapping, path, rig=obj.name)
        except (AviTalkError, OSError) as exc:
            self.report({"ERROR"}, str(exc) if isinstance(exc, AviTalkError) else f"cannot write {path}: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"wrote the mapping of {obj.name!r} ({len(mapping.keys)} shape keys) to {path}")
        return {"FINISHED"}


class AVITALK_OT_import_rig_mapping(Operator):
    """Read a rig mapping JSON file and save it on the selected rig (it replaces the matched mapping)"""

    bl_idname = "avitalk.import_rig_mapping"
    bl_label = "Import Rig Mapping"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})  # type: ignore[valid-type]
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})  # type: ignore[valid-type]

    @classmethod
    def poll(cls, context: Context) -> bool:
        return shape_key_of(context.active_object) is not None

    def invoke(self, context: Context, event: Any) -> OperatorResult:
        return pick_file_then_execute(self, context)

    def execute(self, context: Context) -> OperatorResult:
        obj = context.active_object
        if obj is None or not self.filepath:
            return {"CANCELLED"}
        try:
            mapping = read_mapping(Path(bpy.path.abspath(self.filepath)))
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        blocks = set(_blocks(obj))
        lacking = [k for k, _ in mapping.keys if k not in blocks]
        save(obj, mapping)
        note = f"; {obj.name!r} lacks {len(lacking)} of its shape keys ({', '.join(lacking[:3])})" if lacking else ""
        self.report({"WARNING" if lacking else "INFO"},
                    f"{len(mapping.placed())} channels mapped onto {obj.name!r}{note}")
        return {"FINISHED"}


def register_extra() -> None:
    bpy.types.Object.avi_talking_mapping = CollectionProperty(type=AVITALK_PG_channel_map)  # type: ignore[attr-defined]


def unregister_extra() -> None:
    del bpy.types.Object.avi_talking_mapping  # type: ignore[attr-defined]


CLASSES = (AVITALK_PG_channel_map, AVITALK_OT_match_shape_keys, AVITALK_OT_export_rig_mapping,
           AVITALK_OT_import_rig_mapping)
