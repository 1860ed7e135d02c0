"""Audio augmentation for corpus clips, toward what real recordings sound like: a different voice
(vocal-tract-length warp, pitch shift), breaths and lip noise in the pauses, reverb from synthetic room
impulse responses, EQ, a telephone band or a lower sample rate, an MP3 or Ogg Vorbis round trip, additive
noise or babble at 0-30 dB SNR, a level from -40 dBFS up to clipping. Nothing here moves the speech in
time (the room response has its direct path at lag 0, the codec's delay is measured and removed, the
warps keep every frame where it was), so the true phone times stay true. Speed perturbation does move
it, so it happens before the targets are made (``speed``, called by the clip builder).

Order: voice warp → breaths/lip noise → reverb → EQ → telephone or resampling → codec → noise → level
(and clipping) → int16.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..audio.loader import TARGET_SR
from ..phonemes import SILENCE, Phone
from ..tts import espeak

CHANCES = {"clean": 0.15, "reverb": 0.35, "telephone": 0.1, "resample": 0.2, "noise": 0.65, "vtlp": 0.3,
           "pitch": 0.2, "breaths": 0.5, "eq": 0.4, "codec": 0.2, "hot": 0.08, "speed": 0.3}
NOISE_TYPES = {"white": 0.2, "pink": 0.3, "brown": 0.15, "hum": 0.1, "babble": 0.25}
SNR_DB = (0.0, 30.0)
LEVEL_DBFS = (-40.0, -12.0)  # speech RMS after the gain stage
HOT_PEAK_DBFS = (-3.0, 6.0)  # a "hot" recording: the peak level instead (above 0 clips)
RESAMPLE_RATES = (8000, 11025, 12000)


def draw(rng: np.random.Generator) -> dict[str, Any]:
    """The augmentation chain of one clip, as plain data (stored in the manifest)."""
    params: dict[str, Any] = {"level_dbfs": round(float(rng.uniform(*LEVEL_DBFS)), 2)}
    if rng.random() < CHANCES["hot"]:
        params["peak_dbfs"] = round(float(rng.uniform(*HOT_PEAK_DBFS)), 2)
    if rng.random() < CHANCES["breaths"]:  # even a clean studio take has breaths
        params["breaths"] = {"level_db": round(float(rng.uniform(-30.0, -12.0)), 2),
                             "clicks": bool(rng.random() < 0.6)}
    if rng.random() < CHANCES["clean"]:
        return params
    if rng.random() < CHANCES["vtlp"]:
        params["vtlp"] = round(float(rng.uniform(0.88, 1.12)), 4)
    if rng.random() < CHANCES["pitch"]:
        params["pitch_semitones"] = round(float(rng.uniform(-3.0, 3.0)), 3)
    if rng.random() < CHANCES["reverb"]:
        params["reverb"] = {"rt60": round(float(rng.uniform(0.15, 0.9)), 3),
                            "drr_db": round(float(rng.uniform(-3.0, 12.0)), 2)}
    if rng.random() < CHANCES["eq"]:
        params["eq_db"] = [round(float(g), 2) for g in rng.uniform(-9.0, 9.0, size=6)]
    if rng.random() < CHANCES["telephone"]:
        params["telephone"] = True
    elif rng.random() < CHANCES["resample"]:
        params["resample"] = int(rng.choice(RESAMPLE_RATES))
    if rng.random() < CHANCES["codec"]:
        params["codec"] = str(rng.choice(["mp3", "ogg"]))
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
    size = _fast(len(x) + 2048)
    spectrum = np.fft.rfft(x, size)
    f = np.fft.rfftfreq(size, 1 / TARGET_SR)
    band = np.clip((f - 200) / 200, 0, 1) * np.clip((3600 - f) / 300, 0, 1)
    return _down_up(np.fft.irfft(spectrum * band, size)[: len(x)], 8000, _mu_law)


def _colored(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power ∝ 1/f^exponent (0 white, 1 pink, 2 brown)."""
    size = _fast(n)
    spectrum = np.fft.rfft(rng.standard_normal(size))
    f = np.fft.rfftfreq(size, 1 / TARGET_SR)
    f[0] = f[1]
    y = np.fft.irfft(spectrum / f ** (exponent / 2), size)[:n]
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


def draw_speed(rng: np.random.Generator) -> float:
    """Speed perturbation factor of a clip (1.0: none); drawn before the targets, as it moves time."""
    return round(float(rng.uniform(0.88, 1.12)), 4) if rng.random() < CHANCES["speed"] else 1.0


