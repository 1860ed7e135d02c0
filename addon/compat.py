"""Every Blender API difference the project touches (3.4 ↔ 4.2 ↔ 5.0), in one place.

Differences are detected by feature (what the RNA types offer), not by version number, so the 4.4/4.5
releases — which have both the legacy and the slotted API — take the slotted path like 5.0. Blender 3.4
(Debian's, which loads the add-on as a legacy add-on through ``bl_info``) takes the 4.2 path, plus:

- ``Mesh.shade_smooth()`` is 3.6+; older meshes set each face's ``use_smooth``.
- Faces: 4.x derives each face's loop count from the ``loop_start``s; 3.x needs ``loop_total`` as well
  (without it ``Mesh.validate`` drops every face).
- ``UILayout.progress`` is 4.0+; older layouts show the fraction as a text bar in a label.
- ``bpy.utils.extension_path_user`` is 4.2+ (extensions); a legacy add-on has no per-extension folder.
- ``ID.is_editable`` is 4.x; before it, data linked from a library (``ID.library``) is what cannot be edited.
- Sound strips draw their waveform in the sequencer where ``show_waveform`` is on (3.x–5.0 all have it; it is
  set only where the strip type offers it).

- Actions: 4.2/4.3 keep F-curves in ``Action.fcurves`` (``fcurves.new(data_path, index, action_group)``).
  4.4+ have slotted/layered actions: ``Action.slots.new(id_type, name)``,
  ``Action.layers.new(name).strips.new(type='KEYFRAME')`` and
  ``strip.channelbag(slot, ensure=True).fcurves.new(data_path, index, group_name)``; 5.0 removed
  ``Action.fcurves``. An assigned action also needs ``AnimData.action_slot`` there, and an NLA strip
  ``NlaStrip.action_slot``. 5.0 refuses a second layer in an action ("An Action may not have more than one
  layer"), so a layered bake is an NLA track on both.
- ``ShapeKey.value``'s RNA default is 0 on 4.2 and 1 on 5.0. The NLA blends a strip with a channel's default
  where nothing below animates it, so on 5.0 a half-influence strip would blend toward 1 and a channel outside
  its strips would evaluate to 1: ``addon/layers.py`` keys the channels' resting values below each layer.
- Sequencer: 5.0 has ``SequenceEditor.strips``; 4.2 ``SequenceEditor.sequences`` (same ``new_sound``,
  ``remove`` signatures).
- Sound: some ``bpy`` builds (the PyPI wheel of 4.2) have no Audaspace; ``new_sound`` then raises.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import bpy

LAYER_NAME = "Layer"


@functools.cache  # RNA types do not change while Blender runs
def has_slotted_actions() -> bool:
    """True on 4.4+ (slots, layers and ``strip.channelbag``); False on 4.2/4.3 (legacy ``fcurves``).

    4.3 shipped an experimental draft (``strip.channels(handle)``, ``slots.new(for_id=...)``) that is
    not this API, hence the check for ``channelbag`` rather than for ``Action.slots`` alone."""
    strip_type = getattr(bpy.types, "ActionKeyframeStrip", None)
    return (
        "slots" in bpy.types.Action.bl_rna.properties
        and strip_type is not None
        and "channelbag" in strip_type.bl_rna.functions
    )


def _find_slot(action: bpy.types.Action, id_data: bpy.types.ID) -> Any | None:
    """The slot of ``action`` that animates ``id_data``, or None (slotted API only).

    Prefers the slot the ID is currently bound to, then one named after the ID, then the only slot of
    the ID's type."""
    ad = getattr(id_data, "animation_data", None)  # only animatable ID types have it
    if ad is not None and ad.action == action and ad.action_slot is not None:
        return ad.action_slot
    typed = [s for s in action.slots if s.target_id_type in (id_data.id_type, "UNSPECIFIED")]
    for slot in typed:
        if slot.name_display == id_data.name:
            return slot
    return typed[0] if len(typed) == 1 else None


def _ensure_slot(action: bpy.types.Action, id_data: bpy.types.ID) -> Any:
    slot = _find_slot(action, id_data)
    if slot is None:
        slot = action.slots.new(id_type=id_data.id_type, name=id_data.name)
    return slot


def _keyframe_strip(action: bpy.types.Action) -> Any:
    """The first keyframe strip of the first layer, created when the action has none."""
    layer = action.layers[0] if len(action.layers) else action.layers.new(LAYER_NAME)
    if len(layer.strips):
        return layer.strips[0]
    return layer.strips.new(type="KEYFRAME")


