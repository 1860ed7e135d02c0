"""The vocabulary the instruction parser reads: emotion words, action-unit phrasings, intensity words,
negation and sides. The generator's own words (``text.py``: ADVERBS, AU_PHRASES, EMOTION_WORDS) are all
in here, so everything ``to_text`` writes is read back.

Words are first mapped to *concepts* (``WORD_CONCEPTS``: "eyebrows" → ``brow``, "lifted" → ``RAISE``),
then phrases are matched on concepts (``AU_PATTERNS``), so "raised brows", "brows lifted", "eyebrows
up" and "brow raiser" are one pattern. Upper-case concepts are motions; a two-word pattern matches in
either order and a longer one ending in a motion also with the motion first ("lip corner RAISE" and
"RAISE lip corner"). Adverbs, sides and filler words may sit between a pattern's words
("brow quite lowered", "corners of the mouth pulled up").
"""

from __future__ import annotations

from .schema import BILATERAL_AUS, EMOTIONS
from .text import ADVERB_VALUE, ADVERBS, AU_PHRASES, EMOTION_WORDS

# ---- words → concepts ---------------------------------------------------------------------------------

_CONCEPT_WORDS: dict[str, tuple[str, ...]] = {
    # parts
    "brow": ("brow", "brows", "eyebrow", "eyebrows"),
    "lid": ("lid", "lids", "eyelid", "eyelids"),
    "eye": ("eye", "eyes", "eyed"),
    "cheek": ("cheek", "cheeks"),
    "corner": ("corner", "corners"),
    "lip": ("lip", "lips", "lipped"),
    "mouth": ("mouth", "mouthed"),
    "jaw": ("jaw", "jaws", "jawed"),
    "chin": ("chin",),
    "nose": ("nose",),
    "inner": ("inner", "inside", "middle"),
    "outer": ("outer", "outside"),
    "upper": ("upper", "top"),
    # motions
    "RAISE": ("raised", "raise", "raises", "raising", "raiser", "lifted", "lift", "lifts", "lifting", "up",
              "upward", "upwards", "elevated", "hiked"),
    "LOWER": ("lowered", "lowering", "lowers", "lowerer", "down", "downward", "downwards", "dropped", "drop",
              "drops", "dropping", "sunk"),
    "PRESS": ("pressed", "press", "presses", "pressing", "pressor", "compressed", "compress", "pursed", "purse",
              "pursing", "clamped"),
    "TIGHT": ("tightened", "tighten", "tightens", "tightening", "tightener", "tight", "tense", "tensed",
              "narrowed", "narrow", "narrowing", "thin", "thinned"),
    "PART": ("parted", "part", "parting", "parts", "apart", "separated", "unsealed"),
    "OPEN": ("open", "opened", "opening"),
    "GAPE": ("agape", "gaping", "gape", "gaped"),
    "WIDE": ("wide", "widened", "widen", "widening", "widens"),
    "STRETCH": ("stretched", "stretch", "stretches", "stretching", "stretcher", "sideways"),
    "WRINKLE": ("wrinkled", "wrinkle", "wrinkles", "wrinkling", "wrinkler", "scrunched", "scrunch",
                "scrunching", "crinkled", "crinkle", "crinkling", "puckered", "pucker"),
    "DIMPLE": ("dimpled", "dimple", "dimples", "dimpler", "dimpling"),
    "CURL": ("curled", "curl", "curling", "curls"),
    "TUCK": ("tucked", "tuck", "tucking"),
    "SMILE": ("smile", "smiles", "smiling", "smiled", "grin", "grins", "grinning", "grinned", "smiley"),
    "SMIRK": ("smirk", "smirks", "smirking", "smirked"),
    "FROWN": ("frown", "frowns", "frowning", "frowned", "scowl", "scowls", "scowling", "scowled", "furrowed",
              "furrow", "furrows", "furrowing", "knitted", "knit", "knitting", "creased"),
    "BLINK": ("blink", "blinks", "blinking", "blinked", "flutter", "fluttering", "fluttered"),
    "WINK": ("wink", "winks", "winking", "winked"),
    "CLOSE": ("closed", "close", "closing", "shut", "shuts"),
    "SQUINT": ("squint", "squints", "squinting", "squinted", "squinty"),
    "ARCH": ("arched", "arch", "arching"),
    "STARE": ("stare", "stares", "staring", "stared", "bulging", "bulge"),
    "POUT": ("pout", "pouts", "pouting", "pouted", "pouty"),
    "GRIMACE": ("grimace", "grimaces", "grimacing", "grimaced"),
    "SNARL": ("snarl", "snarls", "snarling", "snarled"),
    "UPTURN": ("upturned", "upturn"),
    "DOWNTURN": ("downturned", "downturn"),
    "SLACK": ("slack", "hanging"),
}
WORD_CONCEPTS: dict[str, str] = {word: concept for concept, words in _CONCEPT_WORDS.items() for word in words}

