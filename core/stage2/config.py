"""The stage-2 architecture's hyper-parameters: one frozen dataclass, stored whole in the model card so
that weights are only ever loaded into the network they were trained as."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..common.errors import FormatError

ARCHITECTURE = "avi-talking-stage2"
CARD_VERSION = 1


@dataclass(frozen=True)
class Stage2Config:
    fps: float = 30.0  # the animation rate the network runs at; other rates are resampled
    mel_rate: int = 4  # log-mel frames per animation frame (120 Hz at 30 fps)
    n_mels: int = 80
    channels: int = 128  # width of the audio encoder and decoder
    encoder_dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8)
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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stage2Config:
        if not isinstance(data, dict):
            raise FormatError("stage-2 model card: 'config' is not an object")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise FormatError(f"stage-2 model card: unknown config keys {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            default = getattr(cls(), name)
            try:
                if isinstance(default, tuple):
                    values[name] = tuple(int(v) for v in value)
                else:
                    values[name] = type(default)(value)
            except (TypeError, ValueError) as exc:
                raise FormatError(f"stage-2 model card: config {name!r} has a bad value {value!r}") from exc
        return cls(**values)
