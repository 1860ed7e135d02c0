"""Layered bakes: the take plays in a new NLA track above the artist's animation; the artist's keys are never
touched.

What a layered bake does to the shape keys' animation data (``core/rigs/layer.py`` for the blend rules):

1. The active action, if there is one, is pushed down as Blender's *Push Down* does: an NLA track named after
   it at the top of the stack, playing it from its first frame with the action's blend type, influence and
   extrapolation. The action itself is not changed; edit it again with Tab (tweak mode) in the NLA editor.
2. Channels the take keys that nothing below animates get a resting value (the key's value at bake time),
   held from frame 0 by a shared "AVI Rest" strip below the takes. Without it Blender blends a partial
   influence with the property's default, which is 1 for shape keys on 5.0 (``compat``).
3. The take (a new Action, as every bake makes) plays in a new track on top: blend type and influence from
   :class:`~..core.rigs.layer.BakeLayer`, nothing outside its frames (``NOTHING`` extrapolation).

Blender 5.0's layered actions would hold the take as a second layer of one action, but 5.0 allows one layer
per action, so both 4.2 and 5.0 use NLA tracks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import bpy
import numpy as np

from ..core.common.errors import AviTalkError
from ..core.rigs.layer import BakeLayer
from . import compat
from .keyframes import write_keys

REST_PROPERTY = "avi_talking_rest"  # on the rest action: the name of the datablock it rests
REST_NAME = "AVI Rest"
REST_FRAME = 0  # the rest strip starts here, so it covers the scene even where Blender only holds forward


def check_layerable(id_data: bpy.types.ID) -> None:
    """Refuse (before anything changes) what would hide a new NLA track: a soloed track, or NLA switched off
    with tracks of the artist's (switching it on would change what plays)."""
    ad = getattr(id_data, "animation_data", None)
    if ad is None:
        return
    owner = getattr(id_data, "user", None)
    what = f"the shape keys of {owner.name!r}" if owner is not None else repr(id_data.name)
    if any(track.is_solo for track in ad.nla_tracks):
        raise AviTalkError(f"an NLA track of {what} is soloed: un-solo it before a layered bake")
    if not ad.use_nla and len(ad.nla_tracks):
        raise AviTalkError(f"the NLA of {what} is switched off: switch it on before a layered bake")


def add_layer(id_data: bpy.types.ID, take: bpy.types.Action, frame_start: int, layer: BakeLayer,
              rest: Mapping[str, float]) -> str:
    """Play ``take`` from ``frame_start`` in a new top NLA track of ``id_data`` (module docstring); ``rest``
    is data path → resting value for the channels the take keys. Returns the track's name."""
    ad = id_data.animation_data_create()
    if ad is None:
        raise TypeError(f"{id_data.id_type} data-blocks cannot be animated")
    ad.use_nla = True
    _push_down(id_data, ad)
    _rest_below(id_data, ad, rest)
    track = ad.nla_tracks.new()  # at the top of the stack
    track.name = take.name
    strip = compat.new_nla_strip(id_data, track, take, frame_start)
    strip.blend_type = layer.blend
    strip.extrapolation = "NOTHING"
    if layer.influence < 1.0:
        _set_influence(strip, layer.influence, frame_start)
    return str(track.name)


def _set_influence(strip: Any, influence: float, frame: float) -> None:
    """A constant influence: Blender reads ``strip.influence`` only as an animated property, from its curve."""
    strip.use_animated_influence = True  # creates the strip's "influence" F-curve
    curve = strip.fcurves.find("influence")
    write_keys(curve, np.array([frame]), np.array([influence]), interpolation="CONSTANT")


def _push_down(id_data: bpy.types.ID, ad: Any) -> None:
    action = ad.action
    if action is None:
        return
    slot = compat.active_action_slot(id_data)
    track = ad.nla_tracks.new()
    track.name = action.name
    strip = compat.new_nla_strip(id_data, track, action, float(action.frame_range[0]), slot)
    strip.blend_type = ad.action_blend_type
    strip.extrapolation = ad.action_extrapolation
    if ad.action_influence < 1.0:
        _set_influence(strip, ad.action_influence, strip.frame_start)
    ad.action = None
    ad.action_blend_type, ad.action_influence, ad.action_extrapolation = "REPLACE", 1.0, "HOLD"


def _rest_below(id_data: bpy.types.ID, ad: Any, rest: Mapping[str, float]) -> None:
    """Key the resting value of each channel in ``rest`` that no strip animates yet into the shared rest
    action (made, with its track, on the first layered bake)."""
    animated: set[str] = set()
    rest_strip = None
    for track in ad.nla_tracks:
        for strip in track.strips:
            animated.update(fc.data_path for fc in compat.strip_fcurves(strip, id_data))
            if strip.action is not None and strip.action.get(REST_PROPERTY) == id_data.name:
                rest_strip = strip
    needed = {path: value for path, value in rest.items() if path not in animated}
    if not needed:
        return
    if rest_strip is None:
        action = bpy.data.actions.new(REST_NAME)
        action[REST_PROPERTY] = id_data.name
    else:
        action = rest_strip.action
    for path, value in needed.items():
        write_keys(compat.new_action_fcurve(action, id_data, path), np.array([REST_FRAME]), np.array([value]),
                   interpolation="CONSTANT")
    if rest_strip is None:
        track = ad.nla_tracks.new()
        track.name = REST_NAME
        strip = compat.new_nla_strip(id_data, track, action, REST_FRAME)
        strip.extrapolation = "HOLD"