def new_action_fcurve(
    action: bpy.types.Action,
    id_data: bpy.types.ID,
    data_path: str,
    index: int = 0,
    group_name: str | None = None,
) -> bpy.types.FCurve:
    """Create an F-curve in ``action`` for ``data_path`` on ``id_data`` (e.g. a shape-key ``Key``).

    4.4+/5.0: ensures a slot for ``id_data`` (``slots.new(id_type=..., name=id_data.name)``), a layer, a
    keyframe strip and that strip's channelbag, then ``channelbag.fcurves.new(..., group_name=...)``.
    4.2/4.3: ``action.fcurves.new(..., action_group=...)``.
    Raises RuntimeError (from Blender) when the curve already exists."""
    if has_slotted_actions():
        bag = _keyframe_strip(action).channelbag(_ensure_slot(action, id_data), ensure=True)
        return bag.fcurves.new(data_path, index=index, group_name=group_name or "")
    legacy: Any = action  # fake-bpy-module documents the 5.0 Action, which lacks ``fcurves``
    return legacy.fcurves.new(data_path, index=index, action_group=group_name or "")


def action_fcurves(action: bpy.types.Action, id_data: bpy.types.ID) -> list[bpy.types.FCurve]:
    """The F-curves of ``action`` that animate ``id_data``, for reading back.

    4.4+/5.0: the curves of the slot found for ``id_data`` across all layers and strips (empty when the
    action has no such slot). 4.2/4.3: all of ``action.fcurves`` (legacy actions have no slots)."""
    if not has_slotted_actions():
        legacy: Any = action
        return list(legacy.fcurves)
    slot = _find_slot(action, id_data)
    return _slot_fcurves(action, slot) if slot is not None else []


def _slot_fcurves(action: bpy.types.Action, slot: Any) -> list[bpy.types.FCurve]:
    curves: list[bpy.types.FCurve] = []
    for layer in action.layers:
        for strip in layer.strips:
            if strip.type != "KEYFRAME":
                continue
            bag = cast(bpy.types.ActionKeyframeStrip, strip).channelbag(slot)
            if bag is not None:
                curves.extend(bag.fcurves)
    return curves


def assign_action(id_data: bpy.types.ID, action: bpy.types.Action) -> None:
    """Make ``action`` the active action of ``id_data`` (creating its animation data).

    4.4+/5.0: also binds the slot made for ``id_data`` by :func:`new_action_fcurve` (Blender's own
    automatic slot choice depends on names and history, so it is set explicitly). 4.2: just the action."""
    # Pick the slot before assigning: afterwards Blender's own choice would already be bound.
    slot = _ensure_slot(action, id_data) if has_slotted_actions() else None
    ad = id_data.animation_data_create()  # returns the existing animation data when there is one
    if ad is None:
        raise TypeError(f"{id_data.id_type} data-blocks cannot be animated")
    ad.action = action
    if slot is not None:
        ad.action_slot = slot


def active_action_slot(id_data: bpy.types.ID) -> Any | None:
    """The slot the active action of ``id_data`` plays (4.4+/5.0); None on 4.2 or without an action."""
    ad = getattr(id_data, "animation_data", None)
    if ad is None or ad.action is None or not has_slotted_actions():
        return None
    return ad.action_slot


def new_nla_strip(id_data: bpy.types.ID, track: Any, action: bpy.types.Action, start: float, slot: Any = None) -> Any:
    """An NLA strip playing ``action`` from frame ``start`` (fractional starts too) on ``track`` of ``id_data``.

    4.4+/5.0: the strip also plays a slot: ``slot``, else the one found for ``id_data`` (Blender's own choice
    on ``strips.new`` depends on names). 4.2: strips have no slots."""
    strip = track.strips.new(action.name, int(start), action)
    if strip.frame_start != start:
        strip.frame_start_ui = start  # moves the strip, keeping its length (``strips.new`` takes whole frames)
    if has_slotted_actions():
        slot = slot if slot is not None else _find_slot(action, id_data)
        if slot is not None and strip.action_slot != slot:
            strip.action_slot = slot
    return strip


def strip_fcurves(strip: Any, id_data: bpy.types.ID) -> list[bpy.types.FCurve]:
    """The F-curves an NLA strip plays on ``id_data``: its slot's (4.4+/5.0), or all of its action's (4.2)."""
    action = strip.action
    if action is None:
        return []
    if not has_slotted_actions():
        legacy: Any = action
        return list(legacy.fcurves)
    slot = strip.action_slot
    return _slot_fcurves(action, slot) if slot is not None else []


