"""Bake an :class:`~..core.animation.Animation` onto an object's shape keys, with its sound strip.

Animation frame ``t`` (time ``t / fps`` from the audio start) lands on Blender frame ``frame_start + t``.
Everything that can go wrong for the user is checked before the scene is touched (validate, then write),
so a failed bake leaves no half-made action, strip or frame-rate change behind.

Values are keyed exactly as the Animation holds them, with no clamping: a key block's
``slider_min``/``slider_max`` is the rig's business (Blender clamps the evaluated value to it).

Shape-key rigs: the channels go onto keys through a rig mapping (``core.rigs.mapping``: each key ← Σ weight ×
channel; a file, the one saved on the rig, or the automatic fit of ``core.rigs.fit``), the keys' curves
computed as one matrix product. Channel groups (``core.rigs.channel_groups``) limit a bake to some channels;
a layered bake plays the new action in an NLA track over the artist's animation (``layers.py``).

FLAME rigs (``flame_rig.find_flame_rig``: ours or the MPI FLAME add-on's) take ``flame``-space
Animations: expression channels key the expression shape keys (those the Animation lacks are keyed 0,
as FLAME reads a missing coefficient), joint rotations key the bones in each bone's own rotation mode, and
pose correctives that nothing drives (the MPI rig's ``Pose1…``) are keyed from the same rotations. An
``arkit52`` Animation baked onto a FLAME rig is first retargeted (``core.flame.retarget``). Expression and
corrective keys whose slider range is too narrow for the values are widened (up to Blender's ±10), since
FLAME coefficients are signed.

Head rotations (``headYaw``/``headPitch``/``headRoll``, radians; ``head_motion.py``) become rotation keys: the
built-in head's neck pivot, the bone named by ``head_bone`` (any rig), or a FLAME rig's neck joint. Without
those channels nothing head-related is keyed; a layered bake, or channel groups without ``head``, leaves them
out; a shape-key rig with no head bone named reports them not placed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import bpy
import numpy as np

from ..core.animation import Animation, normalize_fps
from ..core.arkit import HEAD_ROTATIONS
from ..core.common.errors import AviTalkError
from ..core.flame.channels import JOINT_CHANNELS, expression_index, joints_in, pose_of
from ..core.flame.loading import JOINT_NAMES
from ..core.flame.model import corrective_weights
from ..core.flame.retarget import ArkitToFlame
from ..core.flame.rotations import rotation_channels
from ..core.head_pose import head_angles, head_rotvecs
from ..core.rigs.channel_groups import GROUPS, select
from ..core.rigs.fit import fit_rig
from ..core.rigs.layer import BakeLayer
from ..core.rigs.mapping import RigMapping, bake_values
from ..core.rigs.names import channel_mapping
from . import compat, head_motion, layers
from .flame_rig import SLIDER_LIMIT, FlameRig, find_flame_rig, retarget_for
from .head import is_builtin_head
from .keyframes import write_keys, write_rotation_keys

# Custom property that marks the sound strip this add-on added, so a re-bake replaces only that one.
SOUND_TAG = "avi_talking_audio"
MAX_CHANNELS = 128  # sequencer channels in 4.2 and 5.0


@dataclass(frozen=True)
class BakeResult:
    action: bpy.types.Action
    keyed: tuple[str, ...]  # Animation channels that received keys
    unmatched: tuple[str, ...]  # Animation channels with no matching shape key (not keyed)
    frame_range: tuple[int, int]  # first and last keyed Blender frame, inclusive
    sound_strip: str | None = None  # name of the sound strip added, if any
    pose_action: bpy.types.Action | None = None  # the armature's new action (FLAME rigs)
    notes: tuple[str, ...] = ()  # things the user should know (e.g. how far a retarget can be trusted)
    left_out: tuple[str, ...] = ()  # channels outside the channel groups asked for (not keyed, not "unmatched")
    groups: tuple[str, ...] | None = None  # the channel groups asked for (None: every channel)
    layer: str | None = None  # the NLA track of a layered bake
    head_action: bpy.types.Action | None = None  # the built-in head's neck-pivot action (head rotations)


META_PROPERTY = "avi_talking_meta"  # custom property on each baked action: the Animation's meta as JSON
# custom property on each baked action: what the bake placed, as JSON {"placed", "not_placed", "groups", "layer"}
PLACEMENT_PROPERTY = "avi_talking_placement"


@dataclass(frozen=True)
class _Plan:
    """What a bake will write, worked out (and validated) before anything is changed."""

    key: bpy.types.Key
    targets: tuple[tuple[int, str, str], ...]  # (column in anim.values, channel, key block name)
    unmatched: tuple[str, ...]
    fps: tuple[int, float]
    frame_end: int
    audio: Path | None
    anim: Animation  # what gets keyed (an ARKit take baked onto FLAME arrives retargeted)
    computed: tuple[tuple[str, np.ndarray], ...] = ()  # more shape-key curves: (key block, values [T])
    armature: bpy.types.Object | None = None
    bone_curves: tuple[tuple[str, str, np.ndarray], ...] = ()  # (bone, rotation property, values [T, k])
    bone_channels: tuple[str, ...] = ()  # the Animation channels the bone curves key
    sliders: tuple[str, ...] = ()  # key blocks whose slider range widens to ±SLIDER_LIMIT
    notes: tuple[str, ...] = ()
    placed: tuple[str, ...] = ()  # the Animation channels that drive a key (the Animation's order)
    left_out: tuple[str, ...] = ()  # channels outside the groups asked for
    pivot_head: bpy.types.Object | None = None  # the built-in head whose neck pivot the head rotations key
    head: np.ndarray | None = None  # (yaw, pitch, roll) rows for the pivot


# ---- frame rate --------------------------------------------------------------------------------------


def fps_settings(fps: float) -> tuple[int, float]:
    """``(render.fps, render.fps_base)`` for a frame rate: integers as ``(n, 1.0)``, NTSC rates
    (23.976, 29.97, 59.94 or their exact n*1000/1001) as ``(n, 1.001)`` like Blender's presets, other
    ratios with a small denominator exactly (12.5 → ``(25, 2.0)``), anything else approximately.

    ``fps_base`` is stored as a 32-bit float, so ``fps / fps_base`` matches the rate to about 5e-8
    relative (1.001 is 1.00100004673 in float32: 29.97 plays at 29.9700286, not 29.9700300)."""
    rate = normalize_fps(fps)
    nearest = round(rate)
    if nearest >= 1 and abs(rate - nearest) < 1e-6:
        return nearest, 1.0
    ntsc = round(rate * 1.001)
    if abs(ntsc / 1.001 - rate) < 1e-6:
        return ntsc, 1.001
    frac = Fraction(rate).limit_denominator(100)
    if abs(float(frac) - rate) < 1e-9 and frac.numerator <= 32767:
        return frac.numerator, float(frac.denominator)
    base_fps = max(1, math.ceil(rate))
    return base_fps, base_fps / rate


def scene_fps(scene: bpy.types.Scene) -> float:
    """Frames per second of ``scene`` as Blender plays it: ``render.fps / render.fps_base``."""
    return scene.render.fps / scene.render.fps_base


# ---- validation --------------------------------------------------------------------------------------


def _shape_key(obj: bpy.types.Object | None) -> bpy.types.Key:
    if obj is None:
        raise AviTalkError("no object to bake onto: select a mesh with shape keys")
    key = getattr(obj.data, "shape_keys", None)
    if key is None or len(key.key_blocks) < 2:
        raise AviTalkError(f"object {obj.name!r} has no shape keys to animate")
    if not compat.is_editable(key):
        raise AviTalkError(f"the shape keys of {obj.name!r} are linked from a library and cannot be keyed")
    ad = key.animation_data
    if ad is not None and ad.use_tweak_mode:
        raise AviTalkError(f"the shape keys of {obj.name!r} are in NLA tweak mode: leave it before baking")
    return key


def _fit_channels(key: bpy.types.Key, anim: Animation, channel_map: Mapping[str, str] | None,
                  mapping: RigMapping | None, groups: tuple[str, ...] | None
                  ) -> tuple[tuple[tuple[str, np.ndarray], ...], tuple[str, ...], tuple[str, ...], tuple[str, ...],
                             tuple[str, ...]]:
    """The shape-key curves of a bake: ``mapping`` (a rig mapping file or the one saved on the rig) or the
    automatic fit (``core.rigs.fit``: presets, then tolerant names), ``channel_map`` picks on top (channel →
    one key; ``""`` leaves a channel unkeyed), only the channels of ``groups``, the values as one matrix
    product (``core.rigs.mapping.bake_values``). Returns (curves, placed, unplaced, left out, notes).

    The reference key (Basis) is never a target: keying it does not deform anything."""
    blocks = sorted({kb.name for kb in key.key_blocks} - {key.reference_key.name})
    base = mapping if mapping is not None else fit_rig(anim.channels, blocks).mapping
    base = base.with_picks(dict(channel_map or {}), blocks)
    selected, left_out = select(anim.channels, groups)
    if groups is not None and not selected:
        raise AviTalkError(f"the channel groups {', '.join(groups)} hold none of the animation's "
                           f"{len(anim.channels)} channels")
    fitted, missing = base.restricted(selected).on_keys(blocks)
    keys, values = bake_values(anim.values, anim.channels, fitted)
    placed = fitted.placed()
    placed_channels = tuple(c for c in selected if c in placed)
    if not keys:
        asked = (f"{len(selected)} channels of {', '.join(groups)}" if groups is not None
                 else f"{len(anim.channels)} channels")
        example = ", ".join(repr(c) for c in selected[:3])
        raise AviTalkError(f"none of the animation's {asked} ({example}, ...) matches a shape key on "
                           f"{key.user.name!r}: check the channel mapping")
    notes: tuple[str, ...] = ()
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        notes = (f"the rig mapping names {len(missing)} shape keys {key.user.name!r} lacks ({shown})",)
    curves = tuple((k, values[:, j]) for j, k in enumerate(keys))
    unplaced = tuple(c for c in selected if c not in placed)
    return curves, placed_channels, unplaced, left_out, notes


def _check_audio(audio_path: str | Path) -> Path:
    path = Path(audio_path).expanduser().resolve()
    if not path.is_file():
        raise AviTalkError(f"audio file {path} does not exist")
    if not compat.audio_supported():
        raise AviTalkError("this Blender build has no audio support (Audaspace): bake without the audio")
    # Blender adds an unreadable file as a silent 1-frame strip, so probe it first (and leave no trace).
    sound = bpy.data.sounds.load(str(path), check_existing=False)
    readable = sound.samplerate > 0
    bpy.data.sounds.remove(sound)
    if not readable:
        raise AviTalkError(f"Blender cannot read the audio file {path.name}")
    return path


def _names_match(obj: bpy.types.Object, anim: Animation, channel_map: Mapping[str, str] | None) -> bool:
    key = getattr(obj.data, "shape_keys", None)
    blocks = {kb.name for kb in key.key_blocks} if key is not None else set()
    mapping = channel_mapping(anim.channels, sorted(blocks), dict(channel_map or {}))
    return any(mapping.get(c) in blocks for c in anim.channels)


def _without_head(anim: Animation) -> Animation:
    """``anim`` without its head rotation channels (they are keyed as rotations, not fitted onto keys)."""
    keep = [i for i, c in enumerate(anim.channels) if c not in HEAD_ROTATIONS]
    if len(keep) == len(anim.channels):
        return anim
    return Animation(anim.fps, tuple(anim.channels[i] for i in keep), anim.values[:, keep], anim.space, anim.meta)


def _plan(
    obj: bpy.types.Object | None,
    anim: Animation,
    audio_path: str | Path | None,
    frame_start: int,
    channel_map: Mapping[str, str] | None,
    retarget: ArkitToFlame | None = None,
    mapping: RigMapping | None = None,
    groups: tuple[str, ...] | None = None,
    layer: BakeLayer | None = None,
    head_bone: str | None = None,
) -> _Plan:
    angles = head_angles(anim) if anim.space == "arkit52" else None
    face = _without_head(anim) if angles is not None else anim
    rig = find_flame_rig(obj)
    # ARKit takes go onto a FLAME rig through the retarget, unless the mesh has ARKit-named keys of its own
    arkit_onto_flame = face.space == "arkit52" and obj is not None and not _names_match(obj, face, channel_map)
    onto_flame = rig is not None and (face.space == "flame" or arkit_onto_flame)
    if face.space == "flame" and not onto_flame:
        name = obj.name if obj is not None else "nothing"
        raise AviTalkError(f"a FLAME animation needs a FLAME head ({name!r} is not one): add one with "
                           "Add FLAME Head, or select the MPI FLAME add-on's mesh")
    if onto_flame and (groups is not None or layer is not None or mapping is not None):
        raise AviTalkError("channel groups, layers and rig mappings are for shape-key rigs: a FLAME rig's "
                           "expression keys mix every channel (bake the whole face onto it)")
    target = rig.mesh if rig is not None and onto_flame else obj
    key = _shape_key(target)
    if layer is not None:
        layers.check_layerable(key)
    if anim.n_frames < 1:
        raise AviTalkError("the animation has no frames")
    max_frame = cast(bpy.types.IntProperty, bpy.types.Scene.bl_rna.properties["frame_end"]).hard_max
    frame_end = frame_start + anim.n_frames - 1
    if frame_start < 0 or frame_end > max_frame:
        raise AviTalkError(f"frames {frame_start}..{frame_end} are outside Blender's range 0..{max_frame}")
    fps = fps_settings(anim.fps)  # raises FormatError (an AviTalkError) for rates outside 1..240
    # a named head bone must exist whether or not this take moves the head (a typo shows at once)
    head_armature = head_motion.find_head_armature(target, head_bone) if head_bone and target is not None else None
    head_group = groups is None or "head" in groups
    keyed_head = angles if angles is not None and head_group and layer is None else None
    notes: tuple[str, ...] = ()
    if angles is not None and head_group and layer is not None:
        notes = ("a layered bake keys the face only: the head rotations are left out",)
    head_left_out = HEAD_ROTATIONS if angles is not None and keyed_head is None else ()
    bone = None
    if keyed_head is not None and head_armature is not None and head_bone is not None:
        bone = head_motion.head_bone(head_armature, head_bone, keyed_head)

    if rig is not None and onto_flame:
        neck_bone = rig.bones.get("neck")
        to_neck = keyed_head is not None and (head_bone is None or head_bone == neck_bone)
        plan = _plan_flame(rig, key, face, retarget, fps, frame_end, head_rotvecs(keyed_head) if to_neck and
                           keyed_head is not None else None)
        if bone is not None and not to_neck:
            if bone.bone in {b for b, _, _ in plan.bone_curves}:
                raise AviTalkError(f"the head bone {bone.bone!r} is one of the FLAME rig's joints the face keys")
            plan = dataclasses.replace(plan, bone_curves=(*plan.bone_curves, (bone.bone, bone.prop, bone.values)),
                                       bone_channels=plan.bone_channels + HEAD_ROTATIONS)
        return dataclasses.replace(plan, notes=plan.notes + notes, left_out=plan.left_out + head_left_out,
                                   audio=_check_audio(audio_path) if audio_path is not None else None)

    pivot_head = obj if keyed_head is not None and bone is None and obj is not None and is_builtin_head(obj) else None
    if pivot_head is not None:
        head_motion.check_pivot(pivot_head)
    head_placed = keyed_head is not None and (bone is not None or pivot_head is not None)
    if head_placed and groups is not None and set(groups) <= {"head"}:
        curves: tuple[tuple[str, np.ndarray], ...] = ()  # the head alone: no shape-key curves
        placed: tuple[str, ...] = ()
        unmatched: tuple[str, ...] = ()
        left_out = tuple(c for c in face.channels)
        fit_notes: tuple[str, ...] = ()
    else:
        curves, placed, unmatched, left_out, fit_notes = _fit_channels(key, face, channel_map, mapping, groups)
    if keyed_head is not None and not head_placed:
        unmatched += HEAD_ROTATIONS
        notes += ("the head rotations need a head bone: name one (--head-bone, or Head Bone in the panel)",)
    plan = _Plan(key, (), unmatched, fps, frame_end, None, face, curves, notes=fit_notes + notes, placed=placed,
                 left_out=left_out + head_left_out)
    if bone is not None:
        plan = dataclasses.replace(plan, armature=bone.armature, bone_curves=((bone.bone, bone.prop, bone.values),),
                                   bone_channels=HEAD_ROTATIONS)
    elif pivot_head is not None:
        plan = dataclasses.replace(plan, pivot_head=pivot_head, head=keyed_head, bone_channels=HEAD_ROTATIONS)
    audio = _check_audio(audio_path) if audio_path is not None else None
    return dataclasses.replace(plan, audio=audio)


def _plan_flame(rig: FlameRig, key: bpy.types.Key, anim: Animation, retarget: ArkitToFlame | None,
                fps: tuple[int, float], frame_end: int, neck: np.ndarray | None = None) -> _Plan:
    """Expression keys, bone rotations and keyed correctives for a FLAME rig (see the module docstring).
    ``neck``: the head rotations as FLAME neck rotation vectors ``[T, 3]`` (added where the take has no neck)."""
    notes: tuple[str, ...] = ()
    if anim.space == "arkit52":
        mapping = retarget if retarget is not None else retarget_for(rig)
        anim = mapping.apply(anim)
        notes = (mapping.note,) if mapping.note else ()
    if neck is not None and "neck" not in joints_in(anim):
        values = np.concatenate([anim.values, np.asarray(neck, dtype=np.float32)], axis=1)
        anim = Animation(anim.fps, anim.channels + JOINT_CHANNELS["neck"], values, anim.space, anim.meta)
    armature = rig.armature
    if armature is not None:
        head_motion.check_armature(armature)

    targets: list[tuple[int, str, str]] = []
    unmatched: list[str] = []
    joint_channels = {c for names in JOINT_CHANNELS.values() for c in names}
    for column, channel in enumerate(anim.channels):
        index = expression_index(channel)
        block = rig.expression_blocks.get(index) if index is not None else None
        if block is not None:
            targets.append((column, channel, block))
        elif channel not in joint_channels:
            unmatched.append(channel)
    keyed_blocks = {block for _, _, block in targets}
    zeros = np.zeros(anim.n_frames, dtype=np.float32)
    computed = [(block, zeros) for _, block in sorted(rig.expression_blocks.items()) if block not in keyed_blocks]
    pose = pose_of(anim)
    if rig.keyed_correctives:
        feature = corrective_weights(pose)
        computed += [(block, feature[:, k]) for k, block in sorted(rig.keyed_correctives.items())]

    bone_curves: list[tuple[str, str, np.ndarray]] = []
    keyed_joints: list[str] = []
    for joint in joints_in(anim):
        bone = rig.bones.get(joint)
        if bone is None or armature is None:
            unmatched.extend(JOINT_CHANNELS[joint])
            continue
        mode = armature.pose.bones[bone].rotation_mode if armature.pose is not None else "QUATERNION"
        values = rotation_channels(pose[:, JOINT_NAMES.index(joint)], mode)
        bone_curves.append((bone, head_motion.rotation_property(mode), values))
        keyed_joints.append(joint)
    if not targets and not bone_curves:
        raise AviTalkError(f"none of the animation's {len(anim.channels)} channels matches the FLAME rig "
                           f"{rig.mesh.name!r} (its expression keys or jaw bone)")
    dropped = [c for c in unmatched if expression_index(c) is not None]
    if dropped:
        notes += (f"the rig has {rig.n_expression} expression keys: {len(dropped)} expression channels "
                  f"({dropped[0]} on) are not keyed",)

    sliders: list[str] = []
    for block, values in [(b, anim.values[:, c]) for c, _, b in targets] + computed:
        low, high = float(np.min(values)), float(np.max(values))
        if low < -SLIDER_LIMIT or high > SLIDER_LIMIT:
            raise AviTalkError(f"shape key {block!r} would need {low:.1f}..{high:.1f}; Blender's shape keys "
                               f"hold at most ±{SLIDER_LIMIT:g}")
        kb = key.key_blocks[block]
        if low < kb.slider_min or high > kb.slider_max:
            sliders.append(block)
    bone_channels = tuple(c for j in keyed_joints for c in JOINT_CHANNELS[j])
    return _Plan(key, tuple(targets), tuple(unmatched), fps, frame_end, None, anim, tuple(computed), armature,
                 tuple(bone_curves), bone_channels, tuple(sliders), notes, tuple(c for _, c, _ in targets))


# ---- writing -----------------------------------------------------------------------------------------


def _free_channel(scene: bpy.types.Scene, strip: Any, preferred: int) -> int:
    """The lowest channel from ``preferred`` up where ``strip`` overlaps no other strip."""
    others = [s for s in compat.sound_strips(scene) if s != strip]
    lo, hi = strip.frame_final_start, strip.frame_final_end
    for channel in range(max(1, preferred), MAX_CHANNELS + 1):
        if not any(
            s.channel == channel and s.frame_final_start < hi and lo < s.frame_final_end for s in others
        ):
            return channel
    return int(strip.channel)


def _replace_sound(scene: bpy.types.Scene, audio: Path, frame_start: int) -> str:
    """Remove the strip(s) a previous bake added and add one for ``audio`` at ``frame_start``."""
    strips = compat.sound_strips(scene)
    previous = [s for s in strips if s.get(SOUND_TAG)]
    preferred = min((int(s.channel) for s in previous), default=1)
    for old in previous:
        sound = old.sound
        strips.remove(old)
        if sound is not None and sound.users == 0:
            bpy.data.sounds.remove(sound)
    strip = compat.new_sound_strip(scene, f"AVI {audio.stem}", str(audio), MAX_CHANNELS, frame_start)
    strip[SOUND_TAG] = True
    strip.channel = _free_channel(scene, strip, preferred)
    return str(strip.name)


def _assign_new(id_data: bpy.types.ID, action: bpy.types.Action) -> None:
    """Make ``action`` active on ``id_data``, keeping the one it replaces."""
    ad = getattr(id_data, "animation_data", None)
    previous = ad.action if ad is not None else None
    if previous is not None:
        previous.use_fake_user = True  # unassigned, it would otherwise be dropped on save
    compat.assign_action(id_data, action)


def _value_path(block: str) -> str:
    return f'key_blocks["{bpy.utils.escape_identifier(block)}"].value'


def _write_action(key: bpy.types.Key, plan: _Plan, name: str, frame_start: int, assign: bool = True) -> Any:
    """A new action with one curve per target (and computed curve), assigned to ``key`` (unless ``assign``
    is False: a layered bake plays it from an NLA strip)."""
    action = bpy.data.actions.new(name)  # Blender makes the name unique: nothing is overwritten
    frames = frame_start + np.arange(plan.anim.n_frames, dtype=np.float32)
    curves = [(block, plan.anim.values[:, column]) for column, _channel, block in plan.targets]
    for block, values in curves + list(plan.computed):
        data_path = _value_path(block)
        write_keys(compat.new_action_fcurve(action, key, data_path), frames, values)
    if assign:
        _assign_new(key, action)
    return action


def _write_pose_action(armature: bpy.types.Object, plan: _Plan, name: str, frame_start: int) -> Any:
    """A new action on the armature with the bones' rotation curves (grouped per bone)."""
    action = bpy.data.actions.new(name)
    frames = frame_start + np.arange(plan.anim.n_frames, dtype=np.float32)
    for bone, prop, values in plan.bone_curves:
        data_path = f'pose.bones["{bpy.utils.escape_identifier(bone)}"].{prop}'
        write_rotation_keys(action, armature, data_path, frames, values, bone)
    _assign_new(armature, action)
    return action


