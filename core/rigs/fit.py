"""Fit a rig: which shape keys the animation's channels drive, trying every preset and the name matcher.

Each preset (``presets.PRESETS``) is looked up on the rig's keys (:func:`names.find_key`: exact, any case and
punctuation, or after a prefix), then the channels it leaves are matched by name (:mod:`names`: one to one,
then an unsided channel onto both sided keys, then a sided pair onto one unsided key). The fit that places the
most channels wins; on a tie, the one whose preset placed more by itself, then the one that found more keys
by their own name rather than after a prefix (``A01_Brow_Inner_Up`` is the numbered preset's, not ARKit's with a
prefix), then the earlier preset.

    fit = fit_rig(ARKIT52, ["browInnerUp_L", "browInnerUp_R", "jawOpen", ...])
    fit.preset, fit.mapping.keys_of("browInnerUp"), fit.unplaced    # "ict-facekit", ("browInnerUp_L", ...), (...)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..common.errors import AviTalkError
from .mapping import RigMapping
from .names import find_key, flat, match_merged, match_names, match_split
from .presets import ALIASES, BY_NAME, PRESETS, Preset

NAMES_ONLY = "names"  # the fit made by the name matcher alone


@dataclass(frozen=True)
class RigFit:
    mapping: RigMapping
    preset: str  # a preset's name, or NAMES_ONLY
    unplaced: tuple[str, ...]  # channels with no key, in the order given
    by_preset: int = 0  # channels the preset's own table placed
    exact: int = 0  # keys the preset found by their own name (any case and punctuation), not after a prefix

    @property
    def label(self) -> str:
        preset = BY_NAME.get(self.preset)
        return preset.label if preset is not None else "names"


class _Builder:
    def __init__(self, channels: Sequence[str], blocks: Sequence[str]) -> None:
        self.channels, self.blocks = list(channels), list(blocks)
        self.entries: dict[str, list[tuple[str, float]]] = {}
        self.placed: set[str] = set()
        self.exact = 0

    @property
    def used(self) -> set[str]:
        return set(self.entries)

    def add(self, block: str, channel: str, weight: float = 1.0) -> None:
        self.entries.setdefault(block, []).append((channel, weight))
        self.placed.add(channel)

    def preset(self, preset: Preset) -> int:
        resolved: dict[str, str | None] = {}  # a preset name and the rig key it found (a key serves one name)
        for channel in self.channels:
            for name, weight in preset.table.get(channel, ()):
                if name not in resolved:
                    taken = self.used | {b for b in resolved.values() if b is not None}
                    found = resolved[name] = find_key(name, self.blocks, taken)
                    if found is not None and flat(found) == flat(name):
                        self.exact += 1
                block = resolved[name]
                if block is not None:
                    self.add(block, channel, weight)
        return len(self.placed)

    def names(self) -> None:
        todo = [c for c in self.channels if c not in self.placed]
        used = self.used
        for channel, block in match_names(todo, [b for b in self.blocks if b not in used]).items():
            self.add(block, channel)
        todo = [c for c in todo if c not in self.placed]
        used = self.used
        for channel, pair in match_split(todo, self.blocks, used).items():
            for block in pair:
                self.add(block, channel)
        todo = [c for c in todo if c not in self.placed]
        for block, (left, right) in match_merged(todo, self.blocks, used).items():
            self.add(block, left, 0.5)
            self.add(block, right, 0.5)

    def result(self, preset: str, by_preset: int) -> RigFit:
        order = {c: i for i, c in enumerate(self.channels)}
        ranked = sorted(self.entries.items(), key=lambda e: (min(order[c] for c, _ in e[1]), e[0]))
        mapping = RigMapping(tuple((block, tuple(src)) for block, src in ranked), preset)
        unplaced = tuple(c for c in self.channels if c not in self.placed)
        return RigFit(mapping, preset, unplaced, by_preset, self.exact)


def fit_with(channels: Sequence[str], blocks: Sequence[str], preset: str) -> RigFit:
    """The fit through one preset (or an alias; ``names`` for the name matcher alone), then the name matcher
    for what it leaves."""
    builder = _Builder(channels, blocks)
    if preset == NAMES_ONLY:
        builder.names()
        return builder.result(NAMES_ONLY, 0)
    chosen = BY_NAME.get(ALIASES.get(preset, preset))
    if chosen is None:
        known = ", ".join([NAMES_ONLY, *BY_NAME, *ALIASES])
        raise AviTalkError(f"no rig preset {preset[:40]!r} (the presets: {known})")
    by_preset = builder.preset(chosen)
    builder.names()
    return builder.result(chosen.name, by_preset)


def fit_rig(channels: Sequence[str], blocks: Sequence[str], preset: str | None = None) -> RigFit:
    """The best fit of ``channels`` onto the rig's keys ``blocks`` (module docstring); with ``preset`` only
    that one (then the name matcher)."""
    if preset is not None:
        return fit_with(channels, blocks, preset)
    fits = [fit_with(channels, blocks, p.name) for p in PRESETS] + [fit_with(channels, blocks, NAMES_ONLY)]
    count = len(channels)
    return max(fits, key=lambda f: (count - len(f.unplaced), f.by_preset, f.exact, -fits.index(f)))


def preset_counts(channels: Sequence[str], blocks: Sequence[str]) -> dict[str, int]:
    """How many of ``channels`` each preset places on the rig by its own table (no name matching)."""
    counts: dict[str, int] = {}
    for preset in PRESETS:
        counts[preset.name] = _Builder(channels, blocks).preset(preset)
    return counts
