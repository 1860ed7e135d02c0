"""The intensity adverbs: seven equal bins of the 0..1 scale, each read back as its centre. A leaf module so
that the text generator (``text``) and the emotion prototypes (``prototypes``) can both use it."""

from __future__ import annotations

# (upper bound of the bin, adverb); the bin centre is the value a parser gives the adverb back
ADVERBS: tuple[tuple[float, str], ...] = (
    (1 / 7, "barely"), (2 / 7, "slightly"), (3 / 7, "mildly"), (4 / 7, "fairly"),
    (5 / 7, "quite"), (6 / 7, "strongly"), (1.0, "extremely"),
)  # fmt: skip
ADVERB_VALUE: dict[str, float] = {word: (k + 0.5) / len(ADVERBS) for k, (_, word) in enumerate(ADVERBS)}
MIN_AU = 0.02  # AUs weaker than this are not worth a phrase (the text leaves them out)


def adverb(value: float) -> str:
    for upper, word in ADVERBS:
        if value <= upper + 1e-9:
            return word
    return ADVERBS[-1][1]


def bin_centre(value: float) -> float:
    """``value`` moved to the centre of its adverb's bin (what the text keeps of it)."""
    return ADVERB_VALUE[adverb(value)]
