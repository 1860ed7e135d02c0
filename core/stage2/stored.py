"""Stage-2 weights on disk, read without torch: ``model.safetensors`` + ``model_card.json``, the card checked
against the architecture and the tensors before anything runs. A mismatch is a one-line FormatError, never a
silent fallback to another model. Both runtimes load through ``read_weights`` (the torch one in
``weights.load``, the numpy one in ``numpy_backend``), so they accept and refuse exactly the same folders.

The card holds the architecture name and its whole config, the output space, channel list and fps, every
tensor's name and shape, the weights' sha256, and how the weights were made (corpus recipe and seed,
training command, time, losses) and measured (``metrics``, from ``avitalk eval``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...weights_fetcher.errors import ChecksumError, WeightsError
from ...weights_fetcher.loading import load_file
from ..arkit import ARKIT52, FACE_AND_HEAD
from ..common.errors import FormatError
from ..common.fileio import confined_file, read_json, read_json_card
from ..common.jsonspec import SHA256, Int, ListOf, MapOf, Nullable, Num, Obj, Opt, Str
from .conditioning import INSTRUCTION_DIM
from .config import ARCHITECTURE, CARD_VERSION, CONFIG, Stage2Config

WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "model_card.json"
CARD_FORMAT = "avi-talking-model-card"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "weights" / "stage2"
MAX_BYTES = 25 * 1024 * 1024  # the budget for committed default weights
N_OUT = 52  # the ARKit channels; the decoder has one more output (mouthClose as a share of jawOpen)
HEAD_DIM = 64  # the contrastive heads' shared space (training only)
INSTRUCTION_HIDDEN = 128  # the instruction encoder's width


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


@dataclass
class StoredWeights:
    """Checked weights: the config they were trained as, their card, and every tensor as a float32 array."""

    cfg: Stage2Config
    card: dict[str, Any]
    arrays: dict[str, np.ndarray]


def output_channels(cfg: Stage2Config) -> tuple[str, ...]:
    """The channels the network gives: the 52, then the head rotations when it has them."""
    return FACE_AND_HEAD if cfg.head_channels else ARKIT52


def default_weights() -> Path:
    return DEFAULT_DIR


def tensor_shapes(cfg: Stage2Config) -> dict[str, list[int]]:
    """Every tensor of the architecture ``cfg`` describes, by name, with its shape: what ``Stage2Net`` and
    ``Prior`` hold (tests check the two agree), written out so that checking a card needs no torch."""
    c, cond = cfg.channels, cfg.style_dim + cfg.instr_dim
    shapes: dict[str, list[int]] = {}

    def affine(name: str, *weight: int) -> None:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = list(weight), [weight[0]]

    def block(name: str) -> None:
        affine(f"{name}.norm.norm", c)
        affine(f"{name}.conv1", c, c, 3)
        affine(f"{name}.conv2", c, c, 1)

    affine("net.audio.inp", c, cfg.n_mels, 5)
    for i in range(len(cfg.mel_blocks)):
        block(f"net.audio.mel_blocks.{i}")
    affine("net.audio.down", c, c, cfg.mel_rate + 1)
    for i in range(len(cfg.encoder_dilations)):
        block(f"net.audio.blocks.{i}")
    affine("net.instruction.net.0", INSTRUCTION_HIDDEN, INSTRUCTION_DIM)
    affine("net.instruction.net.2", INSTRUCTION_HIDDEN, INSTRUCTION_HIDDEN)
    affine("net.instruction.net.4", cfg.instr_dim, INSTRUCTION_HIDDEN)
    sc = cfg.style_channels
    affine("net.style.conv1", sc, N_OUT + cfg.head_channels, 5)
    affine("net.style.conv2", sc, sc, 5)
    affine("net.style.out", cfg.style_dim, 2 * sc)
    for i in range(len(cfg.decoder_dilations)):
        block(f"net.decoder.blocks.{i}")
    affine("net.decoder.film", 2 * c * len(cfg.decoder_dilations), cond)
    affine("net.decoder.norm.norm", c)
    affine("net.decoder.out", N_OUT + 1 + cfg.head_channels, c, 1)
    affine("net.decoder.offset", N_OUT + 1 + cfg.head_channels, cond)
    affine("net.style_head", HEAD_DIM, cfg.style_dim)
    affine("net.instr_head", HEAD_DIM, cfg.instr_dim)
    w = cfg.prior_hidden
    shapes["prior.null"] = [cfg.instr_dim]
    shapes["prior.alpha_bar"] = [cfg.diffusion_steps]
    shapes["prior.latent_mean"] = [cfg.style_dim]
    shapes["prior.latent_std"] = [cfg.style_dim]
    affine("prior.inp", w, cond + w)
    affine("prior.time.0", w, w)
    affine("prior.time.2", w, w)
    for i in range(cfg.prior_layers):
        affine(f"prior.blocks.{i}.norm", w)
        affine(f"prior.blocks.{i}.fc1", 2 * w, w)
        affine(f"prior.blocks.{i}.fc2", w, 2 * w)
    affine("prior.out.0", w)
    affine("prior.out.1", cfg.style_dim, w)
    return shapes


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


def read_weights(path: Path | None = None) -> StoredWeights:
    """Config, card and tensors of the weights at ``path`` (default: the shipped weights), all checked: the
    architecture, config keys, channel list, fps, the card's tensor list against the architecture, the
    sha256 (on the very bytes that are parsed), the file's tensors against the card, float32."""
    path = Path(path) if path is not None else default_weights()
    card_path = find_card(path)
    card = read_card(card_path)
    cfg = Stage2Config.from_dict(card["config"], f"stage-2 model card {card_path}: config")
    where = card_path.name
    if card.get("space") != "arkit52" or list(card.get("channels", [])) != list(output_channels(cfg)):
        raise FormatError(f"{where}: the output is not the 52 ARKit channels in Apple's order"
                          + (" followed by headYaw, headPitch, headRoll" if cfg.head_channels else ""))
    if not math.isclose(card.get("fps", -1.0), cfg.fps):
        raise FormatError(f"{where}: fps {card.get('fps')} does not match the config's {cfg.fps}")
    expected = tensor_shapes(cfg)
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
    arrays = loaded.arrays
    got = {k: list(v.shape) for k, v in arrays.items()}
    if got != expected:
        raise FormatError(f"{weights_path.name}: tensors do not match its card ({_difference(got, expected)})")
    bad = [k for k, v in arrays.items() if v.dtype != np.float32]
    if bad:
        raise FormatError(f"{weights_path.name}: tensor {bad[0]} is {arrays[bad[0]].dtype}, expected float32")
    return StoredWeights(cfg, card, arrays)


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


METRIC_KEYS = ("clips", "seconds", "bilabial_closure", "false_closure", "speech_gap_mm", "speech_gap_mm_target",
               "open_vowel_jaw_ratio", "silence_closure", "jaw_energy_corr", "jaw_energy_corr_target",
               "lag_frames_median", "lag_frames_mean_abs", "lve_mm", "fdd_mm", "mae_all", "mae_mouth",
               "adherence_ratio", "diversity")


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
