"""The mesh accumulator the parts are added to, and the quad-grid / triangle-fan face helpers."""

from __future__ import annotations

import numpy as np


class MeshBuilder:
    """Vertex blocks (each vertex with a part label and a lip side: +1 upper, -1 lower, 0 neither) and face
    blocks (each face with a material), appended part by part; indices are global."""

    def __init__(self) -> None:
        self.pos: list[np.ndarray] = []
        self.part: list[np.ndarray] = []
        self.side: list[np.ndarray] = []
        self.n = 0
        self.polys: list[np.ndarray] = []
        self.mats: list[np.ndarray] = []

    def add(self, pts: np.ndarray, part: int, side: int | np.ndarray = 0) -> np.ndarray:
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
        idx = np.arange(self.n, self.n + len(pts))
        self.pos.append(pts)
        self.part.append(np.full(len(pts), part, dtype=np.int8))
        self.side.append(np.broadcast_to(np.asarray(side, dtype=np.int8), (len(pts),)).copy())
        self.n += len(pts)
        return idx

    def faces(self, polys: np.ndarray, material: int | np.ndarray) -> None:
        polys = np.asarray(polys, dtype=np.int64)
        self.polys.append(polys)
        self.mats.append(np.broadcast_to(np.asarray(material, dtype=np.int32), (len(polys),)).copy())


def grid_quads(idx: np.ndarray, wrap: bool) -> np.ndarray:
    """Quads of a [rows, cols] index grid; rows go 'up', columns 'right' (normal = right x up)."""
    a = idx[:-1]
    b = np.roll(idx, -1, axis=1)[:-1] if wrap else idx[:-1, 1:]
    c = np.roll(idx, -1, axis=1)[1:] if wrap else idx[1:, 1:]
    d = idx[1:]
    if not wrap:
        a, d = a[:, :-1], d[:, :-1]
    return np.stack([a, b, c, d], axis=-1).reshape(-1, 4)


def fan(pole: int, ring: np.ndarray, pole_after: bool) -> np.ndarray:
    """Triangles joining a closed ring to a pole; ``pole_after``: the pole lies 'up' from the ring."""
    nxt = np.roll(ring, -1)
    p = np.full_like(ring, pole)
    return np.stack([ring, nxt, p], axis=-1) if pole_after else np.stack([p, nxt, ring], axis=-1)
