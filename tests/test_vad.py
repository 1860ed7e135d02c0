"""The pause detector of ``avitalk eval --real`` (core/audio/vad.py) on made audio: speech-like bursts
(harmonic, syllable-rate amplitude modulation, fricative-like noise bursts) with pauses of known times, in
white and low-pass room noise."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from avi_talking.core.audio import vad
from avi_talking.core.audio.loader import from_samples

SR = 16000


def _voiced(seconds: float, f0: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(round(seconds * SR))) / SR
    wobble = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(wobble) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 25))
    syllables = 0.25 + 0.75 * np.sin(np.pi * 4.5 * t) ** 2  # ~4.5 syllables a second
    return 0.08 * x * syllables


def _fricative(seconds: float, rng: np.random.Generator) -> np.ndarray:
    x = rng.normal(0, 1, int(round(seconds * SR)))
    return 0.03 * np.diff(x, prepend=0.0)  # high-passed noise, like /s/


def _utterance(rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Speech-like audio and its true pauses (start, end) in seconds."""
    plan = [("pause", 0.5), ("speech", 1.3), ("pause", 0.3), ("speech", 0.9), ("pause", 0.7), ("speech", 1.1),
            ("pause", 0.22), ("speech", 0.6), ("pause", 0.4)]
    parts, pauses, t = [], [], 0.0
    for kind, seconds in plan:
        if kind == "pause":
            parts.append(np.zeros(int(round(seconds * SR))))
            pauses.append((t, t + seconds))
        else:  # a word ends in a fricative and has a stop closure (60 ms silence) inside
            half = (seconds - 0.16) / 2
            parts += [_voiced(half, rng.uniform(100, 200), rng), np.zeros(int(0.06 * SR)),
                      _voiced(half, rng.uniform(100, 200), rng), _fricative(0.1, rng)]
        t += seconds
    return np.concatenate(parts), pauses


def _room_noise(n: int, level: float, rng: np.random.Generator) -> np.ndarray:
    """Low-passed (hum-and-fan-like) noise with a 50 Hz hum."""
    white = rng.normal(0, 1, n)
    kernel = np.exp(-np.arange(64) / 8.0)
    brown = np.convolve(white, kernel / kernel.sum(), mode="same")
    hum = 0.3 * np.sin(2 * np.pi * 50 * np.arange(n) / SR)
    noise = brown / np.std(brown) + hum
    return level * noise / np.std(noise)


def _match(found: list[tuple[float, float]], truth: list[tuple[float, float]], tol: float) -> None:
    for a, b in truth:
        near = [p for p in found if abs(p[0] - a) <= tol and abs(p[1] - b) <= tol]
        assert near, f"pause {a:.2f}-{b:.2f} not found within {tol * 1000:.0f} ms in {found}"
    assert len(found) == len(truth), f"extra pauses: {found} vs {truth}"


@pytest.mark.parametrize("noise", ["white", "room"])
@pytest.mark.parametrize("snr_db", [40.0, 20.0, 10.0])
def test_finds_the_pauses_in_noise(noise: str, snr_db: float) -> None:
    rng = np.random.default_rng(int(snr_db) + len(noise))
    x, truth = _utterance(rng)
    speech_rms = float(np.sqrt(np.mean(x[np.abs(x) > 0] ** 2)))
    level = speech_rms / 10 ** (snr_db / 20)
    x = x + (rng.normal(0, level, len(x)) if noise == "white" else _room_noise(len(x), level, rng))
    activity = vad.detect(from_samples(x.astype(np.float32), SR))
    _match(activity.pauses(), truth, 0.03)
    if snr_db >= 20:  # the stop closures (60 ms) are bridged, not pauses, even with no minimum length
        assert len(activity.pauses(min_length=0.0)) == len(truth)


def test_adapts_to_the_recording_level() -> None:
    """The same utterance 30 dB quieter (and its noise with it) gives the same pauses."""
    rng = np.random.default_rng(7)
    x, truth = _utterance(rng)
    x = x + rng.normal(0, 0.002, len(x))
    loud = vad.detect(from_samples(x.astype(np.float32), SR))
    quiet = vad.detect(from_samples((x * 10 ** (-30 / 20)).astype(np.float32), SR))
    assert loud.pauses() == quiet.pauses()
    assert quiet.noise_floor_db < loud.noise_floor_db - 25


@pytest.mark.parametrize("kind", ["silence", "white", "room"])
def test_noise_alone_is_no_speech(kind: str) -> None:
    rng = np.random.default_rng(3)
    n = 3 * SR
    x = {"silence": np.zeros(n), "white": rng.normal(0, 0.01, n), "room": _room_noise(n, 0.01, rng)}[kind]
    with warnings.catch_warnings():  # the loader's "audio is silent"
        warnings.simplefilter("ignore")
        activity = vad.detect(from_samples(x.astype(np.float32), SR))
    assert not activity.speech.any()
    assert activity.pauses() == [(0.0, pytest.approx(3.0))]


def test_pause_frames_keep_a_margin_from_speech_only() -> None:
    speech = np.zeros(300, bool)
    speech[50:100] = True  # 0.5-1.0 s speech; pauses 0-0.5 (clip start) and 1.0-3.0 (to the clip end)
    speech[200:250] = True  # splits the second pause: 1.0-2.0 and 2.5-3.0
    activity = vad.VoiceActivity(0.01, speech, np.zeros(300), -60.0, -50.0)
    assert activity.pauses() == [(0.0, 0.5), (1.0, 2.0), (2.5, 3.0)]
    times = np.arange(90) / 30.0
    inner = activity.on_frames(times, margin=0.1)
    inside = times[inner]
    # no margin at the clip's own start and end, 0.1 s at every edge that borders speech
    assert inside.min() == 0.0 and inside.max() == pytest.approx(89 / 30)
    assert not ((inside > 0.4) & (inside < 1.1)).any()
    assert not ((inside > 1.9) & (inside < 2.6)).any()
    assert ((inside >= 1.1) & (inside < 1.9)).sum() == 24
    everything = activity.on_frames(times)
    assert everything.sum() > inner.sum()
    assert activity.on_frames(times, min_length=0.6).sum() == 30  # only the 1-s pause
