"""A WAV reader in the standard library and numpy, for Pythons without soundfile (Blender's own).

Reads RIFF (little-endian), RIFX (big-endian) and RF64 (64-bit sizes in a ``ds64`` chunk) files with PCM
(unsigned 8-bit, signed 16/24/32-bit, narrower samples in those containers), IEEE float (32/64-bit),
µ-law and A-law samples, as plain or WAVE_FORMAT_EXTENSIBLE ``fmt `` chunks, any channel count. Samples
come out as float32 exactly as libsndfile gives them (integers scaled by 2^-(bits-1), floats as stored),
so the loader's numbers do not depend on which reader ran.

Strict where a file could make it misbehave: at most ``MAX_CHUNKS`` chunks are walked to find the data
(skipped by seeking, never read), a chunk may not reach past the end of the file, the ``fmt `` chunk must
come before the data and describe a consistent layout; a data chunk longer than the file (a recorder that
stopped early, or a forged size) is read as far as the file goes. Compressed encodings (ADPCM, GSM...)
raise ``WavUnsupported`` so the loader can try another decoder. The sample data is read in blocks of
``BLOCK_SAMPLES`` samples, so memory does not grow with what a header claims.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..common.errors import AudioError
from .limits import BLOCK_SAMPLES

__all__ = ["WavHeader", "WavUnsupported", "iter_blocks", "read_header"]

MAX_CHUNKS = 1024  # chunks before the data: real files have a handful (fmt, fact, LIST, bext, JUNK, cue)
_FMT_READ = 64  # bytes of a `fmt ` chunk that are read; the rest (vendor extensions) is skipped
_DS64_SIZE = 28  # riff size, data size, sample count (64-bit each), table length (32-bit)

_PCM, _FLOAT, _ALAW, _ULAW, _EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE
# The 12 bytes after the format tag in an extensible file's sub-format GUID: the standard media subtypes
# (KSDATAFORMAT_SUBTYPE_*) and the ambisonic B-format ones, which hold the same PCM or float samples.
_GUID_TAILS = (bytes.fromhex("0000 1000 8000 00aa 0038 9b71"), bytes.fromhex("2107 d311 8644 c8c1 ca00 0000"))
_TAG_NAMES = {0x0002: "Microsoft ADPCM", 0x0011: "IMA ADPCM", 0x0031: "GSM 6.10", 0x0040: "G.721 ADPCM",
              0x0050: "MPEG", 0x0055: "MP3"}


class WavUnsupported(AudioError):
    """A well-formed WAV file whose sample encoding this reader does not decode."""


@dataclass(frozen=True)
class WavHeader:
    format: str  # soundfile's names: "WAV" (also RIFX), "WAVEX", "RF64"
    subtype: str  # "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW"
    rate: int
    channels: int
    frames: int  # whole frames the data chunk holds, as far as the file goes
    data_offset: int
    width: int  # bytes per sample
    big_endian: bool = False

    @property
    def frame_bytes(self) -> int:
        return self.width * self.channels


def read_header(fh: BinaryIO, name: str) -> WavHeader:
    """Parse the header of the WAV file open in ``fh`` (any position; seeks). Raises AudioError (one line)
    for a file that is not a well-formed WAV, WavUnsupported for an encoding it does not decode."""
    size = os.fstat(fh.fileno()).st_size
    corrupt = f"{name} looks like WAV but its header is truncated or corrupt"

    def broken(why: str) -> AudioError:
        return AudioError(f"{corrupt} ({why})")

    fh.seek(0)
    head = fh.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
        raise AudioError(corrupt)
    big = head[:4] == b"RIFX"
    rf64 = head[:4] == b"RF64"
    u32 = ">I" if big else "<I"
    fmt: tuple[str, str, int, int, int] | None = None
    ds64_data: int | None = None
    pos = 12
    for index in range(MAX_CHUNKS):
        fh.seek(pos)
        chunk = fh.read(8)
        if len(chunk) < 8:
            raise broken("no data chunk")
        cid, (length,) = chunk[:4], struct.unpack(u32, chunk[4:])
        body = pos + 8
        if cid == b"data":
            if fmt is None:
                raise broken("the data chunk comes before the fmt chunk")
            if rf64 and length == 0xFFFFFFFF and ds64_data is not None:
                length = ds64_data
            length = min(length, size - body)  # a size past the end: read what the file holds
            container, subtype, rate, channels, width = fmt
            frames = length // (width * channels) if channels > 0 else 0
            return WavHeader(container, subtype, rate, channels, frames, body, width, big)
        if body + length > size:
            raise broken(f"chunk {_chunk_name(cid)} at byte {pos} runs past the end of the file")
        if cid == b"ds64" and rf64 and index == 0:
            if length < _DS64_SIZE:
                raise broken("ds64 chunk too short")
            ds64_data = struct.unpack("<Q", fh.read(_DS64_SIZE)[8:16])[0]
        elif cid == b"fmt ":
            if fmt is not None:
                raise broken("two fmt chunks")
            fmt = _parse_fmt(fh.read(min(length, _FMT_READ)), big, name, "RF64" if rf64 else None)
        pos = body + length + (length & 1)  # chunks are padded to an even size
    raise broken(f"more than {MAX_CHUNKS} chunks before the data")


def _chunk_name(cid: bytes) -> str:
    text = cid.decode("latin-1")
    return repr(text) if text.isprintable() else cid.hex()


def _parse_fmt(raw: bytes, big: bool, name: str, container: str | None) -> tuple[str, str, int, int, int]:
    """(format, subtype, rate, channels, bytes per sample) from a `fmt ` chunk's first bytes."""
    e = ">" if big else "<"
    if len(raw) < 16:
        raise AudioError(f"{name} looks like WAV but its header is truncated or corrupt "
                         f"(fmt chunk of {len(raw)} bytes)")
    tag, channels, rate, _, _, bits = struct.unpack(e + "HHIIHH", raw[:16])
    fmt_name = container or "WAV"
    if tag == _EXTENSIBLE:
        if len(raw) < 40:
            raise AudioError(f"{name} looks like WAV but its header is truncated or corrupt "
                             f"(WAVE_FORMAT_EXTENSIBLE fmt chunk of {len(raw)} bytes)")
        (sub_tag,) = struct.unpack(e + "I", raw[24:28])
        if raw[28:40] not in _GUID_TAILS or sub_tag > 0xFFFF:
            raise WavUnsupported(f"{name} is WAVE_FORMAT_EXTENSIBLE with an unknown sub-format "
                                 f"({raw[24:40].hex()}): {_CONVERT}")
        tag = sub_tag
        fmt_name = container or "WAVEX"
    subtype, width = _encoding(tag, bits, name)
    return fmt_name, subtype, rate, channels, width


