"""What every audio decoder accepts: the sample-rate, channel and duration limits and the checks that apply
them, shared by the loader and its readers (soundfile, the numpy WAV reader, Blender's aud)."""

from __future__ import annotations

import math

import numpy as np

from ..common.errors import AudioError

TARGET_SR = 16000
MIN_SECONDS = 0.1
DEFAULT_MAX_SECONDS = 30 * 60.0
MIN_RATE, MAX_RATE = 8000, 192000
MAX_CHANNELS = 64  # 7th-order ambisonics; more is not a speech recording
BLOCK_SAMPLES = 1 << 20  # samples per read block over all channels: 4 MiB of float32, whatever the channel count


def check_header(name: str, frames: int, rate: int, channels: int, max_seconds: float) -> None:
    """Refuse from the header alone, before anything is decoded or allocated for it."""
    if channels < 1 or frames <= 0:
        raise AudioError(f"{name} contains no audio samples")
    if channels > MAX_CHANNELS:
        raise AudioError(f"{name} has {channels} channels; at most {MAX_CHANNELS} are supported")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"{name}: sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    check_duration(name, frames / rate, max_seconds)


def check_duration(name: str, seconds: float, max_seconds: float = DEFAULT_MAX_SECONDS) -> None:
    if seconds < MIN_SECONDS:
        raise AudioError(f"{name} is too short ({seconds * 1000:.0f} ms; at least {MIN_SECONDS * 1000:.0f} ms)")
    if seconds > max_seconds:
        raise AudioError(
            f"{name} is {fmt_duration(seconds)} long, over the {fmt_duration(max_seconds)} limit "
            "(raise it with --max-duration SECONDS)"
        )


def fmt_duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def check_samples_finite(name: str, block: np.ndarray) -> None:
    if not np.isfinite(block).all():
        raise AudioError(f"{name} contains NaN or infinite sample values")


def max_frames(rate: int, max_seconds: float) -> int | None:
    """The most frames ``max_seconds`` allows at ``rate`` (None: no limit)."""
    return math.floor(max_seconds * rate) if math.isfinite(max_seconds) else None
