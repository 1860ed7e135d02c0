"""``avitalk`` command line. Each sub-command lives in ``cli/commands/<name>.py`` and exposes
``add_parser(subparsers)`` and ``run(args) -> int``.

Error contract (DESIGN.md): on bad input print one line ``error: ...`` to stderr, exit 2, leave no
output file behind (commands write through ``core.fileio.atomic_output``)."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from ..core.common.errors import AviTalkError
from ..version import __version__
from .argparser import Parser

# Order = order in --help.
# Module names under cli/commands (the parser name is set by the module: import_seq registers "import").
COMMANDS: tuple[str, ...] = ("analyze", "generate", "bake", "batch", "import_seq", "weights", "corpus", "eval", "train")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="avitalk", description="Speech-driven facial animation (AVI-Talking for Blender).")
    parser.add_argument("--version", action="version", version=f"avitalk {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or warnings")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f".commands.{name}", __package__)
        module.add_parser(sub)
    return parser


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet:
        warnings.simplefilter("ignore")
    else:
        warnings.showwarning = _show_warning
    try:
        return int(args.run(args) or 0)
    except AviTalkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