_CONVERT = "convert it to 16-bit PCM WAV, or install soundfile (pip install soundfile)"


def _encoding(tag: int, bits: int, name: str) -> tuple[str, int]:
    bad_bits = AudioError(f"{name} looks like WAV but its header is corrupt ({bits} bits per sample "
                          f"for format {tag:#06x})")
    if tag == _PCM:
        if not 1 <= bits <= 32:
            raise bad_bits
        width = (bits + 7) // 8  # e.g. 12-bit samples in 16-bit containers, 20-bit in 24-bit ones
        return ("PCM_U8", "PCM_16", "PCM_24", "PCM_32")[width - 1], width
    if tag == _FLOAT:
        if bits not in (32, 64):
            raise bad_bits
        return ("FLOAT", 4) if bits == 32 else ("DOUBLE", 8)
    if tag in (_ULAW, _ALAW):
        if bits != 8:
            raise bad_bits
        return ("ULAW" if tag == _ULAW else "ALAW"), 1
    what = _TAG_NAMES.get(tag, f"format {tag:#06x}")
    raise WavUnsupported(f"{name} is a WAV file with {what} samples, which this Python cannot decode: {_CONVERT}")


# ---- samples ------------------------------------------------------------------------------------------


def iter_blocks(fh: BinaryIO, header: WavHeader, block_samples: int = BLOCK_SAMPLES) -> Iterator[np.ndarray]:
    """The samples as float32 blocks [frames, channels] of at most ``block_samples`` samples each."""
    block_frames = max(1, block_samples // header.channels)
    left = header.frames
    fh.seek(header.data_offset)
    while left > 0:
        want = min(left, block_frames)
        raw = fh.read(want * header.frame_bytes)
        got = len(raw) // header.frame_bytes  # the file may have shrunk since the header was read
        if got == 0:
            return
        yield decode(raw[: got * header.frame_bytes], header).reshape(got, header.channels)
        left = left - got if got == want else 0


def decode(raw: bytes, header: WavHeader) -> np.ndarray:
    """Sample bytes → float32, as libsndfile scales them."""
    e = ">" if header.big_endian else "<"
    subtype = header.subtype
    if subtype == "PCM_U8":
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - np.float32(128.0)) * np.float32(2.0**-7)
    if subtype == "PCM_16":
        return np.frombuffer(raw, e + "i2").astype(np.float32) * np.float32(2.0**-15)
    if subtype == "PCM_24":
        # three bytes into the top of an int32: the sign comes along, the value is scaled by 2^8
        three = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        four = np.zeros((len(three), 4), np.uint8)
        if header.big_endian:
            four[:, :3] = three
        else:
            four[:, 1:] = three
        return four.view(e + "i4").ravel().astype(np.float32) * np.float32(2.0**-31)
    if subtype == "PCM_32":
        return np.frombuffer(raw, e + "i4").astype(np.float32) * np.float32(2.0**-31)
    if subtype == "FLOAT":
        return np.frombuffer(raw, e + "f4").astype(np.float32)
    if subtype == "DOUBLE":
        with np.errstate(over="ignore"):  # beyond float32's range: inf, which the loader refuses
            return np.frombuffer(raw, e + "f8").astype(np.float32)
    table = _ULAW_TABLE if subtype == "ULAW" else _ALAW_TABLE
    return table[np.frombuffer(raw, np.uint8)]


