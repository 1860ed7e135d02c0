"""Audio augmentation for corpus clips: reverb from synthetic room impulse responses, telephone band
limit, resampling, additive noise at a random SNR and gain. Nothing here moves the speech in time (the
room response has its direct path at lag 0), so the true phone times stay true.

Order: reverb → telephone or resampling → noise → level (may clip, as real recordings do) → int16.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..audio.loader import TARGET_SR
from ..tts import espeak

CHANCES = {"clean": 0.2, "reverb": 0.35, "telephone": 0.1, "resample": 0.2, "noise": 0.65}
NOISE_TYPES = {"white": 0.2, "pink": 0.3, "brown": 0.15, "hum": 0.1, "babble": 0.25}
SNR_DB = (0.0, 30.0)
LEVEL_DBFS = (-36.0, -14.0)  # speech RMS after the gain stage
RESAMPLE_RATES = (8000, 11025, 12000)


def draw(rng: np.random.Generator) -> dict[str, Any]:
    """The augmentation chain of one clip, as plain data (stored in the manifest)."""
    params: dict[str, Any] = {"level_dbfs": round(float(rng.uniform(*LEVEL_DBFS)), 2)}
    if rng.random() < CHANCES["clean"]:
        return params
    if rng.random() < CHANCES["reverb"]:
        params["reverb"] = {"rt60": round(float(rng.uniform(0.15, 0.9)), 3),
                            "drr_db": round(float(rng.uniform(-3.0, 12.0)), 2)}
    if rng.random() < CHANCES["telephone"]:
        params["telephone"] = True
    elif rng.random() < CHANCES["resample"]:
        params["resample"] = int(rng.choice(RESAMPLE_RATES))
    if rng.random() < CHANCES["noise"]:
        kinds = list(NOISE_TYPES)
        p = np.array([NOISE_TYPES[k] for k in kinds])
        params["noise"] = {"type": kinds[int(rng.choice(len(kinds), p=p / p.sum()))],
                           "snr_db": round(float(rng.uniform(*SNR_DB)), 2)}
    return params


def room_impulse_response(rt60: float, drr_db: float, rng: np.random.Generator, sr: int = TARGET_SR) -> np.ndarray:
    """Direct path at 0, a few early reflections, then an exponentially decaying diffuse tail that
    darkens as it decays (high frequencies die first)."""
    n = int(min(1.2 * rt60, 1.0) * sr)
    t = np.arange(n) / sr
    h = np.zeros(n)
    h[0] = 1.0
    for _ in range(int(rng.integers(4, 11))):
        k = int(rng.uniform(0.002, 0.04) * sr)
        if k < n:
            h[k] += float(rng.uniform(0.15, 0.6)) * float(rng.choice([-1.0, 1.0]))
    start = int(rng.uniform(0.005, 0.02) * sr)
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[:start] = 0.0
    # darken progressively: blend in a smoothed copy as time goes on
    smooth = np.convolve(tail, np.ones(4) / 4, mode="same")
    mix = np.clip(t / max(rt60, 1e-3), 0, 1)
    tail = (1 - mix) * tail + mix * smooth
    tail_energy = float(np.sum(tail**2))
    direct_energy = float(np.sum(h**2))
    if tail_energy > 0:
        tail *= np.sqrt(direct_energy / tail_energy * 10 ** (-drr_db / 10))
    return h + tail


def _convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    size = 1 << int(np.ceil(np.log2(len(x) + len(h))))
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)
    return y[: len(x)]


def _down_up(x: np.ndarray, rate: int, middle: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Down to ``rate`` (optionally process there) and back up to 16 kHz, same length."""
    import soxr

    down = np.asarray(soxr.resample(x, TARGET_SR, rate, quality="HQ"), np.float64)
    if middle is not None:
        down = middle(down)
    up = np.asarray(soxr.resample(down, rate, TARGET_SR, quality="HQ"), np.float64)
    out = np.zeros(len(x))
    out[: min(len(x), len(up))] = up[: len(x)]
    return out


