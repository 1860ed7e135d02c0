"""Phone inventory: ARPAbet (what pocketsphinx speaks), IPA → ARPAbet (what espeak-ng speaks),
and the timed-phone record shared by the aligner, the TTS and the synthesis."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

SILENCE = "SIL"

ARPABET: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW",
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH",
    "T", "TH", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
VOWELS = frozenset(ARPABET[:15])
BILABIALS = frozenset({"P", "B", "M"})


@dataclass(frozen=True)
class Phone:
    """One phone with times in seconds from the audio start (``SIL`` for pauses)."""

    label: str
    start: float
    end: float

    @property
    def centre(self) -> float:
        return 0.5 * (self.start + self.end)

    @property
    def duration(self) -> float:
        return self.end - self.start


def normalize_arpabet(label: str) -> str:
    """'AH0' → 'AH', 'sil'/'+NSN+'/'<sil>' → 'SIL'; unknown labels → 'SIL' (they carry no mouth shape)."""
    base = label.strip().upper().rstrip("012")
    base = base.split("(")[0]
    return base if base in ARPABET else SILENCE


# IPA (as espeak-ng prints it) → ARPAbet. Multi-character symbols are matched longest first; marks for
# stress, length, syllabicity, nasality and tie bars are dropped before lookup.
_IPA: dict[str, tuple[str, ...]] = {
    # vowels and diphthongs
    "i": ("IY",), "iː": ("IY",), "ɪ": ("IH",), "ɨ": ("IH",), "y": ("UW",), "ʏ": ("UH",),
    "e": ("EY",), "eɪ": ("EY",), "ɛ": ("EH",), "ɛː": ("EH",), "eə": ("EH",), "ɛə": ("EH",),
    "ø": ("ER",), "œ": ("ER",), "æ": ("AE",), "a": ("AE",), "aː": ("AA",), "ɐ": ("AH",),
    "ɑ": ("AA",), "ɑː": ("AA",), "ɒ": ("AA",), "ɔ": ("AO",), "ɔː": ("AO",), "o": ("OW",),
    "oʊ": ("OW",), "əʊ": ("OW",), "ʊ": ("UH",), "ʊə": ("UH",), "u": ("UW",), "uː": ("UW",),
    "ɯ": ("UW",), "ʌ": ("AH",), "ə": ("AH",), "ɚ": ("ER",), "ɝ": ("ER",), "ɜ": ("ER",),
    "ɜː": ("ER",), "aɪ": ("AY",), "aʊ": ("AW",), "ɔɪ": ("OY",), "ɪə": ("IH",), "iə": ("IY",),
    "ɑɪ": ("AY",), "ɑʊ": ("AW",), "ɤ": ("AH",), "ɵ": ("ER",), "ɘ": ("AH",),
    # consonants
    "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "k": ("K",), "g": ("G",), "ɡ": ("G",),
    "f": ("F",), "v": ("V",), "θ": ("TH",), "ð": ("DH",), "s": ("S",), "z": ("Z",),
    "ʃ": ("SH",), "ʒ": ("ZH",), "tʃ": ("CH",), "dʒ": ("JH",), "ts": ("T", "S"), "dz": ("D", "Z"),
    "h": ("HH",), "x": ("HH",), "ç": ("HH",), "χ": ("HH",), "ɦ": ("HH",), "m": ("M",),
    "ɱ": ("M",), "n": ("N",), "ɲ": ("N", "Y"), "ŋ": ("NG",), "l": ("L",), "ɫ": ("L",),
    "ʎ": ("L",), "ɹ": ("R",), "r": ("R",), "ʁ": ("R",), "ɾ": ("D",), "ɻ": ("R",), "j": ("Y",),
    "w": ("W",), "ʍ": ("W",), "ɥ": ("W",), "β": ("B",), "ɕ": ("SH",), "ʑ": ("ZH",),
    "ʂ": ("SH",), "ʐ": ("ZH",), "tɕ": ("CH",), "dʑ": ("JH",), "ʔ": (), "ʲ": (),
}
_DROP = set("ˈˌːˑ̩̯̃͡‿-_|.'") | {"\u0303", "\u0329", "\u032f", "\u0361", "\u02de"}
_MAX_KEY = max(len(k) for k in _IPA)


def match_ipa(text: str) -> tuple[int, tuple[str, ...]]:
    """The longest IPA symbol at the start of ``text``: (its length in characters, its ARPAbet phones);
    (1, ()) for a symbol that is not known."""
    for size in range(min(_MAX_KEY, len(text)), 0, -1):
        if text[:size] in _IPA:
            return size, _IPA[text[:size]]
    return 1, ()


def ipa_to_arpabet(ipa: str) -> tuple[str, ...]:
    """Map one espeak-ng IPA phoneme string to ARPAbet phones (empty for pauses/glottal stops)."""
    text = unicodedata.normalize("NFC", ipa)
    # keep the length mark while matching (ɑː vs ɑ), drop other diacritics
    text = "".join(ch for ch in text if ch == "ː" or ch not in _DROP)
    out: list[str] = []
    i = 0
    while i < len(text):
        for size in range(min(_MAX_KEY, len(text) - i), 0, -1):
            piece = text[i : i + size]
            if piece in _IPA:
                out.extend(_IPA[piece])
                i += size
                break
        else:
            i += 1  # an unknown symbol: skip it rather than guess
    return tuple(out)
