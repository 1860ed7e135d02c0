"""The stage-2 network (torch): audio encoder, instruction encoder, style (motion) encoder, decoder.

    mel [B, T·k, 80] ──AudioEncoder──► h [B, C, T]  (frame t centred on mel frame k·t; ``mel_blocks`` at the mel rate)
    instruction vector [B, S, 104] ──InstructionEncoder──► e [B, S, 64]
    target motion [B, T, 52+H] + segment masks ──StyleEncoder──► z [B, S, 32]   (training; the prior at inference)
    h, per-frame blend of (z, e) ──Decoder (FiLM)──► ARKit-52 [B, T, 52] in 0..1, then H head rotations (radians)

The decoder sees the style latent z (how this take is performed: sampled by the diffusion prior) and the
instruction embedding e (what was asked), blended per frame across segment boundaries. mouthClose is
predicted as a share of jawOpen (on an ARKit rig mouthClose = jawOpen seals the lips), so a closure is a
gate the network can open fully rather than two numbers it must match to a millimetre. With
``head_channels`` = 3 the decoder also gives headYaw/Pitch/Roll as HEAD_SCALE · tanh(logit); the style
encoder sees them divided by HEAD_UNIT, so a head turn weighs like a face channel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..arkit import INDEX
from ..lipsync.visemes import LIP_OPENERS
from .conditioning import INSTRUCTION_DIM
from .config import Stage2Config

N_OUT = 52
JAW, CLOSE = INDEX["jawOpen"], INDEX["mouthClose"]
OPENERS = [INDEX[n] for n in LIP_OPENERS]
HEAD_SCALE = 0.35  # radians (20°): the largest head rotation the decoder can give
HEAD_UNIT = 0.05  # radians: head rotations are divided by this where they meet face channels (style, loss)


def output_row(channel: int) -> int:
    """The row of ``Decoder.out`` and ``Decoder.offset`` that gives output ``channel`` (the 52 in ARKit order,
    then the head): mouthClose is jawOpen × the share in row N_OUT, so its own row is unused, and the head's
    rows come after the share."""
    return N_OUT if channel == CLOSE else channel if channel < N_OUT else channel + 1


class ChannelNorm(nn.Module):
    """LayerNorm over channels of [B, C, T], per frame (so results never depend on the sequence length)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class ResBlock(nn.Module):
    """Pre-norm residual block of two dilated convolutions; optional FiLM after the norm."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.norm = ChannelNorm(channels)
        self.conv1 = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor, film: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        h = self.norm(x)
        if film is not None:
            gamma, beta = film
            h = h * (1.0 + gamma) + beta
        return x + self.conv2(F.gelu(self.conv1(F.gelu(h))))


class AudioEncoder(nn.Module):
    def __init__(self, cfg: Stage2Config) -> None:
        super().__init__()
        k, c = cfg.mel_rate, cfg.channels
        self.inp = nn.Conv1d(cfg.n_mels, c, 5, padding=2)
        blocks = [ResBlock(c, d) for d in cfg.mel_blocks]
        for block in blocks:  # each starts as the identity, so a trained network grows by them unchanged
            nn.init.zeros_(block.conv2.weight)
            assert block.conv2.bias is not None
            nn.init.zeros_(block.conv2.bias)
        self.mel_blocks = nn.ModuleList(blocks)
        # kernel k+1, stride k, padding k/2: output t covers mel frames k·t − k/2 … k·t + k/2, centred on k·t
        self.down = nn.Conv1d(c, c, k + 1, stride=k, padding=k // 2)
        self.blocks = nn.ModuleList(ResBlock(c, d) for d in cfg.encoder_dilations)
        self.mel_rate = k

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """[B, T·k, n_mels] → [B, C, T]."""
        x = self.inp(mel.transpose(1, 2))
        for block in self.mel_blocks:
            x = block(x)
        x = self.down(F.gelu(x))
        for block in self.blocks:
            x = block(x)
        return x


class InstructionEncoder(nn.Module):
    def __init__(self, cfg: Stage2Config) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(INSTRUCTION_DIM, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(),
                                 nn.Linear(128, cfg.instr_dim))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.net(v)


class StyleEncoder(nn.Module):
    """Motion → style latent, one per segment: convolutions, then mean and spread pooled over the
    segment's frames (pooling keeps *how* the face moves and drops *when*, which the audio decides).
    Latents lie on a sphere of radius √dim, so each coordinate is of unit scale for the prior."""

    def __init__(self, cfg: Stage2Config) -> None:
        super().__init__()
        c = cfg.style_channels
        self.conv1 = nn.Conv1d(N_OUT + cfg.head_channels, c, 5, padding=2)
        self.head = cfg.head_channels
        self.conv2 = nn.Conv1d(c, c, 5, padding=4, dilation=2)
        self.out = nn.Linear(2 * c, cfg.style_dim)
        self.dim = cfg.style_dim

    def forward(self, motion: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """motion [B, T, 52+H], masks [B, S, T] (1 on the segment's frames) → z [B, S, style_dim]."""
        if self.head:
            motion = torch.cat([motion[..., :N_OUT], motion[..., N_OUT:] / HEAD_UNIT], -1)
        h = F.gelu(self.conv2(F.gelu(self.conv1(motion.transpose(1, 2)))))  # [B, c, T]
        count = masks.sum(-1, keepdim=True).clamp(min=1.0)  # [B, S, 1]
        mean = torch.einsum("bst,bct->bsc", masks, h) / count
        sq = torch.einsum("bst,bct->bsc", masks, h * h) / count
        std = (sq - mean * mean).clamp(min=1e-6).sqrt()
        z = self.out(torch.cat([mean, std], -1))
        return F.normalize(z, dim=-1) * math.sqrt(self.dim)


class Decoder(nn.Module):
    keep: torch.Tensor

    def __init__(self, cfg: Stage2Config) -> None:
        super().__init__()
        c = cfg.channels
        self.blocks = nn.ModuleList(ResBlock(c, d) for d in cfg.decoder_dilations)
        self.film = nn.Linear(cfg.style_dim + cfg.instr_dim, 2 * c * len(self.blocks))
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.norm = ChannelNorm(c)
        self.head = cfg.head_channels
        self.out = nn.Conv1d(c, N_OUT + 1 + self.head, 1)  # 52 channels + the mouthClose share of jawOpen + head
        assert self.out.bias is not None
        nn.init.constant_(self.out.bias, -3.0)  # start near rest (most channels are near 0)
        if self.head:  # the head starts still, facing the camera (random turns would swamp the early loss)
            with torch.no_grad():
                self.out.weight[N_OUT + 1 :].zero_()
                self.out.bias[N_OUT + 1 :].zero_()
        # an expression is a held offset (the AUs' channels): a direct path from the condition to the
        # output, so it need not be learnt through the audio features' modulation alone
        self.offset = nn.Linear(cfg.style_dim + cfg.instr_dim, N_OUT + 1 + self.head)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)
        self.channels = c
        self.seal = cfg.seal_lips
        keep = torch.ones(N_OUT)
        keep[OPENERS] = 0.0  # the lip openers, which a shut share scales to 0 (seal_lips)
        self.register_buffer("keep", keep, persistent=False)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """h [B, C, T], cond [B, T, style_dim + instr_dim] → values [B, T, 52] in 0..1."""
        film = self.film(cond).transpose(1, 2)  # [B, 2·C·L, T]
        for k, block in enumerate(self.blocks):
            part = film[:, 2 * self.channels * k : 2 * self.channels * (k + 1)]
            h = block(h, (part[:, : self.channels], part[:, self.channels :]))
        logits = self.out(F.gelu(self.norm(h))).transpose(1, 2) + self.offset(cond)  # [B, T, 53]
        values = torch.sigmoid(logits[..., :N_OUT])
        share = torch.sigmoid(logits[..., N_OUT])
        if self.seal:  # the openers × (1 − share): a shut share seals the lips
            values = values * (self.keep + (1.0 - self.keep) * (1.0 - share[..., None]))
        close = values[..., JAW] * share
        parts = [values[..., :CLOSE], close[..., None], values[..., CLOSE + 1 :]]
        if self.head:
            parts.append(HEAD_SCALE * torch.tanh(logits[..., N_OUT + 1 :]))
        return torch.cat(parts, -1)


class Stage2Net(nn.Module):
    """The synthesis network without the prior (see ``diffusion.Prior``)."""

    def __init__(self, cfg: Stage2Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.audio = AudioEncoder(cfg)
        self.instruction = InstructionEncoder(cfg)
        self.style = StyleEncoder(cfg)
        self.decoder = Decoder(cfg)
        # contrastive heads: style latents and instruction embeddings meet in one space
        self.style_head = nn.Linear(cfg.style_dim, 64)
        self.instr_head = nn.Linear(cfg.instr_dim, 64)

    def decode(self, h: torch.Tensor, z: torch.Tensor, e: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """h [B, C, T]; z [B, S, style_dim], e [B, S, instr_dim]; weights [B, S, T] → values [B, T, 52]."""
        cond = torch.einsum("bst,bsd->btd", weights, torch.cat([z, e], -1))
        return self.decoder(h, cond)
