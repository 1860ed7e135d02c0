"""Bake an :class:`~..core.animation.Animation` onto an object's shape keys, with its sound strip.

Animation frame ``t`` (time ``t / fps`` from the audio start) lands on Blender frame ``frame_start + t``.
Everything that can go wrong for the user is checked before the scene is touched (validate, then write),
so a failed bake leaves no half-made action, strip or frame-rate change behind.

Values are keyed exactly as the Animation holds them, with no clamping: a key block's
``slider_min``/``slider_max`` is the rig's business (Blender clamps the evaluated value to it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import bpy
import numpy as np

from ..core.animation import Animation, normalize_fps
from ..core.errors import AviTalkError
from . import compat
from .keyframes import write_keys

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


@dataclass(frozen=True)
class _Plan:
    """What a bake will write, worked out (and validated) before anything is changed."""

    key: bpy.types.Key
    targets: tuple[tuple[int, str, str], ...]  # (column in anim.values, channel, key block name)
    unmatched: tuple[str, ...]
    fps: tuple[int, float]
    frame_end: int
    audio: Path | None


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
    if not key.is_editable:
        raise AviTalkError(f"the shape keys of {obj.name!r} are linked from a library and cannot be keyed")
    ad = key.animation_data
    if ad is not None and ad.use_tweak_mode:
        raise AviTalkError(f"the shape keys of {obj.name!r} are in NLA tweak mode: leave it before baking")
    return key


def _match_channels(
    key: bpy.types.Key, anim: Animation, channel_map: Mapping[str, str] | None
) -> tuple[tuple[tuple[int, str, str], ...], tuple[str, ...]]:
    """Pair Animation channels with key blocks by exact name or through ``channel_map``.

    The reference key (Basis) is never a target: keying it does not deform anything."""
    blocks = {kb.name for kb in key.key_blocks} - {key.reference_key.name}
    mapping = channel_map or {}
    targets: list[tuple[int, str, str]] = []
    unmatched: list[str] = []
    claimed: dict[str, str] = {}
    for column, channel in enumerate(anim.channels):
        block = mapping.get(channel, channel)
        if block not in blocks:
            unmatched.append(channel)
            continue
        if block in claimed:
            raise AviTalkError(f"channels {claimed[block]!r} and {channel!r} both map to shape key {block!r}")
        claimed[block] = channel
        targets.append((column, channel, block))
    if not targets:
        example = ", ".join(repr(c) for c in anim.channels[:3])
        raise AviTalkError(
            f"none of the animation's {len(anim.channels)} channels ({example}, ...) matches a shape key "
            f"on {key.user.name!r}: check the channel mapping"
        )
    return tuple(targets), tuple(unmatched)


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


def _plan(
    obj: bpy.types.Object | None,
    anim: Animation,
    audio_path: str | Path | None,
    frame_start: int,
    channel_map: Mapping[str, str] | None,
) -> _Plan:
    key = _shape_key(obj)
    if anim.n_frames < 1:
        raise AviTalkError("the animation has no frames")
    max_frame = cast(bpy.types.IntProperty, bpy.types.Scene.bl_rna.properties["frame_end"]).hard_max
    frame_end = frame_start + anim.n_frames - 1
    if frame_start < 0 or frame_end > max_frame:
        raise AviTalkError(f"frames {frame_start}..{frame_end} are outside Blender's range 0..{max_frame}")
    fps = fps_settings(anim.fps)  # raises FormatError (an AviTalkError) for rates outside 1..240
    targets, unmatched = _match_channels(key, anim, channel_map)
    audio = _check_audio(audio_path) if audio_path is not None else None
    return _Plan(key, targets, unmatched, fps, frame_end, audio)


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


def _write_action(key: bpy.types.Key, anim: Animation, plan: _Plan, name: str, frame_start: int) -> Any:
    """A new action with one curve per target, assigned to ``key``; the previous action is kept."""
    action = bpy.data.actions.new(name)  # Blender makes the name unique: nothing is overwritten
    frames = frame_start + np.arange(anim.n_frames, dtype=np.float32)
    for column, _channel, block in plan.targets:
        data_path = f'key_blocks["{bpy.utils.escape_identifier(block)}"].value'
        write_keys(compat.new_action_fcurve(action, key, data_path), frames, anim.values[:, column])
    previous = key.animation_data.action if key.animation_data is not None else None
    if previous is not None:
        previous.use_fake_user = True  # unassigned, it would otherwise be dropped on save
    compat.assign_action(key, action)
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
) -> BakeResult:
    """Key ``anim`` onto the shape keys of ``obj`` as a new action and set the scene up to play it.

    Channels match key blocks by exact name, or through ``channel_map`` (channel → key block name);
    channels with no match are reported in :attr:`BakeResult.unmatched`. The scene gets the
    animation's frame rate (fractional ones through ``fps_base``), its frame range, audio-synced
    playback and — with ``audio_path`` — a sound strip at ``frame_start`` replacing the one a previous
    bake added. Raises :class:`AviTalkError` before changing anything when the bake cannot be done."""
    scene = scene if scene is not None else bpy.context.scene
    if scene is None:
        raise AviTalkError("no scene to bake into")
    plan = _plan(obj, anim, audio_path, frame_start, channel_map)

    # The rate goes first: a sound strip's length in frames is fixed from it when the strip is added.
    scene.render.fps, scene.render.fps_base = plan.fps
    strip_name = _replace_sound(scene, plan.audio, frame_start) if plan.audio is not None else None
    stem = plan.audio.stem if plan.audio is not None else "take"
    action = _write_action(plan.key, anim, plan, action_name or f"AVI {stem}", frame_start)
    scene.frame_start = frame_start  # start before end: Blender keeps end >= start on each assignment
    scene.frame_end = plan.frame_end
    scene.sync_mode = "AUDIO_SYNC"
    return BakeResult(
        action=action,
        keyed=tuple(channel for _column, channel, _block in plan.targets),
        unmatched=plan.unmatched,
        frame_range=(frame_start, plan.frame_end),
        sound_strip=strip_name,
    )
