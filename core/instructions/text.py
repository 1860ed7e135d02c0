"""Structure → text, deterministically, in the AVI-Talking style: an emotion word, then FACS
action-unit phrases with intensity adverbs.

    "An angry person speaks with brow quite lowered, lips strongly pressed and upper lids slightly raised."

Adverbs name seven equal bins of the 0..1 intensity scale (``ADVERBS``); a parser (later) reads an
adverb back as its bin centre, so text → structure → text is stable. Phrases are ordered by AU
intensity (strongest first), ties by AU number.
"""

from __future__ import annotations

from .schema import Instruction, au_number

# (upper bound of the bin, adverb); the bin centre is the value a parser gives the adverb back
ADVERBS: tuple[tuple[float, str], ...] = (
    (1 / 7, "barely"), (2 / 7, "slightly"), (3 / 7, "mildly"), (4 / 7, "fairly"),
    (5 / 7, "quite"), (6 / 7, "strongly"), (1.0, "extremely"),
)  # fmt: skip
ADVERB_VALUE: dict[str, float] = {word: (k + 0.5) / len(ADVERBS) for k, (_, word) in enumerate(ADVERBS)}

# AU → (what moves, how it moves): "brow" + "lowered" → "brow quite lowered"
AU_PHRASES: dict[str, tuple[str, str]] = {
    "AU1": ("inner brows", "raised"),
    "AU2": ("outer brows", "raised"),
    "AU4": ("brow", "lowered"),
    "AU5": ("upper lids", "raised"),
    "AU6": ("cheeks", "raised"),
    "AU7": ("lids", "tightened"),
    "AU9": ("nose", "wrinkled"),
    "AU10": ("upper lip", "raised"),
    "AU12": ("lip corners", "pulled up"),
    "AU14": ("cheeks", "dimpled"),
    "AU15": ("lip corners", "pulled down"),
    "AU17": ("chin", "raised"),
    "AU20": ("lips", "stretched"),
    "AU23": ("lips", "tightened"),
    "AU24": ("lips", "pressed"),
    "AU25": ("lips", "parted"),
    "AU26": ("jaw", "dropped"),
    "AU45": ("eyes", "blinking"),
}
# one-sided forms name the side and one part: "left lip corner pulled up" (the character's left)
_ONE_SIDED_PART = {"AU2": "outer brow", "AU4": "brow", "AU7": "lids", "AU12": "lip corner", "AU14": "cheek",
                   "AU15": "lip corner", "AU20": "lip corner", "AU45": "eye"}
_ONE_SIDED_MOTION = {"AU45": "closed"}  # one eye held shut is a wink, not a blink rate
AU_PHRASES.update({f"{base}{side}": (f"{word} {part}", _ONE_SIDED_MOTION.get(base, AU_PHRASES[base][1]))
                   for base, part in _ONE_SIDED_PART.items() for side, word in (("L", "left"), ("R", "right"))})

EMOTION_WORDS: dict[str, str] = {
    "neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry", "surprised": "surprised",
    "fearful": "fearful", "disgusted": "disgusted", "contempt": "contemptuous",
}  # fmt: skip

_MIN_AU = 0.02  # AUs weaker than this are not worth a phrase


def adverb(value: float) -> str:
    for upper, word in ADVERBS:
        if value <= upper + 1e-9:
            return word
    return ADVERBS[-1][1]


def _article(word: str) -> str:
    return "An" if word[0] in "aeiou" else "A"


def subject(instr: Instruction) -> str:
    """'A person', 'A neutral person', 'An extremely angry person'."""
    if instr.emotion == "neutral":
        return "A neutral person" if any(v >= _MIN_AU for v in instr.aus.values()) else "A person"
    described = f"{adverb(instr.intensity)} {EMOTION_WORDS[instr.emotion]}"
    return f"{_article(described)} {described} person"


def au_phrase(name: str, value: float) -> str:
    part, motion = AU_PHRASES[name]
    return f"{part} {adverb(value)} {motion}"


def to_text(instr: Instruction) -> str:
    aus = [(name, value) for name, value in instr.aus.items() if value >= _MIN_AU]
    if not aus:
        return f"{subject(instr)} speaks with a neutral face." if instr.emotion == "neutral" else \
            f"{subject(instr)} speaks."
    aus.sort(key=lambda item: (-round(item[1], 6), au_number(item[0]), item[0]))
    phrases = [au_phrase(name, value) for name, value in aus]
    listed = phrases[0] if len(phrases) == 1 else f"{', '.join(phrases[:-1])} and {phrases[-1]}"
    return f"{subject(instr)} speaks with {listed}."


def quantize(instr: Instruction) -> Instruction:
    """What ``to_text`` keeps of an instruction: each value moved to the centre of its adverb bin, AUs
    under 0.02 dropped, neutral at intensity 0. ``parse(to_text(x)).instruction == quantize(x)``."""
    intensity = 0.0 if instr.emotion == "neutral" else ADVERB_VALUE[adverb(instr.intensity)]
    aus = {name: ADVERB_VALUE[adverb(value)] for name, value in instr.aus.items() if value >= _MIN_AU}
    return Instruction(instr.emotion, intensity, aus)
