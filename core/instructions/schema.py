"""The instruction structure: an emotion, its intensity and FACS action units with intensities.

This is the condition stage 2 is trained on and the label stage 1 predicts. An ``Instruction`` says
*how* a stretch of speech is performed; a ``Segment`` places one on the time line. The instruction
track file (DESIGN.md, read and written by ``track``) is a list of segments: ``{"segments": [{"start",
"end", "text", "emotion", "intensity", "aus"}]}``.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any

from ..common.errors import FormatError
from ..common.jsonspec import Invalid, JsonPath, MapOf, Num, Obj, Opt, Str, validate

# The 8 MEAD classes, in MEAD's order.
EMOTIONS: tuple[str, ...] = (
    "neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted", "contempt",
)  # fmt: skip

# Action units the project models. AU45 is the blink (its value sets the blink rate, see
# ``arkit_map``); AU12L/AU14L etc. are the one-sided forms FACS writes as L12/R14 (character's side).
# AU45L/AU45R are one eye held closed (a wink) — a pose, unlike the two-sided blink rate.
BILATERAL_AUS: tuple[str, ...] = (
    "AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14", "AU15", "AU17", "AU20",
    "AU23", "AU24", "AU25", "AU26", "AU45",
)  # fmt: skip
SIDED_BASES: tuple[str, ...] = ("AU2", "AU4", "AU7", "AU12", "AU14", "AU15", "AU20", "AU45")  # have L/R forms
AUS: tuple[str, ...] = BILATERAL_AUS + tuple(f"{base}{side}" for base in SIDED_BASES for side in "LR")
BILATERAL_OF = {f"{base}{side}": base for base in SIDED_BASES for side in "LR"}
_ALIASES = {"BLINK": "AU45", "WINK": "AU45L"}
# The most text one instruction may carry (a segment's text, ``--text``): ample for a sentence or a
# paragraph, small enough that a file cannot make the parser, or the text stored in an animation, huge.
MAX_TEXT_CHARS = 2000


def normalize_au(name: str) -> str:
    """'au4' → 'AU4', 'blink' → 'AU45', 'L12' → 'AU12L'. Raises FormatError for unknown units."""
    key = re.sub(r"\s+", "", str(name)).upper()
    key = _ALIASES.get(key, key)
    key = re.sub(r"^([LR])(\d+)$", r"\2\1", key)  # FACS's L12 → 12L
    if re.fullmatch(r"\d+[LR]?", key):
        key = "AU" + key
    key = re.sub(r"^AU0+(\d)", r"AU\1", key)
    if key not in AUS:
        raise FormatError(f"unknown action unit {name!r} (known: {', '.join(AUS)})")
    return key


def au_number(name: str) -> int:
    return int(re.sub(r"\D", "", name))


@dataclass(frozen=True)
class Instruction:
    """How to perform speech: ``emotion`` (one of EMOTIONS), ``intensity`` 0..1 (0 for neutral) and
    action-unit intensities 0..1."""

    emotion: str = "neutral"
    intensity: float = 0.0
    aus: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.emotion not in EMOTIONS:
            raise FormatError(f"unknown emotion {self.emotion!r} (known: {', '.join(EMOTIONS)})")
        object.__setattr__(self, "intensity", _unit_value("intensity", self.intensity))
        clean = {normalize_au(k): _unit_value(k, v) for k, v in dict(self.aus).items()}
        object.__setattr__(self, "aus", {k: clean[k] for k in sorted(clean, key=_au_order)})

    def to_dict(self) -> dict[str, Any]:
        return {"emotion": self.emotion, "intensity": round(self.intensity, 4),
                "aus": {k: round(v, 4) for k, v in self.aus.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "instruction") -> Instruction:
        """From ``{"emotion", "intensity", "aus"}`` (each optional), checked against ``INSTRUCTION``."""
        return cls.from_clean(validate(data, INSTRUCTION, where))

    @classmethod
    def from_clean(cls, clean: dict[str, Any]) -> Instruction:
        """From a dict ``INSTRUCTION`` (or a spec that includes its fields) has already checked."""
        return cls(clean.get("emotion", "neutral"), clean.get("intensity", 0.0), dict(clean.get("aus", {})))


@dataclass(frozen=True)
class Segment:
    """An instruction over [start, end) seconds of the audio, with its text."""

    start: float
    end: float
    instruction: Instruction
    text: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)) or self.end <= self.start or self.start < 0:
            raise FormatError(f"segment times {self.start}..{self.end} are not a forward interval from 0")


def _unit_value(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # True is not an intensity of 1
        raise FormatError(f"{name} must be a number between 0 and 1, not {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise FormatError(f"{name} must be between 0 and 1, not {value!r}")
    return v


def _au_order(name: str) -> tuple[int, str]:
    return au_number(name), name


def check_text_length(text: str, what: str) -> str:
    """``text`` if it is at most ``MAX_TEXT_CHARS`` long, else a one-line FormatError naming ``what``."""
    if len(text) > MAX_TEXT_CHARS:
        raise FormatError(f"{what} is {len(text)} characters long; at most {MAX_TEXT_CHARS} are allowed")
    return text


def _au_name_problem(name: str) -> str | None:
    try:
        normalize_au(name)
    except FormatError:
        return f"is not a known action unit (known: {', '.join(AUS)})"
    return None


class _AuValues(MapOf):
    """Action unit → 0..1; one unit written twice ('AU4' and 'au4') is refused, not silently merged."""

    def __init__(self) -> None:
        super().__init__(Num(0.0, 1.0), max_items=len(AUS), key=Str(max_len=16, test=_au_name_problem))

    def check(self, value: Any, path: JsonPath) -> dict[str, Any]:
        clean = super().check(value, path)
        seen: dict[str, str] = {}
        for name in clean:
            unit = normalize_au(name)
            if unit in seen:
                raise Invalid(path, f"names {unit} twice ({seen[unit]!r} and {name!r})")
            seen[unit] = name
        return clean


# The instruction's members in a JSON file (an instruction track's segment, the worker's requests).
INSTRUCTION = Obj({
    "emotion": Opt(Str(max_len=32, choices=EMOTIONS)),
    "intensity": Opt(Num(0.0, 1.0)),
    "aus": Opt(_AuValues()),
})
