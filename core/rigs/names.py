"""Matching animation channels (ARKit-52 names) to a rig's shape-key names the way rigs spell them:
any case, camelCase or snake_case, a prefix before the name (``prefix_jawOpen``, ``Face.M_jawOpen``),
and sides as words, letters or suffixes (``eyeBlinkLeft``, ``eyeBlink_L``, ``EyeBlink.l``, ``L_eyeBlink``).

    match_names(ARKIT52, ["Basis", "CC_jaw_open", "eyeBlink_L"])   # {"jawOpen": "CC_jaw_open", ...}

A name reduces to its words in lower case with the side moved to the end; a shape key matches a channel
when its words, or its words after dropping leading (prefix) words, equal the channel's. The exact name
wins, then the key that drops the fewest words; a key is never used for two channels."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b|_)|[A-Z]?[a-z]+|[A-Z]+|\d+")
_SIDES = {"l": "left", "left": "left", "r": "right", "right": "right"}


def words(name: str) -> tuple[str, ...]:
    """``"eyeBlink_L"`` → ``("eye", "blink", "left")``: lower-case words, the side (if any) last."""
    raw = [w.lower() for part in re.split(r"[^A-Za-z0-9]+", name) for w in _WORD.findall(part)]
    sides = [_SIDES[w] for w in raw if w in _SIDES]
    rest = [w for w in raw if w not in _SIDES]
    return (*rest, sides[-1]) if sides else tuple(rest)


def match_names(channels: Sequence[str], blocks: Iterable[str]) -> dict[str, str]:
    """channel → shape-key name for every channel with a match (see the module docstring)."""
    by_words: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for block in blocks:
        w = words(block)
        for drop in range(len(w)):
            by_words.setdefault(w[drop:], []).append((drop, block))
    exact = set(channels)
    result: dict[str, str] = {}
    used: set[str] = set()
    for channel in channels:
        candidates = [(block != channel, drop, block) for drop, block in by_words.get(words(channel), [])
                      if block not in used]
        if channel in exact and channel in {b for _, _, b in candidates}:
            best = channel
        elif candidates:
            best = min(candidates)[2]
        else:
            continue
        result[channel] = best
        used.add(best)
    return result


def channel_mapping(channels: Sequence[str], blocks: Iterable[str],
                    overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The automatic matches with ``overrides`` (channel → shape key; ``""`` leaves a channel unkeyed)
    on top. Clashes (two channels on one key) are left for the caller to report."""
    merged = {**match_names(channels, list(blocks)), **(overrides or {})}
    return {channel: block for channel, block in merged.items() if block}
