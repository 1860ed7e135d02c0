"""Decoding JSON the fetcher did not write (registries, .json assets) and showing its values in messages.

One decoder for every JSON text the fetcher reads: UTF-8 only, a key given twice in one object refused (json
would keep the last silently, so a second "sha256" could hide from a reviewer who reads the first), integers
too long for Python (json raises a plain ValueError for those) and nesting deep enough to exhaust the
recursion limit reported, each as one line of the caller's error type."""

from __future__ import annotations

import json
from typing import Any

from .errors import WeightsError


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"the key {show(key)} appears twice in one object")
        result[key] = value
    return result


def decode_json(data: bytes, what: str, error: type[WeightsError]) -> Any:
    """The JSON value in ``data``; ``what`` names the file in the one-line ``error``."""
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)
    except UnicodeDecodeError:
        raise error(f"{what} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON: {exc}") from None
    except _DuplicateKey as exc:
        raise error(f"{what}: {exc}") from None
    except ValueError:
        raise error(f"{what} holds a number too long to read") from None
    except RecursionError:
        raise error(f"{what} is nested too deeply") from None


def show(value: Any) -> str:
    """A short, one-line, always printable description of an untrusted value for a message."""
    if isinstance(value, str):
        text = repr(value[:60]) + ("..." if len(value) > 60 else "")
        return text.encode("ascii", "backslashreplace").decode("ascii")
    if value is None or isinstance(value, bool):
        return repr(value)
    if type(value) is int:
        return str(value) if abs(value) < 10**18 else "a huge number"
    return f"a value of type {type(value).__name__}"