def _ulaw_table() -> np.ndarray:
    """G.711 µ-law bytes → float32 (the 14-bit value ×4 over 2^15, as libsndfile has it)."""
    u = ~np.arange(256) & 0xFF
    exponent, mantissa = (u >> 4) & 7, u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return (np.where(u & 0x80, -magnitude, magnitude) * 2.0**-15).astype(np.float32)


def _alaw_table() -> np.ndarray:
    """G.711 A-law bytes → float32 (the 13-bit value ×8 over 2^15)."""
    a = np.arange(256) ^ 0x55
    exponent, mantissa = (a >> 4) & 7, a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return (np.where(a & 0x80, magnitude, -magnitude) * 2.0**-15).astype(np.float32)


_ULAW_TABLE = _ulaw_table()
_ALAW_TABLE = _alaw_table()


def read_wav(path: str | Path, max_seconds: float = float("inf")) -> tuple[np.ndarray, int]:
    """The whole file as float32 [frames, channels] and its rate, checked as the loader checks it (for tests
    and tools; the loader reads block by block)."""
    from ..common.inputs import open_input_file
    from .limits import check_header, check_samples_finite

    src = Path(path)
    with open_input_file(src, "audio file", None, AudioError) as fh:
        header = read_header(fh, src.name)
        check_header(src.name, header.frames, header.rate, header.channels, max_seconds)
        blocks = list(iter_blocks(fh, header))
    data = np.concatenate(blocks) if blocks else np.zeros((0, header.channels), np.float32)
    check_samples_finite(src.name, data)
    return data, header.rate
