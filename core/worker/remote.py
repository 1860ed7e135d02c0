"""``generate`` wherever it can run: here when torch and the audio libraries import (the ``avitalk`` CLI
in the project's venv), else in a worker process (``blender -c avitalk ...``: Blender's Python has no
torch). Blocks until done; progress goes to the callback either way."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..animation import Animation
from ..common.progress import ProgressFn, null_progress
from ..pipeline.generate import generate
from ..pipeline.options import GenerateOptions
from .client import WorkerClient, detect_python, in_process_possible


def generate_anywhere(audio: str | Path, options: GenerateOptions, progress: ProgressFn = null_progress,
                      worker: WorkerClient | None = None) -> Animation:
    """The Animation of ``audio``; in ``worker`` when given, else here if possible, else a new worker."""
    params = {"audio": str(audio), "options": options.to_params()}
    if worker is None and in_process_possible("generate", params):
        return generate(audio, options, progress).animation
    client = worker if worker is not None else WorkerClient(detect_python())
    with tempfile.TemporaryDirectory(prefix="avitalk-") as tmp:
        params["output"] = str(Path(tmp) / "take.npz")
        try:
            result = client.submit("generate", params).wait(on_progress=progress)
            return Animation.load(result["animation"])
        finally:
            if worker is None:
                client.close()
