"""Headless baking: an Animation → a saved .blend, for ``avitalk bake`` and ``blender --background``.

Runs synchronously (timers and modal operators do not tick in background mode). The output is
written to a temporary file beside the target and renamed only when Blender has saved it, so a
failure leaves no partial ``.blend`` behind.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import bpy

from ..core.animation import Animation
from ..core.common.blendfile import check_blend_file
from ..core.common.errors import AviTalkError
from ..core.common.fileio import atomic_output
from ..core.common.quiet import quiet_fd
from ..core.flame.landmarks import load_embedding
from ..core.flame.loading import load_flame
from ..core.flame.retarget import ArkitToFlame, arkit_to_flame
from ..core.rigs.layer import BakeLayer
from ..core.rigs.mapping import RigMapping
from ..core.rigs.report import channels_phrase, unplaced_phrase
from . import compat
from .bake import BakeResult, bake_animation
from .flame_rig import build_flame_object, find_flame_rig
from .head import build_head_object
from .preview_scene import add_preview_camera_and_light


@dataclass
class BakeSummary:
    output: Path
    object_name: str
    action_name: str
    keyed: int
    frames: tuple[int, int]
    sound: bool
    timings: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    unplaced: tuple[str, ...] = ()  # channels asked for that found no shape key
    groups: tuple[str, ...] | None = None  # the channel groups baked (None: all)
    layer: str | None = None  # the NLA track of a layered bake

    @property
    def channels(self) -> str:
        """``"50 of 52 channels"`` (with the groups when masked)."""
        return channels_phrase(self.keyed, self.unplaced, self.groups)

    @property
    def not_placed(self) -> str:
        """``"; not placed: tongueOut, …"`` or nothing."""
        return unplaced_phrase(self.unplaced)


@dataclass(frozen=True)
class RigOptions:
    """How a headless bake goes onto the rig: a ``--mapping`` file, channel groups, a layer, the head bone."""

    mapping: RigMapping | None = None
    groups: tuple[str, ...] | None = None
    layer: BakeLayer | None = None
    head_bone: str | None = None


def _bake(obj: bpy.types.Object, animation: Animation, rig: RigOptions, scene: bpy.types.Scene,
          audio_path: Path | None, retarget: ArkitToFlame | None = None, action_name: str | None = None
          ) -> BakeResult:
    """``bake_animation`` with the rig's mapping: the ``--mapping`` file, else the one saved on the object
    (with the picks of its list), else the automatic fit. FLAME rigs take none of these."""
    from .rig_mapping import bake_inputs

    mapping, picks = (rig.mapping, None) if find_flame_rig(obj) is not None else bake_inputs(obj, rig.mapping)
    return bake_animation(obj, animation, scene=scene, audio_path=audio_path, retarget=retarget,
                          action_name=action_name, mapping=mapping, channel_map=picks, groups=rig.groups,
                          layer=rig.layer, head_bone=rig.head_bone)


def bake_to_blend(
    animation: Animation,
    audio_path: Path | None,
    output: Path,
    *,
    base_blend: Path | None = None,
    object_name: str | None = None,
    flame_model: Path | None = None,
    landmarks: Path | None = None,
    rig: RigOptions | None = None,
) -> BakeSummary:
    """Bake onto the built-in head in a new scene, or onto ``object_name`` inside ``base_blend``.

    With ``flame_model`` the new head is a FLAME head made from that model (the eyes' midpoint at the
    origin), and an ARKit ``animation`` is retargeted to FLAME with it (and ``landmarks``, if given) —
    also when baking onto ``object_name``, e.g. a rig made by the MPI FLAME add-on. ``rig``: a mapping file,
    channel groups and a layer (:class:`RigOptions`)."""
    rig = rig or RigOptions()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    scene = _open_scene(base_blend)
    if object_name is not None:
        obj = _named_object(object_name, base_blend)
    elif flame_model is not None:
        view_layer = bpy.context.view_layer
        if view_layer is None:
            raise AviTalkError("the scene has no view layer to add the FLAME head in")
        obj = build_flame_object(load_flame(flame_model), scene.collection, view_layer,
                                 model_path=flame_model, landmarks_path=landmarks)
        add_preview_camera_and_light(scene, obj)  # the mesh sits at the eyes' midpoint, like the built-in head
    else:
        obj = build_head_object(scene.collection)
        add_preview_camera_and_light(scene, obj)
    timings["scene"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    retarget: ArkitToFlame | None = None
    if flame_model is not None and animation.space == "arkit52":
        model = load_flame(flame_model)
        embedding = load_embedding(landmarks, len(model.faces)) if landmarks is not None else None
        retarget = arkit_to_flame(model, embedding)
    timings["retarget"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    sound = audio_path if audio_path is not None and compat.audio_supported() else None
    if audio_path is not None and sound is None:
        warnings.warn("this Blender build has no audio support: the sound strip is left out", stacklevel=2)
    result = _bake(obj, animation, rig, scene=scene, audio_path=sound, retarget=retarget)
    timings["bake"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    save_blend(output)
    timings["save"] = time.perf_counter() - t0
    return BakeSummary(output, obj.name, result.action.name, len(result.keyed), result.frame_range,
                       result.sound_strip is not None, timings, result.notes, result.unmatched, result.groups,
                       result.layer)


def bake_takes_to_blend(takes: list[tuple[Path, Animation]], output: Path, *, base_blend: Path | None = None,
                        object_name: str | None = None, rig: RigOptions | None = None) -> dict[str, BakeSummary]:
    """One take (a new Action "AVI <audio> take 1") per ``(audio, animation)`` on one rig, in one .blend: the
    built-in head in a new scene, or ``object_name`` in a copy of ``base_blend``. The last take is active
    (with its sound strip); the others are kept with a fake user. ``rig``: a mapping file and channel groups
    (a layer would stack every take: refused). Returns audio file name → what was baked."""
    rig = rig or RigOptions()
    if rig.layer is not None:
        raise AviTalkError("a layer holds one take over the animation: bake the takes without one")
    from .takes import mark_take, shape_key_of, take_name

    scene = _open_scene(base_blend)
    if object_name is not None:
        obj = _named_object(object_name, base_blend)
    else:
        obj = build_head_object(scene.collection)
        add_preview_camera_and_light(scene, obj)
    baked: dict[str, BakeSummary] = {}
    for audio, animation in takes:
        key = shape_key_of(obj)
        name, number = take_name(audio.stem, key)
        sound = audio.resolve() if compat.audio_supported() else None
        result = _bake(obj, animation, rig, scene=scene, audio_path=sound, action_name=name)
        mark_take(result.action, shape_key_of(obj), number)
        baked[audio.name] = BakeSummary(output, obj.name, result.action.name, len(result.keyed), result.frame_range,
                                        result.sound_strip is not None, {}, result.notes, result.unmatched,
                                        result.groups)
    save_blend(output)
    return baked


def save_blend(output: Path) -> None:
    """Save the current file as ``output`` atomically (sound paths stay relative to it)."""
    with atomic_output(output) as tmp:
        os.unlink(tmp)  # Blender would keep the empty placeholder as a .blend1 backup
        with quiet_fd(1):  # Blender prints "Info: Saved as ..." naming the temporary file
            result = bpy.ops.wm.save_as_mainfile(filepath=str(tmp), check_existing=False, relative_remap=True)
        if "FINISHED" not in result:
            raise AviTalkError(f"Blender could not save {output}")


def _open_scene(base_blend: Path | None) -> bpy.types.Scene:
    """A copy of the user's file (never saved over) or an empty factory scene."""
    if base_blend is not None:
        open_blend(base_blend)
    else:
        bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    if scene is None:
        raise AviTalkError("the blend file has no scene")
    return scene


def open_blend(path: Path) -> None:
    """Open the user's .blend (its scripts are not run). What is not a .blend is refused from its header
    first (:func:`core.common.blendfile.check_blend_file`: a FIFO or device would block Blender's reader);
    Blender's own refusal (truncated, damaged, too new) becomes one line."""
    version = check_blend_file(path)
    try:
        with quiet_fd(1):  # Blender prints "Read blend: ..." and its error reports on stdout
            bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False, use_scripts=False)
    except RuntimeError as exc:
        reason = " ".join(str(exc).split()).removeprefix("Error: ")
        newer = version is not None and version > tuple(bpy.app.version[:2])
        hint = (f" (it was saved by Blender {version[0]}.{version[1]}, newer than this Blender "
                f"{bpy.app.version_string})" if newer and version is not None else "")
        raise AviTalkError(f"Blender cannot open blend file {path}: {reason}{hint}") from None


def _named_object(name: str, base_blend: Path | None) -> bpy.types.Object:
    obj = bpy.data.objects.get(name)
    if obj is None:
        raise AviTalkError(f"no object named {name!r} in {base_blend or 'the scene'}")
    return obj
