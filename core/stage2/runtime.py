"""Loading the stage-2 model on the runtime that fits: numpy (any Python with numpy, Blender's own included)
or torch (the CPU or a CUDA GPU); one clear error where the choice cannot run, and one loaded model per
weights file, device and runtime per process.

``auto`` picks torch where it is needed — a CUDA device — and numpy otherwise: on the CPU numpy runs this
model about as fast as torch (docs/stage2.md, "Runtimes") and spares the second or two that importing torch
takes; takes agree to 1e-4 either way. Resolving the ``auto`` device imports torch only where an NVIDIA
driver is present."""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..common.errors import AviTalkError

if TYPE_CHECKING:
    from .synth import Stage2Model

NO_TORCH = ("the torch runtime needs torch, which is not installed: pip install 'avi-talking[models]' "
            "(torch==2.13.0), or use the numpy runtime (--runtime numpy) on the CPU")
NO_TORCH_FOR_CUDA = ("stage 2 on a CUDA GPU needs torch, which is not installed: pip install 'avi-talking[models]' "
                     "(torch==2.13.0), or run on the CPU (--device cpu)")
_LOADED: dict[tuple[str, str, str], Stage2Model] = {}
DEVICES = ("auto", "cuda", "cpu")
RUNTIME_CHOICES = ("auto", "numpy", "torch")


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


def cuda_driver_present() -> bool:
    """Whether this machine has an NVIDIA driver at all — checked without importing torch (a second or more):
    where there is none, torch could not see a GPU either, and ``auto`` is the CPU at once."""
    if sys.platform == "darwin":
        return False
    if sys.platform == "win32":
        return (Path(os.environ.get("SystemRoot", r"C:\Windows")) / "System32" / "nvcuda.dll").exists()
    # the driver's kernel module, its device nodes, WSL's GPU bridge, or its user-space library
    if any(Path(p).exists() for p in ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/dxg")):
        return True
    return ctypes.util.find_library("cuda") is not None


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when torch sees a CUDA GPU, else ``cpu``; ``cuda`` without one is an error."""
    choice = device.strip().lower() or "auto"
    if choice == "auto":
        return "cuda" if cuda_driver_present() and cuda_available() else "cpu"
    if choice.startswith("cuda") and not cuda_available():
        raise AviTalkError(f"compute device {device!r}: torch sees no CUDA GPU here (choose CPU or auto)")
    if choice != "cpu" and not choice.startswith("cuda"):
        raise AviTalkError(f"unknown compute device {device!r}: use auto, cuda or cpu")
    return choice


def check_runtime(runtime: str) -> str:
    choice = runtime.strip().lower() or "auto"
    if choice not in RUNTIME_CHOICES:
        raise AviTalkError(f"unknown stage-2 runtime {runtime!r}: use auto, numpy or torch")
    return choice


def choose_runtime(requested: str, device: str) -> str:
    """The runtime stage 2 runs on: ``numpy`` or ``torch``. ``auto`` → torch on a CUDA device, numpy on the
    CPU; ``torch`` needs torch installed; ``numpy`` runs on the CPU only. ``device`` as ``resolve_device``
    returns it (``auto`` is resolved here)."""
    choice = check_runtime(requested)
    where = device.strip().lower() or "auto"
    if choice == "torch":
        if not torch_available():
            raise AviTalkError(NO_TORCH)
        return "torch"
    if where == "auto":
        where = resolve_device(where)
    cuda = where.startswith("cuda")
    if choice == "numpy":
        if cuda:
            raise AviTalkError(f"the numpy runtime runs on the CPU only, not on {device!r}: choose device cpu "
                               "(or auto), or the torch runtime for the GPU")
        return "numpy"
    if cuda:
        if not torch_available():
            raise AviTalkError(NO_TORCH_FOR_CUDA)
        return "torch"
    return "numpy"


def load_stage2(path: Path | str | None = None, device: str = "cpu", runtime: str = "auto") -> Stage2Model:
    """The stage-2 model at ``path`` (default: the shipped weights) on ``device`` (``auto`` resolved) and the
    runtime ``choose_runtime`` picks; loaded once per (weights, device, runtime) in this process."""
    from .stored import default_weights
    from .synth import Stage2Model

    chosen = choose_runtime(runtime, device)  # first: a missing torch is named before a missing GPU
    where_device = resolve_device(device)
    where = Path(path) if path is not None else default_weights()
    key = (str(where.resolve()), where_device, chosen)
    if key not in _LOADED:
        _LOADED[key] = Stage2Model.load(where, device=where_device, runtime=chosen)
    return _LOADED[key]