def audio_supported() -> bool:
    """Whether this build can create sound strips (the PyPI ``bpy`` 4.2 wheel has no Audaspace)."""
    return bool(getattr(bpy.app.build_options, "audaspace", True))


def sound_strips(scene: bpy.types.Scene) -> Any:
    """The scene's top-level strip collection (strips of every type), creating the sequence editor.

    5.0: ``scene.sequence_editor.strips``; 4.2: ``scene.sequence_editor.sequences``. Both offer
    ``new_sound(name, filepath, channel, frame_start)`` and ``remove(strip)``."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    if hasattr(editor, "strips"):
        return editor.strips
    legacy: Any = editor
    return legacy.sequences


def iter_sound_strips(scene: bpy.types.Scene) -> Iterable[Any]:
    """The top-level sound strips of ``scene`` (none, without creating an editor, when it has none)."""
    if scene.sequence_editor is None:
        return []
    return [s for s in sound_strips(scene) if s.type == "SOUND"]


def new_sound_strip(scene: bpy.types.Scene, name: str, filepath: str, channel: int, frame_start: int) -> Any:
    """Add a sound strip (``SoundStrip`` on 5.0, ``SoundSequence`` on 4.2) and return it.

    Its length in frames follows the scene frame rate at this moment, so set the rate first. Raises
    RuntimeError where the build has no audio (see :func:`audio_supported`)."""
    return sound_strips(scene).new_sound(name, filepath, channel, frame_start)


def ensure_node_tree(idblock: bpy.types.Material | bpy.types.World) -> None:
    """Give a material or world its node tree. 4.2 creates it only when ``use_nodes`` is switched on;
    5.0 creates it with the datablock and deprecates ``use_nodes``."""
    if idblock.node_tree is None:
        idblock.use_nodes = True


def shade_smooth(mesh: bpy.types.Mesh) -> None:
    """Smooth shading on every face: ``Mesh.shade_smooth()`` on 3.6+, each face's ``use_smooth`` before."""
    if hasattr(mesh, "shade_smooth"):
        mesh.shade_smooth()
        return
    mesh.polygons.foreach_set("use_smooth", [True] * len(mesh.polygons))


_BAR_CELLS = 6  # a short bar: the sidebar's row also holds the stage and a cancel button


def progress(layout: bpy.types.UILayout, factor: float, text: str) -> None:
    """A progress bar (``UILayout.progress``, 4.0+); before 4.0 a label with a text bar of the fraction."""
    factor = min(max(factor, 0.0), 1.0)
    if hasattr(layout, "progress"):
        layout.progress(factor=factor, type="BAR", text=text)
        return
    filled = round(factor * _BAR_CELLS)
    layout.label(text=f"{'█' * filled}{'░' * (_BAR_CELLS - filled)}  {text}")


def extension_user_folder(package: str, subfolder: str) -> Path | None:
    """The extension's own user folder ``subfolder`` (created), or None where there is none: a legacy
    add-on (Blender < 4.2, or not installed as an extension) or the bpy module in tests."""
    folder_of = getattr(bpy.utils, "extension_path_user", None)
    if folder_of is None:
        return None
    try:
        return Path(folder_of(package, path=subfolder, create=True))
    except (ValueError, OSError):
        return None


def is_editable(id_data: bpy.types.ID) -> bool:
    """Whether ``id_data`` can be changed here: ``ID.is_editable`` where Blender has it, else not linked."""
    editable = getattr(id_data, "is_editable", None)
    return bool(editable) if editable is not None else id_data.library is None


def set_face_loops(mesh: bpy.types.Mesh, loop_starts: Any, loop_totals: Any) -> None:
    """Set the faces' first loops (and, where Blender stores it, their loop counts: 3.x)."""
    mesh.polygons.foreach_set("loop_start", loop_starts)
    total = bpy.types.MeshPolygon.bl_rna.properties.get("loop_total")
    if total is not None and not total.is_readonly:
        mesh.polygons.foreach_set("loop_total", loop_totals)


def show_waveform(strip: Any) -> bool:
    """Have the sequencer draw ``strip``'s waveform; False where the strip type has no such option."""
    if "show_waveform" not in strip.bl_rna.properties:
        return False
    strip.show_waveform = True
    return True
