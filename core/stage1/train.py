"""Training the stage-1 model on the synthetic corpus (torch; inference is numpy, see ``model``).

    avitalk train stage1 --corpus /tmp/c10 [--corpus /tmp/c20s1 ...] --out weights/stage1 --seed 0

1. Features for every true segment and every pause candidate of the train/val/test splits (``dataset``);
   with several corpora, each split is the union of theirs (voices never cross splits in any of them).
2. The MLP on the train split: emotion cross-entropy + intensity L1 (all segments) + AU presence
   BCE + AU intensity L1 (present AUs), AdamW, dropout; the epoch with the lowest validation loss is kept.
3. Calibration on the validation split: the softmax temperature that minimises the negative log
   likelihood; the AU presence threshold that maximises micro F1.
4. The boundary scorer (manner change at a phrase cut) on the train split's phrase cuts.
5. Validation and test scores with the model's own (phrase) segmentation (what ``avitalk eval`` measures)
   and with the true segments, as shipped and without the confidence shrink; weights (safetensors) and
   the model card written into ``--out``.

Everything is seeded and runs single-threaded, so the same corpus and seed give the same weights.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...version import __version__
from ..common.errors import AviTalkError
from ..common.fileio import atomic_output
from ..common.progress import ProgressFn, null_progress, scaled
from ..corpus.dataset import Corpus
from ..instructions import AUS, EMOTIONS
from ..instructions.schema import BILATERAL_AUS
from .dataset import Tables, concat_tables, load_or_build
from .evaluate import clip_frames, evaluate_clips
from .features import FEATURE_NAMES
from .model import ARCHITECTURE, FORMAT, FORMAT_VERSION, Stage1Config, Stage1Model, load_model, tensor_shapes
from .predict import FLOOR, SPEECH_AUS, SUPPORTED, Stage1Predictor
from .segment import BOUNDARY_NAMES

# one-sided AUs are learned as one unit and written on the left: the corpus draws the side at random,
# so no audio cue can tell it
ONE_SIDED = {"AU12L": ("AU12L", "AU12R"), "AU14L": ("AU14L", "AU14R")}
# AUs the speech drives (lips part, jaw drop) are not learned: stage 1 never holds them (predict.SPEECH_AUS)
MODEL_AUS: tuple[str, ...] = tuple(a for a in BILATERAL_AUS if a not in SPEECH_AUS) + tuple(ONE_SIDED)
AU_PRESENT = 0.1  # an AU counts as present at this intensity (as in the eval's AU F1)


@dataclass(frozen=True)
class TrainOptions:
    corpus: tuple[Path, ...]
    out: Path
    epochs: int = 80
    seed: int = 0
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.5
    lr: float = 2e-3
    weight_decay: float = 1e-3
    batch: int = 128
    boundary_hidden: int = 16
    boundary_epochs: int = 300
    workers: int = 2
    cache: Path | None = None
    max_clips: int | None = None  # per split (tests train on a handful)
    command: str = ""


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise AviTalkError("training needs torch: pip install 'avi-talking[models]' (torch==2.13.0)") from None
    return torch


def _labels(t: Tables) -> dict[str, np.ndarray]:
    col = {au: k for k, au in enumerate(AUS)}
    values = np.stack([np.max(t.aus[:, [col[s] for s in ONE_SIDED.get(au, (au,))]], axis=1) for au in MODEL_AUS],
                      axis=1) if len(t) else np.zeros((0, len(MODEL_AUS)), np.float32)
    return {"emotion": t.emotion, "intensity": t.intensity, "au_value": values.astype(np.float32),
            "au_present": (values >= AU_PRESENT).astype(np.float32)}


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
    std = np.maximum(x.std(axis=0), 1e-3) if len(x) else np.ones(x.shape[1])
    return mean.astype(np.float64), std.astype(np.float64)


def _build_net(torch: Any, n_in: int, hidden: tuple[int, ...], n_emo: int, n_au: int, dropout: float) -> Any:
    nn = torch.nn

    class Net(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            dims = [n_in, *hidden]
            self.trunk = nn.ModuleList(nn.Linear(dims[k], dims[k + 1]) for k in range(len(hidden)))
            self.emotion = nn.Linear(dims[-1], n_emo)
            self.intensity = nn.Linear(dims[-1], 1)
            self.au_present = nn.Linear(dims[-1], n_au)
            self.au_value = nn.Linear(dims[-1], n_au)
            self.drop_in = nn.Dropout(0.1)
            self.drop = nn.Dropout(dropout)

        def forward(self, x: Any) -> tuple[Any, Any, Any, Any]:
            h = self.drop_in(x)
            for layer in self.trunk:
                h = self.drop(torch.relu(layer(h)))
            return self.emotion(h), self.intensity(h)[:, 0], self.au_present(h), self.au_value(h)

    return Net()


def _losses(torch: Any, out: tuple[Any, Any, Any, Any], y: dict[str, Any]) -> dict[str, Any]:
    f = torch.nn.functional
    logits, intensity, present, value = out
    on = y["au_present"]
    return {
        "emotion": f.cross_entropy(logits, y["emotion"]),
        # over all segments (neutral ones at 0): the head learns the median intensity given the audio, which
        # is lower where the emotion is uncertain; a segment predicted neutral is written at 0 anyway
        "intensity": torch.abs(torch.sigmoid(intensity) - y["intensity"]).mean(),
        "au_present": f.binary_cross_entropy_with_logits(present, on),
        "au_value": (torch.abs(torch.sigmoid(value) - y["au_value"]) * on).sum() / on.sum().clamp(min=1),
    }


def _to_torch(torch: Any, x: np.ndarray, labels: dict[str, np.ndarray]) -> tuple[Any, dict[str, Any]]:
    y = {k: torch.tensor(v, dtype=torch.long if k == "emotion" else torch.float32) for k, v in labels.items()}
    return torch.tensor(x, dtype=torch.float32), y


def train_classifier(torch: Any, xtr: np.ndarray, ytr: dict[str, np.ndarray], xva: np.ndarray,
                     yva: dict[str, np.ndarray], o: TrainOptions, log: Callable[[str], None],
                     progress: ProgressFn) -> tuple[dict[str, np.ndarray], list[dict[str, float]]]:
    net = _build_net(torch, xtr.shape[1], o.hidden, len(EMOTIONS), len(MODEL_AUS), o.dropout)
    opt = torch.optim.AdamW(net.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    Xtr, Ytr = _to_torch(torch, xtr, ytr)
    Xva, Yva = _to_torch(torch, xva, yva)
    gen = torch.Generator().manual_seed(o.seed)
    history: list[dict[str, float]] = []
    best: tuple[float, dict[str, np.ndarray]] = (math.inf, {})
    for epoch in range(o.epochs):
        net.train()
        perm = torch.randperm(len(Xtr), generator=gen)
        total, n = 0.0, 0
        for i in range(0, len(perm), o.batch):
            b = perm[i : i + o.batch]
            parts = _losses(torch, net(Xtr[b]), {k: v[b] for k, v in Ytr.items()})
            loss = parts["emotion"] + parts["intensity"] + 0.5 * parts["au_present"] + parts["au_value"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, n = total + float(loss.detach()) * len(b), n + len(b)
        net.eval()
        with torch.no_grad():
            parts = _losses(torch, net(Xva), Yva) if len(Xva) else {}
        val = {k: float(v) for k, v in parts.items()}
        val_total = val.get("emotion", 0) + val.get("intensity", 0) + 0.5 * val.get("au_present", 0) + \
            val.get("au_value", 0)
        history.append({"epoch": epoch + 1, "train_loss": round(total / max(n, 1), 5),
                        "val_loss": round(val_total, 5), **{f"val_{k}": round(v, 5) for k, v in val.items()}})
        if val_total < best[0] or not len(Xva):
            best = (val_total, _export(net))
        log(f"epoch {epoch + 1:3d}/{o.epochs}  train {total / max(n, 1):.4f}  val {val_total:.4f} "
            f"(emotion {val.get('emotion', math.nan):.3f})")
        progress("training", 0.4 + 0.35 * (epoch + 1) / o.epochs)
    return best[1], history


def _export(net: Any) -> dict[str, np.ndarray]:
    state = {k: v.detach().cpu().numpy().astype(np.float32).copy() for k, v in net.state_dict().items()}
    out = {}
    for k, v in state.items():
        head = k.split(".")[0]
        out[k if head == "trunk" else f"head.{k}"] = v
    return out


def train_boundary(torch: Any, bx: np.ndarray, by: np.ndarray, hidden: int, epochs: int,
                   seed: int) -> dict[str, np.ndarray]:
    nn = torch.nn
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(bx.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 1))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=1e-3)
    x = torch.tensor(bx, dtype=torch.float32)
    y = torch.tensor(by, dtype=torch.float32)
    for _ in range(epochs if len(x) else 0):  # full batch: a few thousand rows
        loss = nn.functional.binary_cross_entropy_with_logits(net(x)[:, 0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    names = {"0.weight": "boundary.0.weight", "0.bias": "boundary.0.bias", "2.weight": "boundary.1.weight",
             "2.bias": "boundary.1.bias"}
    return {names[k]: v.detach().numpy().astype(np.float32).copy() for k, v in net.state_dict().items()}


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The softmax temperature minimising the negative log likelihood (grid 0.5 … 5)."""
    if not len(logits):
        return 1.0
    best = (math.inf, 1.0)
    for t in np.arange(0.5, 5.0001, 0.01):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(z)), labels]))
        if nll < best[0] - 1e-12:
            best = (nll, float(round(t, 2)))
    return best[1]


