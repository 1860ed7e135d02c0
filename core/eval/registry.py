"""The models ``avitalk eval`` can judge: a registry of name → factory, so trained models plug in.
What a model is (``Model``, ``ModelOutput``) is the contract in ``core/model_contract.py``.

    register_model("my-net", lambda weights: MyNet(weights))
    avitalk eval --model my-net --set DIR             # by name
    avitalk eval --model path/to/weights --set DIR    # a file or folder with a JSON model card whose
                                                      # "architecture" names a registered factory
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..common.errors import AviTalkError
from ..common.fileio import read_json
from ..common.jsonspec import Obj, Opt, Str
from ..model_contract import Model, ModelFactory
from .baseline_model import ProceduralModel

_REGISTRY: dict[str, ModelFactory] = {}


def register_model(name: str, factory: ModelFactory) -> None:
    _REGISTRY[name] = factory


def model_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


register_model("procedural", lambda weights: ProceduralModel())


def _stage2(weights: Path | None) -> Model:
    """The trained stage-2 model: the shipped weights by name, or weights at a path (needs torch)."""
    from ..stage2.runtime import load_stage2

    return load_stage2(weights)


register_model("stage2", _stage2)
register_model("avi-talking-stage2", _stage2)  # the architecture name stage-2 model cards give


def _stage1(weights: Path | None) -> Model:
    """The trained stage-1 predictor (instructions) over the procedural animation; numpy only."""
    from .stage1_model import Stage1EvalModel

    return Stage1EvalModel(weights)


register_model("avi-stage1", _stage1)  # also the architecture name stage-1 model cards give

CARD_NAMES = ("model.json", "card.json", "model_card.json")
# All ``load_model`` reads of a card is the architecture; the factory it names checks the rest.
_CARD = Obj({"architecture": Opt(Str(max_len=128))})


def _card(path: Path) -> dict[str, Any]:
    if path.suffix == ".json":
        candidates = [path]
    elif path.is_dir():
        candidates = [path / n for n in CARD_NAMES]
    else:  # weights file: its own .json, or the card of its folder
        candidates = [path.with_suffix(".json"), path.with_name("model_card.json")]
    for card in candidates:
        if card.is_file():
            return dict(read_json(card, "model card", _CARD))
    raise AviTalkError(f"no JSON model card for {path} (looked for {', '.join(c.name for c in candidates)})")


def load_model(spec: str) -> Model:
    """A registered name, or the path of weights with a model card naming a registered architecture."""
    if spec in _REGISTRY:
        return _REGISTRY[spec](None)
    path = Path(spec)
    if not path.exists():
        raise AviTalkError(f"unknown model {spec!r}: neither a registered name ({', '.join(_REGISTRY)}) "
                           "nor an existing weights path")
    arch = str(_card(path).get("architecture", ""))
    if arch not in _REGISTRY:
        raise AviTalkError(f"model card of {path} names architecture {arch!r}, which is not registered "
                           f"(known: {', '.join(_REGISTRY)})")
    return _REGISTRY[arch](path)
