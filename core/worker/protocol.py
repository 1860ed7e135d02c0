"""The worker's line protocol: one JSON object per line, UTF-8, on the worker's stdin and stdout.

Client → worker::

    {"id": "3", "op": "analyze" | "generate" | "align_words" | "probe", "params": {...}}
    (generate: {"audio": path, "output": path.npz, "options": GenerateOptions.to_params()})
    {"op": "shutdown"}

Worker → client (the first line is ``ready``; then, per request, any number of ``progress`` lines and
exactly one ``result`` or ``error``)::

    {"type": "ready", "protocol": 2, "info": {...probe...}}
    {"id": "3", "type": "progress", "stage": "features", "fraction": 0.4}
    {"id": "3", "type": "result", "result": {...}, "warnings": ["..."]}
    {"id": "3", "type": "error", "message": "one line"}

Anything else the worker's libraries print goes to its stderr, never to the protocol stream."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_VERSION = 2  # 2: generate takes {"audio", "output", "options": GenerateOptions.to_params()}
OPERATIONS = ("probe", "analyze", "generate")


class ProtocolError(ValueError):
    """A line that is not a protocol message."""


@dataclass(frozen=True)
class Message:
    """A worker → client message."""

    type: str  # "ready", "progress", "result" or "error"
    id: str | None = None
    stage: str = ""
    fraction: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.id is not None:
            out["id"] = self.id
        if self.type == "progress":
            out.update(stage=self.stage, fraction=round(self.fraction, 4))
        elif self.type == "result":
            out.update(result=self.result, warnings=list(self.warnings))
        elif self.type == "error":
            out["message"] = self.message
        elif self.type == "ready":
            out.update(protocol=PROTOCOL_VERSION, info=self.info)
        return out


def encode(obj: dict[str, Any]) -> str:
    """One line (no newline inside: JSON escapes them), newline-terminated."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def decode_message(line: str) -> Message:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not a JSON line: {line[:80]!r}") from exc
    if not isinstance(data, dict) or data.get("type") not in ("ready", "progress", "result", "error"):
        raise ProtocolError(f"not a worker message: {line[:80]!r}")
    ident = data.get("id")
    return Message(
        type=str(data["type"]), id=None if ident is None else str(ident), stage=str(data.get("stage", "")),
        fraction=float(data.get("fraction", 0.0)), result=dict(data.get("result") or {}),
        warnings=tuple(str(w) for w in data.get("warnings") or ()), message=str(data.get("message", "")),
        info=dict(data.get("info") or {}),
    )


def request(ident: str, op: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"id": ident, "op": op, "params": params}
