"""The stage-2 network in numpy (no torch): the same layers as ``net.py``, read from the same tensors, so the
add-on can run the default model inside Blender's own Python. Float32 throughout, time-major ([T, C]: a
frame's channels are contiguous, so every convolution is one matrix product).

    AudioEncoder     mel [T·k, n_mels] → hidden [T, C]
    InstructionMLP   instruction vectors [S, 104] → embeddings [S, instr_dim]
    Decoder          hidden [T, C], per-frame condition [T, style_dim + instr_dim] → ARKit-52 [T, 52]
                     (+ headYaw/Pitch/Roll in radians when the config has head channels)

A convolution is matrix products and shifted additions (``Conv1d``). Every product sums over at most 128
inputs (``matmul``) and the runtime holds numpy's OpenBLAS to one thread (``common.blas``), so the result does not
depend on the machine's cores. GELU is the exact one, with the
erf numpy lacks (``gelu``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ..arkit import INDEX
from ..lipsync.visemes import LIP_OPENERS
from .config import Stage2Config

N_OUT = 52
HEAD_SCALE = 0.35  # as net.HEAD_SCALE
JAW, CLOSE = INDEX["jawOpen"], INDEX["mouthClose"]
OPENERS = [INDEX[n] for n in LIP_OPENERS]  # as net.OPENERS
LN_EPS = 1e-5  # torch.nn.LayerNorm's default
BLOCK_K = 128  # the longest sum one BLAS call makes (see ``matmul``)
# Abramowitz & Stegun 7.1.26: erfc(z) = t·P(t)·exp(−z²), t = 1 / (1 + p·z), for z ≥ 0; |error| ≤ 1.5e-7
_P = 0.3275911
_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
# the same for GELU's ½·erfc(a/√2), with 1/√2 and ½ folded into the constants (fewer passes over the array)
_P_GELU = np.float32(_P / math.sqrt(2.0))
_A_GELU = tuple(np.float32(0.5 * a) for a in _A)
_ZERO, _ONE, _MINUS_HALF = np.float32(0.0), np.float32(1.0), np.float32(-0.5)

Arrays = Mapping[str, np.ndarray]


def erfc_positive(z: np.ndarray) -> np.ndarray:
    """erfc(z) for z ≥ 0 (absolute error ≤ 1.5e-7 in exact arithmetic), in z's float type."""
    dtype = z.dtype.type
    t = 1.0 / (1.0 + dtype(_P) * z)
    poly = dtype(_A[4])
    for a in reversed(_A[:4]):
        poly = poly * t + dtype(a)
    return poly * t * np.exp(-(z * z))


def erf(x: np.ndarray) -> np.ndarray:
    """erf, odd-symmetric from ``erfc_positive``."""
    return np.sign(x) * (1.0 - erfc_positive(np.abs(x)))


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU of a float32 array, x·Φ(x) = max(x, 0) − ½·|x|·erfc(|x|/√2): one form for both signs, with
    no cancellation for negative x (where Φ is small); within 4e-7 of the true value (torch's own is
    within 1.1e-6). In place on temporaries: the passes over memory are what it costs."""
    a = np.abs(x)
    t = a * _P_GELU
    t += _ONE
    np.reciprocal(t, out=t)
    tail = t * _A_GELU[4]
    for c in reversed(_A_GELU[:4]):
        tail += c
        tail *= t
    np.multiply(a, a, out=t)
    t *= _MINUS_HALF
    np.exp(t, out=t)
    tail *= t
    tail *= a
    out = np.maximum(x, _ZERO)
    out -= tail
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(−x) → inf for x ≪ 0 gives 0, as it should
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


def layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """LayerNorm over the last axis (biased variance, eps inside the root, as torch)."""
    centred = x - x.mean(-1, keepdims=True)
    var = np.einsum("...c,...c->...", centred, centred)[..., None] / np.float32(x.shape[-1])
    centred *= _ONE / np.sqrt(var + np.float32(LN_EPS))
    centred *= gain
    centred += bias
    return centred


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b with the inner dimension summed in slices of at most ``BLOCK_K``, the slices added in order.
    OpenBLAS (numpy's BLAS) splits a longer sum at points that depend on its thread count, so one product
    over K = 400 came out different in its last bits on 1 and 2 threads; slices of 128 come out the same
    for any thread count there — though not on every CPU (``common.blas``: the runtime also holds OpenBLAS to one
    thread), and a take must not depend on the machine's cores (tests/test_stage2_numpy.py)."""
    k = a.shape[-1]
    if k <= BLOCK_K:
        return a @ b
    out = a[..., :BLOCK_K] @ b[:BLOCK_K]
    for s in range(BLOCK_K, k, BLOCK_K):
        out += a[..., s : s + BLOCK_K] @ b[s : s + BLOCK_K]
    return out


