"""The pause gate of stage 2's takes: the speech-driven mouth comes to rest in the pauses the front end's level
shows, expression stays, short gaps (stop closures) and speech are untouched."""

from __future__ import annotations

import numpy as np

from avi_talking.core.arkit import ARKIT52, INDEX
from avi_talking.core.lipsync.visemes import LIP_OPENERS
from avi_talking.core.stage2.motion import (
    GATE_MIN_SPAN_DB,
    REST_RAMP_S,
    add_phrase_brows,
    close_in_pauses,
    level_span,
    speaking_frames,
)

FPS = 30.0
TIMES = np.arange(int(4.0 * FPS)) / FPS


def _values() -> np.ndarray:
    values = np.zeros((len(TIMES), len(ARKIT52)))
    values[:, INDEX["jawOpen"]] = 0.3
    values[:, INDEX["mouthClose"]] = 0.1
    values[:, [INDEX[n] for n in LIP_OPENERS]] = 0.2
    values[:, INDEX["mouthSmileLeft"]] = 0.4
    return values


def _speaking() -> np.ndarray:
    on = (TIMES >= 0.5) & (TIMES < 3.5)
    on[(TIMES >= 1.5) & (TIMES < 2.1)] = False  # a pause of 0.6 s
    on[(TIMES >= 2.6) & (TIMES < 2.7)] = False  # a gap of 0.1 s: a stop closure, not a pause
    return on


def _level(floor_db: float = -55.0) -> np.ndarray:
    """A level track of _speaking(): speech at -18 dB over a floor, with a little jitter."""
    return np.where(_speaking(), -18.0, floor_db) + np.random.default_rng(0).normal(0.0, 1.0, len(TIMES))


def test_the_mouth_rests_in_pauses_and_expression_stays() -> None:
    values = _values()
    close_in_pauses(values, _speaking(), TIMES, _level())
    jaw, openers = values[:, INDEX["jawOpen"]], values[:, [INDEX[n] for n in LIP_OPENERS]]
    inner = (TIMES >= 1.5 + REST_RAMP_S) & (TIMES < 2.1 - REST_RAMP_S)
    assert inner.sum() >= 10 and not jaw[inner].any() and not openers[inner].any()
    assert not values[inner, INDEX["mouthClose"]].any()  # mouthClose never exceeds jawOpen (lips would cross)
    edges = (TIMES < 0.5 - REST_RAMP_S) | (TIMES >= 3.5 + REST_RAMP_S)
    assert not jaw[edges].any()  # before the first word and after the last the mouth is at rest to the edge
    np.testing.assert_array_equal(values[:, INDEX["mouthSmileLeft"]], 0.4)  # expression is not the gate's
    speech = (TIMES >= 0.7) & (TIMES < 1.4) | (TIMES >= 2.2) & (TIMES < 3.3)  # incl. the 0.1 s gap
    np.testing.assert_array_equal(values[speech], _values()[speech])
    # the edges of a pause ease, no jumps
    assert np.abs(np.diff(jaw)).max() < 0.3 * 0.6


def test_no_pause_no_change() -> None:
    values = _values()
    close_in_pauses(values, np.ones(len(TIMES), bool), TIMES, _level())
    np.testing.assert_array_equal(values, _values())


def test_a_level_track_becomes_pauses() -> None:
    level = _level()
    np.testing.assert_array_equal(speaking_frames(level, FPS)[_speaking()], True)
    assert not speaking_frames(level, FPS)[(TIMES >= 1.6) & (TIMES < 2.0)].any()


def test_under_heavy_noise_the_gate_leaves_the_mouth_to_the_network() -> None:
    # speech 10 dB over the noise: the level still shows the pause, but at such a ratio quiet words fall
    # under the threshold too, so the gate stays out (the network rests in noisy pauses itself)
    noisy = _level(floor_db=-28.0)
    assert level_span(noisy) < GATE_MIN_SPAN_DB <= level_span(_level())
    speaking = speaking_frames(noisy, FPS)
    assert not speaking[(TIMES >= 1.6) & (TIMES < 2.0)].any()  # a pause the gate would otherwise close
    values = _values()
    close_in_pauses(values, speaking, TIMES, noisy)
    np.testing.assert_array_equal(values, _values())
    close_in_pauses(values, speaking, TIMES, _level(floor_db=-40.0))  # 22 dB: clear enough to trust
    assert not values[(TIMES >= 1.6 + REST_RAMP_S) & (TIMES < 2.0 - REST_RAMP_S), INDEX["jawOpen"]].any()
    assert level_span(np.zeros(0)) == 0.0


def test_phrase_brows_are_drawn_per_take_after_pauses() -> None:
    def take(seed: int, amount: float = 1.0) -> np.ndarray:
        values = np.zeros((len(TIMES), len(ARKIT52)))
        add_phrase_brows(values, TIMES, seed, _speaking(), FPS, amount)
        return values

    inner = INDEX["browInnerUp"]
    takes = [take(s) for s in range(40)]
    assert np.array_equal(takes[0], take(0)) and any(not np.array_equal(takes[0], t) for t in takes[1:])
    lifts = np.stack([t[:, inner] for t in takes])
    assert 0.05 < lifts.max() < 0.3 * 1.8 + 1e-9  # the corpus's 0.1-0.3, times an expressiveness ≤ 1.8
    # lifts follow the two phrase starts (0.5 s and 2.1 s) within 0.4 s; the short gap at 2.6 s starts none
    peaks = TIMES[np.argmax(lifts, axis=1)][lifts.max(axis=1) > 0]
    assert all(min(abs(p - 0.5), abs(p - 2.1)) < 0.45 for p in peaks)
    assert 0.2 < float(np.mean(lifts.max(axis=1) > 0)) < 0.95  # some takes lift, some do not
    np.testing.assert_allclose(takes[3][:, INDEX["browOuterUpLeft"]], 0.6 * takes[3][:, inner])
    np.testing.assert_allclose(take(3, 0.5), 0.5 * takes[3])
    assert not take(3, 0.0).any()
    others = np.delete(np.arange(len(ARKIT52)), [inner, INDEX["browOuterUpLeft"], INDEX["browOuterUpRight"]])
    assert not np.stack(takes)[:, :, others].any()
