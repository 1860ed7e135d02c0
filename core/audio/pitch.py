"""Fundamental frequency (F0) with the YIN method (de Cheveigné & Kawahara 2002), in numpy.

The audio is halved to 8 kHz (speech F0 lives far below 4 kHz), cut into 32 ms windows every 10 ms,
and for each window the cumulative-mean-normalised difference function is computed through one FFT
cross-correlation per frame, in chunks so memory stays bounded on long files. A frame is voiced when
its best normalised difference is under ``VOICED_MAX``; the period is refined by parabolic
interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .resample import resample

PITCH_SR = 8000
HOP_SECONDS = 0.01  # 100 frames per second
WINDOW = 256  # 32 ms at 8 kHz: two periods of a 62 Hz voice
F0_MIN, F0_MAX = 60.0, 450.0
THRESHOLD = 0.15  # YIN's absolute threshold: the first dip under it is the period
VOICED_MAX = 0.35  # a frame whose best dip is above this is unvoiced
_N_FFT = 512  # ≥ WINDOW + max lag, so the circular correlation never wraps
_CHUNK = 4096


@dataclass
class PitchTrack:
    f0: np.ndarray  # [T] Hz, 0 where unvoiced
    periodicity: np.ndarray  # [T] 1 − best normalised difference, 0..1 (1: perfectly periodic)
    hop: float = HOP_SECONDS

    @property
    def voiced(self) -> np.ndarray:
        return self.f0 > 0


def _to_pitch_rate(samples: np.ndarray, sr: int) -> np.ndarray:
    """soxr where the audio backend uses it (the numbers the model was trained on), else the numpy resampler,
    whose response is soxr's."""
    if sr == PITCH_SR:
        return samples.astype(np.float32)
    return resample(samples, sr, PITCH_SR)


def track_pitch(samples: np.ndarray, sr: int, n_frames: int | None = None) -> PitchTrack:
    """F0 every 10 ms, frame ``t`` centred at ``t × 10 ms`` (the same grid as ``extract_features`` at
    100 fps). ``n_frames`` fixes the count (else ceil(duration / 10 ms))."""
    x = _to_pitch_rate(np.asarray(samples), sr)
    hop = int(round(PITCH_SR * HOP_SECONDS))
    count = n_frames if n_frames is not None else int(np.ceil(len(x) / hop))
    return PitchTrack(*_frames_f0(x, np.arange(count)))


def pitch_at(samples: np.ndarray, sr: int, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F0, periodicity) of just the given 10 ms frames (indices on ``track_pitch``'s grid, same values):
    for callers that need F0 in a few places, e.g. the vowels, and not over the whole file."""
    return _frames_f0(_to_pitch_rate(np.asarray(samples), sr), np.asarray(frames, np.int64))


def _frames_f0(x: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hop = int(round(PITCH_SR * HOP_SECONDS))
    count = len(frames)
    tau_min = int(np.floor(PITCH_SR / F0_MAX))
    tau_max = int(np.ceil(PITCH_SR / F0_MIN))
    span = WINDOW + tau_max
    # frame t covers [t*hop - WINDOW/2, ... + span): centred on its time for the window part
    last = int(frames.max()) if count else 0
    padded = np.pad(x, (WINDOW // 2, span + hop + max(0, last * hop - len(x))))
    f0 = np.zeros(count, np.float32)
    period = np.zeros(count, np.float32)
    lags = np.arange(tau_max + 1)
    for a in range(0, count, _CHUNK):
        idx = frames[a : a + _CHUNK, None] * hop + np.arange(span)[None, :]
        frames_ = padded[idx].astype(np.float64)
        frames_ -= frames_[:, :WINDOW].mean(axis=1, keepdims=True)
        head = np.zeros_like(frames_)
        head[:, :WINDOW] = frames_[:, :WINDOW]
        acf = np.fft.irfft(np.conj(np.fft.rfft(head, _N_FFT)) * np.fft.rfft(frames_, _N_FFT), _N_FFT)[:, : tau_max + 1]
        sq = np.concatenate([np.zeros((len(frames_), 1)), np.cumsum(frames_**2, axis=1)], axis=1)
        energy0 = sq[:, WINDOW][:, None]
        energy_tau = sq[:, lags + WINDOW] - sq[:, lags]
        diff = np.maximum(energy0 + energy_tau - 2.0 * acf, 0.0)
        cum = np.cumsum(diff[:, 1:], axis=1)
        cmnd = np.ones_like(diff)
        cmnd[:, 1:] = diff[:, 1:] * lags[1:] / np.maximum(cum, 1e-12)
        f0[a : a + len(frames_)], period[a : a + len(frames_)] = _pick(cmnd, tau_min, tau_max, energy0[:, 0])
    return f0, period


def _pick(cmnd: np.ndarray, tau_min: int, tau_max: int, energy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the first lag under THRESHOLD that is a local minimum (else the global minimum)."""
    window = cmnd[:, tau_min : tau_max + 1]
    n = window.shape[1]
    under = window < THRESHOLD
    # the first dip under the threshold, followed down to its local minimum
    first = np.where(under.any(axis=1), np.argmax(under, axis=1), np.argmin(window, axis=1))
    best = first.copy()
    rows = np.arange(len(window))
    for _ in range(8):  # walk downhill a few steps (dips are narrow)
        nxt = np.minimum(best + 1, n - 1)
        step = window[rows, nxt] < window[rows, best]
        if not step.any():
            break
        best = np.where(step, nxt, best)
    value = window[rows, best]
    # parabolic refinement of the period
    left = window[rows, np.maximum(best - 1, 0)]
    right = window[rows, np.minimum(best + 1, n - 1)]
    denom = left - 2 * value + right
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
    tau = best + tau_min + np.clip(shift, -1, 1)
    voiced = (value < VOICED_MAX) & (energy > 1e-7) & (best > 0) & (best < n - 1)
    f0 = np.where(voiced, PITCH_SR / np.maximum(tau, 1e-6), 0.0)
    return f0.astype(np.float32), np.clip(1.0 - value, 0.0, 1.0).astype(np.float32)
