"""Stage-2 inference: audio (+ instruction segments, seed) → ARKit-52 Animation, on either runtime.

    model = Stage2Model.load(runtime="numpy")     # the shipped weights, checked against their card
    prepared = model.prepare(audio, fps=30)       # audio encoder, once per clip (seed-independent)
    anim = model.animate(prepared, segments, seed=3)

Per segment the instruction is embedded and the diffusion prior samples a style latent from the take's
seeded noise (one row for all its segments: one performer, whose phrases differ by what they ask; DDIM,
classifier-free guidance); the decoder gets both, cross-faded over ±``crossfade`` s around segment
boundaries. Long audio runs in windows of ``chunk_seconds`` with ``overlap_seconds`` of context each side,
at least the network's receptive field (about 1 s), so the windows agree with a single pass and memory
stays flat. The network runs at its own fps (30); other rates are interpolated, then the take's blinks
and gaze are drawn at the output rate.

Everything here is the same for both runtimes; only the three network calls — encode the audio, embed the
instructions and sample the prior, decode — are the backend's (``backend.Backend``: ``numpy_backend`` runs
in any Python with numpy, ``torch_backend`` on the CPU or a CUDA GPU). The prior's noise is numpy's
(``sampling.style_noise``), so a seed gives the same take on either, to within 1e-4 (tests/test_stage2_numpy.py).
Importing this module does not import torch.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..animation import Animation, n_frames_for
from ..arkit import ARKIT52, FACE_AND_HEAD, INDEX, MOUTH
from ..audio.loader import Audio
from ..common.errors import AviTalkError
from ..instructions import Instruction, Segment, blink_rate, to_text
from .backend import RUNTIMES, Backend
from .conditioning import NEUTRAL, boundaries, frame_weights, instruction_matrix, ordered
from .config import Stage2Config
from .frontend import network_input
from .motion import (
    add_blinks,
    add_gaze,
    add_head_drift,
    add_nods,
    add_phrase_brows,
    close_in_pauses,
    speaking_frames,
)
from .sampling import style_noise

if TYPE_CHECKING:
    import torch

_MOUTH = np.array([INDEX[n] for n in MOUTH])


@dataclass
class Prepared:
    """The seed-independent part of one clip: the audio encoder's output at the model's fps."""

    audio: Audio
    fps: float  # output frame rate
    hidden: np.ndarray  # [T, C] float32 at the model's fps
    energy_db: np.ndarray  # [T]
    timings: dict[str, float] = field(default_factory=dict)
    runtime: str = ""  # the runtime whose encoder made ``hidden``

    @property
    def frames(self) -> int:
        return int(self.hidden.shape[0])


def windows(n: int, core: int, context: int) -> Iterator[tuple[int, int, int, int]]:
    """(a, b, lo, hi): the frames [a, b) a window keeps and the frames [lo, hi) it runs on."""
    for a in range(0, max(n, 1), core):
        b = min(n, a + core)
        yield a, b, max(0, a - context), min(n, b + context)


@contextlib.contextmanager
def fixed_threads(device: torch.device) -> Iterator[None]:
    """The torch runtime's one CPU thread (``torch_backend.fixed_threads``), kept here for its callers."""
    from .torch_backend import fixed_threads as pinned

    with pinned(device):
        yield


def decode_margin(cfg: Stage2Config) -> int:
    """Frames decoded beyond a segment's reach: twice the decoder's half receptive field (its dilations summed,
    kernel 3), so the frames the segment weighs on see no edge of the decoded span."""
    return 2 * sum(cfg.decoder_dilations) + 2


def scaled(instr: Instruction, amount: float) -> Instruction:
    """The instruction with its intensity and AUs scaled (``--expression``), kept within 0..1."""
    if amount == 1.0:
        return instr
    return Instruction(instr.emotion, min(1.0, instr.intensity * amount),
                       {k: min(1.0, v * amount) for k, v in instr.aus.items()})


