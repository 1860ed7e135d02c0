"""The one audio loader: any supported file → mono float32 at 16 kHz, or a one-line AudioError.

Decoders (``core.audio.backends`` says which one runs, ``Audio.decoder`` records it):

- ``soundfile``, where it imports (the command line's install): WAV/FLAC/OGG (and MP3 with libsndfile
  ≥ 1.1); when libsndfile cannot decode an MP3, ffmpeg is used if it is installed. Resampled by soxr.
- ``numpy-wav`` otherwise (Blender's own Python): the standard-library-and-numpy WAV reader
  (``core.audio.wav``), resampled in numpy (``core.audio.resample``, soxr's response).
- ``aud`` for the other formats where soundfile is missing and Blender's Audaspace module is there (the
  add-on provides it, the bpy module loads it: ``core.audio.blender_audio``); without it, a one-line error
  says to convert the file to WAV or install soundfile.

``AVITALK_AUDIO_BACKEND`` (auto, soundfile, numpy, aud) or ``load_audio(backend=...)`` forces a choice.

Long files are read in blocks and mixed down as they come in, so a 30-minute 48 kHz stereo file never
exists in memory at full width (except through ``aud``, which decodes a clip at once, within a cap).

Every input is checked by :func:`check_input_file` before a byte is read (a regular file, readable,
not larger than the duration limit allows), and the decoders then read that same open file, so a
named pipe, a device or a file swapped in between cannot make the reader block or run away.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import subprocess
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..common.errors import AudioError
from ..common.inputs import check_input_file, open_input_file
from ..common.quiet import quiet_fd
from .backends import ENV, has_aud, has_soundfile, requested_backend
from .limits import (
    BLOCK_SAMPLES,
    DEFAULT_MAX_SECONDS,
    MAX_CHANNELS,
    MAX_RATE,
    MIN_RATE,
    MIN_SECONDS,
    TARGET_SR,
    check_duration,
    check_header,
    check_samples_finite,
    fmt_duration,
)
from .resample import resample, resampler_name
from .wav import WavUnsupported, iter_blocks, read_header

__all__ = ["DEFAULT_MAX_SECONDS", "MAX_CHANNELS", "MAX_RATE", "MIN_RATE", "MIN_SECONDS", "TARGET_SR", "Audio",
           "AudioWarning", "check_input_file", "from_samples", "load_audio", "max_audio_bytes"]

SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3")

SILENT_PEAK = 10 ** (-80 / 20)  # −80 dBFS: nothing audible
CLIP_LEVEL = 0.999
CLIP_SHARE = 1e-4  # warn when more than 0.01 % of samples sit at full scale

# The size cap of an audio file: the duration limit at the largest bit rate a speech recording plausibly
# has (192 kHz × 8 channels × 32-bit = 6.144 MB/s, uncompressed), plus room for metadata such as cover art.
PLAUSIBLE_BYTES_PER_SECOND = MAX_RATE * 8 * 4
METADATA_BYTES = 64 << 20

# Leading bytes of containers we know, to tell "corrupt audio" from "not audio at all".
_MAGIC = {b"RIFF": "WAV", b"RIFX": "WAV", b"RF64": "WAV", b"fLaC": "FLAC", b"OggS": "Ogg",
          b"ID3": "MP3", b"FORM": "AIFF"}


class AudioWarning(UserWarning):
    """Audio that loads but may not give the result the user expects (silence, clipping)."""


@dataclass
class Audio:
    samples: np.ndarray  # float32 mono, at ``sr``
    sr: int
    source_sr: int
    source_channels: int
    source_format: str
    sha256: str
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    decoder: str = ""  # what decoded it: "soundfile", "ffmpeg", "numpy-wav", "aud" or "samples"
    resampler: str = ""  # what brought it to ``sr``: "soxr", "numpy" or "none"

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sr

    @property
    def is_silent(self) -> bool:
        return bool(np.max(np.abs(self.samples), initial=0.0) < SILENT_PEAK)


def load_audio(path: str | Path, *, sr: int = TARGET_SR, max_seconds: float = DEFAULT_MAX_SECONDS,
               backend: str | None = None) -> Audio:
    """Load, validate, mix down to mono and resample to ``sr``. Raises AudioError with one line. ``backend``
    (else ``$AVITALK_AUDIO_BACKEND``, else ``auto``) picks the decoder: see ``core.audio.backends``."""
    src = Path(path)
    choice = requested_backend(backend)
    note = f" for {_fmt_duration(max_seconds)} of audio (raise it with --max-duration SECONDS)"
    with open_input_file(src, "audio file", max_audio_bytes(max_seconds), AudioError, note) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise AudioError(f"audio file {src} is empty (0 bytes)")
        return _load_open(src, fh, sr, max_seconds, choice)


def _load_open(src: Path, fh: BinaryIO, sr: int, max_seconds: float, choice: str) -> Audio:
    kind = _sniff(fh)
    if choice == "soundfile" or (choice == "auto" and has_soundfile()):
        if not has_soundfile():
            raise AudioError(f"{ENV}=soundfile, but soundfile is not installed: pip install soundfile")
        return _load_soundfile(src, fh, kind, sr, max_seconds, choice)
    if choice != "aud" and kind == "WAV":
        try:
            return _load_wav(src, fh, sr, max_seconds, choice)
        except WavUnsupported:
            if not has_aud():
                raise
    if choice == "aud" or has_aud():
        if not has_aud():
            raise AudioError(f"{ENV}=aud needs Blender's aud module, which this Python does not have")
        return _load_aud(src, fh, kind, sr, max_seconds, choice)
    if kind is None:
        raise AudioError(_unreadable_message(src, kind))
    raise AudioError(f"{src.name}: this Python has no decoder for {kind} files: convert it to WAV, "
                     "or install soundfile (pip install soundfile)")


def _load_soundfile(src: Path, fh: BinaryIO, kind: str | None, sr: int, max_seconds: float, choice: str) -> Audio:
    import soundfile as sf

    try:
        with quiet_fd(2):
            info = sf.info(_Unraising(_rewound(fh)))
    except Exception as exc:  # libsndfile's messages are multi-line and cryptic; classify instead
        if kind == "MP3" or src.suffix.lower() == ".mp3":
            mono = _decode_with_ffmpeg(src, _rewound(fh), sr, max_seconds)
            return _finish(src, fh, mono, sr, sr, 1, "MP3 (ffmpeg)", _clip_share(mono), "ffmpeg", choice)
        raise AudioError(_unreadable_message(src, kind)) from exc

    # frames/rate/channels come from the header: refuse before decoding, so nothing is allocated for them
    _check_header(src, info.frames, info.samplerate, info.channels, max_seconds)
    mono, clip_share = _read_mono(src, fh, info.samplerate, info.channels)
    return _finish(src, fh, mono, info.samplerate, sr, info.channels, f"{info.format} {info.subtype}", clip_share,
                   "soundfile", choice)


def _load_wav(src: Path, fh: BinaryIO, sr: int, max_seconds: float, choice: str) -> Audio:
    header = read_header(fh, src.name)
    _check_header(src, header.frames, header.rate, header.channels, max_seconds)
    mono, clip_share = _mix_down(src, iter_blocks(fh, header), header.rate, max_seconds)
    return _finish(src, fh, mono, header.rate, sr, header.channels, f"{header.format} {header.subtype}",
                   clip_share, "numpy-wav", choice)


def _load_aud(src: Path, fh: BinaryIO, kind: str | None, sr: int, max_seconds: float, choice: str) -> Audio:
    from .blender_audio import decode_with_aud

    blocks, rate, channels, fmt = decode_with_aud(src, fh, kind, max_seconds)
    mono, clip_share = _mix_down(src, blocks, rate, max_seconds)
    return _finish(src, fh, mono, rate, sr, channels, fmt, clip_share, "aud", choice)


def from_samples(samples: np.ndarray, sr: int, *, name: str = "<memory>") -> Audio:
    """Wrap in-memory samples (e.g. synthesised speech) with the same checks as a file."""
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1, dtype=np.float32)
    if not MIN_RATE <= sr <= MAX_RATE:
        raise AudioError(f"{name}: sample rate {sr} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    _check_samples_finite(name, data)
    digest = hashlib.sha256(data.tobytes()).hexdigest()
    out = resample(data, sr, TARGET_SR)
    audio = Audio(out, TARGET_SR, sr, 1, "samples", digest, decoder="samples",
                  resampler=resampler_name(sr, TARGET_SR))
    _check_duration(name, audio.duration)
    _warn_levels(audio, _clip_share(data), stacklevel=3)  # from_samples' caller
    return audio


# ---- checks -----------------------------------------------------------------------------------------


def max_audio_bytes(max_seconds: float) -> int | None:
    """The largest audio file accepted for a duration limit (None: no limit). See PLAUSIBLE_BYTES_PER_SECOND."""
    if not math.isfinite(max_seconds):
        return None
    return METADATA_BYTES + math.ceil(max(max_seconds, 0.0) * PLAUSIBLE_BYTES_PER_SECOND)


class _Unraising:
    """The open file as libsndfile's virtual I/O sees it. A forged header can make libsndfile seek before
    the start; raised inside soundfile's C callback, that error would be printed as a traceback and
    ignored, so a seek that fails here stays where it is instead (libsndfile then finds the data missing)."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        try:
            return self._fh.seek(offset, whence)
        except (OSError, ValueError, OverflowError):
            return self._fh.tell()

    def tell(self) -> int:
        return self._fh.tell()

    def read(self, size: int = -1) -> bytes:
        return self._fh.read(size)


