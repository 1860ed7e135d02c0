"""Band-limited resampling in numpy (no soxr): a Kaiser-windowed sinc evaluated at the exact output positions.

The filter has soxr's "HQ" response, so both give the same front-end features: flat (±0.00001 dB) to 91 %
of the lower Nyquist frequency, −3 dB at 95 %, −6 dB at 95.7 % and more than 100 dB down at the Nyquist
frequency itself (7.3 / 7.6 / 7.65 / 8 kHz for 16 kHz output). It is linear phase and centred (no delay),
and the output has ``round(n · out_rate / in_rate)`` samples, as soxr's has.

For a rate ratio L/M in lowest terms, output ``n`` sits at input position ``n·M/L``, so the filter weights
repeat every L outputs. Where that table is small (every common rate: 8, 11.025, 22.05, 32, 44.1, 48, 88.2,
96, 176.4, 192 kHz) the input is cut into rows of M·K samples and each group of L·K outputs is two matrix
products with a fixed weight matrix (BLAS does the work). Any other rate (e.g. 12 345 Hz) takes a slower
path that gathers each output's taps, with the filter's phase rounded to a fine grid where the exact phases
would not fit in ``MAX_TABLE`` weights (≥ 4000 phases: 92 dB from the exact result); an odd rate of at
least four times the output rate is first decimated by an integer factor with a wide, cheap low-pass that
leaves 0-8 kHz untouched and folds nothing into it, so the gathering path has hundreds of taps, not thousands.

Speed (a shared 2-core machine, per minute of audio, to 16 kHz): 0.02-0.15 s at the common rates (soxr:
0.005-0.03 s); 0.7-3.6 s at odd rates (12 345 Hz: 0.7 s, 63 999 Hz: 3.6 s, 191 999 Hz: 2.8 s).

``resample`` picks soxr when it is installed and the audio backend is not forced to numpy
(``AVITALK_AUDIO_BACKEND``, see ``core.audio.backends``), so the default path keeps soxr's numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

from .backends import use_soxr

__all__ = ["numpy_resample", "output_length", "resample", "resampler_name", "soxr_stages"]

# soxr HQ's response, measured (sines from 85 % to 100 % of the lower Nyquist frequency, at 22 rates from 8
# to 192 kHz) and fitted: a Kaiser-windowed sinc cut off (−6 dB) at 95.687 % of the lower Nyquist frequency,
# 127 dB down in the stop band when soxr filters in one stage, 20·log10(n) dB more when it cascades n stages
# (it splits its error budget), the window's length growing with that attenuation.
CUTOFF = 0.95687
ATTENUATION_DB = 127.03
LENGTH_ZERO_CROSSINGS = 92.8  # the window's half-width at 127 dB, in zero crossings of the sinc
LENGTH_PER_DB = 0.78  # zero crossings added per dB of extra attenuation
MAX_TABLE = 1 << 22  # weights (float32) in the polyphase matrices or the phase table: 16 MB
_GROUPS_PER_PRODUCT = 4096  # output groups per matrix product: bounds the temporaries
_GATHER_OUTPUTS = 2048  # outputs per step of the gathering path


def resample(samples: np.ndarray, in_rate: int, out_rate: int, backend: str | None = None) -> np.ndarray:
    """float32 ``samples`` at ``in_rate`` → float32 at ``out_rate``: soxr HQ where the audio backend
    (``backend``, else ``$AVITALK_AUDIO_BACKEND``) allows it and soxr imports, else numpy."""
    x = np.ascontiguousarray(samples, dtype=np.float32)
    if in_rate == out_rate:
        return x
    if use_soxr(backend):
        import soxr

        return np.asarray(soxr.resample(x, in_rate, out_rate, quality="HQ"), dtype=np.float32)
    return numpy_resample(x, in_rate, out_rate)


def resampler_name(in_rate: int, out_rate: int, backend: str | None = None) -> str:
    """What ``resample`` uses for these rates: ``none``, ``soxr`` or ``numpy``."""
    return "none" if in_rate == out_rate else "soxr" if use_soxr(backend) else "numpy"


def output_length(n: int, in_rate: int, out_rate: int) -> int:
    """round(n · out_rate / in_rate), halves up, in integers."""
    return (2 * n * out_rate + in_rate) // (2 * in_rate)


def numpy_resample(samples: np.ndarray, in_rate: int, out_rate: int, *, gather: bool = False) -> np.ndarray:
    """The numpy resampler (mono). ``gather`` forces the general path in one stage (the tests compare paths)."""
    if in_rate <= 0 or out_rate <= 0:
        raise ValueError(f"sample rates must be positive, not {in_rate} -> {out_rate}")
    x = np.ascontiguousarray(samples, dtype=np.float32).ravel()
    if in_rate == out_rate:
        return x.copy()
    g = math.gcd(in_rate, out_rate)
    up, down = out_rate // g, in_rate // g  # output n sits at input position n·down/up
    n_out = output_length(len(x), in_rate, out_rate)
    if n_out == 0:
        return np.zeros(0, np.float32)
    f = _design(up, down)
    plan = None if gather else _polyphase_plan(up, down, f)
    if plan is not None:
        return _polyphase(x, n_out, plan)
    factor = in_rate // (2 * out_rate)
    shift = 0
    if factor >= 2 and not gather:
        # an odd rate far above the output: first every factor-th sample of a wide, cheap low-pass (margins
        # included, since the low-pass spreads past the ends), then the filter itself at 1/factor of the taps
        pre = _decimator(factor, in_rate, out_rate)
        pre_plan = _polyphase_plan(1, factor, pre)
        assert pre_plan is not None
        shift = -(-pre.half // factor) + 1  # stage-one samples before the input's first sample
        margin = np.zeros(shift * factor, np.float32)
        x = _polyphase(np.concatenate([margin, x, margin]), -(-len(x) // factor) + 2 * shift, pre_plan)
        g = math.gcd(out_rate * factor, in_rate)
        up, down = out_rate * factor // g, in_rate // g
        f = _Filter(f.c * factor, f.width / factor, f.beta, math.ceil(f.width / factor))
    return _gathered(x, n_out, up, down, f, shift)


# ---- the filter -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Filter:
    c: float  # the cut-off in half-cycles per input sample: c·sinc(c·τ)
    width: float  # the window's half-width, in input samples
    beta: float  # the Kaiser window's shape
    half: int  # taps on each side of an output: ceil(width)


def soxr_stages(up: int, down: int) -> int:
    """How many filter stages soxr HQ cascades for output/input rate = up/down (lowest terms), as measured:
    one per halving while at least 4× remains to decimate, and the last stage counts twice unless its ratio
    is 2, 3, 3/2 or 4/3 (or their inverses)."""
    num, den = down, up  # input/output
    halvings = 0
    while num >= 4 * den:
        den *= 2
        halvings += 1
    g = math.gcd(num, den)
    simple = max(num // g, den // g) <= 4 and num != den
    return (1 + halvings) * (1 if simple else 2)


@cache
def _design(up: int, down: int) -> _Filter:
    extra = 20.0 * math.log10(soxr_stages(up, down))
    attenuation = ATTENUATION_DB + extra
    c = CUTOFF * min(1.0, up / down)
    width = (LENGTH_ZERO_CROSSINGS + LENGTH_PER_DB * extra) / c
    return _Filter(c, width, 0.1102 * (attenuation - 8.7), math.ceil(width))


@cache
def _decimator(factor: int, in_rate: int, out_rate: int) -> _Filter:
    """The first stage for an odd rate: flat (150 dB Kaiser) to out_rate/2, stopped from in_rate/factor −
    out_rate/2, so nothing folds into what the second stage keeps."""
    attenuation = 150.0
    transition = (in_rate / factor - out_rate) / in_rate  # cycles per input sample
    taps = (attenuation - 7.95) / (2.285 * 2 * math.pi * transition)
    return _Filter(1.0 / factor, taps / 2, 0.1102 * (attenuation - 8.7), math.ceil(taps / 2))


def _kernel(tau: np.ndarray, f: _Filter) -> np.ndarray:
    """The filter at input-sample offsets ``tau`` (float64): c·sinc(c·τ) under the Kaiser window."""
    ratio = np.clip(tau / f.width, -1.0, 1.0)
    window = np.i0(f.beta * np.sqrt(1.0 - ratio * ratio)) / np.i0(f.beta)
    return np.where(np.abs(tau) < f.width, f.c * np.sinc(f.c * tau) * window, 0.0)


# ---- the polyphase path: weights repeat every `up` outputs --------------------------------------------


@lru_cache(maxsize=8)  # up to 16 MB each
def _polyphase_plan(up: int, down: int, f: _Filter) -> tuple[int, int, np.ndarray] | None:
    """(outputs per group, taps per side, weights [Q, inputs per group, outputs per group]), or None when the
    weights would not fit in MAX_TABLE."""
    half = f.half
    span = 2 * half  # taps per output
    k = max(1, math.ceil(span / down))  # groups of k·down ≥ span inputs: two products cover every tap
    block_in, block_out = k * down, k * up
    q_count = -(-(block_in - 1 + span) // block_in)  # rows of block_in that hold every output's taps
    if q_count * block_in * block_out > MAX_TABLE:
        return None
    r = np.arange(block_out)
    first = (r * down) // up  # each output's position within its group, floored
    frac = (r * down - first * up) / up  # and its fractional part
    u = np.arange(q_count * block_in)[:, None]  # input offset from the group's first row
    t = u - first[None, :]  # tap number: input `first - half + 1 + t`
    weights = np.where((t >= 0) & (t < span), _kernel(frac[None, :] + (half - 1) - t, f), 0.0)
    return block_out, half, weights.reshape(q_count, block_in, block_out).astype(np.float32)


def _polyphase(x: np.ndarray, n_out: int, plan: tuple[int, int, np.ndarray]) -> np.ndarray:
    block_out, half, weights = plan
    q_count, block_in, _ = weights.shape
    groups = -(-n_out // block_out)
    rows = groups + q_count - 1
    padded = np.zeros(rows * block_in, np.float32)
    lead = half - 1  # input -lead sits at padded[0]; beyond the input, zeros
    stop = min(len(x), len(padded) - lead)
    padded[lead : lead + stop] = x[:stop]
    table = padded.reshape(rows, block_in)
    out = np.empty((groups, block_out), np.float32)
    for a in range(0, groups, _GROUPS_PER_PRODUCT):
        b = min(groups, a + _GROUPS_PER_PRODUCT)
        acc = table[a:b] @ weights[0]
        for q in range(1, q_count):
            acc += table[a + q : b + q] @ weights[q]
        out[a:b] = acc
    return out.ravel()[:n_out]


# ---- the general path: each output's taps gathered, weights from a phase table -------------------------


@lru_cache(maxsize=4)  # up to 16 MB each
def _phase_table(up: int, f: _Filter) -> tuple[int, np.ndarray]:
    """(P, weights [P + 1, 2H]): the filter at fractional positions j/P (every exact phase when P = up)."""
    half = f.half
    phases = min(up, max(1, MAX_TABLE // (2 * half) - 1))
    frac = np.arange(phases + 1)[:, None] / phases
    t = np.arange(2 * half)[None, :]
    return phases, _kernel(frac + (half - 1) - t, f).astype(np.float32)


def _gathered(x: np.ndarray, n_out: int, up: int, down: int, f: _Filter, shift: int = 0) -> np.ndarray:
    """Output n from the taps around x[n·down/up + shift]."""
    half = f.half
    phases, table = _phase_table(up, f)
    padded = np.concatenate([np.zeros(half - 1, np.float32), x, np.zeros(half + 1, np.float32)])
    out = np.empty(n_out, np.float32)
    taps = np.arange(2 * half)
    for a in range(0, n_out, _GATHER_OUTPUTS):
        n = np.arange(a, min(n_out, a + _GATHER_OUTPUTS), dtype=np.int64)
        first = (n * down) // up
        # the phase on the table's grid, rounded (exact when P = up); phase P is the next sample's phase 0
        phase = ((n * down - first * up) * phases * 2 + up) // (2 * up)
        idx = np.minimum(first[:, None] + (shift + taps)[None, :], len(padded) - 1)
        out[a : a + len(n)] = np.einsum("ij,ij->i", padded[idx], table[phase])
    return out
