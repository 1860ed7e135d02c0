"""A small declarative schema for the JSON files people hand to ``core`` (instruction tracks, model cards):
types, required keys, ranges, choices and sizes. A value that does not fit is a one-line FormatError that
names the file and the JSON path of the value:

    SEGMENT = Obj({"start": Num(lo=0), "end": Num(lo=0), "text": Opt(Str(max_len=2000))})
    clean = validate(data, SEGMENT, "instruction track x.json")
    # → FormatError("instruction track x.json: segments[3].start must be a number, not a string")

The rules every spec keeps: JSON's ``true`` is never a number, numbers are finite, every string, list and
object has a maximum size, and a value is shown in a message only as a short ``repr`` (control characters
and lone surrogates escaped), so the message stays one safe line whatever the file holds.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import FormatError

JsonPath = tuple[str | int, ...]
_KEY_LIKE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
_SHOW = 40  # characters of a value shown in a message


class Invalid(Exception):
    """The value at ``path`` does not fit its spec; ``validate`` turns it into a FormatError."""

    def __init__(self, path: JsonPath, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def show_path(path: JsonPath) -> str:
    """``("segments", 3, "start")`` → ``segments[3].start``; keys that are not plain names are quoted."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _KEY_LIKE.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{show_value(part)}]"
    return out


def show_value(value: Any) -> str:
    """A short, one-line, escaped rendering of a scalar for a message."""
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if isinstance(value, int) and not -10**30 < value < 10**30:
        return "a number too large to show"  # repr of a huge int is slow and may raise ValueError
    if isinstance(value, str):
        text = repr(value[:_SHOW])  # repr escapes control characters and lone surrogates
        return text if len(value) <= _SHOW else text[:-1] + "...'"
    if isinstance(value, list | tuple | dict):
        return json_type(value)
    text = repr(value)
    return text if len(text) <= _SHOW else text[:_SHOW] + "..."


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, numbers.Real):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _num(value: float) -> str:
    return f"{value:g}"


class Spec:
    """What a JSON value must be; ``check`` returns the clean value or raises :class:`Invalid`."""

    expect = "a value"

    def check(self, value: Any, path: JsonPath) -> Any:
        raise NotImplementedError

    def _wrong_type(self, value: Any, path: JsonPath) -> Invalid:
        return Invalid(path, f"must be {self.expect}, not {json_type(value)}")


class Anything(Spec):
    """Any JSON value, taken as it is (``read_json`` has already bounded its size and depth)."""

    def check(self, value: Any, path: JsonPath) -> Any:
        return value


class _Ranged(Spec):
    def __init__(self, lo: float | None = None, hi: float | None = None, above: bool = False) -> None:
        self.lo, self.hi, self.above = lo, hi, above  # above: lo itself is not allowed (a positive value)

    def _number(self, value: Any, path: JsonPath) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self._wrong_type(value, path)
        try:
            number = float(value)
        except OverflowError:
            raise Invalid(path, "is too large a number") from None
        if not math.isfinite(number):
            raise Invalid(path, f"must be a finite number, not {show_value(value)}")
        return number

    def _range(self, number: float | int, value: Any, path: JsonPath) -> None:
        low_ok = self.lo is None or (number > self.lo if self.above else number >= self.lo)
        high_ok = self.hi is None or number <= self.hi
        if low_ok and high_ok:
            return
        if self.lo is not None and self.hi is not None and not self.above:
            rule = f"between {_num(self.lo)} and {_num(self.hi)}"
        elif not low_ok:
            rule = f"more than {_num(self.lo or 0.0)}" if self.above else f"at least {_num(self.lo or 0.0)}"
        else:
            rule = f"at most {_num(self.hi or 0.0)}"
        raise Invalid(path, f"must be {rule}, not {show_value(value)}")


class Num(_Ranged):
    """A finite number (int or float, never a boolean), optionally within [lo, hi]; checked as a float."""

    expect = "a number"

    def check(self, value: Any, path: JsonPath) -> float:
        number = self._number(value, path)
        self._range(number, value, path)
        return number


class Int(_Ranged):
    """A whole number (``3`` or ``3.0``, never a boolean), optionally within [lo, hi]."""

    expect = "a whole number"

    def check(self, value: Any, path: JsonPath) -> int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            whole = int(value)
            self._range(whole, value, path)  # Python compares an int with a float exactly, without overflow
            return whole
        number = self._number(value, path)
        if not number.is_integer():
            raise Invalid(path, f"must be a whole number, not {show_value(value)}")
        self._range(number, value, path)
        return int(number)


class Bool(Spec):
    expect = "true or false"

    def check(self, value: Any, path: JsonPath) -> bool:
        if not isinstance(value, bool):
            raise self._wrong_type(value, path)
        return value


