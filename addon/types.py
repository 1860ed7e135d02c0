"""Type aliases the add-on's modules share."""

from __future__ import annotations

from typing import Literal

# What an operator's execute/invoke/modal returns.
OperatorResult = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]
