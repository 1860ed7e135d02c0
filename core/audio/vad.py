"""Voice activity for measuring pauses in real recordings (``avitalk eval --real``).

The front end's ``voice_activity`` is tuned to drive the mouth (a wide energy window, long hangover); this one
finds *where pauses are* to 10 ms, in room noise. Per 10 ms hop (25 ms window) it reads the level (dBFS), the
spectral flatness (log of geometric / arithmetic mean power, 100 Hz–7 kHz: near 0 for noise, strongly negative
for voiced speech) and the zero-crossing rate. The clip's own quietest hops give the noise floor and the
noise's flatness and zero-crossing statistics, so the thresholds adapt to each recording:

- a hop is *surely speech* when its level is well above the floor (``max(STRONG_DB, 0.3 × span)``);
- a hop is *maybe speech* when it is a few dB above the floor and its flatness or zero-crossing rate is unlike
  the noise's (voiced tails are tonal, fricatives cross zero more often than low-passed room noise);
- maybe-speech joins speech only when it touches sure speech (hysteresis), so noise alone never starts speech;
- gaps shorter than ``BRIDGE`` (stop closures) are bridged, bursts shorter than ``MIN_BURST`` (clicks) dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .loader import Audio
from .runs import fill_short, runs

HOP = 0.01  # seconds
WINDOW = 0.025
STRONG_DB = 9.0  # sure speech: at least this far above the noise floor (or 30 % of the floor-to-speech span)
WEAK_DB = 3.0  # maybe speech: at least this far above the floor, and unlike the noise in its spectrum
BRIDGE = 0.1  # silences shorter than this inside speech are stop closures, not pauses
MIN_BURST = 0.04  # sounds shorter than this are clicks
MIN_PAUSE = 0.2  # the pauses the evaluation measures


@dataclass(frozen=True)
class VoiceActivity:
    hop: float
    speech: np.ndarray  # [H] bool per hop (hop k covers [k·hop, (k+1)·hop))
    level_db: np.ndarray  # [H]
    noise_floor_db: float
    threshold_db: float  # the sure-speech level

    def pauses(self, min_length: float = MIN_PAUSE) -> list[tuple[float, float]]:
        """(start, end) seconds of the non-speech runs at least ``min_length`` long (leading and trailing
        silence included)."""
        return [(a * self.hop, b * self.hop) for a, b in runs(self.speech, False) if (b - a) * self.hop >= min_length
                - 1e-9]

    def on_frames(self, times: np.ndarray, min_length: float = MIN_PAUSE, margin: float = 0.0) -> np.ndarray:
        """Mask of the frame times that lie inside a pause of at least ``min_length``, ``margin`` seconds in
        from any edge that borders speech (the clip's own start and end get no margin)."""
        mask = np.zeros(len(times), bool)
        end = len(self.speech) * self.hop
        for a, b in self.pauses(min_length):
            lo = a + (margin if a > 0 else 0.0)
            hi = b - (margin if b < end - 1e-9 else 0.0)
            if hi > lo:
                mask |= (times >= lo) & (times < hi)
        return mask


def _frames(x: np.ndarray, sr: int) -> np.ndarray:
    hop, width = int(round(HOP * sr)), int(round(WINDOW * sr))
    count = max(1, int(np.ceil(len(x) / hop)))
    padded = np.pad(x, (width // 2, width + count * hop))  # hop k is centred on sample k·hop + hop/2
    starts = np.arange(count) * hop + hop // 2
    return padded[starts[:, None] + np.arange(width)[None, :]]


def detect(audio: Audio) -> VoiceActivity:
    """Voice activity of ``audio`` per 10 ms hop."""
    x = np.asarray(audio.samples, np.float64)
    sr = audio.sr
    if len(x) == 0:
        return VoiceActivity(HOP, np.zeros(0, bool), np.zeros(0), -120.0, -120.0)
    frames = _frames(x - np.mean(x), sr)
    frames = frames - frames.mean(axis=1, keepdims=True)
    window = np.hanning(frames.shape[1] + 2)[1:-1]
    level = 10.0 * np.log10(np.maximum(np.mean((frames * window) ** 2, axis=1) * 8 / 3, 1e-12))  # Hann gain
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(frames.shape[1], 1.0 / sr)
    band = power[:, (freqs >= 100) & (freqs <= min(7000.0, sr / 2 - 1))]
    flatness = np.mean(np.log(band), axis=1) - np.log(np.mean(band, axis=1))  # ≤ 0; 0 = white
    zcr = np.mean(np.abs(np.diff(np.signbit(frames), axis=1)), axis=1)

    floor = float(np.percentile(level, 10))
    top = float(np.percentile(level, 95))
    strong = floor + max(STRONG_DB, 0.3 * (top - floor))
    quiet = level <= np.percentile(level, 20)  # the noise's own hops
    f_mu, f_sd = float(np.mean(flatness[quiet])), float(np.std(flatness[quiet])) + 0.05
    z_mu, z_sd = float(np.mean(zcr[quiet])), float(np.std(zcr[quiet])) + 0.01
    unlike_noise = (flatness < f_mu - 3 * f_sd) | (zcr > z_mu + 3 * z_sd)
    sure = level > strong
    maybe = sure | ((level > floor + WEAK_DB) & unlike_noise)
    if top - floor < STRONG_DB:  # no dynamics: all noise/silence, or speech without pauses
        sure = maybe = np.full(len(level), top > -50.0 and bool(np.mean(unlike_noise) > 0.5))
    speech = np.zeros(len(level), bool)
    for a, b in runs(maybe, True):  # hysteresis: a maybe-run counts when it holds sure speech
        if sure[a:b].any():
            speech[a:b] = True
    speech = fill_short(speech, False, int(round(BRIDGE / HOP)), inner_only=True)
    speech = fill_short(speech, True, int(round(MIN_BURST / HOP)), inner_only=False)
    return VoiceActivity(HOP, speech, level, floor, strong)
