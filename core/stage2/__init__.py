"""Stage 2: speech + instructions → ARKit-52 animation, with a diffusion prior over a style latent
(docs/stage2.md). Importing this package does not import torch, nor does ``synth`` or the numpy runtime;
``torch_backend``, ``weights`` and ``train`` do."""

from .config import ARCHITECTURE, Stage2Config

__all__ = ["ARCHITECTURE", "Stage2Config"]
