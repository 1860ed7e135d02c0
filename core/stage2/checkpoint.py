"""Training checkpoints without pickle: every tensor (network, prior, Adam moments, torch's RNG state)
in one .safetensors file, every counter and setting in a JSON file beside it. Written to temporary
files and renamed, the JSON last, so an interrupted save leaves the previous checkpoint usable."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...weights_fetcher.errors import WeightsError
from ...weights_fetcher.loading import load_file
from ..common.errors import FormatError
from ..common.fileio import read_json, sha256_file
from ..common.jsonspec import SHA256, Int, ListOf, MapOf, Num, Obj, Opt, Str

TENSORS = "checkpoint.safetensors"
STATE = "checkpoint.json"


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    from safetensors.numpy import save_file

    arrays = {k: np.ascontiguousarray(v.detach().cpu().numpy()) for k, v in tensors.items()}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(arrays, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)  # an ordinary data file (the writer creates it private)
    os.replace(tmp, path)


def read_tensors(path: Path, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file, parsed without running any code from it (and, with ``sha256``,
    only if the bytes read have that hash)."""
    try:
        loaded = load_file(path, sha256=sha256)
    except WeightsError as exc:
        raise FormatError(str(exc)) from exc
    return {k: torch.from_numpy(v) for k, v in loaded.arrays.items()}


def optimizer_tensors(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Adam(W) state as named tensors plus the JSON-able rest (step counts, learning rates)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    steps: dict[str, float] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if key == "step":
                steps[str(idx)] = float(value)
            else:
                tensors[f"{prefix}.{idx}.{key}"] = value
    groups = [{k: v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"steps": steps, "param_groups": groups}


def restore_optimizer(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor],
                      info: dict[str, Any]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if not name.startswith(prefix + "."):
            continue
        idx, key = name[len(prefix) + 1 :].split(".", 1)
        state.setdefault(int(idx), {})[key] = value.clone()
    for idx, step in info["steps"].items():
        state.setdefault(int(idx), {})["step"] = torch.tensor(step)
    opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})


def save(folder: Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    save_tensors(folder / TENSORS, tensors)
    state = {**state, "tensors_sha256": sha256_file(folder / TENSORS)}  # ties the pair together
    tmp = folder / f".{STATE}.tmp"
    tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
    os.replace(tmp, folder / STATE)


_COUNT = Int(0, 10**12)
_OPTIMIZER = Obj({"steps": MapOf(Num(0.0), max_items=100_000, key=Str(max_len=9, pattern=r"[0-9]+",
                                                                       pattern_text="a parameter index")),
                  "param_groups": ListOf(Obj({}), max_items=1000)})
# What ``train.Trainer.restore`` reads of a checkpoint's JSON.
STATE_SPEC = Obj({
    "phase": Int(1, 3), "epoch": _COUNT, "batch": _COUNT, "step": _COUNT, "prior_step": _COUNT, "seconds": Num(0.0),
    "history": ListOf(Obj({}), max_items=1_000_000), "optimizer": _OPTIMIZER, "prior_optimizer": _OPTIMIZER,
    "config": Obj({}), "tensors_sha256": Opt(SHA256),
    "best": Opt(Obj({"epoch": Int(1, 10**9), "val_closure": Num(0.0, 1.0), "val_gap": Opt(Num(0.0, 1e6)),
                     "score": Opt(Num(-1e6, 1.0))})),
})
_MAX_STATE_BYTES = 64 * 1024 * 1024  # the history grows by one entry per epoch


def load(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """(tensors, state) of the checkpoint in ``folder``, or None when there is none."""
    if not (folder / STATE).is_file():
        return None
    state = read_json(folder / STATE, "checkpoint", STATE_SPEC, max_bytes=_MAX_STATE_BYTES)
    sha = state.get("tensors_sha256")  # checkpoints written before it was recorded have none
    return read_tensors(folder / TENSORS, sha.lower() if sha else None), state
