"""A seeded sentence generator: templates over the lexicon, for readable sentences with broad
phonetic coverage (statements, questions and exclamations, so intonation varies too)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np

from ..phonemes import ARPABET
from .lexicon import Lexicon, article, lexicon, text_phones

Slot = Callable[[np.random.Generator], str]


def _pick(words: tuple[str, ...]) -> Slot:
    return lambda rng: words[int(rng.integers(len(words)))]


class SentenceGenerator:
    """``sentence(rng)`` → one sentence. Every word comes from the CMU dictionary."""

    def __init__(self, lex: Lexicon | None = None) -> None:
        self.lex = lex or lexicon()
        lx = self.lex
        self.slots: dict[str, Slot] = {
            "name": _pick(lx.names), "name2": _pick(lx.names), "noun": _pick(lx.nouns), "noun2": _pick(lx.nouns),
            "nouns": _pick(lx.plurals), "abstract": _pick(lx.abstract), "adj": _pick(lx.adjectives),
            "adj2": _pick(lx.adjectives), "place": _pick(lx.places), "time": _pick(lx.times),
            "adv": _pick(lx.adverbs), "person": _pick(lx.people), "number": _pick(lx.numbers),
            "prep": _pick(lx.prepositions), "opener": _pick(lx.openers),
            "base": lambda rng: self._verb(rng, 0), "past": lambda rng: self._verb(rng, 1),
            "ing": lambda rng: self._verb(rng, 2),
        }

    def _verb(self, rng: np.random.Generator, form: int) -> str:
        return self.lex.verbs[int(rng.integers(len(self.lex.verbs)))][form]

    def sentence(self, rng: np.random.Generator) -> str:
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        text = re.sub(r"\{(\w+)\}", lambda m: self.slots[m.group(1)](rng), template)
        text = re.sub(r"\b([Aa])N? (\w+)", lambda m: _with_article(m.group(1), m.group(2)), text)
        return text[0].upper() + text[1:]


def _with_article(a: str, word: str) -> str:
    art = article(word)
    return f"{art.capitalize() if a.isupper() else art} {word}"


# "a" before a slot is fixed to "a"/"an" afterwards from the word's pronunciation
TEMPLATES: tuple[str, ...] = (
    "{name} {past} the {adj} {noun} {prep} the {place}.",
    "Why did the {person} {base} the {noun} so {adv}?",
    "The {adj} {noun} was {adv} {adj2} {time}.",
    "I think {name} will {base} the {noun} {time}.",
    "Please {base} the {adj} {noun} and the {noun2}.",
    "We {past} {number} {adj} {nouns} near the {place}.",
    "Have you ever seen a {adj} {noun} in the {place}?",
    "My {person} said the {noun} was {adj}.",
    "If the {noun} is {adj}, {name} will {base} it {adv}.",
    "{name} and {name2} {past} a {adj} {noun}, then went to the {place}.",
    "{opener}, the {noun} is {adj}!",
    "{opener}, {name} is {ing} the {noun} again!",
    "Nobody expected such a {adj} {abstract} at the {place}.",
    "The {abstract} of the {adj} {noun} took {number} days.",
    "Could you {base} {number} {nouns} for my {person}?",
    "Where did you put the {adj} {noun}, {name}?",
    "{name} {adv} {past} the {noun} behind the {noun2}.",
    "There were {number} {nouns} {prep} the {adj} {place}.",
    "Is the {abstract} really that {adj}?",
    "After the {abstract}, {name} {past} the {noun} {adv}.",
    "{opener}! I never {base} a {adj} {noun} {time}.",
    "The {person} was {ing} a {noun} while {name} watched {adv}.",
    "Bring the {noun} and {number} {nouns} to the {place} {time}.",
    "She {past} the {noun}, but he {past} the {adj} {noun2}.",
)


def phone_histogram(texts: Iterable[str]) -> Counter[str]:
    """Dictionary-phone counts over ``texts`` (every ARPAbet phone listed, zeros included)."""
    counts: Counter[str] = Counter({p: 0 for p in ARPABET})
    for text in texts:
        counts.update(text_phones(text))
    return counts
