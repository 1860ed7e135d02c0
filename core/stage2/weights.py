"""Stage-2 weights and the torch runtime: build the network and prior from checked weights, write weights
and their card after training. Reading and checking the files needs no torch and lives in ``stored``
(re-exported here, so ``weights.read_card``, ``weights.CARD_NAME`` ... keep working)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..common.fileio import sha256_file
from .checkpoint import save_tensors
from .config import ARCHITECTURE, CARD_VERSION, Stage2Config
from .diffusion import Prior
from .net import Stage2Net
from .stored import (
    CARD,
    CARD_FORMAT,
    CARD_NAME,
    DEFAULT_DIR,
    MAX_BYTES,
    METRIC_KEYS,
    WEIGHTS_NAME,
    add_metrics,
    default_weights,
    find_card,
    output_channels,
    read_card,
    read_weights,
    tensor_shapes,
    write_card,
)

__all__ = ["CARD", "CARD_FORMAT", "CARD_NAME", "DEFAULT_DIR", "MAX_BYTES", "METRIC_KEYS", "WEIGHTS_NAME",
           "add_metrics", "build", "default_weights", "expected_shapes", "find_card", "load", "model_tensors",
           "read_card", "tensor_shapes", "write", "write_card"]


def model_tensors(net: Stage2Net, prior: Prior) -> dict[str, torch.Tensor]:
    """Everything inference needs, by name: the network and the prior (with its schedule and the latent
    statistics). The training-only contrastive heads and style encoder are kept too: they are small and
    let a run continue from released weights."""
    out = {f"net.{k}": v for k, v in net.state_dict().items()}
    out.update({f"prior.{k}": v for k, v in prior.state_dict().items()})
    return out


def build(cfg: Stage2Config) -> tuple[Stage2Net, Prior]:
    return Stage2Net(cfg), Prior(cfg)


def expected_shapes(cfg: Stage2Config) -> dict[str, list[int]]:
    """The shapes of the torch modules themselves (``stored.tensor_shapes`` writes them out; tests compare)."""
    with torch.device("meta"):
        net, prior = build(cfg)
    return {k: list(v.shape) for k, v in model_tensors(net, prior).items()}


def write(folder: Path, net: Stage2Net, prior: Prior, info: dict[str, Any]) -> Path:
    """Write weights + card into ``folder`` (created); ``info`` adds corpus/training/metrics sections."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in model_tensors(net, prior).items()}
    path = folder / WEIGHTS_NAME
    save_tensors(path, tensors, metadata={"architecture": ARCHITECTURE})
    n_net = sum(p.numel() for p in net.parameters())
    n_prior = sum(p.numel() for p in prior.parameters())
    card = {
        "format": CARD_FORMAT, "card_version": CARD_VERSION, "architecture": ARCHITECTURE,
        "weights": WEIGHTS_NAME, "sha256": sha256_file(path), "bytes": path.stat().st_size,
        "config": net.cfg.to_dict(), "space": "arkit52", "channels": list(output_channels(net.cfg)), "fps": net.cfg.fps,
        "parameters": {"network": n_net, "prior": n_prior, "total": n_net + n_prior},
        "tensors": {k: list(v.shape) for k, v in tensors.items()},
        **info,
    }
    write_card(folder / CARD_NAME, card)
    return folder


def load(path: Path | None = None) -> tuple[Stage2Net, Prior, dict[str, Any]]:
    """Network, prior and card from weights at ``path`` (default: the shipped weights), all checked
    (``stored.read_weights``)."""
    stored = read_weights(path)
    tensors = {k: torch.from_numpy(v) for k, v in stored.arrays.items()}
    net, prior = build(stored.cfg)
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    prior.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("prior.")})
    net.eval()
    prior.eval()
    return net, prior, stored.card
