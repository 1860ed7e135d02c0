"""Loading the stage-2 model where torch may be missing (Blender's Python has none): one clear error
that names the ways out, and one loaded model per weights file per process."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AviTalkError

if TYPE_CHECKING:
    from .synth import Stage2Model

NO_TORCH = ("the stage-2 model needs torch, which is not installed: pip install 'avi-talking[models]' "
            "(torch==2.13.0), or use --model procedural")
_LOADED: dict[str, Stage2Model] = {}


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def load_stage2(path: Path | str | None = None) -> Stage2Model:
    if not torch_available():
        raise AviTalkError(NO_TORCH)
    from .synth import Stage2Model
    from .weights import default_weights

    where = Path(path) if path is not None else default_weights()
    key = str(where.resolve())
    if key not in _LOADED:
        _LOADED[key] = Stage2Model.load(where)
    return _LOADED[key]
