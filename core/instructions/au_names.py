"""Plain names for the action units the instruction language knows: "Brow lowerer (AU4)" instead of a bare
"AU4", for the panel and the command line. The names are FACS's own (Ekman & Friesen); the one-sided forms
add the character's side, and AU45 on one side — an eye held shut — is a wink."""

from __future__ import annotations

from .schema import AUS, BILATERAL_OF

# FACS names of the two-sided units
_FACS: dict[str, str] = {
    "AU1": "Inner brow raiser", "AU2": "Outer brow raiser", "AU4": "Brow lowerer", "AU5": "Upper lid raiser",
    "AU6": "Cheek raiser", "AU7": "Lid tightener", "AU9": "Nose wrinkler", "AU10": "Upper lip raiser",
    "AU12": "Lip corner puller", "AU14": "Dimpler", "AU15": "Lip corner depressor", "AU17": "Chin raiser",
    "AU20": "Lip stretcher", "AU23": "Lip tightener", "AU24": "Lip pressor", "AU25": "Lips part",
    "AU26": "Jaw drop", "AU45": "Blink",
}  # fmt: skip
_ONE_SIDED = {"AU45": "Wink"}  # one eye held closed, not a blink rate
_SIDES = {"L": "left", "R": "right"}


def _name(code: str) -> str:
    base = BILATERAL_OF.get(code)
    if base is None:
        return _FACS[code]
    return f"{_ONE_SIDED.get(base, _FACS[base])}, {_SIDES[code[-1]]}"


# every unit of ``schema.AUS``, in that order
AU_NAMES: dict[str, str] = {code: _name(code) for code in AUS}


def au_name(code: str) -> str:
    """'AU4' → 'Brow lowerer', 'AU12L' → 'Lip corner puller, left' (codes as ``schema.normalize_au`` writes
    them). Raises KeyError for a code the instruction language does not know."""
    return AU_NAMES[code]


def au_label(code: str) -> str:
    """'AU4' → 'Brow lowerer (AU4)'."""
    return f"{AU_NAMES[code]} ({code})"


def au_short_name(code: str) -> str:
    """The name in fewer letters where room is short: 'Lip corner puller L' for 'Lip corner puller, left'."""
    base = BILATERAL_OF.get(code)
    if base is None:
        return _FACS[code]
    return f"{_ONE_SIDED.get(base, _FACS[base])} {code[-1]}"