class Stage2Model:
    """The trained stage-2 model on one runtime. Also the ``stage2`` model of ``avitalk eval``
    (core/eval/registry.py)."""

    name = "stage2"

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.card = backend.card
        self.cfg: Stage2Config = backend.cfg
        self.runtime = backend.runtime
        self.device = backend.device
        self.id = f"stage2:{str(self.card.get('sha256', ''))[:12]}"

    @classmethod
    def load(cls, path: Path | None = None, device: str = "cpu", runtime: str = "torch") -> Stage2Model:
        """The weights at ``path`` (default: the shipped ones), checked against their card, on ``runtime``
        (``numpy`` or ``torch``; ``runtime.load_stage2`` also resolves ``auto`` and caches)."""
        if runtime == "numpy":
            if device != "cpu":
                raise AviTalkError(f"the numpy runtime runs on the CPU, not on {device!r}")
            from .numpy_backend import NumpyBackend

            return cls(NumpyBackend.load(path))
        if runtime == "torch":
            from .torch_backend import TorchBackend

            return cls(TorchBackend.load(path, device))
        raise AviTalkError(f"unknown stage-2 runtime {runtime!r}: use {' or '.join(RUNTIMES)}")

    # ---- audio -------------------------------------------------------------------------------------

    def _span(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.cfg.fps)))

    def _windows(self, n: int) -> Iterator[tuple[int, int, int, int]]:
        return windows(n, self._span(self.cfg.chunk_seconds), self._span(self.cfg.overlap_seconds))

    def prepare(self, audio: Audio, fps: float, transcript: str | None = None) -> Prepared:
        """Encode the audio (``transcript`` is not used: stage 2 hears the audio only)."""
        t0 = time.perf_counter()
        mel, energy = network_input(audio, self.cfg.fps, self.cfg.mel_rate)
        t1 = time.perf_counter()
        k = self.cfg.mel_rate
        n = len(mel) // k
        hidden = np.empty((n, self.cfg.channels), np.float32)
        with self.backend.session():
            for a, b, lo, hi in self._windows(n):
                hidden[a:b] = self.backend.encode(mel[lo * k : hi * k])[a - lo : b - lo]
        t2 = time.perf_counter()
        return Prepared(audio, float(fps), hidden, energy, {"features": t1 - t0, "encoder": t2 - t1}, self.runtime)

    # ---- conditioning ------------------------------------------------------------------------------

    def styles(self, segments: list[Segment], seed: int, expression: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(style latents [S, style_dim], instruction embeddings [S, instr_dim]) for ordered segments.
        Every segment starts from the seed's one noise row (``sampling.style_noise``: one performer per take;
        seed 0's row is zero, the prior's typical performer)."""
        segs = [Segment(s.start, s.end, scaled(s.instruction, expression), s.text) for s in segments]
        # segments with one instruction share one noise row, hence one latent: the prior runs once per instruction
        # (on the default path most phrase segments are the same neutral one)
        vectors, which = np.unique(instruction_matrix(segs), axis=0, return_inverse=True)
        which = which.reshape(-1)
        with self.backend.session():
            z, e = self.backend.styles(vectors, style_noise(seed, len(vectors), self.cfg.style_dim))
        return z[which], e[which]

    def decode(self, prepared: Prepared, z: np.ndarray, e: np.ndarray, cuts: list[float]) -> np.ndarray:
        """[T, 52 (+3 head)] at the model's fps, before blinks and gaze. Each segment is decoded under its own
        condition alone, over the frames it weighs on (and ``decode_margin`` more, for the convolutions), and the
        outputs are cross-faded: the network's answer to a *mixed* condition was not between the two (a smile
        fading out over 0.5 s dropped a third of the way in one frame)."""
        n = prepared.frames
        weights = frame_weights(cuts, n, self.cfg.fps, self.cfg.crossfade)
        out = np.empty((n, len(ARKIT52) + self.cfg.head_channels), np.float32)
        margin = decode_margin(self.cfg)
        with self.backend.session():
            for a, b, lo, hi in self._windows(n):
                window = weights[:, lo:hi]
                values = np.zeros((hi - lo, out.shape[1]), np.float32)
                for s in np.flatnonzero(window[:, a - lo : b - lo].max(axis=1) > 0):
                    inside = np.flatnonzero(window[s] > 0)
                    f0, f1 = max(0, inside[0] - margin), min(hi - lo, inside[-1] + 1 + margin)
                    alone = np.ones((1, f1 - f0), np.float32)  # segment s's condition on every frame
                    part = self.backend.decode(prepared.hidden[lo + f0 : lo + f1], z[s : s + 1], e[s : s + 1], alone)
                    values[f0:f1] += window[s, f0:f1, None] * part
                out[a:b] = values[a - lo : b - lo]
        return out

    # ---- takes -------------------------------------------------------------------------------------

    def animate(self, prepared: Prepared, segments: list[Segment] | None, seed: int, lips: float = 1.0,
                expression: float = 1.0, blinks: float = 1.0, head: float = 1.0) -> Animation:
        t0 = time.perf_counter()
        if prepared.runtime != self.runtime:  # encoded by the other runtime: each take is one runtime's alone
            prepared = self.prepare(prepared.audio, prepared.fps)
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
        level = np.interp(times, np.arange(len(prepared.energy_db)) / self.cfg.fps, prepared.energy_db)
        speaking = speaking_frames(level, fps)
        close_in_pauses(values, speaking, times, level)
        add_phrase_brows(values, times, seed, speaking, fps, expression)
        if self.cfg.head_channels:
            add_head_drift(values[:, len(ARKIT52) :], times, seed, speaking, fps)
            add_nods(values[:, len(ARKIT52) :], level, speaking, times, fps, seed)
        values[:, : len(ARKIT52)] = np.clip(values[:, : len(ARKIT52)], 0.0, 1.0)
        channels = ARKIT52
        if self.cfg.head_channels and head > 0.0:  # radians, scaled by the strength; 0 leaves the head out
            values[:, len(ARKIT52) :] *= head
            channels = FACE_AND_HEAD
        values = values[:, : len(channels)].astype(np.float32)
        meta = {
            "model": self.name, "model_id": self.id, "runtime": self.runtime, "seed": int(seed),
            "instructions": [{"start": round(s.start, 4), "end": round(s.end, 4),
                              "text": s.text or to_text(s.instruction)} for s in segs],
            "settings": {"lips": lips, "expression": expression, "blinks": blinks, "head": head},
        }
        prepared.timings["synthesis"] = time.perf_counter() - t0
        return Animation(fps, channels, values, "arkit52", meta)

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