def _write_pivot_action(head: bpy.types.Object, angles: np.ndarray, name: str, frame_start: int) -> Any:
    """A new action turning the built-in head's neck pivot (made on the first head bake)."""
    pivot = head_motion.ensure_pivot(head)
    values = head_motion.pivot_values(head, pivot, angles)
    action = bpy.data.actions.new(name)
    frames = frame_start + np.arange(len(values), dtype=np.float32)
    write_rotation_keys(action, pivot, head_motion.rotation_property(pivot.rotation_mode), frames, values, pivot.name)
    _assign_new(pivot, action)
    return action


def bake_animation(
    obj: bpy.types.Object | None,
    anim: Animation,
    *,
    scene: bpy.types.Scene | None = None,
    audio_path: str | Path | None = None,
    action_name: str | None = None,
    frame_start: int = 1,
    channel_map: Mapping[str, str] | None = None,
    retarget: ArkitToFlame | None = None,
    mapping: RigMapping | None = None,
    groups: Sequence[str] | None = None,
    layer: BakeLayer | None = None,
    head_bone: str | None = None,
) -> BakeResult:
    """Key ``anim`` onto the shape keys of ``obj`` as a new action and set the scene up to play it.

    Channels go onto key blocks through ``mapping`` (complete: what it does not name is not placed) or the
    automatic fit (presets, then tolerant names), with ``channel_map`` picks on top (channel → key block
    name); channels with no key are reported in :attr:`BakeResult.unmatched`. ``groups`` (channel groups,
    ``core.rigs.channel_groups``) keys only their channels. With ``layer`` the new action plays in a new NLA
    track above the animation already there, which is left as it is (``addon/layers.py``); without it the
    new action becomes the active one (the previous one is kept with a fake user). On a FLAME rig (``obj`` may be
    its mesh or its armature) the module docstring's rules apply; ``retarget`` turns an ARKit Animation
    into FLAME (default: solved from the model file the head was made from). The scene gets the
    animation's frame rate (fractional ones through ``fps_base``), its frame range, audio-synced
    playback and — with ``audio_path`` — a sound strip at ``frame_start`` replacing the one a previous
    bake added. Head rotations key the built-in head's neck pivot, the bone ``head_bone`` names (which must
    exist, even for a take without head motion) or a FLAME rig's neck (``head_motion.py``). Raises
    :class:`AviTalkError` before changing anything when the bake cannot be done."""
    scene = scene if scene is not None else bpy.context.scene
    if scene is None:
        raise AviTalkError("no scene to bake into")
    chosen = tuple(groups) if groups is not None else None
    if chosen is not None and set(chosen) >= set(GROUPS):
        chosen = None  # every group: no mask
    plan = _plan(obj, anim, audio_path, frame_start, channel_map, retarget, mapping, chosen, layer, head_bone)

    # The rate goes first: a sound strip's length in frames is fixed from it when the strip is added.
    scene.render.fps, scene.render.fps_base = plan.fps
    strip_name = _replace_sound(scene, plan.audio, frame_start) if plan.audio is not None else None
    stem = plan.audio.stem if plan.audio is not None else "take"
    name = action_name or f"AVI {stem}"
    for block in plan.sliders:
        kb = plan.key.key_blocks[block]
        kb.slider_min, kb.slider_max = min(kb.slider_min, -SLIDER_LIMIT), max(kb.slider_max, SLIDER_LIMIT)
    face_action = None
    track = None
    if plan.targets or plan.computed:  # not when only the head group is baked
        face_action = _write_action(plan.key, plan, name, frame_start, assign=layer is None)
        if layer is not None:
            rest = {_value_path(block): float(plan.key.key_blocks[block].value) for block, _ in plan.computed}
            track = layers.add_layer(plan.key, face_action, frame_start, layer, rest)
    pose_action = None
    if plan.armature is not None and plan.bone_curves:
        pose_action = _write_pose_action(plan.armature, plan, f"{name} Pose", frame_start)
    head_action = None
    if plan.pivot_head is not None and plan.head is not None:
        head_action = _write_pivot_action(plan.pivot_head, plan.head, f"{name} Head", frame_start)
    action = face_action or pose_action or head_action
    if action is None:  # _plan refuses a bake with nothing to key
        raise AviTalkError("nothing to bake")
    # the take's provenance (model, seed, instruction texts...) travels with the action, as JSON text
    action[META_PROPERTY] = json.dumps(anim.meta, default=str, ensure_ascii=False)
    action[PLACEMENT_PROPERTY] = json.dumps({"placed": len(plan.placed + plan.bone_channels),
                                             "not_placed": list(plan.unmatched), "groups": chosen, "layer": track})
    scene.frame_start = frame_start  # start before end: Blender keeps end >= start on each assignment
    scene.frame_end = plan.frame_end
    scene.sync_mode = "AUDIO_SYNC"
    return BakeResult(
        action=action,
        keyed=plan.placed + plan.bone_channels,
        unmatched=plan.unmatched,
        frame_range=(frame_start, plan.frame_end),
        sound_strip=strip_name,
        pose_action=pose_action,
        notes=plan.notes,
        left_out=plan.left_out,
        groups=chosen,
        layer=track,
        head_action=head_action,
    )
