"""Matching animation channels (ARKit-52 names) to a rig's shape-key names the way rigs spell them:
any case, camelCase or snake_case, a prefix before the name (``prefix_jawOpen``, ``Face.M_jawOpen``),
and sides as words, letters or suffixes (``eyeBlinkLeft``, ``eyeBlink_L``, ``EyeBlink.l``, ``L_eyeBlink``).

    match_names(ARKIT52, ["Basis", "CC_jaw_open", "eyeBlink_L"])   # {"jawOpen": "CC_jaw_open", ...}

A name reduces to its words in lower case with the side moved to the end; a shape key matches a channel
when its words, or its words after dropping leading (prefix) words, equal the channel's. The exact name
wins, then the key that drops the fewest words; a key is never used for two channels.

Beyond one to one: :func:`match_split` drives both sided keys from an unsided channel (``browInnerUp`` →
``browInnerUp_L`` + ``browInnerUp_R``), :func:`match_merged` one unsided key from a sided pair (``eyeBlink`` ←
½ ``eyeBlinkLeft`` + ½ ``eyeBlinkRight``), and :func:`find_key` looks a preset's exact spelling up on a rig
(``fit.py`` puts them together)."""

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


def _candidates(target: tuple[str, ...], by_words: dict[tuple[str, ...], list[tuple[int, str]]],
                used: set[str]) -> str | None:
    """The free key whose words (after dropping prefix words) are ``target``: fewest dropped words first."""
    found = sorted((drop, block) for drop, block in by_words.get(target, []) if block not in used)
    return found[0][1] if found else None


def _by_words(blocks: Iterable[str]) -> dict[tuple[str, ...], list[tuple[int, str]]]:
    table: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for block in blocks:
        w = words(block)
        for drop in range(len(w)):
            table.setdefault(w[drop:], []).append((drop, block))
    return table


def match_split(channels: Sequence[str], blocks: Iterable[str], used: set[str]) -> dict[str, tuple[str, str]]:
    """One channel → both sides: an unsided channel (``browInnerUp``) whose rig has only sided keys
    (``browInnerUp_L``, ``browInnerUp_R``) drives the pair. Keys in ``used`` are skipped; the pair found is
    added to it."""
    by_words = _by_words(blocks)
    result: dict[str, tuple[str, str]] = {}
    for channel in channels:
        w = words(channel)
        if not w or w[-1] in ("left", "right"):
            continue
        left = _candidates((*w, "left"), by_words, used)
        right = _candidates((*w, "right"), by_words, used)
        if left is not None and right is not None:
            result[channel] = (left, right)
            used.update((left, right))
    return result


def match_merged(channels: Sequence[str], blocks: Iterable[str], used: set[str]) -> dict[str, tuple[str, str]]:
    """Both sides → one key: a rig with a single ``eyeBlink`` key for ARKit's ``eyeBlinkLeft``/``eyeBlinkRight``
    gets key ← ½ left + ½ right. Returns key → (left channel, right channel); adds the key to ``used``."""
    by_words = _by_words(blocks)
    sides: dict[tuple[str, ...], dict[str, str]] = {}
    for channel in channels:
        w = words(channel)
        if len(w) > 1 and w[-1] in ("left", "right"):
            sides.setdefault(w[:-1], {})[w[-1]] = channel
    result: dict[str, tuple[str, str]] = {}
    for base, pair in sides.items():
        if set(pair) != {"left", "right"}:
            continue
        block = _candidates(base, by_words, used)
        if block is not None:
            result[block] = (pair["left"], pair["right"])
            used.add(block)
    return result


def flat(name: str) -> str:
    """``"CC_Base_Brow_Raise_Inner_L"`` → ``"ccbasebrowraiseinnerl"``: lower case, letters and digits only."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def find_key(name: str, blocks: Sequence[str], used: set[str]) -> str | None:
    """A preset's key name on the rig: the exact name, else the same letters and digits in any case and
    punctuation (``brow_raise_inner_l``), else with a prefix before a separator (``CC_Base_Brow_Raise_Inner_L``,
    ``Face.Brow_Raise_Inner_L``). Unlike :func:`words` this keeps which eye a look key is for
    (``Eye_L_Look_R`` ≠ ``Eye_R_Look_R``). Keys in ``used`` are skipped."""
    free = [b for b in blocks if b not in used]
    if name in free:
        return name
    target = flat(name)
    if not target:
        return None
    same = sorted(b for b in free if flat(b) == target)
    if same:
        return same[0]
    prefixed = [(len(b), b) for b in free if _ends_with(b, target)]
    return min(prefixed)[1] if prefixed else None


def _ends_with(block: str, target: str) -> bool:
    """Whether ``block`` is a prefix, a separator, then a name whose flat form is ``target``."""
    for match in re.finditer(r"[^A-Za-z0-9]+", block):
        if flat(block[match.end():]) == target:
            return True
    return False
