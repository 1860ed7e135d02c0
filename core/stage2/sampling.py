"""What both runtimes share about sampling the style latents, so that a seed gives the same take in each:
the noise the seed draws (numpy's generator, which torch cannot reproduce cheaply and numpy can always
run), the DDIM time steps, and the time embedding's frequencies (float64 in both: with float32 arguments
of up to 1000 radians one ulp of a frequency would move the embedding by 6e-5)."""

from __future__ import annotations

import math

import numpy as np

NOISE_STREAM = 0x57E1  # the seed's stream for the prior's noise (blinks and gaze draw from their own)


def style_noise(seed: int, segments: int, dim: int) -> np.ndarray:
    """[segments, dim] float32 noise for seed ``seed``, the same row for every segment: one take is one
    performer, whose segments differ by what their instructions ask (in the corpus a speaker's articulation,
    jaw and expressiveness hold for the whole clip). Drawn per segment, a clip's phrases each had a performer of
    their own: on the real recordings the jaw-loudness r of seeds 0-7 spread over 0.710-0.738 (one performer:
    0.731-0.741). Seed 0, the default take, is the prior's typical performer (its DDIM path from zero noise);
    every other seed draws a standard normal row. One drawn performer decides a whole default take: on the
    synthetic test split the open-vowel jaw of four drawn performers ranged over 0.75-0.88 of the target's (the
    typical one: 0.86)."""
    if int(seed) == 0:
        return np.zeros((segments, dim), np.float32)
    rng = np.random.default_rng([int(seed) % 2**63, NOISE_STREAM])
    return np.repeat(rng.standard_normal((1, dim)).astype(np.float32), segments, 0)


def ddim_times(total: int, steps: int) -> np.ndarray:
    """The ``steps`` DDIM steps (0-based, descending from ``total`` − 1 to 0), int64."""
    return np.round(np.linspace(total - 1, 0, steps)).astype(np.int64)


def time_frequencies(dim: int) -> np.ndarray:
    """[dim // 2] float64 frequencies of the sinusoidal time embedding."""
    half = dim // 2
    return np.exp(-math.log(10000.0) * np.arange(half, dtype=np.float64) / half)


def timestep_embedding(t: np.ndarray, dim: int) -> np.ndarray:
    """[N, dim] float32 embedding of integer steps ``t`` [N]: cos then sin, computed in float64."""
    args = t.astype(np.float64)[:, None] * time_frequencies(dim)[None]
    return np.concatenate([np.cos(args), np.sin(args)], -1).astype(np.float32)
