"""Free text → Instruction, showing what was understood and what was ignored (for the panel).

    result = parse("An angry man, brows furrowed, lips strongly pressed, without a smile")
    result.instruction   # Instruction('angry', 0.64, {'AU4': 0.5, 'AU5': 0.36, 'AU7': 0.5, 'AU24': 0.79})
    result.understood    # [Span(start, end, meaning), ...] character spans of the text
    result.ignored       # [Ignored(start, end, word), ...] words that meant nothing here
    result.warnings      # ["read 'furowed' as 'furrowed'", ...]

Contract with the generator: ``parse(to_text(x)).instruction == quantize(x)`` for every valid
Instruction (AU and emotion intensities are read back as the centres of their adverb bins, AUs under
0.02 are not written, neutral has intensity 0), so ``parse(to_text(x)).instruction == x`` exactly for
every already-quantised ``x``. See docs/instructions.md for the rules.

An emotion word stands for its prototype's action units, as in the stage-2 corpus ("angry" is brow lowered,
upper lids raised, lids and lips tightened: ``prototypes.expansion``, scaled by the emotion's intensity);
the units the text names itself, or says are absent, override the prototype's. A plain emotion word with no
intensity word reads "quite" (0.643, ``lexicon.BARE_EMOTION_LEVEL``); an action unit with none reads "fairly".
``ParseResult.expanded`` holds what the emotion added and ``ParseResult.reading`` the one-line summary the
panel shows.

Steps: tokens → typo correction (edit distance against the lexicon, only kept where it completes a
phrase) → phrases (longest match over concepts, see ``lexicon``) → intensity words, sides and negations
attach to the phrase they sit in, precede or follow → one Instruction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import NamedTuple

from ..common.errors import FormatError
from .lexicon import (
    DEFAULT_LEVEL,
    EMOTION_SYNONYMS,
    FILLERS,
    INTENSIFIERS,
    INTENSITY_WORDS,
    KNOWN_WORDS,
    NEGATION_CHAIN,
    NEGATIONS,
    ONE_SIDED_PATTERNS,
    SEPARATORS,
    SIDES,
    WORD_CONCEPTS,
    expanded_patterns,
)
from .prototypes import expansion
from .schema import AUS, BILATERAL_OF, MAX_TEXT_CHARS, SIDED_BASES, Instruction, normalize_au
from .text import ADVERB_VALUE, ADVERBS, AU_PHRASES, quantize, reading_line

__all__ = ["Ignored", "ParseResult", "Span", "parse", "quantize"]

_LEVELS = tuple(word for _, word in ADVERBS)
# typo thresholds (Damerau–Levenshtein distance, transpositions cost 1): words of 1–3 letters are never
# corrected, 4–5 letters by at most 1 edit, longer ones by at most 2; the best candidate must be unique
_MIN_TYPO_LEN = 4
_LONG_WORD = 6
_MAX_SKIP = 4  # filler/intensity/side tokens that may sit between two words of one phrase

_TOKEN_RE = re.compile(
    r"(?P<au>\bau\s?\d{1,2}[lr]?\b)|(?P<num>\d+(?:\.\d+)?%?)|(?P<word>[a-z]+(?:'[a-z]+)*)|(?P<punct>[,;.!?:()\[\]/])",
    re.IGNORECASE)

CONTENT, FILLER, ADV, INTENS, NEG, SIDE, SEP = "content", "filler", "adv", "intens", "neg", "side", "sep"


class Span(NamedTuple):
    start: int
    end: int
    meaning: str


class Ignored(NamedTuple):
    start: int
    end: int
    word: str


@dataclass(frozen=True)
class ParseResult:
    instruction: Instruction
    understood: list[Span]
    ignored: list[Ignored]
    warnings: list[str]
    negated: tuple[str, ...] = ()  # AUs (and emotions) the text says are absent
    emotion_given: bool = False  # an emotion word was read (otherwise the emotion defaults to neutral)
    emotions_named: tuple[str, ...] = ()  # every emotion the text names (not negated), first one used
    expanded: dict[str, float] = field(default_factory=dict)  # the AUs the emotion word stands for (prototype)

    @property
    def reading(self) -> str:
        """One line: 'angry (0.50) → brow lowered 0.50, lids tightened 0.36, ...' (the panel's "Read as")."""
        return reading_line(self.instruction)

    @property
    def empty(self) -> bool:
        """Nothing at all was understood."""
        return not self.understood


@dataclass
class _Token:
    start: int
    end: int
    text: str  # as written
    word: str  # lower case, typo-corrected
    role: str
    concept: str = ""
    level: float | None = None  # intensity value of an intensity word or number
    level_name: str = ""
    corrected: bool = False
    group_end: int = -1  # last token index of a multi-word intensity phrase
    group_start: int = -1  # first token of "very" + intensity word

    def matches(self, key: str) -> bool:
        return key == self.concept or key == self.word


@dataclass
class _Item:
    first: int
    last: int
    pattern: str
    aus: tuple[str, ...] = ()
    emotion: str = ""
    implied: str | None = None
    value: float | None = None
    value_from: int = -1  # token index of the intensity word used
    side: str | None = None
    negated: bool = False
    tokens: list[int] = field(default_factory=list)


# ---- lexicon tables in matching form --------------------------------------------------------------------


@cache
def _patterns() -> dict[str, list[tuple[tuple[str, ...], str, tuple[str, ...], str, str | None]]]:
    """first key → [(keys, source pattern, AUs, emotion, implied level)], longest first."""
    table: dict[str, list[tuple[tuple[str, ...], str, tuple[str, ...], str, str | None]]] = {}
    for keys, (source, aus, implied) in expanded_patterns().items():
        table.setdefault(keys[0], []).append((keys, source, aus, "", implied))
    for phrase, (emotion, level) in EMOTION_SYNONYMS.items():
        keys = tuple(phrase.split())
        table.setdefault(keys[0], []).append((keys, phrase, (), emotion, level))
    for au in AUS:  # "AU4", "AU12L" written as codes
        table.setdefault(au, []).append(((au,), au, (au,), "", None))
    for entries in table.values():
        entries.sort(key=lambda e: -len(e[0]))
    return table


@cache
def _pattern_words() -> frozenset[str]:
    return frozenset(k for entries in _patterns().values() for e in entries for k in e[0])


@cache
def _multiword_intensity() -> list[tuple[tuple[str, ...], str]]:
    return sorted(((tuple(p.split()), lvl) for p, lvl in INTENSITY_WORDS.items() if " " in p),
                  key=lambda e: -len(e[0]))


# ---- typo correction ---------------------------------------------------------------------------------------


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Damerau–Levenshtein (optimal string alignment) distance, capped at ``limit`` + 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _meaning_key(word: str) -> str:
    """Typo candidates with the same key mean the same thing ('slight'/'slightly', 'brow'/'brows')."""
    if word in WORD_CONCEPTS:
        return WORD_CONCEPTS[word]
    if word in EMOTION_SYNONYMS:
        return "emotion:" + EMOTION_SYNONYMS[word][0]
    if word in INTENSITY_WORDS:
        return "level:" + INTENSITY_WORDS[word]
    return word


@cache
def _typo_targets() -> frozenset[str]:
    """Words a typo may be read as: those that carry meaning (a filler gains nothing from a correction)."""
    return frozenset(w for w in KNOWN_WORDS if w not in FILLERS and w not in SEPARATORS)


@cache
def correct_word(word: str) -> str | None:
    """The lexicon word an unknown ``word`` is probably a typo of, or None (see the thresholds above)."""
    if len(word) < _MIN_TYPO_LEN or word in KNOWN_WORDS:
        return None
    limit = 1 if len(word) < _LONG_WORD else 2
    best: list[tuple[int, str]] = []
    for known in _typo_targets():
        if len(known) < _MIN_TYPO_LEN - 1 or abs(len(known) - len(word)) > limit:
            continue
        d = edit_distance(word, known, limit)
        if d <= limit:
            best.append((d, known))
    if not best:
        return None
    top = min(d for d, _ in best)
    winners = sorted(k for d, k in best if d == top)
    if len({_meaning_key(k) for k in winners}) != 1:
        return None  # "lias": lips or lids? better ignored than guessed
    return winners[0]


# ---- tokens ------------------------------------------------------------------------------------------------


def _role(word: str) -> tuple[str, str, float | None]:
    """(role, concept, intensity level) of a lower-case word."""
    if word.endswith("n't") or word in NEGATIONS:
        return NEG, "", None
    if word in INTENSITY_WORDS:
        return ADV, INTENSITY_WORDS[word], ADVERB_VALUE[INTENSITY_WORDS[word]]
    if word in INTENSIFIERS:
        return INTENS, "", None
    if word in SIDES:
        return SIDE, SIDES[word], None
    if word in SEPARATORS:
        return SEP, "", None
    concept = WORD_CONCEPTS.get(word, "")
    if concept or word in _pattern_words():
        return (FILLER if word in FILLERS and not concept else CONTENT), concept, None
    return (FILLER if word in FILLERS else CONTENT), "", None


def _tokenize(text: str) -> list[_Token]:
    text = text.replace("\u2019", "'")
    tokens: list[_Token] = []
    for m in _TOKEN_RE.finditer(text):
        raw = m.group(0)
        if m.lastgroup == "punct":
            tokens.append(_Token(m.start(), m.end(), raw, raw, SEP))
        elif m.lastgroup == "au":
            tokens.append(_Token(m.start(), m.end(), raw, raw.lower(), CONTENT, _au_code(raw)))
        elif m.lastgroup == "num":
            value = float(raw.rstrip("%")) / (100.0 if raw.endswith("%") else 1.0)
            ok = 0.0 <= value <= 1.0
            tokens.append(_Token(m.start(), m.end(), raw, raw, ADV if ok else CONTENT, level=value if ok else None,
                                 level_name=raw if ok else ""))
        else:
            word = raw.lower()
            role, concept, level = _role(word)
            fixed = correct_word(word) if role in (CONTENT, FILLER) and not concept and \
                word not in _pattern_words() and word not in FILLERS else None
            if fixed is not None:
                role, concept, level = _role(fixed)
                tokens.append(_Token(m.start(), m.end(), raw, fixed, role, concept, level,
                                     INTENSITY_WORDS.get(fixed, ""), corrected=True))
            else:
                tokens.append(_Token(m.start(), m.end(), raw, word, role, concept, level,
                                     INTENSITY_WORDS.get(word, "")))
    _group_intensity_phrases(tokens)
    return tokens


def _au_code(raw: str) -> str:
    """'AU12', 'au 4', 'AU12l' → the AU's name ('' for an unknown unit such as AU99)."""
    try:
        return normalize_au(raw.replace(" ", ""))
    except FormatError:
        return ""


def _group_intensity_phrases(tokens: list[_Token]) -> None:
    """'a little', 'a hint of', 'very much': one intensity word spread over several tokens."""
    i = 0
    while i < len(tokens):
        for words, level in _multiword_intensity():
            n = len(words)
            if i + n <= len(tokens) and all(tokens[i + k].word == w for k, w in enumerate(words)):
                head = tokens[i]
                head.role, head.level, head.level_name, head.group_end = ADV, ADVERB_VALUE[level], level, i + n - 1
                for k in range(1, n):
                    tokens[i + k].role = "part"
                i += n - 1
                break
        i += 1


# ---- phrases -------------------------------------------------------------------------------------------------


def _match_at(tokens: list[_Token], i: int) -> _Item | None:
    head = tokens[i]
    candidates = _patterns().get(head.concept, []) + _patterns().get(head.word, []) if head.concept else \
        _patterns().get(head.word, [])
    best: _Item | None = None
    for keys, source, aus, emotion, implied in candidates:
        if best is not None and len(keys) <= len(best.tokens):
            continue
        used = [i]
        k = i + 1
        for key in keys[1:]:
            skipped = 0
            while k < len(tokens):
                t = tokens[k]
                if t.role in (CONTENT, FILLER) and t.matches(key):
                    break
                if t.role in (FILLER, ADV, INTENS, SIDE, NEG, "part") and skipped < _MAX_SKIP:
                    skipped += 1
                    k += 1
                    continue
                k = len(tokens)
            if k >= len(tokens):
                break
            used.append(k)
            k += 1
        if len(used) == len(keys):
            best = _Item(i, used[-1], source, aus, emotion, implied, tokens=used)
    return best


def _find_items(tokens: list[_Token]) -> list[_Item]:
    items: list[_Item] = []
    i = 0
    while i < len(tokens):
        if tokens[i].role in (CONTENT, FILLER):
            item = _match_at(tokens, i)
            if item is not None:
                items.append(item)
                i = item.last + 1
                continue
        i += 1
    return items


# ---- modifiers -----------------------------------------------------------------------------------------------


def _item_starting_after(tokens: list[_Token], items: list[_Item], k: int, passable: tuple[str, ...]) -> int | None:
    """Index of the item that begins after token ``k`` with only ``passable`` tokens between."""
    starts = {item.first: n for n, item in enumerate(items)}
    j = k + 1
    while j < len(tokens):
        if j in starts:
            return starts[j]
        if tokens[j].role not in passable:
            return None
        j = tokens[j].group_end + 1 if tokens[j].group_end >= 0 else j + 1
    return None


def _item_ending_before(tokens: list[_Token], items: list[_Item], k: int, passable: tuple[str, ...]) -> int | None:
    ends = {item.last: n for n, item in enumerate(items)}
    j = k - 1
    while j >= 0:
        if j in ends:
            return ends[j]
        if tokens[j].role not in passable:
            return None
        j -= 1
    return None


def _inside(items: list[_Item], k: int) -> int | None:
    for n, item in enumerate(items):
        if item.first < k < item.last:
            return n
    return None


def _shift(level: str, away: bool = True) -> str:
    """'very' pushes a level one bin away from the middle."""
    k = _LEVELS.index(level)
    middle = (len(_LEVELS) - 1) / 2
    step = 0 if k == middle else (1 if k > middle else -1)
    return _LEVELS[min(max(k + step, 0), len(_LEVELS) - 1)]


def _attach_modifiers(tokens: list[_Token], items: list[_Item], used: set[int]) -> None:
    """Intensity words, sides and negations → the items they qualify (marks the tokens in ``used``)."""
    # "not very angry", "not too happy": a hedge (a little), not a negation
    for k, t in enumerate(tokens):
        j = k + 1
        while t.role == NEG and j < len(tokens) and tokens[j].role == FILLER:
            j += 1
        if t.role == NEG and j < len(tokens) and tokens[j].role in (INTENS, ADV):
            end = tokens[j].group_end if tokens[j].group_end >= 0 else j
            for m in range(k + 1, end + 1):
                tokens[m].role = "part"
            t.role, t.level_name, t.level, t.group_end = ADV, "slightly", ADVERB_VALUE["slightly"], end
    # "very": shifts a following intensity word, or stands for "strongly"
    for k, t in enumerate(tokens):
        if t.role != INTENS:
            continue
        j, times = k + 1, 1
        while j < len(tokens) and tokens[j].role in (INTENS, FILLER):
            if tokens[j].role == INTENS:  # "very very": the first one stands in for both
                tokens[j].role, times = "part", times + 1
                used.add(j)
            j += 1
        if j < len(tokens) and tokens[j].role == ADV and tokens[j].level_name in _LEVELS:
            level = tokens[j].level_name
            for _ in range(times):
                level = _shift(level)
            tokens[j].level_name, tokens[j].level = level, ADVERB_VALUE[level]
            tokens[j].group_start = k if tokens[j].group_start < 0 else tokens[j].group_start
            t.role = "part"
            used.add(k)
        else:
            level = "strongly"
            for _ in range(times - 1):
                level = _shift(level)
            t.role, t.level_name, t.level, t.group_end = ADV, level, ADVERB_VALUE[level], j - 1
    around = (FILLER, SIDE, INTENS, "part")
    for k, t in enumerate(tokens):
        if t.role != ADV:
            continue
        end = t.group_end if t.group_end >= 0 else k
        n = _inside(items, k)
        if n is None:
            n = _item_starting_after(tokens, items, end, around)
        if n is None:
            n = _item_ending_before(tokens, items, k, around)
        if n is None:
            continue
        item = items[n]
        # the intensity word nearest the phrase's words wins ("very slightly" is one word by now); a
        # second one is not used (and so reported as ignored)
        if item.value is None or abs(k - item.first) < abs(item.value_from - item.first):
            if item.value is not None:
                loser = tokens[item.value_from]
                used.difference_update(range(item.value_from, (loser.group_end if loser.group_end >= 0
                                                                else item.value_from) + 1))
            item.value, item.value_from = t.level, k
            used.update(range(k, end + 1))
    for k, t in enumerate(tokens):
        if t.role != SIDE:
            continue
        n = _inside(items, k)
        if n is None:
            n = _item_starting_after(tokens, items, k, (FILLER, ADV, INTENS, "part"))
        if n is None:
            n = _item_ending_before(tokens, items, k, (FILLER, ADV, "part"))
        if n is not None and items[n].side is None:
            items[n].side = t.concept
            used.add(k)
    for k, t in enumerate(tokens):
        if t.role != NEG:
            continue
        n = _inside(items, k)
        if n is None:
            n = _item_starting_after(tokens, items, k, (FILLER, SIDE, ADV, INTENS, "part"))
        if n is None:
            continue
        used.add(k)
        items[n].negated = True
        while True:  # "without a smile or a frown"
            j = items[n].last + 1
            while j < len(tokens) and tokens[j].role == FILLER:
                j += 1
            if j >= len(tokens) or tokens[j].word not in NEGATION_CHAIN:
                break
            nxt = _item_starting_after(tokens, items, j, (FILLER, NEG, ADV, INTENS, SIDE, "part"))
            if nxt is None:
                break
            n = nxt
            items[n].negated = True


# ---- the instruction -------------------------------------------------------------------------------------------


def _sided(aus: tuple[str, ...], side: str, warnings: list[str], where: str) -> tuple[str, ...]:
    """One side of each AU. AUs without a one-sided form are dropped when others have one ("left eyebrow
    raised" is AU2L, not AU1 + AU2L: the inner brows move together) and kept on both sides otherwise."""
    bases = [BILATERAL_OF.get(au, au) for au in aus]
    if any(b in SIDED_BASES for b in bases):
        return tuple(f"{b}{side}" for b in bases if b in SIDED_BASES)
    for au in aus:
        warnings.append(f"{au} ({' '.join(AU_PHRASES[au])}) has no one-sided form: '{where}' is read as both sides")
    return aus


def _au_meaning(aus: tuple[str, ...]) -> str:
    return " + ".join(f"{au} {' '.join(AU_PHRASES[au])}" for au in aus)


def parse(text: str) -> ParseResult:
    """Read free text as an instruction; never raises on odd input (unknown words are reported). Only
    the first ``MAX_TEXT_CHARS`` characters are read (a warning says so): the work grows with the text."""
    text = str(text)
    warnings: list[str] = []
    if len(text) > MAX_TEXT_CHARS:
        warnings.append(f"only the first {MAX_TEXT_CHARS} of {len(text)} characters were read")
        text = text[:MAX_TEXT_CHARS]
    tokens = _tokenize(text)
    items = _find_items(tokens)
    used: set[int] = {k for item in items for k in item.tokens}
    _attach_modifiers(tokens, items, used)
    understood: list[Span] = []
    negated: list[str] = []
    emotion, intensity, emotion_given = "neutral", 0.0, False
    aus: dict[str, float] = {}
    named = tuple(dict.fromkeys(it.emotion for it in items if it.emotion and not it.negated))
    for item in items:
        phrase = text[tokens[item.first].start : tokens[item.last].end]
        level = item.implied or DEFAULT_LEVEL
        value = item.value if item.value is not None else ADVERB_VALUE[level]
        if item.emotion:
            if item.side is not None:
                warnings.append(f"'{phrase}' is an emotion: a side does not apply")
            if item.negated:
                negated.append(item.emotion)
                understood.append(Span(tokens[item.first].start, tokens[item.last].end,
                                       f"not {item.emotion} (the emotion is left unset)"))
                continue
            if emotion_given and item.emotion != emotion:
                warnings.append(f"one emotion per segment: '{phrase}' ({item.emotion}) is not used, {emotion} is")
                understood.append(Span(tokens[item.first].start, tokens[item.last].end,
                                       f"emotion {item.emotion} (not used: {emotion} came first)"))
                continue
            if emotion_given:  # the same emotion again: the first mention's intensity stands
                understood.append(Span(tokens[item.first].start, tokens[item.last].end, f"emotion {emotion}"))
                continue
            emotion, emotion_given = item.emotion, True
            intensity = 0.0 if emotion == "neutral" else value
            understood.append(Span(tokens[item.first].start, tokens[item.last].end,
                                   f"emotion {emotion}" + ("" if emotion == "neutral" else f" at {intensity:.2f}")))
            continue
        names = item.aus
        side = item.side
        if side is None and item.pattern in ONE_SIDED_PATTERNS:
            side = "L"
            warnings.append(f"'{phrase}' is one-sided but names no side: read as the left (the character's left)")
        if side:
            names = _sided(names, side, warnings, phrase)
        if item.negated:
            negated.extend(names)
            for name in names:
                aus.pop(name, None)
            understood.append(Span(tokens[item.first].start, tokens[item.last].end, f"no {_au_meaning(names)}"))
            continue
        for name in names:
            if name in aus and abs(aus[name] - value) > 1e-9:
                warnings.append(f"{name} is mentioned twice: the later value {value:.2f} is used")
            aus[name] = value
        understood.append(Span(tokens[item.first].start, tokens[item.last].end,
                               f"{_au_meaning(names)} at {value:.2f}"))
    for k in sorted(used):  # modifiers outside their phrase's span get their own span
        t = tokens[k]
        if t.role in (ADV, SIDE, NEG) and _inside(items, k) is None and not any(k in it.tokens for it in items):
            end = tokens[t.group_end].end if t.group_end >= 0 else t.end
            start = tokens[t.group_start].start if t.group_start >= 0 else t.start
            meaning = {ADV: f"intensity {t.level_name} ({t.level:.2f})" if t.level is not None else "intensity",
                       SIDE: f"side: {t.word}", NEG: "negation"}[t.role]
            understood.append(Span(start, end, meaning))
    ignored: list[Ignored] = []
    for k, t in enumerate(tokens):
        if k in used:
            if t.corrected:
                warnings.append(f"read '{t.text}' as '{t.word}'")
            continue
        if t.role in (SEP, FILLER, "part") and not t.corrected:
            continue
        if t.role == ADV and t.group_end >= 0:
            ignored.append(Ignored(t.start, tokens[t.group_end].end, text[t.start : tokens[t.group_end].end]))
            continue
        ignored.append(Ignored(t.start, t.end, t.text))
    # a named emotion stands for its prototype's AUs (as in the stage-2 corpus); the AUs the text names, or
    # says are absent, keep the text's say
    added = {au: value for au, value in expansion(emotion, intensity, aus).items()
             if au not in negated and BILATERAL_OF.get(au, au) not in negated}
    if added:
        understood = [Span(s.start, s.end, f"{s.meaning} → {_expanded_meaning(added)}")
                      if s.meaning.startswith(f"emotion {emotion} at") else s for s in understood]
    aus.update(added)
    understood.sort()
    instruction = Instruction(emotion, intensity, aus)
    return ParseResult(instruction, understood, ignored, warnings, tuple(dict.fromkeys(negated)), emotion_given,
                       named, added)


def _expanded_meaning(aus: dict[str, float]) -> str:
    return ", ".join(f"{au} {' '.join(AU_PHRASES[au])} at {value:.2f}" for au, value in aus.items())