# ---- action units -------------------------------------------------------------------------------------

# concept pattern → the AUs it means (and, optionally, the adverb it implies when none is given)
AU_PATTERNS: dict[str, tuple[tuple[str, ...], str | None]] = {}


def _au(aus: str, *patterns: str, implied: str | None = None) -> None:
    for pattern in patterns:
        AU_PATTERNS[pattern] = (tuple(aus.split()), implied)


_au("AU1", "inner brow RAISE")
_au("AU2", "outer brow RAISE", "ARCH brow")
_au("AU1 AU2", "brow RAISE", "eye brow RAISE")
_au("AU4", "brow LOWER", "FROWN brow", "FROWN", "brow together", "brow TIGHT", "brow PRESS")
_au("AU5", "upper lid RAISE", "lid RAISE", "eye WIDE", "eye OPEN WIDE", "eye WIDE OPEN", "STARE", "STARE eye")
_au("AU6", "cheek RAISE", "crow's feet", "SMILE eye", "WRINKLE eye")
_au("AU7", "lid TIGHT", "eye TIGHT", "SQUINT", "SQUINT eye")
_au("AU9", "nose WRINKLE")
_au("AU10", "upper lip RAISE", "lip RAISE", "upper lip CURL", "lip CURL")
_au("AU9 AU10", "SNARL")
_au("AU12", "lip corner RAISE", "mouth corner RAISE", "corner mouth RAISE", "corner RAISE", "SMILE",
    "UPTURN mouth", "UPTURN lip corner", "UPTURN corner", "lip corner puller")
_au("AU12", "WIDE SMILE", "broad SMILE", implied="strongly")
_au("AU12 AU14", "SMIRK", "lopsided SMILE", "crooked SMILE", "half SMILE")  # one-sided (a side is required)
_au("AU14", "cheek DIMPLE", "DIMPLE", "lip corner TUCK", "corner TUCK", "mouth corner TUCK")
_au("AU15", "lip corner LOWER", "mouth corner LOWER", "corner mouth LOWER", "corner LOWER", "mouth LOWER",
    "DOWNTURN mouth", "DOWNTURN lip corner", "DOWNTURN corner", "FROWN mouth", "FROWN lip", "FROWN corner",
    "lip corner depressor")
_au("AU15 AU17", "POUT")
_au("AU17", "chin RAISE", "chin WRINKLE")
_au("AU20", "lip STRETCH", "mouth STRETCH", "lip corner STRETCH", "corner STRETCH", "lip back", "GRIMACE")
_au("AU23", "lip TIGHT", "mouth TIGHT")
_au("AU24", "lip PRESS", "mouth PRESS", "lip PRESS together")
_au("AU25", "lip PART", "mouth PART")
_au("AU25 AU26", "mouth OPEN", "GAPE", "mouth GAPE", "mouth LOWER OPEN", "jaw LOWER OPEN")
_au("AU26", "jaw LOWER", "jaw OPEN", "SLACK jaw", "jaw SLACK OPEN")
_au("AU45", "eye BLINK", "BLINK", "lid BLINK", "eye CLOSE", "lid CLOSE", "WINK", "eye WINK")

# patterns that only make sense on one side: without "left"/"right" the parser picks the left and says so
ONE_SIDED_PATTERNS = frozenset({"SMIRK", "lopsided SMILE", "crooked SMILE", "half SMILE", "WINK", "eye WINK"})