def speed(samples: np.ndarray, phones: list[Phone], segment_times: list[tuple[float, float]],
          factor: float) -> tuple[np.ndarray, list[Phone], list[tuple[float, float]]]:
    """Play the clip ``factor`` times faster (tempo, pitch and formants together, as a tape would); the
    phone and segment times scale with it so they stay exact."""
    if factor == 1.0:
        return samples, phones, segment_times
    import soxr

    out = np.asarray(soxr.resample(np.asarray(samples, np.float32), TARGET_SR * factor, TARGET_SR, quality="HQ"),
                     np.float32)
    duration = len(out) / TARGET_SR
    phones = [Phone(p.label, min(p.start / factor, duration), min(p.end / factor, duration)) for p in phones]
    phones[-1] = Phone(phones[-1].label, phones[-1].start, duration)
    seg = [(a / factor, b / factor) for a, b in segment_times]
    seg[-1] = (seg[-1][0], duration)
    return out, phones, seg


def _stft(x: np.ndarray, n: int = 512, hop: int = 128) -> tuple[np.ndarray, np.ndarray]:
    pad = np.concatenate([np.zeros(n), x, np.zeros(n)])
    frames = (len(pad) - n) // hop + 1
    idx = np.arange(n)[None, :] + hop * np.arange(frames)[:, None]
    window = np.hanning(n)
    return np.fft.rfft(pad[idx] * window, axis=1), window


def _istft(spec: np.ndarray, window: np.ndarray, length: int, hop: int = 128) -> np.ndarray:
    n = len(window)
    frames = np.fft.irfft(spec, n, axis=1) * window
    out = np.zeros(hop * (len(frames) - 1) + n)
    norm = np.zeros_like(out)
    for k, frame in enumerate(frames):
        out[k * hop : k * hop + n] += frame
        norm[k * hop : k * hop + n] += window**2
    out /= np.maximum(norm, 1e-8)
    return out[n : n + length]


def vtlp(x: np.ndarray, alpha: float) -> np.ndarray:
    """Vocal-tract-length perturbation: the magnitude spectrum warped along frequency by ``alpha``
    (piecewise linear, fixed at 0 and Nyquist), each frame keeping its own phase and time."""
    spec, window = _stft(x)
    bins = spec.shape[1]
    f = np.arange(bins, dtype=np.float64)
    knee = 0.8 * (bins - 1) * min(1.0, 1.0 / alpha)
    source = np.where(f <= knee, f / alpha,
                      knee / alpha + (f - knee) * ((bins - 1) - knee / alpha) / max((bins - 1) - knee, 1e-9))
    mag = np.abs(spec)
    warped = np.stack([np.interp(source, f, m) for m in mag])
    return _istft(warped * np.exp(1j * np.angle(spec)), window, len(x))


def _stretch(x: np.ndarray, rate: float, n: int = 512, hop: int = 128) -> np.ndarray:
    """Phase-vocoder time stretch: ``rate`` > 1 makes it shorter, the pitch unchanged."""
    spec, window = _stft(x, n, hop)
    steps = np.arange(0.0, len(spec) - 1, rate)
    expected = 2 * np.pi * hop * np.arange(spec.shape[1]) / n
    phase = np.angle(spec[0])
    out = np.empty((len(steps), spec.shape[1]), complex)
    for k, step in enumerate(steps):
        i = int(step)
        w = step - i
        mag = (1 - w) * np.abs(spec[i]) + w * np.abs(spec[i + 1])
        out[k] = mag * np.exp(1j * phase)
        delta = np.angle(spec[i + 1]) - np.angle(spec[i]) - expected
        phase = phase + expected + (delta - 2 * np.pi * np.round(delta / (2 * np.pi)))
    return _istft(out, window, int(round(len(x) / rate)), hop)


def pitch_shift(x: np.ndarray, semitones: float) -> np.ndarray:
    """Pitch (and formants) moved by ``semitones`` at the same timing: stretched by the pitch ratio,
    then resampled back to the original length."""
    import soxr

    ratio = 2.0 ** (semitones / 12.0)
    longer = _stretch(x, 1.0 / ratio)
    y = np.asarray(soxr.resample(longer, TARGET_SR * ratio, TARGET_SR, quality="HQ"), np.float64)
    out = np.zeros(len(x))
    out[: min(len(x), len(y))] = y[: len(x)]
    return out


def breaths(x: np.ndarray, phones: list[Phone], level_db: float, clicks: bool,
            rng: np.random.Generator) -> np.ndarray:
    """An in-breath in some pauses before a phrase (band-limited noise swelling and fading), and lip or
    tongue clicks just before speech starts, as close microphones hear. The lips stay closed in the
    targets: these sounds are not speech."""
    out = x.copy()
    ref = np.sqrt(speech_power(x)) or 1e-3
    for prev, nxt in zip(phones, phones[1:], strict=False):
        if prev.label != SILENCE or nxt.label == SILENCE or prev.duration < 0.3:
            continue
        if rng.random() < 0.6:
            length = min(float(rng.uniform(0.2, 0.5)), prev.duration - 0.1)
            end = nxt.start - float(rng.uniform(0.04, 0.12))
            a, n = int((end - length) * TARGET_SR), int(length * TARGET_SR)
            if a > 0 and n > 32:
                noise = np.fft.rfft(rng.standard_normal(n))
                f = np.fft.rfftfreq(n, 1 / TARGET_SR)
                noise *= np.exp(-0.5 * ((f - rng.uniform(900, 2200)) / rng.uniform(500, 1200)) ** 2)
                breath = np.fft.irfft(noise, n)
                breath *= np.sin(np.linspace(0, np.pi, n)) ** 1.5 / (np.std(breath) or 1.0)
                out[a : a + n] += breath * ref * 10 ** (level_db / 20)
        if clicks and rng.random() < 0.5:
            t = nxt.start - float(rng.uniform(0.02, min(0.15, prev.duration)))
            k, n = int(t * TARGET_SR), int(rng.uniform(0.002, 0.008) * TARGET_SR)
            if k > 0:
                tt = np.arange(n) / TARGET_SR
                click = np.sin(2 * np.pi * rng.uniform(1000, 3500) * tt) * np.exp(-tt / (n / TARGET_SR / 3))
                out[k : k + n] += click[: len(out) - k] * ref * 10 ** ((level_db + rng.uniform(-6, 6)) / 20)
    return out


