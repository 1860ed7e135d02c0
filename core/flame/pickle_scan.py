"""A dry run over a pickle's opcodes, before the unpickler sees them.

Nothing is built or called here: :func:`scan` walks the stream with :func:`pickletools.genops` and keeps a
stack of *kinds* (is it a plain string or number, a module global, something else) to refuse what no
FLAME or landmark file holds and what would make the unpickler itself misbehave:

- more than :data:`~.limits.MAX_OPCODES` opcodes (a real FLAME pickle has a few hundred);
- memo indices past that count: CPython's unpickler sizes its memo table by the largest index it is
  given, so a nine-byte pickle naming index 2**30 makes it allocate and clear 16 GB (38 s);
- dict keys and set members other than strings, bytes, bools, None, floats and integers below 2**64:
  tuples (and huge integers) can be forged so that thousands share one hash, which makes building the
  dict take minutes;
- streams that do not parse, end early, pop an empty stack or use a MARK that is not there.
"""

from __future__ import annotations

import pickletools
from typing import Any

from ..common.errors import FormatError
from .limits import MAX_OPCODES

# What the scan knows about a stack entry: a kind and, for short strings, their text (so that
# STACK_GLOBAL and the two harmless protocol-2 bytes forms can be recognised).
_KEY = "key"  # str, bytes, bool, None, float, an integer below 2**64: safe as a dict key
_GLOBAL = "global"
_OTHER = "other"
Kind = tuple[str, str | None]
_KEY_KIND: Kind = (_KEY, None)
_OTHER_KIND: Kind = (_OTHER, None)

_KEY_RESULTS = frozenset(("str", "bytes", "bytes_or_str", "None", "bool", "float"))
_INT_RESULTS = frozenset(("int", "int_or_bool"))
_MAX_TEXT = 128  # longest string whose text is kept (module and class names are short)
# Globals whose call yields bytes: how Python 3 writes bytes at protocol 2 (see safe_pickle)
_BYTES_MAKERS = frozenset(("_codecs encode", "__builtin__ bytes", "builtins bytes"))
_IN_PLACE = frozenset(("MEMOIZE", "READONLY_BUFFER", "APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS",
                       "BUILD"))  # leave the object they changed
_MEMO = frozenset(("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"))


class _Op:
    """One opcode's stack effect, worked out once from pickletools' description."""

    __slots__ = ("name", "pops_to_mark", "below_mark", "pops", "result")

    def __init__(self, opcode: pickletools.OpcodeInfo) -> None:
        before = [obj.name for obj in opcode.stack_before]
        after = [obj.name for obj in opcode.stack_after]
        self.name = opcode.name
        self.pops_to_mark = "mark" in before
        self.below_mark = before.index("mark") if self.pops_to_mark else 0
        self.pops = len(before)
        # None: worked out per use (from the argument or what was popped)
        self.result: Kind | None = None
        if opcode.name in _IN_PLACE or opcode.name in _MEMO or opcode.name in (
                "DUP", "GLOBAL", "STACK_GLOBAL", "REDUCE", "MARK") or not after:
            return
        if len(after) == 1 and after[0] not in _KEY_RESULTS | _INT_RESULTS:
            self.result = _OTHER_KIND


_OPS = {op.code.encode("latin-1")[0]: _Op(op) for op in pickletools.opcodes}


def scan(raw: bytes, source: str) -> int:
    """Check ``raw`` opcode by opcode; returns the number of opcodes. Raises :class:`FormatError`."""
    try:
        return _walk(raw, source)
    except FormatError:
        raise
    except (ValueError, EOFError, IndexError, KeyError, TypeError, OverflowError, MemoryError) as exc:
        # genops only parses, so anything it raises means a malformed stream
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise FormatError(f"{source} is not a readable pickle (truncated or corrupt? {detail})") from exc


def _malformed(source: str, why: str) -> FormatError:
    return FormatError(f"{source} is not a readable pickle ({why})")


