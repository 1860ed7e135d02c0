"""The argument parser every ``avitalk`` parser uses: argparse's own usage errors follow the one-line error
contract (``error: ...`` on stderr, exit 2)."""

from __future__ import annotations

import argparse


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message}\n")