def _rewound(fh: BinaryIO) -> BinaryIO:
    fh.seek(0)
    return fh


def _sniff(fh: BinaryIO) -> str | None:
    head = _rewound(fh).read(12)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    if len(head) >= 4 and _is_mpeg_frame_header(head[:4]):
        return "MP3"
    return None


def _is_mpeg_frame_header(b: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits and no reserved version/layer/bitrate/rate codes."""
    if b[0] != 0xFF or (b[1] & 0xE0) != 0xE0:
        return False
    version, layer = (b[1] >> 3) & 0x3, (b[1] >> 1) & 0x3
    bitrate, rate = (b[2] >> 4) & 0xF, (b[2] >> 2) & 0x3
    return version != 1 and layer != 0 and bitrate not in (0, 15) and rate != 3


def _unreadable_message(src: Path, kind: str | None) -> str:
    if kind is not None:
        return f"{src.name} looks like {kind} but its header is truncated or corrupt"
    return (f"{src.name} is not an audio file this tool can read "
            f"(supported: {', '.join(s.lstrip('.').upper() for s in SUFFIXES)})")


def _check_header(src: Path, frames: int, rate: int, channels: int, max_seconds: float) -> None:
    check_header(src.name, frames, rate, channels, max_seconds)


_check_duration = check_duration
_fmt_duration = fmt_duration
_check_samples_finite = check_samples_finite


# ---- decoding ---------------------------------------------------------------------------------------


def _read_mono(src: Path, fh: BinaryIO, rate: int, channels: int) -> tuple[np.ndarray, float]:
    """soundfile's blocks, mixed down as they come in (see ``_mix_down``)."""
    import soundfile as sf

    def blocks() -> Iterator[np.ndarray]:
        block_frames = max(1, BLOCK_SAMPLES // max(channels, 1))  # a block's memory does not grow with channels
        with quiet_fd(2), sf.SoundFile(_Unraising(_rewound(fh))) as snd:
            while True:
                block = snd.read(block_frames, dtype="float32", always_2d=True)
                if len(block) == 0:
                    return
                yield block

    return _mix_down(src, blocks(), rate, math.inf)


def _mix_down(src: Path, blocks: Iterable[np.ndarray], rate: int, max_seconds: float) -> tuple[np.ndarray, float]:
    """Mix float32 blocks [frames, channels] down to mono as they come in. Returns the mono signal and the
    share of clipped samples, counted on the original channels (mixing down can hide clipping)."""
    parts: list[np.ndarray] = []
    clipped = total = 0
    source = iter(blocks)
    try:
        for block in source:
            _check_samples_finite(src.name, block)
            clipped += int(np.count_nonzero(np.abs(block) >= CLIP_LEVEL))
            total += block.size
            parts.append(block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0].copy())
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(f"{src.name}: audio data is corrupt ({_first_line(exc)})") from exc
    finally:
        # a generator's `with` blocks (soundfile's file, stderr silenced) end now, not when the error is freed
        close = getattr(source, "close", None)
        if close is not None:
            close()
    mono = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    _check_duration(src.name, len(mono) / rate, max_seconds)  # the header may promise more than the file has
    return mono, (clipped / total if total else 0.0)


def _decode_with_ffmpeg(src: Path, fh: BinaryIO, sr: int, max_seconds: float) -> np.ndarray:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError(f"{src.name}: MP3 needs libsndfile >= 1.1 or ffmpeg, and neither is available")
    # The open file is ffmpeg's stdin and the demuxer is fixed to MPEG audio: a path is never parsed as
    # a protocol ("concat:", "http:") and a playlist's contents cannot make ffmpeg open other files.
    seconds = max_seconds if 0.0 < max_seconds < 1e7 else 1e7  # NaN and inf too
    cmd = [ffmpeg, "-v", "error", "-nostdin", "-f", "mp3", "-i", "pipe:0", "-t", f"{seconds + 1.0:.3f}",
           "-f", "f32le", "-ac", "1", "-ar", str(sr), "pipe:1"]
    timeout = 60.0 + seconds / 5  # ffmpeg decodes MP3 at far more than 5× real time
    try:
        proc = subprocess.run(cmd, stdin=fh, capture_output=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AudioError(f"{src.name}: ffmpeg did not finish decoding within {timeout:.0f} s") from None
    if proc.returncode != 0 or not proc.stdout:
        raise AudioError(_unreadable_message(src, "MP3" if _sniff(fh) == "MP3" else None))
    mono = np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)
    _check_samples_finite(src.name, mono)
    _check_duration(src.name, len(mono) / sr, max_seconds)
    return mono


def _finish(src: Path, fh: BinaryIO, mono: np.ndarray, rate: int, sr: int, channels: int, fmt: str,
            clip_share: float, decoder: str, choice: str) -> Audio:
    audio = Audio(resample(mono, rate, sr, choice), sr, rate, channels, fmt, _sha256(_rewound(fh)), src,
                  decoder=decoder, resampler=resampler_name(rate, sr, choice))
    _warn_levels(audio, clip_share, stacklevel=6)  # load_audio's caller (via _load_open, _load_*, _finish)
    return audio


def _sha256(fh: BinaryIO) -> str:
    h = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def _clip_share(raw: np.ndarray) -> float:
    return float(np.mean(np.abs(raw) >= CLIP_LEVEL)) if raw.size else 0.0


def _warn_levels(audio: Audio, clip_share: float, stacklevel: int) -> None:
    """Silence and clipping are not errors: warn (printed by the CLI, kept on the object for the UI)."""
    name = audio.path.name if audio.path else "audio"
    if audio.is_silent:
        audio.warnings.append(f"{name} is silent; the face stays at rest")
    elif clip_share > CLIP_SHARE:
        audio.warnings.append(f"{name} clips: {100.0 * clip_share:.2f}% of samples are at full scale")
    for message in audio.warnings:
        warnings.warn(AudioWarning(message), stacklevel=stacklevel)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