def _walk(raw: bytes, source: str) -> int:
    stack: list[Kind] = []
    marks: list[int] = []  # stack heights at each MARK
    memo: dict[int, Kind] = {}
    count = 0
    for opcode, arg, _pos in pickletools.genops(raw):
        count += 1
        if count > MAX_OPCODES:
            raise FormatError(f"{source} has more than {MAX_OPCODES} pickle opcodes; a FLAME file has a few "
                              "hundred: refused")
        op = _OPS[opcode.code.encode("latin-1")[0]]
        name = op.name
        fence = marks[-1] if marks else 0
        if name == "MARK":
            marks.append(len(stack))
            continue
        if name == "POP" and marks and len(stack) == fence:
            marks.pop()  # POP right after a MARK drops the mark, as the unpickler does
            continue
        popped: list[Kind] = []
        if op.pops_to_mark:
            if not marks:
                raise _malformed(source, "a MARK is missing")
            popped = stack[fence:]
            del stack[fence:]
            marks.pop()
            fence = marks[-1] if marks else 0
            n_under = op.below_mark
        else:
            n_under = op.pops
        if len(stack) - n_under < fence:
            raise _malformed(source, "an opcode has nothing to work on")
        under = stack[len(stack) - n_under:] if n_under else []
        if n_under:
            del stack[len(stack) - n_under:]
        if op.result is not None:
            stack.append(op.result)
            continue
        if name in _MEMO:
            if not isinstance(arg, int) or not 0 <= arg <= MAX_OPCODES:
                raise FormatError(f"{source} uses a pickle memo index no real pickle has: refused before "
                                  "unpickling (it would make the unpickler allocate gigabytes)")
            if name.endswith("GET"):
                stack.append(memo.get(arg, _OTHER_KIND))
            elif stack and len(stack) > fence:
                memo[arg] = stack[-1]
            else:
                raise _malformed(source, "it memoises nothing")
            continue
        _check_keys(name, popped, under, source)
        stack.extend(_results(name, opcode.stack_after, arg, under, len(memo)))
        if name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
    return count


def _check_keys(name: str, popped: list[Kind], under: list[Kind], source: str) -> None:
    if name == "SETITEM":
        keys = [under[1]]
    elif name in ("SETITEMS", "DICT"):
        keys = popped[0::2]
    elif name in ("ADDITEMS", "FROZENSET"):
        keys = popped
    else:
        return
    if any(kind != _KEY for kind, _ in keys):
        raise FormatError(f"{source} uses dict keys or set members that are not plain strings or numbers, "
                          "which no FLAME file does: refused")


def _results(name: str, after: list[Any], arg: Any, under: list[Kind], memo_size: int) -> list[Kind]:
    """The kinds an opcode leaves on the stack (in place of what it popped), where that needs working out."""
    if name == "DUP":
        return [under[0], under[0]]
    if name in _IN_PLACE:
        return under[:1]  # the same object, changed in place
    if name == "GLOBAL":
        return [(_GLOBAL, arg if isinstance(arg, str) else None)]
    if name == "STACK_GLOBAL":
        module, qualname = under[0][1], under[1][1]
        return [(_GLOBAL, f"{module} {qualname}" if module is not None and qualname is not None else None)]
    if name == "REDUCE":
        makes_bytes = under[0][0] == _GLOBAL and under[0][1] in _BYTES_MAKERS
        return [_KEY_KIND if makes_bytes else _OTHER_KIND]  # safe_pickle's checked callables return only bytes
    kinds: list[Kind] = []
    for obj in after:
        if obj.name in _KEY_RESULTS:
            kinds.append((_KEY, arg if isinstance(arg, str) and len(arg) <= _MAX_TEXT else None))
        elif isinstance(arg, bool) or (isinstance(arg, int) and -(1 << 63) <= arg < (1 << 64)):
            kinds.append(_KEY_KIND)  # an integer small enough that few share a hash
        else:
            kinds.append(_OTHER_KIND)
    return kinds