class Linear:
    """y = x Wᵀ + b, the weight kept transposed ([in, out]) for the product."""

    def __init__(self, arrays: Arrays, name: str) -> None:
        self.weight = np.ascontiguousarray(arrays[f"{name}.weight"].T)
        self.bias = arrays[f"{name}.bias"]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = matmul(x, self.weight)
        out += self.bias
        return out


class Norm:
    def __init__(self, arrays: Arrays, name: str) -> None:
        self.gain, self.bias = arrays[f"{name}.weight"], arrays[f"{name}.bias"]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return layer_norm(x, self.gain, self.bias)


class Conv1d:
    """torch's Conv1d (zero padding) on time-major input [T, C_in] → [T_out, C_out], as matrix products and
    shifted additions, with no copy of the input. Stride 1: one product with every tap's weights side by side
    ([C_in, k·C_out]), then each tap's block of the result added into the output rows it reaches (the padding
    is the rows it does not). Strided: one product per tap on a strided view of the input (the product of
    every input row with every tap would be ``stride`` times the work)."""

    def __init__(self, arrays: Arrays, name: str, dilation: int = 1, padding: int = 0, stride: int = 1) -> None:
        weight = arrays[f"{name}.weight"]  # [out, in, k]
        self.out_channels, self.in_channels, self.kernel = weight.shape
        self.taps = [np.ascontiguousarray(weight[:, :, j].T) for j in range(self.kernel)]  # [in, out] each
        self.wide = np.ascontiguousarray(np.concatenate(self.taps, 1))  # [in, k·out]
        self.bias = arrays[f"{name}.bias"]
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def out_frames(self, frames: int) -> int:
        return (frames + 2 * self.padding - self.dilation * (self.kernel - 1) - 1) // self.stride + 1

    def _reach(self, j: int, frames: int, n: int) -> tuple[int, int, int]:
        """(shift, lo, hi): output i (lo ≤ i < hi) reads input i·stride + shift through tap j."""
        s = self.stride
        shift = j * self.dilation - self.padding
        lo = min(n, max(0, -(shift // s)))  # the first i with i·s + shift ≥ 0
        hi = max(lo, min(n, (frames - 1 - shift) // s + 1))  # one past the last with i·s + shift < T
        return shift, lo, hi

    def __call__(self, x: np.ndarray) -> np.ndarray:
        frames = len(x)
        n = max(0, self.out_frames(frames))
        if self.kernel == 1 and self.stride == 1 and self.padding == 0:
            out = matmul(x, self.taps[0])
            out += self.bias
            return out
        out = np.empty((n, self.out_channels), np.float32)
        out[...] = self.bias
        s, co = self.stride, self.out_channels
        if s == 1:
            y = matmul(x, self.wide)  # [T, k·out]: every input row through every tap
            for j in range(self.kernel):
                shift, lo, hi = self._reach(j, frames, n)
                out[lo:hi] += y[lo + shift : hi + shift, j * co : (j + 1) * co]
            return out
        for j, tap in enumerate(self.taps):
            shift, lo, hi = self._reach(j, frames, n)
            if hi > lo:
                out[lo:hi] += matmul(x[lo * s + shift : (hi - 1) * s + shift + 1 : s], tap)
        return out


class ResBlock:
    """Pre-norm residual block of two dilated convolutions; optional FiLM after the norm (``net.ResBlock``)."""

    def __init__(self, arrays: Arrays, name: str, dilation: int) -> None:
        self.norm = Norm(arrays, f"{name}.norm.norm")
        self.conv1 = Conv1d(arrays, f"{name}.conv1", dilation=dilation, padding=dilation)
        self.conv2 = Conv1d(arrays, f"{name}.conv2")

    def __call__(self, x: np.ndarray, film: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        h = self.norm(x)
        if film is not None:
            gamma, beta = film
            h *= np.float32(1.0) + gamma
            h += beta
        out = self.conv2(gelu(self.conv1(gelu(h))))
        out += x
        return out


class AudioEncoder:
    def __init__(self, arrays: Arrays, cfg: Stage2Config) -> None:
        k = cfg.mel_rate
        self.inp = Conv1d(arrays, "net.audio.inp", padding=2)
        self.mel_blocks = [ResBlock(arrays, f"net.audio.mel_blocks.{i}", d) for i, d in enumerate(cfg.mel_blocks)]
        self.down = Conv1d(arrays, "net.audio.down", padding=k // 2, stride=k)
        self.blocks = [ResBlock(arrays, f"net.audio.blocks.{i}", d) for i, d in enumerate(cfg.encoder_dilations)]

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        """[T·k, n_mels] → [T, C]."""
        x = self.inp(mel)
        for block in self.mel_blocks:
            x = block(x)
        x = self.down(gelu(x))
        for block in self.blocks:
            x = block(x)
        return x


class InstructionEncoder:
    def __init__(self, arrays: Arrays) -> None:
        self.layers = [Linear(arrays, f"net.instruction.net.{i}") for i in (0, 2, 4)]

    def __call__(self, v: np.ndarray) -> np.ndarray:
        first, second, last = self.layers
        return last(gelu(second(gelu(first(v)))))


class Decoder:
    def __init__(self, arrays: Arrays, cfg: Stage2Config) -> None:
        self.blocks = [ResBlock(arrays, f"net.decoder.blocks.{i}", d) for i, d in enumerate(cfg.decoder_dilations)]
        self.film = Linear(arrays, "net.decoder.film")
        self.norm = Norm(arrays, "net.decoder.norm.norm")
        self.out = Conv1d(arrays, "net.decoder.out")
        self.offset = Linear(arrays, "net.decoder.offset")
        self.channels = cfg.channels
        self.head = cfg.head_channels
        self.seal = cfg.seal_lips

    def __call__(self, h: np.ndarray, cond: np.ndarray) -> np.ndarray:
        """h [T, C], cond [T, style_dim + instr_dim] → values [T, 52] in 0..1 (+ head radians)."""
        film = self.film(cond)  # [T, 2·C·L]
        c = self.channels
        for k, block in enumerate(self.blocks):
            part = film[:, 2 * c * k : 2 * c * (k + 1)]
            h = block(h, (part[:, :c], part[:, c:]))
        logits = self.out(gelu(self.norm(h)))
        logits += self.offset(cond)  # [T, 53]
        values = sigmoid(logits[:, :N_OUT])
        share = sigmoid(logits[:, N_OUT])
        if self.seal:  # as net.Decoder: a shut share seals the lips
            values[:, OPENERS] *= 1.0 - share[:, None]
        values[:, CLOSE] = values[:, JAW] * share
        if self.head:
            values = np.concatenate([values, HEAD_SCALE * np.tanh(logits[:, N_OUT + 1 :])], 1)
        return values


def blend_condition(z: np.ndarray, e: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-frame condition [T, style_dim + instr_dim]: the segments' (z, e) blended by weights [S, T]."""
    return matmul(np.ascontiguousarray(weights.T), np.concatenate([z, e], -1))
