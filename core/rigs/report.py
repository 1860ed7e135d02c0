"""How a bake says what it placed, the same words on the CLI, in batch summaries and in the panel:

    baked 50 of 52 channels; not placed: tongueOut, cheekSquintLeft
    baked 27 of 27 channels (lips, jaw)
"""

from __future__ import annotations

from collections.abc import Sequence


def channels_phrase(placed: int, unplaced: Sequence[str], groups: Sequence[str] | None = None) -> str:
    """``"50 of 52 channels"``, with the masked groups in brackets: the channels a bake was asked to key
    (all of the animation's, or those of ``groups``) and how many of them found a shape key."""
    text = f"{placed} of {placed + len(unplaced)} channels"
    return f"{text} ({', '.join(groups)})" if groups else text


def unplaced_phrase(unplaced: Sequence[str]) -> str:
    """``"; not placed: tongueOut, cheekSquintLeft"``, or nothing when every channel was placed."""
    return f"; not placed: {', '.join(unplaced)}" if unplaced else ""


def placement_line(placed: int, unplaced: Sequence[str], groups: Sequence[str] | None = None) -> str:
    """``"baked 50 of 52 channels; not placed: tongueOut, cheekSquintLeft"``."""
    return f"baked {channels_phrase(placed, unplaced, groups)}{unplaced_phrase(unplaced)}"
