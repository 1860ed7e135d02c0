"""Speedups that must not change a single bit: stage 1's splitting (syllable nuclei counted on the voiced peaks
alone, the clip-wide values computed once per clip, the boundary statistics computed alone),
the front end's windows gathered from the stretch they cover, and blinks computed on the frames around each.
Each is compared, bit for bit, with the computation it replaces (which is the definition, kept in the code or
written out here)."""

from __future__ import annotations

import numpy as np
import pytest

from avi_talking.core.audio.features import _gather
from avi_talking.core.audio.loader import from_samples
from avi_talking.core.lipsync.blinks import blink_curve, blinks
from avi_talking.core.stage1.features import (
    STAT_NAMES,
    FrameFeatures,
    _nuclei,
    _nuclei_scan,
    _pct,
    frame_features,
    pauses,
    segment_stats,
)
from avi_talking.core.stage1.segment import _CHANGE_STATS, Cut, boundary_vector, phrase_cuts

SENTENCES = ("We walked home along the quiet river in the evening.",
             "Maybe the baby wants more milk before bedtime!",
             "Please bring me the big blue bottle from the cupboard.",
             "My mother made marmalade in the summer months?")


@pytest.fixture(scope="module")
def ff() -> FrameFeatures:
    """About 15 s of espeak-ng speech with pauses, its manner changing from sentence to sentence."""
    from avi_talking.core.tts import espeak

    if not espeak.available():
        pytest.skip("espeak-ng is not installed (the set-up script installs it)")
    parts = []
    for k, text in enumerate(SENTENCES):
        s = espeak.synthesize(text, voice="en-us", rate=110 + 40 * k, pitch=20 + 15 * k)
        parts += [from_samples(s.samples, s.sr).samples, np.zeros(int(0.4 * 16000), np.float32)]
    return frame_features(from_samples(np.concatenate(parts), 16000))


def _smoothed(energy: np.ndarray) -> np.ndarray:
    kernel = np.hanning(7)[1:-1]
    return np.convolve(energy, kernel / kernel.sum(), mode="same")


def test_nuclei_on_the_peaks_alone_count_what_the_frame_scan_counts() -> None:
    rng = np.random.default_rng(3)
    counts = []
    for k in range(3000):
        n = int(rng.integers(5, 300))
        kind = k % 4
        if kind == 0:
            energy = rng.normal(-30, 10, n)
        elif kind == 1:
            energy = np.round(rng.normal(-30, 3, n))  # plateaus and ties
        elif kind == 2:
            energy = np.cumsum(rng.normal(0, 2, n))
        else:
            energy = np.sin(np.arange(n) * rng.uniform(0.05, 1.0)) * rng.uniform(0, 20) + rng.normal(0, 0.5, n)
        energy = energy.astype(np.float32)
        if k % 40 == 0:
            energy[rng.integers(0, n)] = np.nan if k % 80 == 0 else -np.inf
        voiced = rng.random(n) < rng.uniform(0.2, 1.0)
        counts.append(_nuclei(energy, voiced))
        assert counts[-1] == _nuclei_scan(_smoothed(energy), voiced), k
    assert max(counts) >= 5 and min(counts) == 0  # the cases exercise both counting and not counting


