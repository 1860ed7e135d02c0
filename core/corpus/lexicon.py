"""Words for the sentence generator, checked against pocketsphinx's CMU dictionary.

The hand-made lists give readable sentences; every word must be in ``cmudict-en-us.dict`` (so the
aligner knows it and we know its phones). The dictionary also supplies a family of abstract nouns
(words ending in -tion) for a broad vocabulary, and the pronunciations used for "a"/"an" and for
the phone-coverage check. Rare phones (ZH, OY, UH, TH, DH, JH, NG) have words chosen for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from ..phonemes import ARPABET, VOWELS, normalize_arpabet

NAMES = (
    "Bob", "Pam", "Maria", "John", "Peter", "Molly", "George", "Judy", "Sam", "Zoe", "Joyce", "Roy",
    "Ethan", "Thomas", "Emma", "Oliver", "Sophia", "Lucas", "Mia", "Noah", "Ava", "Liam", "Isabel",
    "Jack", "Grace", "Henry", "Chloe", "Owen", "Ruby", "Victor", "Nora", "Walter", "Paula", "Martin",
    "Vera", "Hugo", "Gary", "Beth", "Frank", "Jenny", "Arthur", "Helen", "Kevin", "Laura", "Simon",
    "Rachel", "David", "Judith", "Benjamin", "Joanna", "Matthew", "Yvonne", "Usha", "Boyd",
)  # fmt: skip

NOUNS = (
    "apple", "baby", "bag", "ball", "basket", "bed", "bell", "bench", "bicycle", "bird", "blanket", "boat",
    "book", "bottle", "box", "boy", "bread", "bridge", "brush", "bucket", "butter", "button", "cabin",
    "cake", "camera", "candle", "car", "card", "carpet", "cat", "chair", "cheese", "chicken", "child",
    "clock", "cloud", "coat", "coffee", "coin", "cookie", "cup", "curtain", "desk", "dog", "doll", "door",
    "dress", "drum", "egg", "engine", "envelope", "feather", "fence", "fish", "flag", "flower", "football",
    "fork", "fox", "frog", "garage", "gate", "gift", "girl", "glass", "glove", "goat", "guitar", "hammer",
    "hat", "horse", "house", "jacket", "jar", "jewel", "juice", "kettle", "key", "kite", "knife", "ladder",
    "lamp", "leaf", "letter", "lemon", "map", "match", "melon", "milk", "mirror", "monkey", "moon",
    "mouse", "mug", "nail", "needle", "nest", "note", "oven", "owl", "package", "paint", "pan", "paper",
    "parcel", "pear", "pen", "pencil", "penny", "pepper", "piano", "picture", "pie", "pillow", "pipe",
    "plate", "pocket", "pony", "potato", "puppy", "purse", "puzzle", "rabbit", "radio", "ring", "robot",
    "rope", "rose", "sandwich", "saucer", "scarf", "shoe", "shovel", "soup", "spoon", "stamp", "stone",
    "sugar", "suitcase", "sweater", "table", "teapot", "ticket", "tiger", "toy", "towel", "tractor",
    "treasure", "tree", "truck", "trumpet", "umbrella", "vase", "violin", "wagon", "wallet", "watch",
    "whistle", "window", "wolf", "yacht", "zebra", "zipper", "television", "measure", "voice", "choice",
    "noise", "oyster", "cushion", "badge", "judge", "wood", "hook", "thumb", "feather", "mouth", "path",
    "tooth", "rhythm", "thing", "song", "king", "wing", "anchor", "orange", "onion", "island",
)  # fmt: skip

# (base, past, -ing)
VERBS = (
    ("bring", "brought", "bringing"), ("buy", "bought", "buying"), ("carry", "carried", "carrying"),
    ("catch", "caught", "catching"), ("check", "checked", "checking"), ("clean", "cleaned", "cleaning"),
    ("close", "closed", "closing"), ("cook", "cooked", "cooking"), ("cover", "covered", "covering"),
    ("draw", "drew", "drawing"), ("drop", "dropped", "dropping"), ("find", "found", "finding"),
    ("fix", "fixed", "fixing"), ("follow", "followed", "following"), ("grab", "grabbed", "grabbing"),
    ("hide", "hid", "hiding"), ("hold", "held", "holding"), ("keep", "kept", "keeping"),
    ("kick", "kicked", "kicking"), ("lift", "lifted", "lifting"), ("lose", "lost", "losing"),
    ("move", "moved", "moving"), ("open", "opened", "opening"), ("paint", "painted", "painting"),
    ("pack", "packed", "packing"), ("pass", "passed", "passing"), ("pick", "picked", "picking"),
    ("pull", "pulled", "pulling"), ("push", "pushed", "pushing"), ("sell", "sold", "selling"),
    ("send", "sent", "sending"), ("share", "shared", "sharing"), ("show", "showed", "showing"),
    ("steal", "stole", "stealing"), ("take", "took", "taking"), ("throw", "threw", "throwing"),
    ("touch", "touched", "touching"), ("wash", "washed", "washing"), ("watch", "watched", "watching"),
    ("wrap", "wrapped", "wrapping"), ("borrow", "borrowed", "borrowing"), ("measure", "measured", "measuring"),
    ("enjoy", "enjoyed", "enjoying"), ("join", "joined", "joining"), ("push", "pushed", "pushing"),
    ("judge", "judged", "judging"), ("build", "built", "building"), ("break", "broke", "breaking"),
    ("bake", "baked", "baking"), ("polish", "polished", "polishing"), ("weigh", "weighed", "weighing"),
    ("thank", "thanked", "thanking"), ("shake", "shook", "shaking"), ("visit", "visited", "visiting"),
    ("remember", "remembered", "remembering"), ("describe", "described", "describing"),
    ("mention", "mentioned", "mentioning"), ("notice", "noticed", "noticing"), ("repair", "repaired", "repairing"),
    ("deliver", "delivered", "delivering"), ("examine", "examined", "examining"), ("smell", "smelled", "smelling"),
)  # fmt: skip

ADJECTIVES = (
    "big", "small", "old", "new", "red", "blue", "green", "yellow", "purple", "brown", "white", "black",
    "heavy", "light", "warm", "cold", "wet", "dry", "soft", "hard", "bright", "dark", "quiet", "loud",
    "clean", "dirty", "empty", "full", "broken", "shiny", "strange", "funny", "lovely", "ugly", "tiny",
    "huge", "cheap", "expensive", "fresh", "rotten", "sweet", "bitter", "smooth", "rough", "narrow",
    "wide", "famous", "beautiful", "wooden", "golden", "silver", "plastic", "paper", "usual", "unusual",
    "beige", "noisy", "royal", "joyful", "thin", "thick", "smooth", "enormous", "delicious", "ordinary",
    "mysterious", "peculiar", "pleasant", "awful", "comfortable", "careful", "gentle", "ancient", "modern",
)  # fmt: skip

PLACES = (
    "kitchen", "garden", "station", "museum", "library", "harbor", "village", "market", "office",
    "school", "bakery", "garage", "hospital", "airport", "theater", "church", "river", "beach", "forest",
    "mountain", "valley", "bridge", "corner", "hallway", "basement", "attic", "bathroom", "bedroom",
    "playground", "factory", "castle", "palace", "studio", "cinema", "hotel", "restaurant", "stadium",
    "treasury", "pharmacy", "laboratory", "farm", "zoo", "city", "park", "shop", "street", "square",
)  # fmt: skip

TIMES = (
    "this morning", "last night", "tomorrow", "on Monday", "on Tuesday", "on Wednesday", "on Thursday",
    "on Friday", "on Saturday", "on Sunday", "yesterday", "at noon", "at midnight", "in the evening",
    "after lunch", "before dinner", "last summer", "next winter", "every weekend", "in June", "in August",
)  # fmt: skip

ADVERBS = (
    "quickly", "slowly", "quietly", "loudly", "carefully", "suddenly", "gently", "happily", "sadly",
    "badly", "easily", "finally", "nearly", "really", "probably", "usually", "honestly", "eagerly",
    "bravely", "calmly", "proudly", "secretly", "politely", "roughly", "smoothly", "nervously",
)  # fmt: skip

PEOPLE = (
    "mother", "father", "brother", "sister", "uncle", "aunt", "neighbor", "teacher", "boss", "friend",
    "cousin", "doctor", "driver", "baker", "farmer", "lawyer", "nurse", "plumber", "pilot", "grandmother",
)  # fmt: skip

NUMBERS = (
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "twenty", "thirty", "forty", "fifty", "a hundred", "a dozen", "several", "many", "a few",
)  # fmt: skip

PREPOSITIONS = ("near", "behind", "inside", "under", "beside", "beyond", "above", "below", "outside",
                "across", "through", "toward", "around")  # fmt: skip

OPENERS = ("Oh", "Well", "Wow", "Look", "Honestly", "Really", "Listen", "Hey", "Yes", "No", "Hmm",
           "Oh no", "Good grief", "Of course", "Believe me")  # fmt: skip


@cache
def cmudict() -> dict[str, tuple[str, ...]]:
    """Word → ARPAbet phones (first pronunciation, stress removed) from pocketsphinx's dictionary."""
    from pocketsphinx import get_model_path

    pron: dict[str, tuple[str, ...]] = {}
    with open(get_model_path("en-us/cmudict-en-us.dict"), encoding="utf-8") as fh:
        for line in fh:
            word, *phones = line.split()
            if "(" in word or word in pron:
                continue
            pron[word] = tuple(normalize_arpabet(p) for p in phones)
    return pron


