"""The stage-1 network in numpy, loaded from safetensors + a JSON model card; no torch needed.

Blender's Python has no torch, so inference is plain numpy (a few small matrix products per segment);
torch is only used to train (``train.py``), and both sides use the tensor names of ``tensor_shapes``.

Network: standardised segment features (``features.FEATURE_NAMES``) → ReLU MLP trunk → four heads:
emotion logits (softmax with a fitted temperature gives the confidence; the emotion shown is its argmax),
intensity (sigmoid), AU presence (sigmoid) and AU intensity (sigmoid). A second tiny MLP rates each phrase
cut as a change of manner (``segment.BOUNDARY_NAMES``).

The card (``model.json`` beside ``model.safetensors``) holds the architecture and configuration, the
feature normalisation, output classes, calibration, thresholds, corpus recipe, training command and
metrics. Loading checks the card against the tensors and the code's feature list and fails with one
line when anything disagrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...weights_fetcher.errors import WeightsError
from ...weights_fetcher.loading import load_file
from ..common.errors import FormatError
from ..common.fileio import confined_file, read_json_card
from ..common.jsonspec import SHA256, Int, ListOf, Num, Obj, Opt, Str
from ..instructions import EMOTIONS
from .features import FEATURE_NAMES
from .segment import BOUNDARY_NAMES

FORMAT = "avi-talking-stage1"
FORMAT_VERSION = 1
ARCHITECTURE = "avi-stage1"  # the name `avitalk eval` knows this model by
_Z_CLIP = 6.0  # standardised features are clipped to ±6 (a corrupt file must not blow up the logits)


@dataclass(frozen=True)
class Stage1Config:
    features: tuple[str, ...]
    hidden: tuple[int, ...]
    emotions: tuple[str, ...]
    aus: tuple[str, ...]  # output AUs; one-sided AUs (the corpus draws the side at random) come out left
    boundary_features: tuple[str, ...]
    boundary_hidden: int

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "hidden": list(self.hidden), "emotions": list(self.emotions),
                "aus": list(self.aus), "boundary_features": list(self.boundary_features),
                "boundary_hidden": self.boundary_hidden}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stage1Config:
        """From a card's ``config``, which ``CARD`` has checked."""
        try:
            return cls(tuple(d["features"]), tuple(int(h) for h in d["hidden"]), tuple(d["emotions"]),
                       tuple(d["aus"]), tuple(d["boundary_features"]), int(d["boundary_hidden"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"stage-1 model card: bad 'config' ({exc})") from None


# What a stage-1 card may hold (``load_model`` checks it before anything else). Sizes are far above the
# shipped model's (43 features, 128 + 64 hidden units) and far below what could exhaust memory.
_NAMES = ListOf(Str(max_len=64), max_items=512)
_NUMBERS = ListOf(Num(), max_items=512)
CARD = Obj({
    "format": Str(max_len=64, choices=(FORMAT,)),
    "format_version": Opt(Int(0, 1_000_000)),
    "weights": Opt(Str(max_len=255)),
    "weights_sha256": SHA256,
    "config": Obj({
        "features": _NAMES, "hidden": ListOf(Int(1, 4096), max_items=16), "emotions": _NAMES,
        "aus": _NAMES, "boundary_features": _NAMES, "boundary_hidden": Int(1, 4096),
    }),
    "normalisation": Obj({"mean": _NUMBERS, "std": _NUMBERS, "boundary_mean": _NUMBERS, "boundary_std": _NUMBERS}),
    "calibration": Opt(Obj({"temperature": Opt(Num(0.0, 100.0, above=True))})),
    "thresholds": Opt(Obj({"au_present": Opt(Num(0.0, 1.0)), "boundary": Opt(Num(0.0, 1.0))})),
})


def tensor_shapes(cfg: Stage1Config) -> dict[str, tuple[int, ...]]:
    dims = [len(cfg.features), *cfg.hidden]
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(len(cfg.hidden)):
        shapes[f"trunk.{k}.weight"] = (dims[k + 1], dims[k])
        shapes[f"trunk.{k}.bias"] = (dims[k + 1],)
    h = dims[-1]
    for head, width in (("emotion", len(cfg.emotions)), ("intensity", 1), ("au_present", len(cfg.aus)),
                        ("au_value", len(cfg.aus))):
        shapes[f"head.{head}.weight"] = (width, h)
        shapes[f"head.{head}.bias"] = (width,)
    bh, bf = cfg.boundary_hidden, len(cfg.boundary_features)
    shapes.update({"boundary.0.weight": (bh, bf), "boundary.0.bias": (bh,), "boundary.1.weight": (1, bh),
                   "boundary.1.bias": (1,)})
    return shapes


@dataclass
class Outputs:
    emotion_logits: np.ndarray  # [N, E]
    intensity: np.ndarray  # [N]
    au_present: np.ndarray  # [N, A] probabilities
    au_value: np.ndarray  # [N, A]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings for large |x|


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class Stage1Model:
    config: Stage1Config
    tensors: dict[str, np.ndarray]
    mean: np.ndarray
    std: np.ndarray
    boundary_mean: np.ndarray
    boundary_std: np.ndarray
    temperature: float = 1.0
    au_threshold: float = 0.5
    card: dict[str, Any] | None = None
    path: Path | None = None

    def forward(self, x: np.ndarray) -> Outputs:
        """Raw segment features [N, F] → head outputs."""
        t = self.tensors
        h = np.clip((np.asarray(x, np.float64) - self.mean) / self.std, -_Z_CLIP, _Z_CLIP)
        for k in range(len(self.config.hidden)):
            h = np.maximum(h @ t[f"trunk.{k}.weight"].T + t[f"trunk.{k}.bias"], 0.0)

        def head(name: str) -> np.ndarray:
            return np.asarray(h @ t[f"head.{name}.weight"].T + t[f"head.{name}.bias"])

        return Outputs(head("emotion"), _sigmoid(head("intensity"))[:, 0], _sigmoid(head("au_present")),
                       _sigmoid(head("au_value")))

    def boundary_probability(self, bx: np.ndarray) -> np.ndarray:
        """Pause-candidate features [M, B] → probability that each is a segment boundary."""
        t = self.tensors
        z = np.clip((np.asarray(bx, np.float64) - self.boundary_mean) / self.boundary_std, -_Z_CLIP, _Z_CLIP)
        h = np.maximum(z @ t["boundary.0.weight"].T + t["boundary.0.bias"], 0.0)
        return np.asarray(_sigmoid(h @ t["boundary.1.weight"].T + t["boundary.1.bias"])[:, 0])


# ---- files ---------------------------------------------------------------------------------------------------


def card_path(path: str | Path) -> Path:
    """The card of ``path``: itself if .json, ``model.json`` in a folder, else the same name with .json."""
    p = Path(path)
    if p.suffix == ".json":
        return p
    return p / "model.json" if p.is_dir() else p.with_suffix(".json")


def load_model(path: str | Path) -> Stage1Model:
    """Load and validate weights + card (``path``: the folder, the card or the .safetensors file)."""
    card_file = card_path(path)
    card = read_json_card(card_file, "stage-1 model card", FORMAT, CARD)
    if card.get("format_version", 0) > FORMAT_VERSION:
        raise FormatError(f"{card_file} needs a newer version of the add-on (format {card['format_version']})")
    cfg = Stage1Config.from_dict(card["config"])
    if cfg.features != FEATURE_NAMES:
        raise FormatError(f"{card_file.name}: the weights were trained on other input features than this version "
                          "computes; retrain with `avitalk train stage1`")
    if cfg.boundary_features != BOUNDARY_NAMES:
        raise FormatError(f"{card_file.name}: the boundary scorer was trained on other features; retrain it")
    if cfg.emotions != EMOTIONS:
        raise FormatError(f"{card_file.name}: emotion classes {cfg.emotions} differ from {EMOTIONS}")
    weights = confined_file(card_file.parent, card.get("weights", "model.safetensors"), "stage-1 weights")
    try:  # the hash is checked on the very bytes that are parsed
        loaded = load_file(weights, sha256=card["weights_sha256"].lower())
    except WeightsError as exc:
        raise FormatError(f"stage-1 weights: {exc}") from None
    expected = tensor_shapes(cfg)
    if set(loaded.arrays) != set(expected):
        missing, extra = sorted(set(expected) - set(loaded.arrays)), sorted(set(loaded.arrays) - set(expected))
        raise FormatError(f"{weights.name} does not match its card: missing {missing or 'none'}, "
                          f"unexpected {extra or 'none'}")
    for name, shape in expected.items():
        if tuple(loaded.arrays[name].shape) != shape:
            raise FormatError(f"{weights.name}: tensor {name} has shape {tuple(loaded.arrays[name].shape)}, "
                              f"the card says {shape}")
    norm = card.get("normalisation", {})
    arrays = {k: _vector(norm, k, n, card_file.name) for k, n in
              (("mean", len(cfg.features)), ("std", len(cfg.features)),
               ("boundary_mean", len(cfg.boundary_features)), ("boundary_std", len(cfg.boundary_features)))}
    if (arrays["std"] <= 0).any() or (arrays["boundary_std"] <= 0).any():
        raise FormatError(f"{card_file.name}: normalisation std must be positive")
    calib = card.get("calibration", {})
    thresholds = card.get("thresholds", {})
    tensors = {k: v.astype(np.float64) for k, v in loaded.arrays.items()}
    if not all(np.isfinite(v).all() for v in tensors.values()):
        raise FormatError(f"{weights.name} holds non-finite weights")
    return Stage1Model(cfg, tensors, arrays["mean"], arrays["std"], arrays["boundary_mean"], arrays["boundary_std"],
                       float(calib.get("temperature", 1.0)), float(thresholds.get("au_present", 0.5)),
                       card, card_file.parent)


def _vector(norm: dict[str, Any], key: str, n: int, where: str) -> np.ndarray:
    try:
        v = np.asarray(norm[key], np.float64)
    except (KeyError, TypeError, ValueError):
        raise FormatError(f"{where}: '{key}' is missing or not numbers") from None
    if v.shape != (n,) or not np.isfinite(v).all():
        raise FormatError(f"{where}: '{key}' must be {n} finite numbers")
    return v