def test_nuclei_of_real_speech_match_the_frame_scan(ff: FrameFeatures) -> None:
    voiced = (ff.f0 > 0) & ff.active
    for a, b in [(0, ff.n_frames), (0, ff.n_frames // 2), (ff.n_frames // 3, ff.n_frames)]:
        got = _nuclei(ff.energy_db[a:b], voiced[a:b])
        assert got == _nuclei_scan(_smoothed(ff.energy_db[a:b]), voiced[a:b]) and got > 5


def test_clip_values_are_the_per_segment_expressions(ff: FrameFeatures) -> None:
    assert ff.clip_top == _pct(ff.energy_db[ff.active], 90)
    assert ff.snr == _pct(ff.energy_db, 95) - _pct(ff.energy_db, 5)
    for a, b in [(0, ff.n_frames), (17, 400), (ff.n_frames - 2, ff.n_frames)]:
        per_segment = np.mean(np.abs(np.diff(ff.logmel[a:b], axis=0)), axis=1)
        assert ff.flux[a : b - 1].tobytes() == per_segment.tobytes()


def test_named_statistics_are_those_of_the_full_set(ff: FrameFeatures) -> None:
    index = [STAT_NAMES.index(n) for n in _CHANGE_STATS]
    costly = ("f0_slope", "pause_rate", "tilt_std", "centroid_std", *(n for n in STAT_NAMES if n.startswith("band_")))
    skipped = [STAT_NAMES.index(n) for n in costly]
    rng = np.random.default_rng(5)
    for _ in range(60):
        a, b = sorted(int(x) for x in rng.integers(0, ff.n_frames, 2))
        full = segment_stats(ff, a, b + 1)
        some = segment_stats(ff, a, b + 1, _CHANGE_STATS)
        assert full[index].tobytes() == some[index].tobytes()
        assert not some[skipped].any()  # the costly ones not asked for are skipped, not computed


def test_boundaries_and_cuts_are_those_of_full_statistics(ff: FrameFeatures) -> None:
    cuts = [Cut(a, b) for a, b in pauses(ff)]  # every pause of ≥ 150 ms
    assert len(cuts) >= 3
    for cut in cuts:
        fast = boundary_vector(ff, cut, 0, ff.n_frames)
        assert fast.tobytes() == boundary_vector(ff, cut, 0, ff.n_frames, segment_stats).tobytes()

    # the manner-change rating compares the phrases either side of each cut: the same bytes either way
    phrases = phrase_cuts(ff)
    assert len(phrases) >= 3
    edges = [0, *(c.frame for c in phrases), ff.n_frames]
    for k, cut in enumerate(phrases):
        assert boundary_vector(ff, cut, edges[k], edges[k + 2]).tobytes() == \
            boundary_vector(ff, cut, edges[k], edges[k + 2], segment_stats).tobytes()


# ---- the front end's windows and the blinks ----------------------------------------------------------------


def test_windows_gathered_from_their_stretch_are_those_of_the_padded_signal() -> None:
    rng = np.random.default_rng(11)
    for k in range(400):
        n, width = int(rng.integers(0, 3000)), int(rng.integers(1, 600))
        signal = rng.normal(size=n).astype(np.float32 if k % 2 else np.float64)
        centres = np.sort(rng.uniform(-0.49, n + 0.49, int(rng.integers(0, 40)))) if k % 3 else \
            np.arange(int(rng.integers(0, 40))) * (n / 40)
        half = width // 2
        padded = np.pad(signal, (half, width - half))  # the definition: the whole signal, zero-padded
        want = padded[np.rint(centres).astype(np.int64)[:, None] + np.arange(width)[None, :]]
        got = _gather(signal, centres, width)
        assert got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes(), k


@pytest.mark.parametrize("fps", [2.0, 24.0, 29.97, 60.0, 240.0])
def test_blinks_on_the_frames_around_them_are_those_on_every_frame(fps: float) -> None:
    rng = np.random.default_rng(int(fps * 100))
    for seed in range(20):
        times = np.arange(int(30 * fps)) / fps
        onsets = sorted(rng.uniform(-0.5, 30.5, 12).tolist())
        order = rng.permutation(len(times))  # unordered frame times: every frame is computed for every blink
        fast = blink_curve(times, onsets, np.random.default_rng(seed))
        everywhere = np.empty_like(fast)
        everywhere[order] = blink_curve(times[order], onsets, np.random.default_rng(seed))
        assert fast.tobytes() == everywhere.tobytes()
        assert fast.max() >= 0.85 or fps < 10  # blinks were drawn (at 2 fps most fall between frames)
    left, right = blinks(np.arange(900) / 30.0, 30.0, 4)
    assert (left > 0.8).sum() >= 5 and (right > 0.8).sum() >= 5
