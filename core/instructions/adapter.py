"""Soft-prompt adapter: audio features → K virtual token embeddings prepended to the LLM's prompt.

The AVI-Talking paper feeds audio to its LLM as soft prompts. Here a small MLP maps a segment's
standardised stage-1 features (``stage1.features.FEATURE_NAMES``) to ``n_tokens`` vectors in the
language model's input-embedding space (layer-normalised, then scaled to the spread of the model's own
token embeddings), which go in front of the prompt's embeddings (``inputs_embeds``). Training keeps the
language model frozen and fits only the adapter, with the LM's next-token loss on the corpus's
instruction sentences (``train_adapter``; command: ``avitalk train llm-adapter``).

Files: ``adapter.safetensors`` (the MLP and the scale) and ``adapter.json`` (card: sizes, the feature
names and normalisation, the language model it was trained for, training command and losses).
Needs torch (and transformers for the LM); nothing here is imported unless the LLM backend is used.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...weights_fetcher.errors import WeightsError
from ...weights_fetcher.loading import load_file
from ..common.errors import AviTalkError, FormatError
from ..common.fileio import atomic_output, confined_file, read_json_card
from ..common.jsonspec import SHA256, Int, ListOf, Num, Obj, Opt, Str

FORMAT = "avi-talking-llm-adapter"
FORMAT_VERSION = 1
WEIGHTS = "adapter.safetensors"
CARD = "adapter.json"


# What an adapter card must hold; the sizes bound the network ``build_adapter`` makes from it.
CARD_SPEC = Obj({
    "format": Str(max_len=64, choices=(FORMAT,)),
    "format_version": Opt(Int(0, 1_000_000)),
    "n_features": Int(1, 4096), "n_tokens": Int(1, 256), "embed_dim": Int(1, 16_384), "hidden": Int(1, 16_384),
    "normalisation": Obj({"mean": ListOf(Num(), max_items=4096),
                          "std": ListOf(Num(0.0, above=True), max_items=4096)}),
    "weights": Opt(Str(max_len=255)),
    "weights_sha256": SHA256,
})


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise AviTalkError("the soft-prompt adapter needs torch: pip install 'avi-talking[models,llm]'") from None
    return torch


def build_adapter(n_features: int, n_tokens: int, embed_dim: int, hidden: int, scale: float) -> Any:
    torch = _torch()
    nn = torch.nn

    class SoftPromptAdapter(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.n_tokens, self.embed_dim = n_tokens, embed_dim
            self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.GELU(), nn.Linear(hidden, n_tokens * embed_dim))
            self.norm = nn.LayerNorm(embed_dim, elementwise_affine=False)
            self.scale = nn.Parameter(torch.tensor(float(scale)))

        def forward(self, x: Any) -> Any:
            out = self.net(x).view(x.shape[0], self.n_tokens, self.embed_dim)
            return self.norm(out) * self.scale

    return SoftPromptAdapter()


@dataclass
class LoadedAdapter:
    module: Any
    card: dict[str, Any]
    mean: np.ndarray
    std: np.ndarray

    def embed(self, features: np.ndarray) -> Any:
        """Raw segment features [F] or [B, F] → soft prompt [B, K, D]."""
        torch = _torch()
        x = np.atleast_2d(np.asarray(features, np.float64))
        if x.shape[-1] != len(self.mean):
            raise FormatError(f"the adapter reads {len(self.mean)} features per segment, not {x.shape[-1]}: it was "
                              "trained for another stage-1 model")
        z = np.clip((x - self.mean) / self.std, -6, 6)
        with torch.no_grad():
            return self.module(torch.tensor(z, dtype=torch.float32))


def lm_fingerprint(model: Any) -> dict[str, Any]:
    """What identifies the language model an adapter belongs to."""
    cfg = model.config
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return {"model_type": getattr(cfg, "model_type", "?"), "embed_dim": int(model.get_input_embeddings().embedding_dim),
            "vocab_size": int(model.get_input_embeddings().num_embeddings),
            "config_sha256": hashlib.sha256(text.encode()).hexdigest()}


def save_adapter(folder: Path, module: Any, card: dict[str, Any]) -> None:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: np.ascontiguousarray(v.detach().cpu().numpy().astype(np.float32)).reshape(v.shape)
               for k, v in module.state_dict().items()}
    with atomic_output(folder / WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
    card = {**card, "weights": WEIGHTS, "weights_sha256": hashlib.sha256((folder / WEIGHTS).read_bytes()).hexdigest(),
            "tensors": {k: list(v.shape) for k, v in tensors.items()}}
    with atomic_output(folder / CARD) as tmp:
        tmp.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")


def load_adapter(path: str | Path, lm: Any) -> LoadedAdapter:
    """Load an adapter folder (or its card) for the language model ``lm``; refuses one trained for a
    model with another embedding size."""
    torch = _torch()
    p = Path(path)
    card_file = p / CARD if p.is_dir() else p.with_suffix(".json")
    card = read_json_card(card_file, "soft-prompt adapter card", FORMAT, CARD_SPEC)
    n_features, n_tokens = card["n_features"], card["n_tokens"]
    embed_dim, hidden = card["embed_dim"], card["hidden"]
    mean = np.asarray(card["normalisation"]["mean"], np.float64)
    std = np.asarray(card["normalisation"]["std"], np.float64)
    if mean.shape != (n_features,) or std.shape != (n_features,) or (std <= 0).any():
        raise FormatError(f"{card_file.name}: normalisation does not match {n_features} features")
    weights = confined_file(card_file.parent, card.get("weights", WEIGHTS), "adapter weights")
    lm_dim = int(lm.get_input_embeddings().embedding_dim)
    if lm_dim != embed_dim:
        raise FormatError(f"the adapter makes {embed_dim}-wide embeddings but the language model's are {lm_dim}: "
                          "it was trained for another model")
    try:  # the hash is checked on the very bytes that are parsed
        loaded = load_file(weights, sha256=card["weights_sha256"].lower())
    except WeightsError as exc:
        raise FormatError(f"adapter weights: {exc}") from None
    with torch.device("meta"):  # shapes only: the card's sizes allocate nothing until the file matches them
        expected = {k: tuple(v.shape) for k, v in build_adapter(n_features, n_tokens, embed_dim, hidden, 1.0)
                    .state_dict().items()}
    got = {k: tuple(v.shape) for k, v in loaded.arrays.items()}
    if got != expected:
        raise FormatError(f"{card_file.name}: adapter tensors {sorted(got)} do not match the card's sizes")
    module = build_adapter(n_features, n_tokens, embed_dim, hidden, 1.0)
    module.load_state_dict({k: torch.tensor(v) for k, v in loaded.arrays.items()})
    module.eval()
    return LoadedAdapter(module, card, mean, std)


# ---- training ---------------------------------------------------------------------------------------------


@dataclass
class AdapterExample:
    features: np.ndarray  # raw segment features
    prompt: str  # the rendered prompt text (chat template applied)
    target: str  # the instruction sentence to produce


def train_adapter(lm: Any, tokenizer: Any, examples: list[AdapterExample], mean: np.ndarray, std: np.ndarray,
                  n_tokens: int = 8, hidden: int = 256, steps: int = 200, batch: int = 8, lr: float = 1e-3,
                  seed: int = 0, log: Callable[[str], None] = lambda line: None) -> tuple[Any, list[float]]:
    """Fit an adapter with the LM frozen. Returns (adapter, loss per step)."""
    torch = _torch()
    if not examples:
        raise AviTalkError("no training examples for the adapter")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    for param in lm.parameters():
        param.requires_grad_(False)
    lm.eval()  # no dropout in the frozen model
    table = lm.get_input_embeddings()
    scale = float(table.weight.detach().std())
    adapter = build_adapter(len(mean), n_tokens, table.embedding_dim, hidden, scale)
    opt = torch.optim.AdamW(adapter.parameters(), lr=lr, weight_decay=1e-4)
    eos = tokenizer.eos_token_id
    encoded = []
    for ex in examples:
        prompt_ids = tokenizer(ex.prompt, add_special_tokens=False)["input_ids"]
        target_ids = tokenizer(" " + ex.target, add_special_tokens=False)["input_ids"]
        target_ids = target_ids + ([eos] if eos is not None else [])
        z = np.clip((np.asarray(ex.features, np.float64) - mean) / std, -6, 6)
        encoded.append((z.astype(np.float32), prompt_ids, target_ids))
    losses: list[float] = []
    started = time.perf_counter()
    for step in range(steps):
        pick = rng.choice(len(encoded), size=min(batch, len(encoded)), replace=False)
        rows = [encoded[i] for i in pick]
        soft = adapter(torch.tensor(np.stack([r[0] for r in rows])))
        length = max(n_tokens + len(r[1]) + len(r[2]) for r in rows)
        embeds = torch.zeros(len(rows), length, table.embedding_dim)
        labels = torch.full((len(rows), length), -100, dtype=torch.long)
        mask = torch.zeros(len(rows), length, dtype=torch.long)
        parts = []
        for k, (_, prompt_ids, target_ids) in enumerate(rows):
            ids = torch.tensor(prompt_ids + target_ids, dtype=torch.long)
            n = n_tokens + len(ids)
            parts.append((k, n, table(ids)))
            labels[k, n_tokens + len(prompt_ids) : n] = torch.tensor(target_ids)
            mask[k, :n] = 1
        embeds = torch.stack([torch.cat([soft[k], e, embeds[k, n:]], dim=0) for k, n, e in parts])
        loss = lm(inputs_embeds=embeds, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if step % 10 == 0 or step == steps - 1:
            log(f"step {step + 1}/{steps}  loss {losses[-1]:.4f}  ({time.perf_counter() - started:.0f} s)")
    adapter.eval()
    return adapter, losses
