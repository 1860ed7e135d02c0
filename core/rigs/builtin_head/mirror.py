"""Mirroring across x = 0: the vertex mirror map, symmetrising positions, mirror copies of parts and of key
deltas (the head is exactly symmetric, so every Left/Right pair mirrors bit for bit)."""

from __future__ import annotations

import numpy as np

from .mesh import MeshBuilder


def mirror_map(pos: np.ndarray, part: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Index of each vertex's mirror image across x = 0 (same part and lip side, position within 0.1 um).

    Positions are quantised twice, the second time on a half-shifted grid, so that two values an ulp
    apart on either side of a cell border still pair up."""
    n = len(pos)
    mirror = np.full(n, -1, dtype=np.int64)
    sign = np.where(np.abs(pos[:, 0]) < 1e-9, 0, np.sign(pos[:, 0])).astype(np.int64)
    todo = np.arange(n)
    for offset in (0.0, 0.5):
        q = np.floor(np.abs(pos[todo]) * [1e7, 0, 0] + pos[todo] * [0, 1e7, 1e7] + offset).astype(np.int64)
        keys = list(zip(part[todo].tolist(), side[todo].tolist(), sign[todo].tolist(), *q.T.tolist(), strict=True))
        table = dict(zip(keys, todo.tolist(), strict=True))
        for key, i in zip(keys, todo.tolist(), strict=True):
            j = table.get((key[0], key[1], -key[2], *key[3:]))
            if j is not None:
                mirror[i] = j
        todo = np.flatnonzero(mirror < 0)
        if not len(todo):
            break
    ok = not len(todo) and np.array_equal(mirror[mirror], np.arange(n))
    if not ok or np.abs(pos[mirror] * [-1, 1, 1] - pos).max() > 1e-7:
        raise AssertionError("built-in head is not mirror-symmetric")
    return mirror


def symmetrise(pos: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    mirrored = pos[mirror] * [-1.0, 1.0, 1.0]
    return 0.5 * (pos + mirrored)


def mirror_copy(mesh: MeshBuilder, first: int, last: int) -> int:
    """Append the mirror image (x -> -x) of vertices [first, last) and of their faces; returns the index shift."""
    shift = mesh.n - first
    start = 0
    blocks = []
    for k, block in enumerate(mesh.pos):
        if start >= first and start + len(block) <= last:
            blocks.append(k)
        start += len(block)
    for k in blocks:
        mesh.add(mesh.pos[k] * [-1.0, 1.0, 1.0], int(mesh.part[k][0]), mesh.side[k])
    for k in range(len(mesh.polys)):
        polys = mesh.polys[k]
        if polys.min() >= first and polys.max() < last:
            mesh.faces(polys[:, ::-1] + shift, mesh.mats[k])
    return shift


def mirror_delta(d: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    return d[mirror] * [-1.0, 1.0, 1.0]
