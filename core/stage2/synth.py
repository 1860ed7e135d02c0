"""Stage-2 inference: audio (+ instruction segments, seed) → ARKit-52 Animation.

    model = Stage2Model()                         # the shipped weights, checked against their card
    prepared = model.prepare(audio, fps=30)       # audio encoder, once per clip (seed-independent)
    anim = model.animate(prepared, segments, seed=3)

Per segment the instruction is embedded and the diffusion prior samples a style latent from seeded noise
(DDIM, classifier-free guidance); the decoder gets both, cross-faded over ±``crossfade`` s around segment
boundaries. Long audio runs in windows of ``chunk_seconds`` with ``overlap_seconds`` of context each side,
at least the network's receptive field (about 1 s), so the windows agree with a single pass and memory
stays flat. The network runs at its own fps (30); other rates are interpolated, then the take's blinks
and gaze are drawn at the output rate.

On the CPU the network runs on one thread (``fixed_threads``): oneDNN and MKL split their sums differently
for another thread count (takes were up to 1e-6 apart between 1 and 2 threads), and a take must not
depend on the machine's core count. The model is small and runs in windows, so one thread costs little:
on a 2-core machine 5 min of speech took 0.9-2.1 s on one thread against 2.3-4.1 s on two. On a GPU the
thread count plays no part.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..animation import Animation, n_frames_for
from ..arkit import ARKIT52, INDEX, MOUTH
from ..audio.loader import Audio
from ..instructions import Instruction, Segment, blink_rate, to_text
from .conditioning import NEUTRAL, boundaries, frame_weights, instruction_matrix, ordered
from .config import Stage2Config
from .diffusion import Prior
from .frontend import network_input
from .motion import add_blinks, add_gaze
from .net import Stage2Net
from .weights import load

_MOUTH = np.array([INDEX[n] for n in MOUTH])


@dataclass
class Prepared:
    """The seed-independent part of one clip: the audio encoder's output at the model's fps."""

    audio: Audio
    fps: float  # output frame rate
    hidden: torch.Tensor  # [C, T] at the model's fps
    energy_db: np.ndarray  # [T]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(self.hidden.shape[1])


def windows(n: int, core: int, context: int) -> Iterator[tuple[int, int, int, int]]:
    """(a, b, lo, hi): the frames [a, b) a window keeps and the frames [lo, hi) it runs on."""
    for a in range(0, max(n, 1), core):
        b = min(n, a + core)
        yield a, b, max(0, a - context), min(n, b + context)


@contextlib.contextmanager
def fixed_threads(device: torch.device) -> Iterator[None]:
    """One intra-op thread on the CPU for the duration (see the module's docstring), restored after."""
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def scaled(instr: Instruction, amount: float) -> Instruction:
    """The instruction with its intensity and AUs scaled (``--expression``), kept within 0..1."""
    if amount == 1.0:
        return instr
    return Instruction(instr.emotion, min(1.0, instr.intensity * amount),
                       {k: min(1.0, v * amount) for k, v in instr.aus.items()})


class Stage2Model:
    """The trained stage-2 model. Also the ``stage2`` model of ``avitalk eval`` (core/eval/models.py)."""

    name = "stage2"

    def __init__(self, net: Stage2Net, prior: Prior, card: dict[str, Any], device: str = "cpu") -> None:
        self.net, self.prior, self.card = net.eval(), prior.eval(), card
        self.cfg: Stage2Config = self.net.cfg
        self.device = torch.device(device)
        self.net.to(self.device)
        self.prior.to(self.device)
        self.id = f"stage2:{str(self.card.get('sha256', ''))[:12]}"

    @classmethod
    def load(cls, path: Path | None = None, device: str = "cpu") -> Stage2Model:
        """The weights at ``path`` (default: the shipped ones), checked against their card."""
        return cls(*load(path), device=device)

    # ---- audio -------------------------------------------------------------------------------------

    def _span(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.cfg.fps)))

    @torch.no_grad()
    def prepare(self, audio: Audio, fps: float, transcript: str | None = None) -> Prepared:
        """Encode the audio (``transcript`` is not used: stage 2 hears the audio only)."""
        t0 = time.perf_counter()
        mel, energy = network_input(audio, self.cfg.fps, self.cfg.mel_rate)
        t1 = time.perf_counter()
        k = self.cfg.mel_rate
        n = len(mel) // k
        hidden = torch.empty(self.cfg.channels, n)
        x = torch.from_numpy(mel)
        with fixed_threads(self.device):
            for a, b, lo, hi in windows(n, self._span(self.cfg.chunk_seconds), self._span(self.cfg.overlap_seconds)):
                h = self.net.audio(x[None, lo * k : hi * k].to(self.device))[0]
                hidden[:, a:b] = h[:, a - lo : b - lo].cpu()
        t2 = time.perf_counter()
        return Prepared(audio, float(fps), hidden, energy, {"features": t1 - t0, "encoder": t2 - t1})

    # ---- conditioning ------------------------------------------------------------------------------

    @torch.no_grad()
    def styles(self, segments: list[Segment], seed: int, expression: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(style latents [S, style_dim], instruction embeddings [S, instr_dim]) for ordered segments.
        Segment s's noise is the s-th draw of a generator seeded with ``seed``."""
        segs = [Segment(s.start, s.end, scaled(s.instruction, expression), s.text) for s in segments]
        vec = torch.from_numpy(instruction_matrix(segs)).to(self.device)
        gen = torch.Generator().manual_seed(int(seed) % (2**63))
        noise = torch.randn((len(vec), self.cfg.style_dim), generator=gen).to(self.device)
        with fixed_threads(self.device):
            e = self.net.instruction(vec)
            return self.prior.sample(e, noise), e

    @torch.no_grad()
    def decode(self, prepared: Prepared, z: torch.Tensor, e: torch.Tensor, cuts: list[float]) -> np.ndarray:
        """[T, 52] at the model's fps, before blinks and gaze."""
        n = prepared.frames
        weights = torch.from_numpy(frame_weights(cuts, n, self.cfg.fps, self.cfg.crossfade)).to(self.device)
        out = np.empty((n, len(ARKIT52)), np.float32)
        with fixed_threads(self.device):
            for a, b, lo, hi in windows(n, self._span(self.cfg.chunk_seconds), self._span(self.cfg.overlap_seconds)):
                h = prepared.hidden[None, :, lo:hi].to(self.device)
                values = self.net.decode(h, z[None], e[None], weights[None, :, lo:hi])[0]
                out[a:b] = values[a - lo : b - lo].cpu().numpy()
        return out

    # ---- takes -------------------------------------------------------------------------------------

    def animate(self, prepared: Prepared, segments: list[Segment] | None, seed: int, lips: float = 1.0,
                expression: float = 1.0, blinks: float = 1.0) -> Animation:
        t0 = time.perf_counter()
        audio = prepared.audio
        segs = ordered(segments) if segments else [Segment(0.0, max(audio.duration, 1e-3), NEUTRAL)]
        cuts = boundaries(segs)
        z, e = self.styles(segs, seed, expression)
        values = self.decode(prepared, z, e, cuts)
        values[:, _MOUTH] *= lips  # mouthClose scales with jawOpen, so closures stay closed
        fps = prepared.fps
        n_out = n_frames_for(audio.duration, fps)
        times = np.arange(n_out, dtype=np.float64) / fps
        if abs(fps - self.cfg.fps) > 1e-9 or n_out != len(values):
            src = np.arange(len(values), dtype=np.float64) / self.cfg.fps
            values = np.stack([np.interp(times, src, values[:, c]) for c in range(values.shape[1])], 1)
        values = values.astype(np.float64)
        owner = np.argmax(frame_weights(cuts, n_out, fps, self.cfg.crossfade), axis=0)
        rates = np.array([blink_rate(s.instruction.aus) * blinks for s in segs])
        add_blinks(values, times, audio.duration, seed, rates, owner)
        add_gaze(values, times, seed)
        values = np.clip(values, 0.0, 1.0).astype(np.float32)
        meta = {
            "model": self.name, "model_id": self.id, "seed": int(seed),
            "instructions": [{"start": round(s.start, 4), "end": round(s.end, 4),
                              "text": s.text or to_text(s.instruction)} for s in segs],
            "settings": {"lips": lips, "expression": expression, "blinks": blinks},
        }
        prepared.timings["synthesis"] = time.perf_counter() - t0
        return Animation(fps, ARKIT52, values, "arkit52", meta)

    # ---- the evaluation protocol (core/eval/models.py) ---------------------------------------------

    def generate(self, prepared: Prepared, instructions: list[Segment] | None, seed: int) -> Any:
        from ..model_contract import ModelOutput

        predicted = None
        if instructions is None:
            from ..stage1.predict import predict

            predicted = [p.segment() for p in predict(prepared.audio)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            anim = self.animate(prepared, instructions if instructions is not None else predicted, seed)
        return ModelOutput(anim, predicted)
