"""Two sub-panels of the sidebar: *Layer & Channels* (bake onto an NLA layer, channel groups, influence) and
*Rig Fit* (presets, the saved mapping's split and weighted keys, the channels it cannot place, export/import).

Their settings live in ``scene.avi_talking_layer`` (:class:`AVITALK_PG_bake_layer`); the Bake operator reads
them through :func:`bake_options`."""

from __future__ import annotations

import json
from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, PointerProperty
from bpy.types import Context, PropertyGroup, UILayout

from ..core.arkit import ARKIT52
from ..core.common.errors import AviTalkError
from ..core.rigs.channel_groups import GROUPS
from ..core.rigs.layer import BakeLayer
from ..core.rigs.mapping import RigMapping
from ..core.rigs.report import placement_line
from . import rig_mapping
from .bake import PLACEMENT_PROPERTY
from .flame_rig import find_flame_rig
from .panels import _SubPanel
from .takes import shape_key_of, takes_for


def _group_text(group: str) -> str:
    names = GROUPS[group]
    return f"Bake the {group} channels ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})"


_GROUP_ITEMS = [(g, g.capitalize(), _group_text(g)) for g in GROUPS]
_BLEND_ITEMS = [("REPLACE", "Replace", "The take replaces what plays below on its channels, faded by the influence"),
                ("ADD", "Add", "The take is added to what plays below, scaled by the influence")]
_PER_LINE = 3  # channel names per label line at the sidebar's default width


class AVITALK_PG_bake_layer(PropertyGroup):
    groups: EnumProperty(  # type: ignore[valid-type]
        name="Channels", description="Which channel groups a bake keys (the others are left alone)",
        items=_GROUP_ITEMS, options={"ENUM_FLAG"}, default=set(GROUPS))
    use_layer: BoolProperty(  # type: ignore[valid-type]
        name="Bake as Layer",
        description="Put the take in a new NLA track above the animation already there, which keeps playing "
                    "and is never changed", default=False)
    influence: FloatProperty(  # type: ignore[valid-type]
        name="Influence", description="How strongly the layer plays over what is below", default=1.0, min=0.0,
        max=1.0, subtype="FACTOR")
    blend: EnumProperty(name="Blend", items=_BLEND_ITEMS, default="REPLACE")  # type: ignore[valid-type]
    fit_preset: EnumProperty(  # type: ignore[valid-type]
        name="Preset", description="Naming convention to fit the rig with", items=rig_mapping.PRESET_ITEMS,
        default="AUTO")


def bake_options(scene: Any) -> tuple[tuple[str, ...] | None, BakeLayer | None]:
    """``(groups, layer)`` for a bake from the panel: None for every group, None for no layer."""
    settings = getattr(scene, "avi_talking_layer", None)
    if settings is None:
        return None, None
    chosen = tuple(g for g in GROUPS if g in settings.groups)
    if not chosen:
        raise AviTalkError("no channel group is switched on in Layer & Channels: choose at least one")
    groups = None if len(chosen) == len(GROUPS) else chosen
    layer = BakeLayer(influence=float(settings.influence), blend=settings.blend) if settings.use_layer else None
    return groups, layer


class AVITALK_PT_bake_layer(_SubPanel):
    bl_label = "Layer & Channels"
    bl_idname = "AVITALK_PT_bake_layer"

    def draw(self, context: Context) -> None:
        layout = self.layout
        settings = getattr(context.scene, "avi_talking_layer", None)
        if layout is None or settings is None:
            return
        layout.label(text="Channels to bake:")
        grid = layout.column(align=True)
        grid.prop(settings, "groups", expand=True)
        layout.prop(settings, "use_layer")
        col = layout.column(align=True)
        col.enabled = bool(settings.use_layer)
        col.prop(settings, "influence", slider=True)
        col.prop(settings, "blend")
        if settings.use_layer:
            layout.label(text="Your keys stay as they are (pushed down)", icon="NLA")


def _lines(layout: UILayout, names: list[str], per_line: int = _PER_LINE) -> None:
    col = layout.column(align=True)
    for start in range(0, len(names), per_line):
        col.label(text=", ".join(names[start:start + per_line]))


def last_bake(key: Any) -> str | None:
    """The placement line of the newest take baked onto ``key`` (what its bake could not place)."""
    found = [a for a in takes_for(key) if a.get(PLACEMENT_PROPERTY)]
    if not found:
        return None
    try:
        info = json.loads(found[-1][PLACEMENT_PROPERTY])
        return f"{found[-1].name}: " + placement_line(int(info["placed"]), list(info["not_placed"]), info["groups"])
    except (TypeError, ValueError, KeyError):
        return None


def _draw_mapping(layout: UILayout, mapping: RigMapping) -> None:
    placed = mapping.placed()
    unplaced = [c for c in ARKIT52 if c not in placed]
    layout.label(text=f"{len(placed)} of {len(ARKIT52)} channels placed ({mapping.preset or 'imported'})",
                 icon="CHECKMARK" if not unplaced else "INFO")
    split = [f"{c} → {' + '.join(mapping.keys_of(c))}" for c in ARKIT52 if len(mapping.keys_of(c)) > 1]
    mixed = [f"{k} ← {' + '.join(f'{w:g}×{c}' for c, w in src)}" for k, src in mapping.keys if len(src) > 1]
    if split or mixed:
        box = layout.box()
        for line in split + mixed:
            box.label(text=line)
    if unplaced:
        layout.label(text="Not placed:", icon="ERROR")
        _lines(layout, unplaced)


class AVITALK_PT_rig_fit(_SubPanel):
    bl_label = "Rig Fit"
    bl_idname = "AVITALK_PT_rig_fit"

    def draw(self, context: Context) -> None:
        layout = self.layout
        settings = getattr(context.scene, "avi_talking_layer", None)
        obj = context.active_object
        if layout is None or settings is None:
            return
        if obj is None or shape_key_of(obj) is None or find_flame_rig(obj) is not None:
            layout.label(text="Select a mesh with shape keys (FLAME heads fit themselves)", icon="INFO")
            return
        row = layout.row(align=True)
        row.prop(settings, "fit_preset", text="")
        props = row.operator("avitalk.match_shape_keys", text="Fit", icon="LINKED")
        if props is not None:
            props.preset = settings.fit_preset
        row = layout.row(align=True)
        row.operator("avitalk.export_rig_mapping", icon="EXPORT")
        row.operator("avitalk.import_rig_mapping", icon="IMPORT")
        line = last_bake(shape_key_of(obj))
        if line is not None:
            _lines(layout, [line], per_line=1)
        try:
            saved = rig_mapping.saved_mapping(obj)
            mapping = rig_mapping.effective(obj) if saved is not None else None
        except AviTalkError as exc:
            layout.label(text=str(exc), icon="ERROR")
            return
        if mapping is None:  # fitting on every redraw would be wasted: a bake fits an unfitted rig itself
            layout.label(text="Not fitted yet: a bake fits the rig itself", icon="INFO")
            return
        _draw_mapping(layout, mapping)


def register_extra() -> None:
    bpy.types.Scene.avi_talking_layer = PointerProperty(type=AVITALK_PG_bake_layer)  # type: ignore[attr-defined]


def unregister_extra() -> None:
    del bpy.types.Scene.avi_talking_layer  # type: ignore[attr-defined]


CLASSES = (AVITALK_PG_bake_layer, AVITALK_PT_bake_layer, AVITALK_PT_rig_fit)
