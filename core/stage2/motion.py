"""Seeded motion the audio does not decide: blinks and gaze shifts.

The network is trained with an L1 loss, so on these channels it learns their median — open lids and
straight gaze — and the take's own blinks (at each segment's AU45 rate) and gaze shifts are drawn here
from the seed, as the corpus targets draw them. This is where most of one take's difference from another
comes from; the lips never depend on it.
"""

from __future__ import annotations

import numpy as np

from ..arkit import INDEX
from ..lipsync.blinks import blinks

GAZE_H, GAZE_V = 0.12, 0.08  # spread of gaze targets (ARKit eyeLook units), as the corpus draws them
_LOOK = {  # sign → channels for horizontal (character looks to its left = left eye out, right eye in) and vertical
    ("h", 1): ("eyeLookOutLeft", "eyeLookInRight"), ("h", -1): ("eyeLookInLeft", "eyeLookOutRight"),
    ("v", 1): ("eyeLookUpLeft", "eyeLookUpRight"), ("v", -1): ("eyeLookDownLeft", "eyeLookDownRight"),
}


def add_blinks(values: np.ndarray, times: np.ndarray, duration: float, seed: int, rates: np.ndarray,
               owner: np.ndarray) -> None:
    """Blink curves into eyeBlink* (max with what is there), in place. ``rates[s]`` is segment s's blink
    rate multiplier, ``owner[t]`` the segment that owns frame t."""
    left = np.zeros(len(times))
    right = np.zeros(len(times))
    drawn: dict[float, tuple[np.ndarray, np.ndarray]] = {}  # segments at the same rate share one draw (exact)
    for s, rate in enumerate(rates):
        if rate <= 0:
            continue
        if float(rate) not in drawn:
            drawn[float(rate)] = blinks(times, duration, seed, float(rate))
        bl, br = drawn[float(rate)]
        mine = owner == s
        left[mine], right[mine] = bl[mine], br[mine]
    for name, curve in (("eyeBlinkLeft", left), ("eyeBlinkRight", right)):
        values[:, INDEX[name]] = np.maximum(values[:, INDEX[name]], curve)


def add_gaze(values: np.ndarray, times: np.ndarray, seed: int, amount: float = 1.0) -> None:
    """Gaze held for 1–4 s at a time, then a saccade to a new small offset; added in place."""
    rng = np.random.default_rng([seed, 0x6A2E])
    t, end = 0.0, float(times[-1]) if len(times) else 0.0
    while t <= end:
        span = float(rng.uniform(1.0, 4.0))
        sel = (times >= t) & (times < t + span)
        for axis, value in (("h", rng.normal(0, GAZE_H)), ("v", rng.normal(0, GAZE_V))):
            for name in _LOOK[(axis, 1 if value > 0 else -1)]:
                values[sel, INDEX[name]] += amount * abs(float(value))
        t += span