def expanded_patterns() -> dict[tuple[str, ...], tuple[str, tuple[str, ...], str | None]]:
    """Every concept sequence the matcher tries → (source pattern, AUs, implied adverb): two-word patterns
    in both orders, longer ones ending in a motion also with the motion first."""
    out: dict[tuple[str, ...], tuple[str, tuple[str, ...], str | None]] = {}
    for pattern, (aus, implied) in AU_PATTERNS.items():
        words = tuple(pattern.split())
        variants = [words]
        if len(words) == 2:
            variants.append((words[1], words[0]))
        elif len(words) > 2 and words[-1].isupper():
            variants.append((words[-1], *words[:-1]))
        for variant in variants:
            out.setdefault(variant, (pattern, aus, implied))
    return out


# ---- emotions -----------------------------------------------------------------------------------------

# MEAD emotion → the word's own strength → words and phrases: the strength is the adverb a word implies when
# none is given ("annoyed" is a slightly angry word, "furious" a strongly angry one), except that the words of
# middle strength ("fairly": "angry", "sad", "afraid") read as BARE_EMOTION_LEVEL (below). Nouns and adverbs
# count too ("in anger", "angrily").
_EMOTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "neutral": {
        "fairly": ("neutral", "calm", "calmly", "composed", "relaxed", "indifferent", "expressionless",
                   "impassive", "deadpan", "blank", "serene", "peaceful", "unemotional", "stoic", "stoical",
                   "detached", "placid", "tranquil", "collected", "unmoved", "matter of fact", "poker faced",
                   "straight faced", "emotionless", "unfazed", "bored", "neutrally", "calmness"),
    },
    "happy": {
        "barely": ("content", "contented"),
        "slightly": ("pleased", "satisfied", "amused", "hopeful"),
        "fairly": ("happy", "happily", "happiness", "glad", "cheerful", "cheerfully", "cheery", "joyful",
                   "joyfully", "joy", "jolly", "merry", "upbeat", "playful", "bubbly", "jovial", "chirpy",
                   "sunny", "optimistic", "grateful", "friendly", "warm", "lighthearted",
                   "in a good mood", "good humoured", "good humored"),
        "strongly": ("delighted", "thrilled", "gleeful", "gleefully", "excited", "excitedly", "enthusiastic",
                     "elated", "beaming", "radiant", "laughing", "overjoyed"),
        "extremely": ("ecstatic", "euphoric", "blissful", "jubilant", "exuberant", "overjoyed"),
    },
    "sad": {
        "slightly": ("wistful", "glum", "downhearted", "pensive", "weary", "tired"),
        "fairly": ("sad", "sadly", "sadness", "unhappy", "sorrowful", "sorrow", "melancholy", "melancholic",
                   "gloomy", "downcast", "dejected", "disappointed", "disappointment", "forlorn", "somber",
                   "sombre", "regretful", "lonely", "hurt", "mournful", "mournfully", "tearful", "upset",
                   "crestfallen", "dispirited", "disheartened", "low spirited", "sorry", "feeling down",
                   "feeling low"),
        "strongly": ("depressed", "miserable", "despondent", "grieving", "grief", "heartbroken", "anguished",
                     "crying", "weeping", "sobbing", "hopeless", "despairing", "distraught"),
        "extremely": ("devastated", "inconsolable", "desolate", "heartbroken"),
    },
    "angry": {
        "slightly": ("irritated", "annoyed", "bothered", "miffed", "displeased", "grumpy", "peeved", "testy",
                     "impatient"),
        "mildly": ("cross", "irritable", "frustrated", "exasperated", "stern", "sullen"),
        "fairly": ("angry", "angrily", "anger", "mad", "hostile", "aggressive", "aggressively", "indignant",
                   "resentful", "bitter", "heated", "agitated", "irate", "in a temper"),
        "strongly": ("furious", "furiously", "outraged", "fuming", "seething", "enraged", "incensed",
                     "infuriated", "livid", "wrathful", "fury", "rage"),
        "extremely": ("raging", "apoplectic", "berserk", "in a rage"),
    },
    "surprised": {
        "slightly": ("curious", "intrigued", "puzzled", "bewildered", "perplexed", "taken aback"),
        "fairly": ("surprised", "surprise", "surprisedly", "astonished", "amazed", "amazement", "startled",
                   "incredulous", "in disbelief", "wonder", "awed", "impressed"),
        "strongly": ("shocked", "stunned", "astounded", "dumbfounded", "flabbergasted", "awestruck",
                     "thunderstruck", "gobsmacked", "stupefied", "shock"),
    },
    "fearful": {
        "slightly": ("uneasy", "apprehensive", "nervous", "nervously", "tense", "worried", "worriedly", "timid",
                     "hesitant", "insecure", "jittery", "anxious", "anxiously", "concerned", "on edge"),
        "fairly": ("fearful", "fearfully", "fear", "afraid", "scared", "frightened", "alarmed", "shaky",
                   "spooked", "distressed", "dread", "dreading"),
        "strongly": ("terrified", "panicked", "panicky", "panicking", "petrified", "horrified", "terror",
                     "horror", "panic"),
        "extremely": ("hysterical", "paralysed with fear", "scared to death"),
    },
    "disgusted": {
        "slightly": ("queasy", "averse", "put off", "distasteful"),
        "fairly": ("disgusted", "disgust", "disgustedly", "revolted", "repulsed", "grossed out", "sickened",
                   "repelled", "revulsion", "offended", "nauseous", "nauseated"),
        "strongly": ("appalled", "loathing", "abhorrence", "nauseated", "repelled"),
    },
    "contempt": {
        "slightly": ("unimpressed", "skeptical", "sceptical", "cynical", "dismissive"),
        "fairly": ("contemptuous", "contemptuously", "contempt", "scornful", "scornfully", "scorn", "disdainful",
                   "disdain", "sneering", "smug", "smugly", "condescending", "sarcastic", "sarcastically",
                   "mocking", "mockingly", "derisive", "haughty", "arrogant", "snide", "sardonic",
                   "disrespectful", "patronizing", "patronising", "snooty", "supercilious", "superior"),
    },
}
# A plain emotion word without an intensity word ("A sad person speaks.", "angry") reads one bin above the
# middle: at 0.50 stage 2's sadness and fear were too faint to be unmistakable on the built-in head
# (docs/instructions.md). Only the words of middle strength move; "wistful" stays slightly, "furious"
# strongly, and an explicit adverb keeps its own bin ("fairly sad" is 0.50).
BARE_EMOTION_LEVEL = "quite"
EMOTION_SYNONYMS: dict[str, tuple[str, str]] = {}
for _emotion, _levels in _EMOTIONS.items():
    for _level, _words in _levels.items():
        for _word in _words:
            EMOTION_SYNONYMS.setdefault(_word, (_emotion, BARE_EMOTION_LEVEL if _level == "fairly" else _level))
