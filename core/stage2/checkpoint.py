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

TENSORS = "checkpoint.safetensors"
STATE = "checkpoint.json"


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    from safetensors.numpy import save_file

    arrays = {k: np.ascontiguousarray(v.detach().cpu().numpy()) for k, v in tensors.items()}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(arrays, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)  # an ordinary data file (the writer creates it private)
    os.replace(tmp, path)


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file, parsed without running any code from it."""
    try:
        loaded = load_file(path)
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
    tmp = folder / f".{STATE}.tmp"
    tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
    os.replace(tmp, folder / STATE)


def load(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """(tensors, state) of the checkpoint in ``folder``, or None when there is none."""
    if not (folder / STATE).is_file():
        return None
    try:
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"checkpoint {folder / STATE} is not valid JSON: {exc}") from exc
    return read_tensors(folder / TENSORS), state