def pronounce(word: str) -> tuple[str, ...]:
    return cmudict().get(word.lower(), ())


def known(word: str) -> bool:
    return all(part.lower() in cmudict() for part in word.split())


def article(word: str) -> str:
    """'a' or 'an' from the word's first phone (an hour, a unicorn)."""
    phones = pronounce(word.split()[0])
    return "an" if phones and phones[0] in VOWELS else "a"


_IRREGULAR = {"child": "children", "mouse": "mice", "tooth": "teeth", "fish": "fish", "knife": "knives",
              "leaf": "leaves", "wolf": "wolves", "scarf": "scarves", "mouth": "mouths", "foot": "feet"}


def plural(noun: str) -> str | None:
    """The plural, if the dictionary knows it."""
    if noun in _IRREGULAR:
        form = _IRREGULAR[noun]
    elif re.search(r"(s|x|z|ch|sh)$", noun):
        form = noun + "es"
    elif re.search(r"[^aeiou]y$", noun):
        form = noun[:-1] + "ies"
    else:
        form = noun + "s"
    return form if form in cmudict() else None


@dataclass(frozen=True)
class Lexicon:
    names: tuple[str, ...]
    nouns: tuple[str, ...]
    plurals: tuple[str, ...]
    abstract: tuple[str, ...]
    verbs: tuple[tuple[str, str, str], ...]
    adjectives: tuple[str, ...]
    places: tuple[str, ...]
    times: tuple[str, ...]
    adverbs: tuple[str, ...]
    people: tuple[str, ...]
    numbers: tuple[str, ...]
    prepositions: tuple[str, ...]
    openers: tuple[str, ...]


def _keep(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w for w in words if known(w)))


@cache
def lexicon() -> Lexicon:
    nouns = _keep(NOUNS)
    plurals = tuple(p for p in (plural(n) for n in nouns) if p)
    # abstract nouns straight from the dictionary, for breadth: plain -tion words of 7-12 letters
    abstract = tuple(w for w in sorted(cmudict()) if re.fullmatch(r"[a-z]{3,8}tion", w) and len(w) >= 7)
    verbs = tuple(dict.fromkeys(v for v in VERBS if all(known(f) for f in v)))
    return Lexicon(_keep(NAMES), nouns, plurals, abstract, verbs, _keep(ADJECTIVES), _keep(PLACES),
                   _keep(TIMES), _keep(ADVERBS), _keep(PEOPLE), _keep(NUMBERS), _keep(PREPOSITIONS),
                   _keep(OPENERS))


def text_phones(text: str) -> list[str]:
    """Dictionary phones of a sentence (words the dictionary lacks are skipped)."""
    out: list[str] = []
    for word in re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower()):
        out.extend(p for p in pronounce(word) if p in ARPABET)
    return out