for _emotion, _word in EMOTION_WORDS.items():  # the generator's words (always written with an adverb)
    EMOTION_SYNONYMS[_word] = (_emotion, BARE_EMOTION_LEVEL)
assert set(_EMOTIONS) == set(EMOTIONS)

# ---- intensity ----------------------------------------------------------------------------------------

# word or phrase → adverb bin (ADVERBS); the value is the bin's centre (ADVERB_VALUE)
INTENSITY_WORDS: dict[str, str] = {word: word for _, word in ADVERBS}
for _level, _words in {
    "barely": ("hardly", "faintly", "faint", "scarcely", "a hint of", "a trace of", "a touch of", "minimally",
               "the slightest", "tiny", "a tiny bit", "almost not", "imperceptibly"),
    "slightly": ("slight", "a little", "a bit", "a little bit", "lightly", "light", "gently", "gentle", "subtly",
                 "subtle", "weakly", "weak", "small", "soft", "softly", "a touch", "somewhat less"),
    "mildly": ("mild", "moderately", "moderate", "somewhat", "kind of", "sort of", "partly", "partially",
               "medium", "modestly", "sorta", "kinda"),
    "fairly": ("rather", "reasonably", "pretty", "noticeably", "noticeable", "clear", "evidently"),
    "quite": ("clearly", "markedly", "marked", "visibly", "visible", "considerably", "distinctly", "firmly",
              "firm", "definitely", "obviously"),
    "strongly": ("strong", "deeply", "deep", "big", "heavily", "heavy", "highly", "greatly", "widely",
                 "broadly", "tightly", "hard", "intensely", "intense", "a lot", "very much", "seriously",
                 "sharply", "sharp", "pronounced", "large"),
    "extremely": ("intensely", "totally", "completely", "fully", "maximally", "incredibly", "enormously",
                  "hugely", "huge", "utterly", "absolutely", "wildly", "immensely", "massively", "full",
                  "as much as possible", "extreme", "maximum", "exceedingly", "terribly", "insanely"),
    # for blinking: how often
    "strongly ": ("frequent", "frequently", "often", "rapid", "rapidly", "fast", "constant", "constantly"),
    "slightly ": ("occasional", "occasionally", "rarely", "seldom", "now and then"),
}.items():
    for _word in _words:
        INTENSITY_WORDS.setdefault(_word, _level.strip())
