"""Structure → text, deterministically, in the AVI-Talking style: an emotion word, then FACS
action-unit phrases with intensity adverbs.

    "An angry person speaks with brow quite lowered, lips strongly pressed and upper lids slightly raised."

Adverbs name seven equal bins of the 0..1 intensity scale (``adverbs.ADVERBS``); the parser reads an
adverb back as its bin centre, so text → structure → text is stable. Phrases are ordered by AU
intensity (strongest first), ties by AU number.

An emotion word stands for its prototype's action units (``prototypes.expansion``: "angry" is a lowered
brow, raised upper lids, tightened lids and lips), so the text leaves out the units that say no more than
the emotion does and names, after "without", the prototype's units the instruction lacks:
``parse(to_text(x)).instruction == quantize(x)`` for every instruction.
"""

from __future__ import annotations

from .adverbs import ADVERB_VALUE, ADVERBS, MIN_AU, adverb, bin_centre
from .prototypes import expansion
from .schema import Instruction, au_number

__all__ = ["ADVERBS", "ADVERB_VALUE", "AU_PHRASES", "EMOTION_WORDS", "adverb", "au_phrase", "quantize",
           "reading_line", "subject", "to_text"]

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

def _article(word: str) -> str:
    return "An" if word[0] in "aeiou" else "A"


def subject(instr: Instruction) -> str:
    """'A person', 'A neutral person', 'An extremely angry person'."""
    if instr.emotion == "neutral":
        return "A neutral person" if any(v >= MIN_AU for v in instr.aus.values()) else "A person"
    described = f"{adverb(instr.intensity)} {EMOTION_WORDS[instr.emotion]}"
    return f"{_article(described)} {described} person"


def au_phrase(name: str, value: float) -> str:
    part, motion = AU_PHRASES[name]
    return f"{part} {adverb(value)} {motion}"


def _strongest_first(aus: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(aus.items(), key=lambda item: (-round(item[1], 6), au_number(item[0]), item[0]))


def _listed(phrases: list[str]) -> str:
    return phrases[0] if len(phrases) == 1 else f"{', '.join(phrases[:-1])} and {phrases[-1]}"


def _written(instr: Instruction) -> tuple[dict[str, float], list[str]]:
    """The AUs the text names (quantised) and the prototype AUs it says are absent: a unit the emotion word
    already gives at the same value is left out, unless naming it keeps another prototype choice away."""
    q = quantize(instr)
    plain = expansion(q.emotion, q.intensity)
    kept = {name for name, value in q.aus.items() if plain.get(name) != value}
    implied = expansion(q.emotion, q.intensity, kept)
    written = {name: value for name, value in q.aus.items() if name in kept or implied.get(name) != value}
    absent = [name for name in expansion(q.emotion, q.intensity, written) if name not in q.aus]
    return written, absent


def to_text(instr: Instruction) -> str:
    written, absent = _written(instr)
    if not written and not absent:
        return f"{subject(instr)} speaks with a neutral face." if instr.emotion == "neutral" else \
            f"{subject(instr)} speaks."
    parts = []
    if written:
        parts.append("with " + _listed([au_phrase(name, value) for name, value in _strongest_first(written)]))
    if absent:  # "or" carries the negation on to each phrase (the parser's negation chain; a comma would not)
        parts.append("without " + " or ".join(" ".join(AU_PHRASES[name]) for name in absent))
    return f"{subject(instr)} speaks {', but '.join(parts)}."


def reading_line(instr: Instruction, style: str = "names") -> str:
    """One line of what an instruction holds, for the panel's "Read as" and ``avitalk analyze``, strongest
    unit first. ``style`` "names": 'angry (0.50) → brow lowered 0.50, lids tightened 0.36, ...'; "codes":
    'angry (0.50) → AU4 0.50, AU7 0.36, ...'; "short": 'angry (0.50) → AU4 AU7 ...'; "count": 'angry (0.50)
    + 4 AUs' (where room is short)."""
    head = instr.emotion if instr.emotion == "neutral" else f"{instr.emotion} ({instr.intensity:.2f})"
    aus = [(name, value) for name, value in _strongest_first(instr.aus) if value >= MIN_AU]
    if not aus:
        return head
    if style == "count":
        return f"{head} + {len(aus)} AU{'s' if len(aus) > 1 else ''}"
    if style == "short":
        return f"{head} → " + " ".join(name for name, _ in aus)
    words = (lambda name: " ".join(AU_PHRASES[name])) if style == "names" else (lambda name: name)
    return f"{head} → " + ", ".join(f"{words(name)} {value:.2f}" for name, value in aus)


def quantize(instr: Instruction) -> Instruction:
    """What ``to_text`` keeps of an instruction: each value moved to the centre of its adverb bin, AUs
    under 0.02 dropped, neutral at intensity 0. ``parse(to_text(x)).instruction == quantize(x)``."""
    intensity = 0.0 if instr.emotion == "neutral" else bin_centre(instr.intensity)
    aus = {name: bin_centre(value) for name, value in instr.aus.items() if value >= MIN_AU}
    return Instruction(instr.emotion, intensity, aus)
