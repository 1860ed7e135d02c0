"""Loading the stage-2 model where torch may be missing (Blender's Python has none): one clear error
that names the ways out, and one loaded model per weights file per process."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..common.errors import AviTalkError

if TYPE_CHECKING:
    from .synth import Stage2Model

NO_TORCH = ("the stage-2 model needs torch, which is not installed: pip install 'avi-talking[models]' "
            "(torch==2.13.0), or use --model procedural")
_LOADED: dict[tuple[str, str], Stage2Model] = {}
DEVICES = ("auto", "cuda", "cpu")


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def cuda_available() -> bool:
    if not torch_available():
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when torch sees a CUDA GPU, else ``cpu``; ``cuda`` without one is an error."""
    choice = device.strip().lower() or "auto"
    if choice == "auto":
        return "cuda" if cuda_available() else "cpu"
    if choice.startswith("cuda") and not cuda_available():
        raise AviTalkError(f"compute device {device!r}: torch sees no CUDA GPU here (choose CPU or auto)")
    if choice != "cpu" and not choice.startswith("cuda"):
        raise AviTalkError(f"unknown compute device {device!r}: use auto, cuda or cpu")
    return choice


def load_stage2(path: Path | str | None = None, device: str = "cpu") -> Stage2Model:
    if not torch_available():
        raise AviTalkError(NO_TORCH)
    from .synth import Stage2Model
    from .weights import default_weights

    where = Path(path) if path is not None else default_weights()
    key = (str(where.resolve()), device)
    if key not in _LOADED:
        _LOADED[key] = Stage2Model.load(where, device=device)
    return _LOADED[key]
