"""Stage 1: speech → instruction segments (emotion, intensity, FACS action units) with a small trained
model — features and pitch in numpy, segmentation at pauses where the manner of speaking changes, numpy
inference from safetensors + a JSON model card, training with torch. See docs/instructions.md."""
