"""Stage-2 weights on disk: ``model.safetensors`` + ``model_card.json``, and loading that checks the card
against the architecture and the tensors before anything runs. A mismatch is a one-line FormatError,
never a silent fallback to another model.

The card holds the architecture name and its whole config, the output space, channel list and fps, every
tensor's name and shape, the weights' sha256, and how the weights were made (corpus recipe and seed,
training command, time, losses) and measured (``metrics``, from ``avitalk eval``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from ...weights_fetcher.errors import ChecksumError, WeightsError
from ...weights_fetcher.loading import load_file
from ..arkit import ARKIT52
from ..common.errors import FormatError
from ..common.fileio import confined_file, read_json, read_json_card, sha256_file
from ..common.jsonspec import SHA256, Int, ListOf, MapOf, Nullable, Num, Obj, Opt, Str
from .checkpoint import save_tensors
from .config import ARCHITECTURE, CARD_VERSION, CONFIG, Stage2Config
from .diffusion import Prior
from .net import Stage2Net

WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "model_card.json"
CARD_FORMAT = "avi-talking-model-card"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "weights" / "stage2"
MAX_BYTES = 25 * 1024 * 1024  # the budget for committed default weights


# What a stage-2 card must hold (``read_card`` checks it before anything is built); the sections that only
# record how the weights were made (corpus, training, metrics) are kept as they are.
CARD = Obj({
    "format": Str(max_len=64, choices=(CARD_FORMAT,)),
    "card_version": Int(0, 1_000_000),
    "architecture": Str(max_len=64),
    "weights": Opt(Str(max_len=255)),
    "sha256": SHA256,
    "bytes": Opt(Int(0, 2**40)),
    "config": CONFIG,
    "space": Opt(Str(max_len=64)),
    "channels": Opt(ListOf(Str(max_len=64), max_items=256)),
    "fps": Opt(Num(1.0, 240.0)),
    "tensors": Opt(MapOf(ListOf(Int(0, 2**31), max_items=8), max_items=4096, key=Str(max_len=200))),
})


def default_weights() -> Path:
    return DEFAULT_DIR


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
        "config": net.cfg.to_dict(), "space": "arkit52", "channels": list(ARKIT52), "fps": net.cfg.fps,
        "parameters": {"network": n_net, "prior": n_prior, "total": n_net + n_prior},
        "tensors": {k: list(v.shape) for k, v in tensors.items()},
        **info,
    }
    write_card(folder / CARD_NAME, card)
    return folder


def write_card(path: Path, card: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def find_card(path: Path) -> Path:
    """The card for a weights folder, a card file, or a .safetensors file."""
    if path.is_dir():
        card = path / CARD_NAME
    elif path.suffix == ".json":
        card = path
    else:
        card = path.with_name(CARD_NAME)
    if not card.is_file():
        raise FormatError(f"no stage-2 model card at {card}")
    return card


def read_card(path: Path) -> dict[str, Any]:
    card_path = find_card(path)
    card = read_json_card(card_path, "stage-2 model card", CARD_FORMAT, CARD)
    if card["architecture"] != ARCHITECTURE:
        raise FormatError(f"{card_path} describes a {card['architecture']!r} model, not {ARCHITECTURE}")
    if card["card_version"] > CARD_VERSION:
        raise FormatError(f"{card_path} was written by a newer version (card {card['card_version']})")
    return card


def load(path: Path | None = None) -> tuple[Stage2Net, Prior, dict[str, Any]]:
    """Network, prior and card from weights at ``path`` (default: the shipped weights), all checked."""
    path = Path(path) if path is not None else default_weights()
    card_path = find_card(path)
    card = read_card(card_path)
    cfg = Stage2Config.from_dict(card["config"], f"stage-2 model card {card_path}: config")
    where = card_path.name
    if card.get("space") != "arkit52" or list(card.get("channels", [])) != list(ARKIT52):
        raise FormatError(f"{where}: the output is not the 52 ARKit channels in Apple's order")
    if not math.isclose(card.get("fps", -1.0), cfg.fps):
        raise FormatError(f"{where}: fps {card.get('fps')} does not match the config's {cfg.fps}")
    expected = expected_shapes(cfg)
    if card.get("tensors") != expected:
        raise FormatError(f"{where}: its tensor list does not match the {ARCHITECTURE} architecture of its config "
                          f"({_difference(card.get('tensors'), expected)})")
    weights_path = confined_file(card_path.parent, card.get("weights", WEIGHTS_NAME), "stage-2 weights")
    if not weights_path.is_file():
        raise FormatError(f"stage-2 weights {weights_path} do not exist")
    try:  # the hash is checked on the very bytes that are parsed: nothing can change in between
        loaded = load_file(weights_path, sha256=card["sha256"].lower())
    except ChecksumError:
        raise FormatError(f"{weights_path.name} does not match the sha256 in {where} (changed or corrupt)") from None
    except WeightsError as exc:
        raise FormatError(f"stage-2 weights: {exc}") from None
    tensors = {k: torch.from_numpy(v) for k, v in loaded.arrays.items()}
    got = {k: list(v.shape) for k, v in tensors.items()}
    if got != expected:
        raise FormatError(f"{weights_path.name}: tensors do not match its card ({_difference(got, expected)})")
    bad = [k for k, v in tensors.items() if v.dtype != torch.float32]
    if bad:
        raise FormatError(f"{weights_path.name}: tensor {bad[0]} is {tensors[bad[0]].dtype}, expected float32")
    net, prior = build(cfg)
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    prior.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("prior.")})
    net.eval()
    prior.eval()
    return net, prior, card


def _difference(got: Any, expected: dict[str, list[int]]) -> str:
    if not isinstance(got, dict):
        return "no tensor list"
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if missing:
        return f"missing {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
    if extra:
        return f"unexpected {extra[0]}" + (f" and {len(extra) - 1} more" if len(extra) > 1 else "")
    name = next(k for k in expected if list(got[k]) != expected[k])
    return f"{name} has shape {list(got[name])}, expected {expected[name]}"


METRIC_KEYS = ("clips", "seconds", "bilabial_closure", "open_vowel_jaw_ratio", "silence_closure", "jaw_energy_corr",
               "jaw_energy_corr_target", "lag_frames_median", "lag_frames_mean_abs", "lve_mm", "fdd_mm", "mae_all",
               "mae_mouth", "adherence_ratio", "diversity")


# An ``avitalk eval`` metrics.json: its summary's numbers are copied into the card.
_EVALUATION = Obj({"summary": Opt(Obj({k: Opt(Nullable(Num())) for k in METRIC_KEYS})),
                   "command": Opt(Nullable(Str(max_len=10_000)))})
_MAX_EVALUATION_BYTES = 64 * 1024 * 1024  # it lists every clip


def add_metrics(folder: Path, label: str, metrics_json: Path) -> dict[str, Any]:
    """Copy the summary of an ``avitalk eval`` run (its metrics.json) into the card under ``metrics[label]``.
    The weights are not touched, so the card's sha256 still holds."""
    card_path = find_card(folder)
    card = read_card(card_path)
    report = read_json(Path(metrics_json), "evaluation", _EVALUATION, max_bytes=_MAX_EVALUATION_BYTES)
    summary = report.get("summary", {})
    entry = {k: summary[k] for k in METRIC_KEYS if k in summary}
    entry["command"] = report.get("command")
    card.setdefault("metrics", {})[label] = entry
    write_card(card_path, card)
    return entry