def eq(x: np.ndarray, gains_db: list[float]) -> np.ndarray:
    """A smooth random EQ curve: gains at log-spaced frequencies (100 Hz-6.4 kHz), interpolated."""
    size = _fast(len(x) + 2048)  # zero padding: the filter's ringing does not wrap around
    spec = np.fft.rfft(x, size)
    f = np.fft.rfftfreq(size, 1 / TARGET_SR)
    points = np.geomspace(100.0, 6400.0, len(gains_db))
    gain = np.interp(np.log(np.maximum(f, 1.0)), np.log(points), np.asarray(gains_db))
    return np.fft.irfft(spec * 10 ** (gain / 20), size)[: len(x)]


def _fast(n: int) -> int:
    """A power of two ≥ n: numpy's FFT is slow on lengths with large prime factors."""
    return 1 << int(np.ceil(np.log2(max(n, 2))))


def codec(x: np.ndarray, kind: str) -> np.ndarray:
    """An MP3 or Ogg Vorbis round trip through libsndfile; the encoder's delay is found by
    cross-correlation and removed, so the speech stays where it was."""
    import io

    import soundfile

    peak = float(np.max(np.abs(x))) or 1.0
    buffer = io.BytesIO()
    soundfile.write(buffer, (x / peak * 0.9).astype(np.float32), TARGET_SR, format="MP3" if kind == "mp3" else "OGG",
                    subtype="MPEG_LAYER_III" if kind == "mp3" else "VORBIS")
    buffer.seek(0)
    y, _ = soundfile.read(buffer, dtype="float64", always_2d=True)
    y = y[:, 0] * peak / 0.9
    reach = 4096
    n = min(len(x), len(y))
    size = _fast(2 * n)
    corr = np.fft.irfft(np.fft.rfft(y[:n], size) * np.conj(np.fft.rfft(x[:n], size)), size)
    lags = np.concatenate([corr[: reach + 1], corr[-reach:]])
    lag = int(np.argmax(lags))
    lag = lag if lag <= reach else lag - len(lags)
    out = np.zeros(len(x))
    if lag >= 0:
        piece = y[lag : lag + len(x)]
        out[: len(piece)] = piece
    else:
        piece = y[: len(x) + lag]
        out[-lag : -lag + len(piece)] = piece
    return out


def apply(samples: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
          babble_voices: tuple[str, ...] = ("en-us",), phones: list[Phone] | None = None) -> np.ndarray:
    """Run the chain in ``params`` on clean 16 kHz ``samples``; returns int16."""
    x = np.asarray(samples, np.float64)
    power = speech_power(x)
    if "vtlp" in params:
        x = vtlp(x, float(params["vtlp"]))
    if "pitch_semitones" in params:
        x = pitch_shift(x, float(params["pitch_semitones"]))
    if "breaths" in params and phones:
        x = breaths(x, phones, float(params["breaths"]["level_db"]), bool(params["breaths"]["clicks"]), rng)
    if "reverb" in params:
        h = room_impulse_response(params["reverb"]["rt60"], params["reverb"]["drr_db"], rng)
        x = _convolve(x, h)
        x *= np.sqrt(power / (speech_power(x) or 1.0))
    if "eq_db" in params:
        x = eq(x, list(params["eq_db"]))
        x *= np.sqrt(power / (speech_power(x) or 1.0))
    if params.get("telephone"):
        x = telephone(x)
    elif "resample" in params:
        x = _down_up(x, int(params["resample"]))
    if "codec" in params:
        x = codec(x, str(params["codec"]))
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
    if "peak_dbfs" in params:  # a hot recording: peaks at this level, clipped above full scale
        x *= 10 ** (params["peak_dbfs"] / 20) / (float(np.max(np.abs(x))) or 1.0)
    else:
        level = np.sqrt(speech_power(x)) or 1.0
        x *= 10 ** (params["level_dbfs"] / 20) / level
    return np.asarray(np.round(np.clip(x, -1.0, 32767 / 32768) * 32768), dtype=np.int16)
