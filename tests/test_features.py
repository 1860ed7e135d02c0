"""The front end on the animation's frame grid: frame t is centred at t/fps, for every common fps."""

from __future__ import annotations

import numpy as np
import pytest

from avi_talking.core.animation import n_frames_for, normalize_fps
from avi_talking.core.audio.features import N_MELS, extract_features, mel_filterbank
from avi_talking.core.audio.loader import from_samples

from conftest import tone

FPS = [24.0, 25.0, 30.0, 60.0, 29.97]
SR = 16000


def _clicks(seconds: float, at: list[float]) -> np.ndarray:
    x = np.zeros(int(seconds * SR), np.float32)
    burst = np.hanning(33).astype(np.float32) * 0.8  # 2 ms burst, centred on its sample
    for t in at:
        c = int(round(t * SR))
        x[c - 16 : c + 17] += burst
    return x


@pytest.mark.parametrize("fps", FPS)
def test_energy_peaks_on_the_frame_of_each_click(fps: float) -> None:
    rate = normalize_fps(fps)
    seconds = 95.0  # long enough that a 30 vs 29.97 mix-up would be off by ~3 frames at the end
    frames = [12, 100, 1000, int(90 * rate)]
    audio = from_samples(_clicks(seconds, [k / rate for k in frames]), SR)
    feats = extract_features(audio, rate)
    assert feats.n_frames == n_frames_for(seconds, rate)
    assert np.allclose(feats.times, np.arange(feats.n_frames) / rate)
    for k in frames:
        window = slice(k - 4, k + 5)
        assert k - 4 + int(np.argmax(feats.energy_db[window])) == k
        assert k - 4 + int(np.argmax(feats.logmel[window].sum(axis=1))) == k


@pytest.mark.parametrize("fps", FPS)
def test_click_between_two_frames_is_seen_equally_by_both(fps: float) -> None:
    rate = normalize_fps(fps)
    k = 40
    audio = from_samples(_clicks(3.0, [(k + 0.5) / rate]), SR)
    energy = extract_features(audio, rate).energy_db
    assert abs(energy[k] - energy[k + 1]) < 0.5  # dB: centred windows are symmetric about the click
    assert energy[k] > energy[k - 1] + 3 and energy[k + 1] > energy[k + 2] + 3


def test_shapes_and_dtypes() -> None:
    audio = from_samples(tone(1.0), SR)
    feats = extract_features(audio, 30.0)
    assert feats.logmel.shape == (30, N_MELS) and feats.logmel.dtype == np.float32
    assert feats.energy_db.shape == feats.loudness.shape == feats.voiced.shape == (30,)
    assert np.isfinite(feats.logmel).all()


def test_mel_filterbank_covers_the_spectrum() -> None:
    bank = mel_filterbank(16000, 512, 80)
    assert bank.shape == (80, 257)
    assert (bank >= 0).all()
    centres = np.argmax(bank, axis=1)
    assert np.all(np.diff(centres) >= 0) and centres[-1] > 200  # increasing, reaching high bins


def test_a_tone_lights_the_right_mel_band() -> None:
    audio = from_samples(tone(1.0, freq=1000.0), SR)
    mel = extract_features(audio, 30.0).logmel.mean(axis=0)
    bank = mel_filterbank(16000, 512, 80)
    strongest_filters_at_1k = np.argsort(bank[:, 32])[-2:]  # FFT bin 32 is 1000 Hz; two filters overlap it
    assert int(np.argmax(mel)) in strongest_filters_at_1k


def test_voice_activity_follows_bursts() -> None:
    # 0.6 s on / 0.6 s off, with a little noise in the gaps
    rng = np.random.default_rng(0)
    on = tone(0.6, freq=300.0, level=0.3)
    off = (rng.normal(0, 0.001, len(on))).astype(np.float32)
    audio = from_samples(np.concatenate([off, on, off, on, off]), SR)
    feats = extract_features(audio, 30.0)
    expected = np.zeros(feats.n_frames, bool)
    for start in (0.6, 1.8):
        expected[(feats.times >= start) & (feats.times < start + 0.6)] = True
    assert np.mean(feats.voiced == expected) > 0.93
    assert feats.loudness[expected].mean() > 0.8 and feats.loudness[~expected].mean() < 0.1


@pytest.mark.filterwarnings("ignore:audio is silent")
def test_silence_is_never_voiced() -> None:
    audio = from_samples(np.zeros(SR, np.float32), SR)
    feats = extract_features(audio, 25.0)
    assert not feats.voiced.any() and not feats.loudness.any()


def test_speech_without_pauses_is_voiced(spoken: object) -> None:
    from avi_talking.core.audio.loader import load_audio

    audio = load_audio(spoken.path)  # type: ignore[attr-defined]
    feats = extract_features(audio, 30.0)
    assert 0.5 < feats.voiced.mean() < 0.95  # speech with a sentence pause, and silence at the ends


def test_voice_activity_bridges_short_gaps_only() -> None:
    """A 100 ms dip inside speech is a stop closure, not a pause; a 400 ms one is a pause."""
    from avi_talking.core.audio.features import voice_activity

    fps = 100.0
    energy = np.full(300, -20.0)
    energy[:40] = energy[-40:] = -70.0  # silence at both ends
    energy[100:110] = -70.0  # 100 ms
    energy[180:220] = -70.0  # 400 ms
    voiced, _ = voice_activity(energy, fps)
    assert voiced[100:110].all()
    assert not voiced[185:215].any()
    assert not voiced[:35].any() and not voiced[-35:].any()
