"""A rig mapping: each shape key ← Σ weight × channel, the baked values as one matrix product.

    mapping = RigMapping.from_dict({"browInnerUp_L": {"browInnerUp": 1}, "browInnerUp_R": {"browInnerUp": 1},
                                    "eyeBlink": {"eyeBlinkLeft": 0.5, "eyeBlinkRight": 0.5}})
    keys, values = bake_values(anim.values, anim.channels, mapping)   # values[T, len(keys)]

On disk (``--mapping FILE``, the add-on's Export/Import, and the JSON text saved on a rig object):

    {"format": "avi-talking-rig-mapping", "version": 1, "preset": "ict-facekit", "rig": "Face",
     "keys": {"browInnerUp_L": {"browInnerUp": 1.0}, ...}}

The file is complete: a channel it does not name is not placed. Like every file a user hands over it is read
strictly and bounded (``read_mapping``): at most 1 MiB, known channel names only (ARKit-52 and the head
rotations), shape-key names as Blender allows them (1-63 UTF-8 bytes, no control characters), finite weights
within ±10 (Blender's widest shape-key range), at most 1024 keys of at most 16 channels each.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..common.errors import AviTalkError, FormatError
from ..common.fileio import atomic_output, parse_json_text, read_json
from ..common.jsonspec import Int, MapOf, Num, Obj, Opt, Str, validate
from .channel_groups import KNOWN_CHANNELS

FORMAT = "avi-talking-rig-mapping"
VERSION = 1
MAX_BYTES = 1 << 20
MAX_KEYS = 1024
MAX_SOURCES = 16
WEIGHT_LIMIT = 10.0  # Blender's shape keys range over at most ±10
KEY_NAME_BYTES = 63  # Blender's names hold 63 bytes of UTF-8


def _key_name(name: str) -> str | None:
    if not name:
        return "must not be empty"
    if len(name.encode("utf-8", "surrogatepass")) > KEY_NAME_BYTES:
        return f"is longer than Blender's {KEY_NAME_BYTES} bytes for a name"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "holds a control character"
    return None


def _channel_name(name: str) -> str | None:
    return None if name in KNOWN_CHANNELS else "is not an ARKit channel (or headYaw/headPitch/headRoll)"


KEY_NAME = Str(max_len=KEY_NAME_BYTES, test=_key_name)
SOURCES = MapOf(Num(lo=-WEIGHT_LIMIT, hi=WEIGHT_LIMIT), max_items=MAX_SOURCES, key=Str(max_len=40, test=_channel_name))
SPEC = Obj({
    "format": Str(max_len=64, choices=(FORMAT,)),
    "version": Int(lo=VERSION, hi=VERSION),
    "preset": Opt(Str(max_len=64)),
    "rig": Opt(Str(max_len=KEY_NAME_BYTES)),
    "keys": MapOf(SOURCES, max_items=MAX_KEYS, key=KEY_NAME),
}, extra="refuse")

Sources = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class RigMapping:
    """``keys``: (shape key, ((channel, weight), ...)) in a stable order; ``preset``: where it came from."""

    keys: tuple[tuple[str, Sources], ...]
    preset: str = ""

    @classmethod
    def from_dict(cls, keys: Mapping[str, Mapping[str, float]], preset: str = "") -> RigMapping:
        return cls(tuple((k, tuple((c, float(w)) for c, w in src.items())) for k, src in keys.items() if src),
                   preset)

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {key: dict(sources) for key, sources in self.keys}

    def placed(self) -> set[str]:
        """The channels that drive at least one key."""
        return {c for _, sources in self.keys for c, _ in sources}

    def keys_of(self, channel: str) -> tuple[str, ...]:
        return tuple(key for key, sources in self.keys if any(c == channel for c, _ in sources))

    def restricted(self, channels: Iterable[str]) -> RigMapping:
        """Only the contributions of ``channels`` (a mask); keys left without any are dropped."""
        keep = set(channels)
        return RigMapping(tuple((k, kept) for k, src in self.keys if (kept := tuple(s for s in src if s[0] in keep))),
                          self.preset)

    def on_keys(self, blocks: Iterable[str]) -> tuple[RigMapping, tuple[str, ...]]:
        """The entries whose key the rig has, and the names of those it lacks."""
        have = set(blocks)
        missing = tuple(k for k, _ in self.keys if k not in have)
        return RigMapping(tuple(e for e in self.keys if e[0] in have), self.preset), missing

    def with_picks(self, picks: Mapping[str, str], blocks: Iterable[str]) -> RigMapping:
        """Manual picks on top (channel → one shape key; ``""`` or a key the rig lacks: not placed). A pick
        onto a key another channel still drives is an AviTalkError naming both."""
        if not picks:
            return self
        have = set(blocks)
        entries = {k: [s for s in src if s[0] not in picks] for k, src in self.keys}
        for channel, block in picks.items():
            if not block or block not in have:
                continue
            taken = entries.setdefault(block, [])
            if taken:
                raise AviTalkError(f"channels {taken[0][0]!r} and {channel!r} both map to shape key {block!r}")
            taken.append((channel, 1.0))
        return RigMapping(tuple((k, tuple(src)) for k, src in entries.items() if src), self.preset)

    def to_json(self, rig: str | None = None) -> str:
        doc: dict[str, Any] = {"format": FORMAT, "version": VERSION}
        if self.preset:
            doc["preset"] = self.preset
        if rig:
            doc["rig"] = rig
        doc["keys"] = self.as_dict()
        return json.dumps(doc, indent=1, ensure_ascii=False)


def matrix(channels: Sequence[str], mapping: RigMapping) -> tuple[tuple[str, ...], np.ndarray]:
    """``(keys, W)`` with ``W[c, k]`` the weight of ``channels[c]`` in key ``k``; channels the animation
    lacks contribute nothing, keys left with no source are dropped."""
    column = {c: i for i, c in enumerate(channels)}
    entries = [(k, [(column[c], w) for c, w in src if c in column]) for k, src in mapping.keys]
    entries = [(k, src) for k, src in entries if src]
    weights = np.zeros((len(channels), len(entries)), dtype=np.float64)
    for j, (_, src) in enumerate(entries):
        for i, w in src:
            weights[i, j] += w
    return tuple(k for k, _ in entries), weights


def bake_values(values: np.ndarray, channels: Sequence[str], mapping: RigMapping) -> tuple[tuple[str, ...], np.ndarray]:
    """The keys' curves ``values[T, C] @ W[C, K]`` (float64, so a weight-1 copy is exact), as float32.
    Only the columns some key uses enter the product, and they must be finite."""
    keys, weights = matrix(channels, mapping)
    used = np.flatnonzero(np.any(weights != 0, axis=1))
    block = np.asarray(values, dtype=np.float64)[:, used]
    if not np.isfinite(block).all():
        bad = channels[int(used[np.flatnonzero(~np.isfinite(block).all(axis=0))[0]])]
        raise AviTalkError(f"the animation's channel {bad!r} holds values that are not finite numbers")
    return keys, (block @ weights[used]).astype(np.float32)


def _from_doc(doc: dict[str, Any]) -> RigMapping:
    return RigMapping.from_dict(doc["keys"], doc.get("preset", ""))


def read_mapping(path: str | Path) -> RigMapping:
    """A mapping file, validated (module docstring); any problem is a one-line FormatError."""
    doc = read_json(Path(path), "rig mapping", SPEC, max_bytes=MAX_BYTES, max_depth=4)
    return _from_doc(doc)


def mapping_from_text(text: str, where: str) -> RigMapping:
    """The JSON text saved on a rig (a custom property), validated like a file."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BYTES:
        raise FormatError(f"{where} is larger than the 1 MiB a rig mapping may be")
    return _from_doc(validate(parse_json_text(data, where, max_depth=4), SPEC, where))


def write_mapping(mapping: RigMapping, path: str | Path, rig: str | None = None) -> None:
    """Write ``mapping`` atomically (nothing is left behind on failure)."""
    with atomic_output(path) as tmp:
        tmp.write_text(mapping.to_json(rig) + "\n", encoding="utf-8")
