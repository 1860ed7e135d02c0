"""Mutating JSON documents at any path, for the fuzz tests of the JSON readers."""

from __future__ import annotations

import copy
from typing import Any


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value, the root included."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def mutate(doc: Any, path: tuple[Any, ...], kind: str, new: Any, key: str) -> Any:
    """A copy of ``doc`` with the value at ``path`` replaced, deleted, wrapped, doubled or given a key."""
    doc = copy.deepcopy(doc)
    if not path:
        return new if kind == "replace" else [doc] if kind == "wrap" else doc
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if kind == "replace":
        parent[last] = new
    elif kind == "delete":
        del parent[last]
    elif kind == "wrap":
        parent[last] = [parent[last]] if isinstance(new, list) else {"v": parent[last]}
    elif kind == "double" and isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    elif isinstance(parent[last], dict):
        parent[last][key] = new
    return doc
