"""The public head: ``HeadMesh``, ``build_head`` (cached), ``deform`` (linear blend shapes) and
``FORMAT_VERSION``."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ...arkit import ARKIT52
from .assembly import assemble
from .groups import landmarks, vertex_groups
from .layout import MATERIALS
from .shape_keys import Fields, key_deltas

FORMAT_VERSION = 2
"""Bumped whenever the vertex order, the groups or the key fields change (stored on the Blender object)."""


@dataclass(frozen=True, eq=False)
class HeadMesh:
    """The built-in head. All arrays are read-only (the mesh is cached and shared).

    ``face_indices`` holds the polygon loops back to back (``face_sizes`` vertices each), ready for
    Blender's ``foreach_set``. ``shape_keys`` maps each ARKit name to its float32 ``[N, 3]`` deltas (views
    into ``key_matrix``, ``[52, N, 3]`` in ARKIT52 order). ``groups`` maps a region name to vertex indices;
    ``upper_lip_inner``/``lower_lip_inner`` are the lip contact lines, ordered from the character's left
    (+X) to the right (-X) and paired index by index (coincident at rest). ``mirror[i]`` is the vertex that
    is the mirror image of vertex ``i`` across x = 0.

    Landmarks: ``lip_upper_mid``/``lip_lower_mid`` are the vermilion borders on the mid-plane (the outer lip
    contour), ``lip_*_inner_mid`` the contact line there; ``chin`` is the front-most point of the chin and
    ``menton`` its bottom; ``eye_center_*`` is the pupil's centre on the cornea; ``upper/lower_lid_mid_*`` the
    lid margins above/below it; ``brow_inner/outer_*`` skin vertices under the ends of the brows.
    """

    vertices: np.ndarray
    face_sizes: np.ndarray
    face_indices: np.ndarray
    face_material: np.ndarray
    materials: tuple[tuple[str, tuple[float, float, float, float]], ...]
    groups: dict[str, np.ndarray]
    shape_keys: dict[str, np.ndarray]
    landmarks: dict[str, int]
    key_matrix: np.ndarray
    mirror: np.ndarray

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def n_faces(self) -> int:
        return int(self.face_sizes.shape[0])

    def loop_starts(self) -> np.ndarray:
        """Index of each polygon's first loop in ``face_indices``."""
        return np.concatenate([[0], np.cumsum(self.face_sizes)[:-1]]).astype(np.int32)

    def polygons(self) -> list[np.ndarray]:
        """The polygons as a list of vertex-index arrays (convenient, not fast)."""
        return np.split(self.face_indices, np.cumsum(self.face_sizes)[:-1])


def readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.cache
def build_head() -> HeadMesh:
    """Build (once per process) and return the built-in head. Deterministic; about 0.2 s."""
    mesh, rig = assemble()
    fields = Fields(rig)
    keys = key_deltas(rig).astype(np.float32)
    sizes = np.concatenate([np.full(len(p), p.shape[1], dtype=np.int32) for p in mesh.polys])
    indices = np.concatenate([p.ravel() for p in mesh.polys]).astype(np.int32)
    mats = np.concatenate(mesh.mats).astype(np.int32)
    readonly(keys)
    groups = {k: readonly(v) for k, v in vertex_groups(rig, fields).items()}
    return HeadMesh(
        vertices=readonly(rig.pos.astype(np.float32)),
        face_sizes=readonly(sizes),
        face_indices=readonly(indices),
        face_material=readonly(mats),
        materials=MATERIALS,
        groups=groups,
        shape_keys={name: keys[i] for i, name in enumerate(ARKIT52)},
        landmarks=landmarks(rig),
        key_matrix=keys,
        mirror=readonly(rig.mirror.astype(np.int32)),
    )


def deform(head: HeadMesh, values: np.ndarray, indices: np.ndarray | None = None) -> np.ndarray:
    """Vertex positions for ARKit weights: ``[52] -> [N, 3]`` or a batch ``[T, 52] -> [T, N, 3]`` (float32).

    Linear blend shapes, exactly what Blender shows for the same key values. ``indices`` restricts the
    output to those vertices (``[.., len(indices), 3]``). Memory: a batch costs ``T * n * 12`` bytes, about
    0.15 MB per frame for the whole head (1800 frames: ~270 MB), so pass ``indices`` for long batches.
    """
    w = np.asarray(values, dtype=np.float32)
    if w.shape[-1:] != (len(ARKIT52),) or w.ndim not in (1, 2):
        raise ValueError(f"expected weights of shape [52] or [T, 52], got {w.shape}")
    keys = head.key_matrix if indices is None else head.key_matrix[:, np.asarray(indices)]
    rest = head.vertices if indices is None else head.vertices[np.asarray(indices)]
    flat = keys.reshape(len(ARKIT52), -1)
    out = (np.atleast_2d(w) @ flat).reshape(-1, *rest.shape) + rest[None]
    return out[0] if w.ndim == 1 else out