class Str(Spec):
    """A string of at most ``max_len`` characters; optionally one of ``choices``, matching ``pattern``
    (described to the user as ``pattern_text``), or passing ``test`` (which returns why not, or None)."""

    expect = "a string"

    def __init__(self, max_len: int = 200, choices: Sequence[str] | None = None, pattern: str | None = None,
                 pattern_text: str = "", test: Callable[[str], str | None] | None = None) -> None:
        self.max_len = max_len
        self.choices = tuple(choices) if choices is not None else None
        self.pattern = re.compile(pattern) if pattern is not None else None
        self.pattern_text = pattern_text or f"a string matching {pattern}"
        self.test = test

    def check(self, value: Any, path: JsonPath) -> str:
        if not isinstance(value, str):
            raise self._wrong_type(value, path)
        if len(value) > self.max_len:
            raise Invalid(path, f"is {len(value)} characters long; at most {self.max_len} are allowed")
        if self.choices is not None and value not in self.choices:
            raise Invalid(path, f"must be one of {', '.join(self.choices)}, not {show_value(value)}")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise Invalid(path, f"must be {self.pattern_text}, not {show_value(value)}")
        if self.test is not None:
            why = self.test(value)
            if why is not None:
                raise Invalid(path, why)
        return value


class Nullable(Spec):
    """``null`` or what ``inner`` accepts."""

    def __init__(self, inner: Spec) -> None:
        self.inner = inner
        self.expect = f"{inner.expect} or null"

    def check(self, value: Any, path: JsonPath) -> Any:
        if value is None:
            return None
        try:
            return self.inner.check(value, path)
        except Invalid as exc:
            if exc.path == path and exc.reason == f"must be {self.inner.expect}, not {json_type(value)}":
                raise self._wrong_type(value, path) from None  # say that null would do too
            raise


class ListOf(Spec):
    """A list of at most ``max_items`` values (at least ``min_items``), each checked by ``item``."""

    expect = "a list"

    def __init__(self, item: Spec, max_items: int, min_items: int = 0) -> None:
        self.item, self.max_items, self.min_items = item, max_items, min_items

    def check(self, value: Any, path: JsonPath) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise self._wrong_type(value, path)
        if len(value) > self.max_items:  # before looking at any item: a huge list is refused at once
            raise Invalid(path, f"has {len(value)} items; at most {self.max_items} are allowed")
        if len(value) < self.min_items:
            raise Invalid(path, f"must have at least {self.min_items} items, not {len(value)}")
        return [self.item.check(v, (*path, k)) for k, v in enumerate(value)]


class MapOf(Spec):
    """An object with any keys (checked by ``key``) whose values are all checked by ``value``."""

    expect = "an object"

    def __init__(self, value: Spec, max_items: int, key: Str | None = None) -> None:
        self.value, self.max_items, self.key = value, max_items, key or Str(max_len=200)

    def check(self, value: Any, path: JsonPath) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self._wrong_type(value, path)
        if len(value) > self.max_items:
            raise Invalid(path, f"has {len(value)} entries; at most {self.max_items} are allowed")
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise Invalid(path, f"has a key that is not a string ({show_value(k)})")
            self.key.check(k, (*path, k))
            out[k] = self.value.check(v, (*path, k))
        return out


class Opt(Spec):
    """An object member that may be left out (``Obj`` then leaves it out of the result too)."""

    def __init__(self, inner: Spec) -> None:
        self.inner = inner
        self.expect = inner.expect

    def check(self, value: Any, path: JsonPath) -> Any:
        return self.inner.check(value, path)


class Obj(Spec):
    """An object with the members ``fields`` (required unless wrapped in :class:`Opt`). Other keys are
    kept as they are (``extra="keep"``), dropped (``"drop"``) or refused (``"refuse"``)."""

    expect = "an object"

    def __init__(self, fields: Mapping[str, Spec], extra: str = "keep", max_items: int = 10_000) -> None:
        if extra not in ("keep", "drop", "refuse"):
            raise ValueError(f"extra must be keep, drop or refuse, not {extra!r}")
        self.fields, self.extra, self.max_items = dict(fields), extra, max_items

    def check(self, value: Any, path: JsonPath) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self._wrong_type(value, path)
        if len(value) > self.max_items:
            raise Invalid(path, f"has {len(value)} entries; at most {self.max_items} are allowed")
        out: dict[str, Any] = {}
        for key, spec in self.fields.items():
            if key in value:
                out[key] = spec.check(value[key], (*path, key))
            elif not isinstance(spec, Opt):
                raise Invalid(path, f"is missing {key!r}")
        for key, v in value.items():
            if key in self.fields:
                continue
            if self.extra == "refuse":
                shown = show_value(key) if isinstance(key, str) else json_type(key)
                raise Invalid(path, f"has an unknown key {shown} (known: {', '.join(self.fields)})")
            if self.extra == "keep":
                out[key] = v
        return out


def invalid(where: str, path: JsonPath, reason: str) -> FormatError:
    """The one-line error for a value that does not fit: ``<where>: <path> <reason>``."""
    shown = show_path(path)
    return FormatError(f"{where}: {shown} {reason}" if shown else f"{where} {reason}")


def validate(value: Any, spec: Spec, where: str) -> Any:
    """``value`` checked against ``spec`` (the clean value), or a FormatError naming ``where`` and the
    JSON path of the first value that does not fit."""
    try:
        return spec.check(value, ())
    except Invalid as exc:
        raise invalid(where, exc.path, exc.reason) from None


SHA256 = Str(max_len=64, pattern=r"[0-9a-fA-F]{64}", pattern_text="a sha256 (64 hexadecimal digits)")
