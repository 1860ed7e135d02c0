"""Brow lifts on phrase onsets, as speakers mark a new phrase: the one rule the corpus targets draw per clip
(``corpus/targets``, from the true phones) and stage 2 draws per take (``stage2/motion``, from the level)."""

from __future__ import annotations

import numpy as np

from ..arkit import INDEX

CHANCE = 0.5  # half the phrase onsets get one
DELAY_S = (0.1, 0.25)  # the lift peaks this long after the voice starts
HEIGHT = (0.1, 0.3)  # browInnerUp at its peak (× the speaker's expressiveness)
SIGMA_S = 0.18
OUTER = 0.6  # the outer brows rise this share of the inner one


def bump(times: np.ndarray, centre: float, height: float) -> np.ndarray:
    return height * np.exp(-0.5 * ((times - centre) / SIGMA_S) ** 2)


def apply(values: np.ndarray, lift: np.ndarray) -> None:
    """Adds the lift curve [T] to browInnerUp and OUTER × it to both outer brows of ``values`` [T, 52+], in place."""
    values[:, INDEX["browInnerUp"]] += lift
    for side in ("browOuterUpLeft", "browOuterUpRight"):
        values[:, INDEX[side]] += OUTER * lift
