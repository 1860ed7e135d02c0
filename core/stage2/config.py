"""The stage-2 architecture's hyper-parameters: one frozen dataclass, stored whole in the model card so
that weights are only ever loaded into the network they were trained as."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..common.errors import FormatError
from ..common.jsonspec import Bool, Int, ListOf, Num, Obj, Opt, validate

ARCHITECTURE = "avi-talking-stage2"
CARD_VERSION = 1
# the training's closure term (``losses.reconstruction``; the CLI offers these without importing torch)
CLOSURE_TERMS = ("frames", "events", "events-share")


@dataclass(frozen=True)
class Stage2Config:
    fps: float = 30.0  # the animation rate the network runs at; other rates are resampled
    mel_rate: int = 4  # log-mel frames per animation frame (120 Hz at 30 fps)
    n_mels: int = 80
    channels: int = 128  # width of the audio encoder and decoder
    encoder_dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8)
    # residual blocks at the mel rate, before the encoder's downsampling to the animation rate (their dilations):
    # a stop's burst and formant transitions last a few mel frames and are averaged away in one animation frame
    mel_blocks: tuple[int, ...] = ()
    decoder_dilations: tuple[int, ...] = (1, 2, 4)
    style_dim: int = 32  # the style latent the prior samples
    instr_dim: int = 64  # the instruction embedding
    style_channels: int = 64  # width of the motion (style) encoder
    prior_hidden: int = 256
    prior_layers: int = 4
    diffusion_steps: int = 1000  # DDPM training steps (cosine schedule)
    ddim_steps: int = 20  # sampling steps
    guidance: float = 2.0  # classifier-free guidance scale
    crossfade: float = 0.25  # seconds either side of a segment boundary (as the corpus targets)
    chunk_seconds: float = 20.0  # long audio runs in windows of this length ...
    overlap_seconds: float = 2.0  # ... overlapping by this much, cross-faded
    head_channels: int = 0  # 3: headYaw/Pitch/Roll after the 52 (radians, HEAD_SCALE · tanh); 0: face only
    # True: mouthClose's share of jawOpen also scales the lip openers (LIP_OPENERS) by (1 − share), as the
    # corpus's bilabial rule seals the lips, so the one share closes the mouth whatever the other channels say
    seal_lips: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "stage-2 model config") -> Stage2Config:
        """From a card's (or a checkpoint's) ``config``: every key known, every value of its type and in
        its range (``CONFIG``), or a one-line FormatError naming ``where``."""
        clean = validate(data, CONFIG, where)
        if clean.get("head_channels", 0) not in (0, 3):
            raise FormatError(f"{where}: head_channels must be 0 or 3")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in clean.items()}
        return cls(**values)


# Each hyper-parameter's type and a range around any network this code could train; the ranges keep a
# card from asking for a network (or a sampling loop) that would exhaust memory or time. A key left out
# takes the default; an unknown key is refused (tests check that every field has its entry).
_WIDTH = Int(1, 4096)
_DILATIONS = ListOf(Int(1, 4096), max_items=64, min_items=1)
CONFIG = Obj({name: Opt(spec) for name, spec in {
    "fps": Num(1.0, 240.0), "mel_rate": Int(1, 64), "n_mels": Int(1, 512), "channels": _WIDTH,
    "encoder_dilations": _DILATIONS, "mel_blocks": ListOf(Int(1, 4096), max_items=16),
    "decoder_dilations": _DILATIONS, "style_dim": _WIDTH, "instr_dim": _WIDTH,
    "style_channels": _WIDTH, "prior_hidden": Int(1, 8192), "prior_layers": Int(1, 64),
    "diffusion_steps": Int(1, 100_000), "ddim_steps": Int(1, 10_000), "guidance": Num(0.0, 100.0),
    "crossfade": Num(0.0, 10.0), "chunk_seconds": Num(0.0, 3600.0, above=True), "overlap_seconds": Num(0.0, 3600.0),
    "head_channels": Int(0, 3), "seal_lips": Bool(),
}.items()}, extra="refuse")
