"""A camera, three lights and a grey world framing a head, so a baked file renders (F12) and plays
in camera view straight away. Placed relative to the head object, which faces −Y."""

from __future__ import annotations

import bpy
from mathutils import Vector

from . import compat

# (name, offset from the head origin in metres, watts, area size in metres)
_LIGHTS = (
    ("AVI Key", (0.55, -0.75, 0.45), 7.0, 0.6),
    ("AVI Fill", (-0.75, -0.55, 0.05), 2.5, 0.8),
    ("AVI Rim", (-0.25, 0.75, 0.55), 7.0, 0.4),
)
_CAMERA_OFFSET = (0.16, -0.62, 0.03)
_AIM_OFFSET = (0.0, -0.05, -0.035)
_LENS_MM = 100.0


def _track(obj: bpy.types.Object, target: bpy.types.Object) -> None:
    constraint = obj.constraints.new("TRACK_TO")
    constraint.target = target  # type: ignore[attr-defined]
    constraint.track_axis = "TRACK_NEGATIVE_Z"  # type: ignore[attr-defined]
    constraint.up_axis = "UP_Y"  # type: ignore[attr-defined]


def set_world_colour(world: bpy.types.World, rgb: tuple[float, float, float], strength: float) -> None:
    world.color = rgb
    compat.ensure_node_tree(world)
    tree = world.node_tree
    if tree is None:
        return
    background = next((n for n in tree.nodes if n.bl_idname == "ShaderNodeBackground"), None)
    if background is not None:
        background.inputs["Color"].default_value = (*rgb, 1.0)  # type: ignore[attr-defined]
        background.inputs["Strength"].default_value = strength  # type: ignore[attr-defined]


def add_preview_camera_and_light(scene: bpy.types.Scene, head: bpy.types.Object) -> bpy.types.Object:
    """Add (and make active) a camera on the face, with key/fill/rim area lights. Returns the camera."""
    origin = head.location.copy()
    aim = bpy.data.objects.new("AVI Aim", None)
    aim.location = origin + Vector(_AIM_OFFSET)
    scene.collection.objects.link(aim)
    for name, offset, watts, size in _LIGHTS:
        light = bpy.data.lights.new(name, "AREA")
        light.energy = watts  # type: ignore[attr-defined]
        light.size = size  # type: ignore[attr-defined]
        obj = bpy.data.objects.new(name, light)
        obj.location = origin + Vector(offset)
        scene.collection.objects.link(obj)
        _track(obj, aim)
    camera = bpy.data.objects.new("AVI Camera", bpy.data.cameras.new("AVI Camera"))
    camera.location = origin + Vector(_CAMERA_OFFSET)
    camera.data.lens = _LENS_MM  # type: ignore[union-attr]
    scene.collection.objects.link(camera)
    _track(camera, aim)
    scene.camera = camera
    if scene.world is None:
        scene.world = bpy.data.worlds.new("AVI World")
    set_world_colour(scene.world, (0.30, 0.32, 0.36), 0.25)
    return camera