def fit_au_threshold(prob: np.ndarray, present: np.ndarray) -> float:
    """The presence threshold with the best micro F1 over (segment, AU) pairs (grid 0.2 … 0.8)."""
    best = (-1.0, 0.5)
    for t in np.arange(0.2, 0.8001, 0.02):
        p = prob >= t
        on = present > 0
        tp, fp, fn = float((p & on).sum()), float((p & ~on).sum()), float((~p & on).sum())
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        if f1 > best[0] + 1e-12:
            best = (f1, float(round(t, 2)))
    return best[1]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _clean(value: Any) -> Any:
    """JSON-safe: NaN → None, numpy scalars → Python, floats rounded."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value


def train_stage1(o: TrainOptions, progress: ProgressFn = null_progress,
                 log: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Train, calibrate, measure and write ``model.safetensors`` + ``model.json`` into ``o.out``."""
    torch = _torch()
    started = time.perf_counter()
    corpora = [Corpus(path) for path in o.corpus]
    for corpus in corpora:
        for split in ("train", "val"):
            if not corpus.entries(split):
                raise AviTalkError(f"the corpus {corpus.root} has no {split} clips")
    o.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(o.seed)
    torch.use_deterministic_algorithms(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # reductions in one fixed order: the same seed gives the same bytes
    try:
        tables = {}
        for k, split in enumerate(("train", "val", "test")):
            part = scaled(progress, 0.1 * k, 0.1 * k + 0.1)
            tables[split] = concat_tables([load_or_build(c, split, AUS, o.cache, o.workers, part, o.max_clips)
                                           for c in corpora])
            log(f"{split}: {len(tables[split])} segments, {len(tables[split].by)} pause candidates")
        mean, std = _standardise(tables["train"].x)
        z = {s: np.clip((t.x - mean) / std, -6, 6) for s, t in tables.items()}
        labels = {s: _labels(t) for s, t in tables.items()}
        tensors, history = train_classifier(torch, z["train"], labels["train"], z["val"], labels["val"], o, log,
                                            progress)
        bmean, bstd = _standardise(tables["train"].bx)
        bz = np.clip((tables["train"].bx - bmean) / bstd, -6, 6)
        tensors.update(train_boundary(torch, bz, tables["train"].by, o.boundary_hidden, o.boundary_epochs, o.seed))
    finally:
        torch.set_num_threads(threads)
    config = Stage1Config(FEATURE_NAMES, o.hidden, EMOTIONS, MODEL_AUS, BOUNDARY_NAMES, o.boundary_hidden)
    assert {k: tuple(v.shape) for k, v in tensors.items()} == tensor_shapes(config)
    model = Stage1Model(config, {k: v.astype(np.float64) for k, v in tensors.items()}, mean, std, bmean, bstd)
    # calibration on the validation split's true segments
    val_out = model.forward(tables["val"].x)
    model.temperature = fit_temperature(val_out.emotion_logits, tables["val"].emotion)
    model.au_threshold = fit_au_threshold(val_out.au_present, labels["val"]["au_present"])
    log(f"temperature {model.temperature}, AU threshold {model.au_threshold}")
    progress("calibration", 0.8)
    predictor = Stage1Predictor(model)
    frames = {s: [f for c in corpora for f in clip_frames(c.clips(s, limit=o.max_clips))] for s in ("val", "test")}
    progress("evaluation", 0.9)
    metrics: dict[str, dict[str, Any]] = {s: {"own_segmentation": evaluate_clips(predictor, frames[s]),
                   "true_segments": evaluate_clips(predictor, frames[s], oracle=True)} for s in ("val", "test")}
    uncalibrated = Stage1Predictor(Stage1Model(**{**model.__dict__, "temperature": 1.0}))
    raw = Stage1Predictor(model, shrink=False)
    for s in ("val", "test"):
        metrics[s]["ece_uncalibrated"] = evaluate_clips(uncalibrated, frames[s], oracle=True)["ece"]
        # the model's reading before the confidence shrink and the neutral floor
        metrics[s]["without_confidence_shrink"] = {"own_segmentation": evaluate_clips(raw, frames[s]),
                                                   "true_segments": evaluate_clips(raw, frames[s], oracle=True)}
    wall = time.perf_counter() - started
    card = write_model(o, model, corpora, history, metrics, wall, tables)
    progress("done", 1.0)
    return card


def _corpus_info(corpus: Corpus) -> dict[str, Any]:
    return {"folder": corpus.root.name, "seed": corpus.manifest.get("seed"),
            "recipe": f"avitalk corpus build --hours {corpus.manifest.get('hours_requested', '?'):g} --out DIR "
                      f"--seed {corpus.manifest.get('seed')}",
            "manifest_sha256": _sha256(corpus.root / "manifest.json"),
            "hours": round(sum(s["seconds"] for s in corpus.splits.values()) / 3600, 3)}


def write_model(o: TrainOptions, model: Stage1Model, corpora: list[Corpus], history: list[dict[str, float]],
                metrics: dict[str, Any], wall: float, tables: dict[str, Tables]) -> dict[str, Any]:
    from safetensors.numpy import save_file

    weights = o.out / "model.safetensors"
    with atomic_output(weights) as tmp:
        save_file({k: np.ascontiguousarray(v.astype(np.float32)) for k, v in sorted(model.tensors.items())}, str(tmp),
                  metadata={"format": FORMAT})  # one key: safetensors writes a map in random order
    torch = _torch()
    card: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": "avi-stage1",
        "version": __version__,
        "architecture": ARCHITECTURE,
        "description": "Speech → instruction segments (emotion, intensity, FACS AUs) from pooled prosodic and "
                       "spectral statistics; numpy inference",
        "weights": weights.name,
        "weights_sha256": _sha256(weights),
        "parameters": int(sum(v.size for v in model.tensors.values())),
        "config": model.config.to_dict(),
        "tensors": {k: list(v) for k, v in tensor_shapes(model.config).items()},
        "normalisation": {"mean": model.mean.tolist(), "std": model.std.tolist(),
                          "boundary_mean": model.boundary_mean.tolist(), "boundary_std": model.boundary_std.tolist()},
        "calibration": {"temperature": model.temperature, "method": "temperature scaling on the val split (NLL)"},
        "thresholds": {"au_present": model.au_threshold},
        "decision": {"rule": "emotion = argmax of the calibrated probabilities (its probability is the confidence); "
                             "intensity and AUs scaled by clip((p_top - 1/8) / (0.6 - 1/8), 0, 1), both capped "
                             "at 2/7 while p_top < 0.6, neutral under p_top 0.25; AU25/AU26 never written",
                     "supported": SUPPORTED, "floor": FLOOR},
        "outputs": {"emotions": list(EMOTIONS), "aus": list(MODEL_AUS),
                    "note": "AU12L/AU14L stand for a one-sided smile/dimple on either side (the corpus draws the "
                            "side at random, so it cannot be heard); intensity is 0 for neutral"},
        "corpus": {"corpora": [_corpus_info(c) for c in corpora],
                   "splits": {s: {"clips": len(t.clip_ids), "segments": len(t)} for s, t in tables.items()}},
        "training": {"command": o.command, "seed": o.seed, "epochs": o.epochs, "best_epoch":
                     min(history, key=lambda h: h["val_loss"])["epoch"] if history else 0,
                     "hidden": list(o.hidden), "dropout": o.dropout, "lr": o.lr, "weight_decay": o.weight_decay,
                     "batch": o.batch, "wall_seconds": round(wall, 1), "torch": str(torch.__version__),
                     "python": platform.python_version(), "cpu_threads": 1, "machine": platform.machine(),
                     "cpus": os.cpu_count(), "losses": history},
        "metrics": metrics,
    }
    card = _clean(card)
    with atomic_output(o.out / "model.json") as tmp:
        tmp.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    for path in (weights, o.out / "model.json"):  # files that ship: readable by all, like the rest of the tree
        path.chmod(0o644)
    load_model(o.out)  # what was written must load
    return card