# "very" pushes the next intensity word away from the middle ("very slightly" → barely, "very strongly"
# → extremely); alone it means strongly
INTENSIFIERS = frozenset({"very", "really", "so", "super", "most", "ever", "particularly", "especially", "too"})
DEFAULT_LEVEL = "fairly"  # an action unit without an intensity word: the middle bin (value 0.5)
DEFAULT_VALUE = ADVERB_VALUE[DEFAULT_LEVEL]
BARE_EMOTION_VALUE = ADVERB_VALUE[BARE_EMOTION_LEVEL]  # a plain emotion word (0.643)

# ---- negation, sides, separators, fillers --------------------------------------------------------------

NEGATIONS = frozenset({"no", "not", "without", "never", "none", "nor", "neither", "nothing", "non", "minus",
                       "lacking", "zero"})
SIDES = {"left": "L", "right": "R", "both": "", "each": ""}
# words that separate phrases; "or"/"nor" carry a negation on ("without a smile or a frown")
SEPARATORS = frozenset({"and", "but", "or", "nor", "while", "whereas", "then", "yet", "plus", "also"})
NEGATION_CHAIN = frozenset({"or", "nor"})
# words that carry no meaning here: neither understood nor reported as ignored
FILLERS = frozenset("""
a an the his her their its my your our one one's someone's this that these those of with is are was were be
being been am has have had having keeps keep kept holds hold held pulled pull pulls pulling drawn draw
draws drawing turned turn turns turning pushed push pushes pushing together person man woman boy girl
child kid speaker someone somebody character he she they it who which while as in on at to for from by
side sides face faced expression expressions look looks looking looked appears appear seems seem seeming
speaks speak speaking spoken talks talk talking says say saying said tells voice sounds sound sounding
feels feel feeling tone manner way mood state at all bit just there here into onto over other another
same something than like little lot gaze sided any
""".split())

# every word the matcher knows: typo correction only moves unknown words onto these
KNOWN_WORDS: frozenset[str] = frozenset(
    set(WORD_CONCEPTS) | {w for p in AU_PATTERNS for w in p.split() if w.islower()}
    | {w for phrase in EMOTION_SYNONYMS for w in phrase.split()}
    | {w for phrase in INTENSITY_WORDS for w in phrase.split()}
    | set(INTENSIFIERS) | set(NEGATIONS) | set(SIDES) | set(SEPARATORS) | set(FILLERS)
)


def phrasings_per_au() -> dict[str, int]:
    """How many concept patterns (before word variants and reordering) name each two-sided AU."""
    counts = {au: 0 for au in BILATERAL_AUS}
    for aus, _ in AU_PATTERNS.values():
        for au in aus:
            counts[au] += 1
    return counts


def generator_words_are_known() -> bool:
    """Every word ``to_text`` can write is in the vocabulary (checked by the tests)."""
    words = {w for part, motion in AU_PHRASES.values() for w in f"{part} {motion}".split()}
    words |= set(EMOTION_WORDS.values()) | set(ADVERB_VALUE)
    return words <= KNOWN_WORDS | {"left", "right"}
