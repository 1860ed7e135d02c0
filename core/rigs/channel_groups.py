"""Channel groups: which part of the face each animation channel moves, for masked bakes (``--only lips,jaw``).

Every ARKit-52 channel is in exactly one group; the head rotations (``headYaw``, ``headPitch``, ``headRoll``)
form ``head`` where an animation has them. ``mouth`` is a shorthand for lips, jaw and tongue.

    select(ARKIT52, parse_groups("lips,jaw"))   # (the 27 lip and jaw channels, the 25 others)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..arkit import ARKIT52
from ..common.errors import AviTalkError

HEAD_CHANNELS: tuple[str, ...] = ("headYaw", "headPitch", "headRoll")


def _starting(*prefixes: str) -> tuple[str, ...]:
    return tuple(n for n in ARKIT52 if n.startswith(prefixes))


GROUPS: dict[str, tuple[str, ...]] = {
    "lips": _starting("mouth"),
    "jaw": _starting("jaw"),
    "tongue": ("tongueOut",),
    "brows": _starting("brow"),
    "eyes": _starting("eyeLook", "eyeSquint", "eyeWide"),
    "blinks": _starting("eyeBlink"),
    "cheeks": _starting("cheek"),
    "nose": _starting("nose"),
    "head": HEAD_CHANNELS,
}
ALIASES: dict[str, tuple[str, ...]] = {"mouth": ("lips", "jaw", "tongue")}
KNOWN_CHANNELS: frozenset[str] = frozenset(c for names in GROUPS.values() for c in names)
_GROUP_OF = {channel: group for group, names in GROUPS.items() for channel in names}

assert sorted(c for g, names in GROUPS.items() if g != "head" for c in names) == sorted(ARKIT52)


def group_of(channel: str) -> str | None:
    """The group of a channel, or None for one outside every group (not an ARKit or head channel)."""
    return _GROUP_OF.get(channel)


def parse_groups(text: str, what: str = "channel groups") -> tuple[str, ...]:
    """``"lips, jaw"`` → ``("lips", "jaw")`` in the canonical order (aliases expanded, repeats dropped).
    An unknown or empty name is a one-line AviTalkError listing the groups."""
    names = [part.strip().lower() for part in text.split(",")]
    if not any(names):
        raise AviTalkError(f"{what} is empty: name groups such as lips,jaw ({_known()})")
    chosen: set[str] = set()
    for name in names:
        if name in GROUPS:
            chosen.add(name)
        elif name in ALIASES:
            chosen.update(ALIASES[name])
        else:
            shown = repr(name[:40]) if name else "an empty name"
            raise AviTalkError(f"{what}: {shown} is not a channel group ({_known()})")
    return tuple(g for g in GROUPS if g in chosen)


def check_groups(groups: Iterable[str]) -> tuple[str, ...]:
    """Group names given as a list (the panel, a script), checked like :func:`parse_groups`."""
    return parse_groups(",".join(groups))


def _known() -> str:
    return "the groups: " + ", ".join([*GROUPS, *(f"{a} = {'+'.join(g)}" for a, g in ALIASES.items())])


def select(channels: Sequence[str], groups: Sequence[str] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(selected, left_out)``: the channels in ``groups`` (all when ``groups`` is None) and the others,
    each in the order of ``channels``. With a mask, a channel outside every group is left out."""
    if groups is None:
        return tuple(channels), ()
    wanted = {c for g in groups for c in GROUPS[g]}
    return tuple(c for c in channels if c in wanted), tuple(c for c in channels if c not in wanted)
