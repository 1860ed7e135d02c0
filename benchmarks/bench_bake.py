"""Time baking 52 ARKit channels × 1800 frames (one minute at 30 fps) onto a shape-key mesh.

Run with the bpy environment: ``python benchmarks/bench_bake.py [--frames N] [--repeat R]``.
Prints the best and median wall time of ``bake_animation`` and of the key writing alone."""

from __future__ import annotations

import argparse
import statistics
import time

import bpy
import numpy as np

from avi_talking.addon import compat
from avi_talking.addon.bake import bake_animation
from avi_talking.addon.keyframes import write_keys
from avi_talking.core.animation import Animation
from avi_talking.core.arkit import ARKIT52


def make_head():
    mesh = bpy.data.meshes.new("Head")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0)], [], [(0, 1, 2, 3)])
    obj = bpy.data.objects.new("Head", mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for name in ARKIT52:
        obj.shape_key_add(name=name, from_mix=False)
    return obj


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=1800)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = make_head()
    key = obj.data.shape_keys
    values = np.random.default_rng(0).random((args.frames, 52)).astype(np.float32)
    anim = Animation(30.0, ARKIT52, values)
    frames = 1 + np.arange(args.frames, dtype=np.float32)

    def write_only():
        action = bpy.data.actions.new("bench")
        for c, name in enumerate(ARKIT52):
            write_keys(
                compat.new_action_fcurve(action, key, f'key_blocks["{name}"].value'), frames, values[:, c]
            )

    n_keys = 52 * args.frames
    print(f"bpy {bpy.app.version_string}: {n_keys} keys (52 channels x {args.frames} frames)")
    best, median = timed(lambda: bake_animation(obj, anim), args.repeat)
    print(f"bake_animation: best {best * 1000:.1f} ms, median {median * 1000:.1f} ms")
    best, median = timed(write_only, args.repeat)
    print(f"new curves + write_keys only: best {best * 1000:.1f} ms, median {median * 1000:.1f} ms")


if __name__ == "__main__":
    main()
