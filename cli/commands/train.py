"""``avitalk train MODEL ...``: train a model on the synthetic corpus. Each model's trainer is its own
module ``cli/commands/train_<name>.py`` with ``add_parser(actions)`` (which sets ``run``); adding one is
a new module and its name in ``TRAINERS``."""

from __future__ import annotations

import importlib
from typing import Any

# Order = order in --help.
TRAINERS: tuple[str, ...] = ("stage1", "stage2", "llm_adapter")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train a model on the synthetic corpus (stage1, llm-adapter)",
                       description="Train a model on a corpus built with `avitalk corpus build`; the result is "
                                   "safetensors weights with a JSON model card.")
    actions = p.add_subparsers(dest="train_command", metavar="MODEL", parser_class=type(p))
    actions.required = True
    for name in TRAINERS:
        try:
            module = importlib.import_module(f".train_{name}", __package__)
        except ModuleNotFoundError as exc:  # a trainer that is not in this installation is left out
            if exc.name != f"{__package__}.train_{name}":
                raise
            continue
        module.add_parser(actions)
