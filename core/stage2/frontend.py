"""The network's audio input: log-mel at ``mel_rate`` frames per animation frame, on the same
frame-centred grid as ``core.features`` (mel frame j at j / (fps · mel_rate) s, so animation frame t
sits on mel frame mel_rate · t exactly), with the level and channel colour of the recording taken out.

Normalisation is per recording, not per chunk: every band's mean over the louder half of the frames is
subtracted (cepstral-mean style), so a quiet phone call and a loud studio take look alike, and chunked
inference of a long file sees exactly the same input as one pass would.
"""

from __future__ import annotations

import numpy as np

from ..animation import n_frames_for
from ..audio.features import logmel_energy
from ..audio.loader import Audio

MEL_SCALE = 4.0  # natural-log mel values spread over roughly ±20: bring them to about ±5
MEL_CLIP = 6.0


def network_input(audio: Audio, fps: float, mel_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(mel [T · mel_rate, n_mels] float32, energy_db [T] float32) for T = frames at ``fps``."""
    _, logmel, energy = logmel_energy(audio, fps * mel_rate)
    frames = n_frames_for(audio.duration, fps)
    logmel, energy = logmel[: frames * mel_rate], energy[: frames * mel_rate]
    pad = frames * mel_rate - len(logmel)
    if pad > 0:
        logmel = np.concatenate([logmel, np.repeat(logmel[-1:], pad, axis=0)])
        energy = np.concatenate([energy, np.repeat(energy[-1:], pad)])
    return normalize(logmel, energy), energy[::mel_rate].astype(np.float32)


def normalize(logmel: np.ndarray, energy_db: np.ndarray) -> np.ndarray:
    loud = energy_db >= np.median(energy_db)
    mean = logmel[loud].mean(axis=0) if loud.any() else logmel.mean(axis=0)
    return np.clip((logmel - mean) / MEL_SCALE, -MEL_CLIP, MEL_CLIP).astype(np.float32)
