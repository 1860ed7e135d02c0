"""The worker process: reads requests from stdin, one at a time, and answers on stdout (see ``protocol``).

stdout is the protocol stream only: at start the process keeps a private copy of it and points file
descriptor 1 at stderr, so prints from any library (or C code) cannot corrupt the stream."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .jobs import JobRunner, describe_failure, probe
from .protocol import Message, encode


def _protocol_stream() -> TextIO:
    sys.stdout.flush()
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


def serve(stdin: TextIO, out: TextIO) -> int:
    runner = JobRunner()

    def send(message: Message) -> None:
        out.write(encode(message.to_dict()))
        out.flush()

    send(Message("ready", info=probe()))
    for line in stdin:
        if not line.strip():
            continue
        try:
            request: dict[str, Any] = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
        except ValueError as exc:
            send(Message("error", message=f"bad request line: {exc}"))
            continue
        op = str(request.get("op", ""))
        if op == "shutdown":
            break
        ident = str(request.get("id", ""))

        def progress(stage: str, fraction: float, ident: str = ident) -> None:
            send(Message("progress", ident, stage=stage, fraction=fraction))

        try:
            result, notes = runner.run(op, dict(request.get("params") or {}), progress)
        except Exception as exc:  # every failure becomes an error message; the loop goes on
            send(Message("error", ident, message=describe_failure(exc)))
            continue
        send(Message("result", ident, result=result, warnings=tuple(notes)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m avi_talking.core.worker",
                                     description="AVI-Talking worker: JSON lines on stdin/stdout")
    parser.add_argument("--probe", action="store_true", help="print what this Python can run (JSON) and exit")
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe()))
        return 0
    out = _protocol_stream()
    try:
        return serve(sys.stdin, out)
    except KeyboardInterrupt:
        return 130
