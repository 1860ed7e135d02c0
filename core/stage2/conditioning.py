"""Instructions as numbers: the structured instruction → a fixed vector (the instruction encoder's input),
and instruction segments → per-frame blend weights (linear cross-fade around each boundary, the same rule
the corpus targets follow)."""

from __future__ import annotations

import numpy as np

from ..instructions import AUS, EMOTIONS, Instruction, Segment, blink_rate, expression_vector

# emotion one-hot, intensity, one-hot × intensity, AU intensities, the AUs' ARKit offsets, blink rate − 1
INSTRUCTION_DIM = len(EMOTIONS) * 2 + 1 + len(AUS) + 52 + 1
NEUTRAL = Instruction("neutral", 0.0, {})


def instruction_vector(instr: Instruction) -> np.ndarray:
    """[INSTRUCTION_DIM] float32 description of one instruction."""
    onehot = np.zeros(len(EMOTIONS), np.float32)
    onehot[EMOTIONS.index(instr.emotion)] = 1.0
    aus = np.array([instr.aus.get(name, 0.0) for name in AUS], np.float32)
    return np.concatenate([
        onehot, [instr.intensity], onehot * instr.intensity, aus,
        expression_vector(instr.aus).astype(np.float32), [blink_rate(instr.aus) - 1.0],
    ]).astype(np.float32)


def instruction_matrix(segments: list[Segment]) -> np.ndarray:
    """[S, INSTRUCTION_DIM] for segments (one neutral row when there are none)."""
    if not segments:
        return instruction_vector(NEUTRAL)[None]
    return np.stack([instruction_vector(s.instruction) for s in ordered(segments)])


def ordered(segments: list[Segment]) -> list[Segment]:
    return sorted(segments, key=lambda s: s.start)


def boundaries(segments: list[Segment]) -> list[float]:
    """Times between consecutive (ordered) segments; a gap between two is split at its middle."""
    return [0.5 * (a.end + b.start) for a, b in zip(segments, segments[1:], strict=False)]


def frame_weights(cuts: list[float], n_frames: int, fps: float, crossfade: float) -> np.ndarray:
    """[S, T] weight of segment s at frame t (at t / fps) for S = len(cuts) + 1 segments: 1 inside, a
    linear cross-fade over ±crossfade seconds around each cut; columns sum to 1. The first segment holds
    from time 0 and the last to the end, whatever their own start and end say."""
    times = np.arange(n_frames, dtype=np.float64) / fps
    weights = np.ones((len(cuts) + 1, n_frames))
    for s in range(len(cuts) + 1):
        if s > 0:
            weights[s] = np.minimum(weights[s], np.clip((times - cuts[s - 1]) / (2 * crossfade) + 0.5, 0, 1))
        if s < len(cuts):
            weights[s] = np.minimum(weights[s], np.clip((cuts[s] - times) / (2 * crossfade) + 0.5, 0, 1))
    return (weights / np.maximum(weights.sum(axis=0, keepdims=True), 1e-9)).astype(np.float32)