def _mu_law(y: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """8-bit mu-law companding and back (G.711's quantisation noise)."""
    peak = float(np.max(np.abs(y))) or 1.0
    z = np.sign(y) * np.log1p(mu * np.abs(y / peak)) / np.log1p(mu)
    z = np.round(z * 127) / 127
    return np.sign(z) * np.expm1(np.abs(z) * np.log1p(mu)) / mu * peak


def telephone(x: np.ndarray) -> np.ndarray:
    """300-3400 Hz band, carried at 8 kHz with 8-bit mu-law."""
    spectrum = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / TARGET_SR)
    band = np.clip((f - 200) / 200, 0, 1) * np.clip((3600 - f) / 300, 0, 1)
    return _down_up(np.fft.irfft(spectrum * band, len(x)), 8000, _mu_law)


def _colored(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power ∝ 1/f^exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / TARGET_SR)
    f[0] = f[1] if n > 1 else 1.0
    y = np.fft.irfft(spectrum / f ** (exponent / 2), n)
    return y / (np.std(y) or 1.0)


def _hum(rng: np.random.Generator, n: int) -> np.ndarray:
    base = float(rng.choice([50.0, 60.0]))
    t = np.arange(n) / TARGET_SR
    y = sum((0.6**k) * np.sin(2 * np.pi * base * (k + 1) * t + rng.uniform(0, 2 * np.pi)) for k in range(6))
    y = np.asarray(y) + 0.05 * rng.standard_normal(n)
    return y / (np.std(y) or 1.0)


def _babble(rng: np.random.Generator, n: int, voices: tuple[str, ...]) -> np.ndarray:
    """Several espeak-ng talkers at once, saying scrambled dictionary words."""
    import soxr

    from .lexicon import lexicon

    words = lexicon().nouns + lexicon().adjectives
    out = np.zeros(n)
    for _ in range(int(rng.integers(3, 7))):
        text = " ".join(words[int(rng.integers(len(words)))] for _ in range(int(n / TARGET_SR * 3) + 4))
        speech = espeak.synthesize(text, voice=voices[int(rng.integers(len(voices)))], rate=int(rng.integers(140, 220)),
                                   pitch=int(rng.integers(20, 80)))
        y = np.asarray(soxr.resample(speech.samples, speech.sr, TARGET_SR), np.float64)
        start = int(rng.integers(0, max(1, len(y) - n))) if len(y) > n else 0
        piece = y[start : start + n]
        out[: len(piece)] += piece / (np.std(piece) or 1.0)
    return out / (np.std(out) or 1.0)


def speech_power(x: np.ndarray) -> float:
    """Mean power over the active samples (louder than 40 dB under the peak), so pauses don't count."""
    active = np.abs(x) > np.max(np.abs(x), initial=0.0) * 0.01
    return float(np.mean(x[active] ** 2)) if active.any() else 0.0


def apply(samples: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
          babble_voices: tuple[str, ...] = ("en-us",)) -> np.ndarray:
    """Run the chain in ``params`` on clean 16 kHz ``samples``; returns int16."""
    x = np.asarray(samples, np.float64)
    power = speech_power(x)
    if "reverb" in params:
        h = room_impulse_response(params["reverb"]["rt60"], params["reverb"]["drr_db"], rng)
        x = _convolve(x, h)
        x *= np.sqrt(power / (speech_power(x) or 1.0))
    if params.get("telephone"):
        x = telephone(x)
    elif "resample" in params:
        x = _down_up(x, int(params["resample"]))
    if "noise" in params:
        kind = params["noise"]["type"]
        n = len(x)
        if kind == "babble":
            noise = _babble(rng, n, babble_voices)
        elif kind == "hum":
            noise = _hum(rng, n)
        else:
            noise = _colored(rng, n, {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind])
        x = x + noise * np.sqrt(speech_power(x) / 10 ** (params["noise"]["snr_db"] / 10))
    level = np.sqrt(speech_power(x)) or 1.0
    x *= 10 ** (params["level_dbfs"] / 20) / level
    return np.asarray(np.round(np.clip(x, -1.0, 32767 / 32768) * 32768), dtype=np.int16)
