"""Render the built-in head with Cycles on the CPU: a neutral frame and a contact sheet of expressions.

    .venv/bin/python scripts/render_head.py OUT_DIR [--samples 16] [--size 480]
    .venv/bin/python scripts/render_head.py OUT_DIR --only "jawOpen=1,mouthClose=1" --view mouth
    .venv/bin/python scripts/render_head.py OUT_DIR --baked out/sample.blend --frames 20,45,70,95
    .venv/bin/python scripts/render_head.py OUT_DIR --emotions emotions.json   # from bench_emotion_prototypes.py

Writes OUT_DIR/head_neutral.png and OUT_DIR/head_expressions.png (the pictures in docs/images/), or with
``--only`` a single OUT_DIR/only.png, or with ``--emotions`` OUT_DIR/emotions.png (each emotion's mid-speech
frame as stage 2 made it from a bare "An angry person speaks."). Needs the bpy module (pip install bpy) and
the project installed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from avi_talking.addon import compat
from avi_talking.addon.head import build_head_object
from avi_talking.addon.preview_scene import add_preview_camera_and_light
from avi_talking.core.arkit import ARKIT52

EXPRESSIONS: tuple[tuple[str, dict[str, float]], ...] = (
    ("neutral", {}),
    ("jawOpen", {"jawOpen": 1.0}),
    ("mouthSmile L+R", {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0}),
    ("eyeBlink L+R", {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    ("browInnerUp", {"browInnerUp": 1.0}),
    ("mouthFunnel", {"mouthFunnel": 1.0}),
    ("jawOpen+mouthClose 0.6", {"jawOpen": 0.6, "mouthClose": 0.6}),
    ("tongueOut+jawOpen 0.4", {"tongueOut": 1.0, "jawOpen": 0.4}),
)

# camera location, target, focal length (mm)
VIEWS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float], float]] = {
    "portrait": ((0.36, -0.78, 0.08), (0.0, 0.0, -0.02), 90.0),
    "face": ((0.16, -0.62, 0.03), (0.0, -0.05, -0.035), 100.0),
    "front": ((0.0, -0.85, 0.0), (0.0, 0.0, -0.02), 90.0),
    "front_face": ((0.0, -0.62, 0.02), (0.0, -0.05, -0.025), 105.0),
    "side": ((0.85, -0.02, 0.0), (0.0, 0.0, -0.02), 90.0),
    "mouth": ((0.05, -0.45, -0.09), (0.0, -0.07, -0.066), 120.0),
    "eye": ((0.09, -0.42, 0.02), (0.032, -0.07, 0.0), 150.0),
    "inner": ((0.25, -0.40, 0.05), (0.015, -0.07, 0.0), 150.0),
}


def setup_scene(samples: int, size: int) -> tuple[bpy.types.Object, bpy.types.Object]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    head = build_head_object(scene.collection)
    camera = add_preview_camera_and_light(scene, head)
    configure_render(scene, samples, size)
    return head, camera


def configure_render(scene: bpy.types.Scene, samples: int, size: int) -> None:
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = True  # switched off in render() if this build has no denoiser
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.compression = 100
    scene.view_settings.view_transform = "Standard"


def render_baked(blend: Path, frames: list[int], out: Path, samples: int, size: int) -> None:
    """A strip of frames from a baked file (as written by ``avitalk bake``), left to right."""
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    configure_render(scene, samples, size)
    scene.render.use_stamp = True  # burn the frame number in, so the strip reads against the curves
    scene.render.use_stamp_frame = True
    for field in ("use_stamp_date", "use_stamp_time", "use_stamp_render_time", "use_stamp_filename",
                  "use_stamp_camera", "use_stamp_scene", "use_stamp_memory", "use_stamp_lens"):
        setattr(scene.render, field, False)
    scene.render.stamp_font_size = 14
    tiles = []
    for frame in frames:
        scene.frame_set(frame)
        tile = out.with_name(f"frame_{frame}.png")
        tiles.append(render(tile))
        tile.unlink()
    save_png(np.concatenate(tiles, axis=1), out)


def set_view(camera: bpy.types.Object, view: str) -> None:
    loc, aim, lens = VIEWS[view]
    camera.location = loc
    camera.constraints[0].target.location = aim
    camera.data.lens = lens


def set_expression(head: bpy.types.Object, weights: dict[str, float]) -> None:
    blocks = head.data.shape_keys.key_blocks
    for name in ARKIT52:
        blocks[name].value = weights.get(name, 0.0)


def render(path: Path) -> np.ndarray:
    scene = bpy.context.scene
    scene.render.filepath = str(path)
    try:
        bpy.ops.render.render(write_still=True)
    except RuntimeError:
        if not scene.cycles.use_denoising:
            raise
        scene.cycles.use_denoising = False  # no OpenImageDenoise in this build
        bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(str(path), check_existing=False)
    pixels = np.empty(image.size[0] * image.size[1] * 4, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    out = pixels.reshape(image.size[1], image.size[0], 4)
    bpy.data.images.remove(image)
    return out


def label(head: bpy.types.Object, text: str) -> bpy.types.Object:
    """A caption floating below the chin, facing the camera."""
    curve = bpy.data.curves.new("AVI Label", "FONT")
    curve.body = text
    curve.size = 0.011
    curve.align_x = "CENTER"
    obj = bpy.data.objects.new("AVI Label", curve)
    obj.location = (0.0, -0.125, -0.118)
    obj.rotation_euler = (math.radians(82), 0.0, math.radians(12))
    mat = bpy.data.materials.new("AVI Label")
    mat.diffuse_color = (1, 1, 1, 1)
    compat.ensure_node_tree(mat)
    nodes = mat.node_tree.nodes
    bsdf = next(n for n in nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    bsdf.inputs["Base Color"].default_value = (0.95, 0.95, 0.95, 1.0)
    curve.materials.append(mat)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def save_png(pixels: np.ndarray, path: Path) -> None:
    h, w = pixels.shape[:2]
    image = bpy.data.images.new("AVI Sheet", width=w, height=h, alpha=False)
    image.pixels.foreach_set(pixels.ravel())
    image.filepath_raw = str(path)
    image.file_format = "PNG"
    image.save()
    bpy.data.images.remove(image)


def render_emotions(head: bpy.types.Object, camera: bpy.types.Object, data: dict[str, Any], out: Path,
                    tile: int) -> None:
    """A 4 × 2 sheet: each emotion's mid-speech frame from the front, captioned with its name and intensity (drawn with
    Pillow under the tile: a caption in the scene would sit on the chin)."""
    from PIL import Image, ImageDraw, ImageFont

    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = tile
    set_view(camera, "front_face")
    caption_h = max(tile // 7, 16)
    font = ImageFont.load_default(size=int(caption_h * 0.7))
    cols = 4
    names = list(data["emotions"])
    sheet = Image.new("RGB", (cols * tile, math.ceil(len(names) / cols) * (tile + caption_h)), (40, 42, 46))
    draw = ImageDraw.Draw(sheet)
    for i, emotion in enumerate(names):
        set_expression(head, dict(zip(ARKIT52, data["emotions"][emotion]["mid_frame"], strict=True)))
        pixels = render(out.with_name(f"tile_{i}.png"))
        out.with_name(f"tile_{i}.png").unlink()
        rgb = (np.clip(pixels[::-1, :, :3], 0.0, 1.0) * 255).round().astype(np.uint8)
        x, y = (i % cols) * tile, (i // cols) * (tile + caption_h)
        sheet.paste(Image.fromarray(rgb), (x, y))
        intensity = float(data["emotions"][emotion]["instruction"]["intensity"])
        caption = emotion if emotion == "neutral" else f"{emotion} {intensity:.2f}"
        draw.text((x + tile / 2, y + tile + caption_h / 2), caption, fill=(235, 235, 235), font=font, anchor="mm")
    sheet.save(out, optimize=True)


def parse_weights(text: str) -> dict[str, float]:
    out = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if name not in ARKIT52:
            raise SystemExit(f"error: unknown shape key {name!r}")
        out[name] = float(value or 1.0)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--size", type=int, default=480, help="neutral frame size (px)")
    parser.add_argument("--tile", type=int, default=200, help="contact sheet tile size (px)")
    parser.add_argument("--only", help="render one expression, e.g. 'jawOpen=1,mouthClose=1'")
    parser.add_argument("--view", default="portrait", choices=sorted(VIEWS))
    parser.add_argument("--baked", type=Path, help="render frames of this baked .blend instead")
    parser.add_argument("--frames", default="20,45,70,95", help="frames for --baked")
    parser.add_argument("--emotions", type=Path, help="render the frames of this bench_emotion_prototypes.py JSON")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.baked is not None:
        start = time.perf_counter()
        out = args.out_dir / "baked_frames.png"
        render_baked(args.baked, [int(f) for f in args.frames.split(",")], out, args.samples, args.tile)
        print(f"rendered {out} in {time.perf_counter() - start:.1f} s")
        return 0
    head, camera = setup_scene(args.samples, args.size)
    start = time.perf_counter()
    if args.emotions is not None:
        render_emotions(head, camera, json.loads(args.emotions.read_text()), args.out_dir / "emotions.png", args.tile)
        print(f"rendered {args.out_dir / 'emotions.png'} in {time.perf_counter() - start:.1f} s")
        return 0
    if args.only is not None:
        set_view(camera, args.view)
        set_expression(head, parse_weights(args.only))
        render(args.out_dir / "only.png")
        print(f"rendered {args.out_dir / 'only.png'} in {time.perf_counter() - start:.1f} s")
        return 0

    set_view(camera, args.view)
    render(args.out_dir / "head_neutral.png")
    print(f"neutral: {time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    scene = bpy.context.scene
    scene.render.resolution_x = scene.render.resolution_y = args.tile
    set_view(camera, "face")
    tiles = []
    for i, (text, weights) in enumerate(EXPRESSIONS):
        caption = label(head, text)
        set_expression(head, weights)
        tiles.append(render(args.out_dir / f"tile_{i}.png"))
        bpy.data.objects.remove(caption)
        (args.out_dir / f"tile_{i}.png").unlink()
    cols = 4
    rows = [np.concatenate(tiles[r * cols : (r + 1) * cols], axis=1) for r in range(math.ceil(len(tiles) / cols))]
    sheet = np.concatenate(rows[::-1], axis=0)  # Blender images are stored bottom row first
    save_png(sheet, args.out_dir / "head_expressions.png")
    print(f"contact sheet: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
