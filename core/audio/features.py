"""Audio front end on the animation's own frame grid.

Frame ``t`` is centred at ``t / fps`` seconds (DESIGN.md), for any fps including 29.97: each frame's
analysis window is gathered around the sample nearest its centre (error < 1/32 ms at 16 kHz), so
features never drift against the audio the way a fixed-hop STFT resampled to the fps would.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from ..animation import n_frames_for
from .loader import Audio
from .runs import fill_short

N_FFT = 512
MEL_WINDOW = 400  # 25 ms at 16 kHz
N_MELS = 80
_CHUNK_FRAMES = 4096  # gather windows in chunks to bound memory on long files


@dataclass
class Features:
    fps: float
    times: np.ndarray  # [T] frame centres in seconds
    logmel: np.ndarray  # [T, N_MELS] float32, natural log of mel power
    energy_db: np.ndarray  # [T] RMS level in dBFS over a window of max(25 ms, 2 frames)
    loudness: np.ndarray  # [T] 0..1, the level between the noise floor and the speech level
    voiced: np.ndarray  # [T] bool voice activity

    @property
    def n_frames(self) -> int:
        return len(self.times)


def frame_centres(n_samples: int, sr: int, fps: float) -> np.ndarray:
    """Sample index (float) of each frame centre t*sr/fps, for frames covering the audio."""
    count = n_frames_for(n_samples / sr, fps)
    return np.arange(count, dtype=np.float64) * (sr / fps)


def _gather(signal: np.ndarray, centres: np.ndarray, width: int) -> np.ndarray:
    """[len(centres), width] windows of ``signal`` centred on the nearest samples, zero-padded."""
    starts = np.rint(centres).astype(np.int64) - width // 2  # each window's first sample (may be < 0)
    if len(starts) == 0:
        return np.zeros((0, width), signal.dtype)
    # only the stretch these windows cover is copied and padded (not the whole signal once per chunk)
    lo, hi = int(starts.min()), int(starts.max()) + width  # the samples [lo, hi) they cover
    a, b = min(max(lo, 0), len(signal)), min(max(hi, 0), len(signal))  # those inside the signal
    piece = np.pad(signal[a:b], (max(a - lo, 0), max(hi - b, 0)))
    return piece[(starts - lo)[:, None] + np.arange(width)[None, :]]


@cache
def mel_filterbank(sr: int = 16000, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """Triangular filters on the HTK mel scale, area-normalised (Slaney style). [n_mels, n_fft//2+1]."""
    fmax = fmax or sr / 2

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = mel_to_hz(np.linspace(hz_to_mel(np.array(fmin)), hz_to_mel(np.array(fmax)), n_mels + 2))
    bins = np.linspace(0, sr / 2, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (upper - lower))  # equal area per filter
    return weights.astype(np.float32)


def logmel_energy(audio: Audio, fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame times, log-mel [T, N_MELS] and RMS energy in dBFS [T] on the fps grid."""
    x = audio.samples
    centres = frame_centres(len(x), audio.sr, fps)
    mel_win = np.zeros(N_FFT, np.float32)
    offset = (N_FFT - MEL_WINDOW) // 2
    mel_win[offset : offset + MEL_WINDOW] = np.hanning(MEL_WINDOW + 2)[1:-1]
    energy_width = max(MEL_WINDOW, int(round(2 * audio.sr / fps)))
    energy_win = np.hanning(energy_width + 2)[1:-1].astype(np.float32)
    energy_norm = float(np.sum(energy_win**2))
    bank = mel_filterbank(audio.sr)
    logmel = np.empty((len(centres), N_MELS), np.float32)
    energy = np.empty(len(centres), np.float32)
    for a in range(0, len(centres), _CHUNK_FRAMES):
        c = centres[a : a + _CHUNK_FRAMES]
        frames = _gather(x, c, N_FFT) * mel_win
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        logmel[a : a + len(c)] = np.log(np.maximum(power @ bank.T, 1e-10))
        wide = _gather(x, c, energy_width)
        rms = np.sqrt(np.sum((wide * energy_win) ** 2, axis=1) / energy_norm)
        energy[a : a + len(c)] = 20.0 * np.log10(np.maximum(rms, 1e-6))
    return centres / audio.sr, logmel, energy


def voice_activity(energy_db: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Energy VAD with an adaptive threshold and hangover. Returns (voiced, loudness 0..1)."""
    if len(energy_db) == 0:
        return np.zeros(0, bool), np.zeros(0, np.float32)
    floor = float(np.percentile(energy_db, 10))
    speech = float(np.percentile(energy_db, 95))
    span = speech - floor
    if span < 10.0:
        # no pauses to learn a floor from: either all speech or all noise/silence
        floor = min(floor, -60.0)
        span = max(speech - floor, 10.0)
    threshold = max(floor + max(6.0, 0.3 * span), -55.0)
    voiced = energy_db > threshold
    frame = 1.0 / fps
    voiced = fill_short(voiced, False, max(1, int(round(0.15 / frame))), inner_only=True)  # bridge < 150 ms
    voiced = fill_short(voiced, True, max(1, int(round(0.05 / frame))), inner_only=False)  # drop < 50 ms
    # loudness spans the speech's own dynamics (quiet consonants → 0, loud nuclei → 1), so the jaw
    # follows syllables rather than the distance from the noise floor
    level = energy_db[voiced] if voiced.any() else energy_db
    lo, hi = float(np.percentile(level, 10)), float(np.percentile(level, 95))
    lo = min(lo, hi - 12.0)  # keep at least 12 dB of range: steady tones should not swing 0..1
    loudness = np.clip((energy_db - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    return voiced, loudness


def extract_features(audio: Audio, fps: float) -> Features:
    times, logmel, energy = logmel_energy(audio, fps)
    voiced, loudness = voice_activity(energy, fps)
    if audio.is_silent:
        voiced[:] = False
        loudness[:] = 0.0
    return Features(fps, times, logmel, energy, loudness, voiced)
