"""Fuzz the audio reader: forged WAV/RF64/WAVE_FORMAT_EXTENSIBLE headers, mutated FLAC/Ogg files and random
bytes named .flac/.ogg/.mp3 go through ``load_audio`` in-process, the forged WAV files through both the
soundfile backend and the numpy WAV reader (Blender's path). Only AviTalkError may escape, each call
returns quickly without a large allocation (its decoded size is checked against the duration limit before
decoding), and nothing is written beside the input. A few of the same files go through the real CLI:
exit 2, one ``error:`` line, no output file. Where Blender's ``aud`` module is there (bpy 5.0), mutated
files also go through it. 3,650 examples in all."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avi_talking.core.audio.loader import MAX_RATE, Audio, AudioWarning, load_audio
from avi_talking.core.common.errors import AviTalkError

from conftest import tone

T = TypeVar("T")
MAX_SECONDS = 60.0  # the limit the fuzzed files are read under
SLOW_CALL = 5.0  # seconds: a file of a few kB never needs more (ffmpeg's start-up included)
# The largest legitimate allocation: 60 s at the highest rate, mono float32, a few copies (read, resample).
MAX_ALLOCATION = 8 * int(MAX_SECONDS * MAX_RATE * 4)



def fuzz(n: int) -> settings:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


PCM_GUID = bytes.fromhex("0100000000001000800000aa00389b71")
FLOAT_GUID = bytes.fromhex("0300000000001000800000aa00389b71")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("fuzz_audio")


def _load_checked(path: Path, backend: str = "auto") -> Audio | None:
    """load_audio under the contract: an Audio within the limits, or an AviTalkError; fast; small; no files."""
    before = sorted(os.listdir(path.parent))
    swallowed: list[str] = []  # an exception in a C callback is printed and ignored: a traceback on stderr
    hook, sys.unraisablehook = sys.unraisablehook, lambda u: swallowed.append(repr(u.exc_value))
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AudioWarning)  # silence and clipping are fine in fuzzed files
            audio: Audio | None = load_audio(path, max_seconds=MAX_SECONDS, backend=backend)
    except AviTalkError as exc:
        assert "\n" not in str(exc) and str(exc)
        audio = None
    finally:
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sys.unraisablehook = hook
    assert not swallowed, swallowed
    assert elapsed < SLOW_CALL, f"{path.name} took {elapsed:.1f} s"
    assert peak < MAX_ALLOCATION, f"{path.name} allocated {peak / 1e6:.0f} MB"
    assert sorted(os.listdir(path.parent)) == before  # nothing written, no temporary left behind
    if audio is not None:
        assert audio.samples.dtype == np.float32 and np.isfinite(audio.samples).all()
        assert 0.1 - 1e-3 <= audio.duration <= MAX_SECONDS + 1e-3
    return audio


# ---- forged WAV headers -----------------------------------------------------------------------------

u16 = st.one_of(st.sampled_from([0, 1, 2, 3, 6, 8, 255, 256, 1024, 65535]), st.integers(0, 0xFFFF))
u32 = st.one_of(st.sampled_from([0, 1, 7999, 8000, 16000, 44100, 192000, 192001, 2**31 - 1, 2**31, 2**32 - 1]),
                st.integers(0, 2**32 - 1))
u64 = st.one_of(st.sampled_from([0, 1, 2**32, 2**62, 2**64 - 1]), st.integers(0, 2**64 - 1))
bits = st.sampled_from([0, 1, 7, 8, 12, 16, 20, 24, 32, 48, 64, 65535])


def mostly(draw: st.DrawFn, sane: st.SearchStrategy[T], wild: st.SearchStrategy[T]) -> T:
    """A sane value nine times in ten, so many files get past the header parser and reach the deeper checks."""
    return draw(sane) if draw(st.integers(0, 9)) else draw(wild)


@st.composite
def fmt_chunk(draw: st.DrawFn) -> bytes:
    extensible = draw(st.integers(0, 2)) == 0
    tag = 0xFFFE if extensible else mostly(draw, st.sampled_from([1, 3]), st.sampled_from([0, 6, 7, 0x55]) | u16)
    channels = mostly(draw, st.sampled_from([1, 1, 2, 6]), u16)
    rate = mostly(draw, st.sampled_from([8000, 16000, 44100, 48000, 96000]), u32)
    width = mostly(draw, st.sampled_from([8, 16, 24, 32] if tag != 3 else [32, 64]), bits)
    align = mostly(draw, st.just(channels * width // 8 & 0xFFFF), u16)
    byte_rate = mostly(draw, st.just(rate * align & 0xFFFFFFFF), u32)
    body = struct.pack("<HHIIHH", tag, channels, rate, byte_rate, align, width)
    if extensible:
        guid = mostly(draw, st.sampled_from([0, 1]), st.just(2))
        subformat = [PCM_GUID, FLOAT_GUID, draw(st.binary(min_size=16, max_size=16))][guid]
        body += struct.pack("<HHI", mostly(draw, st.just(22), u16), mostly(draw, st.just(width), bits),
                            mostly(draw, st.just(0), u32)) + subformat
    if draw(st.integers(0, 9)) == 0:
        body = body[: draw(st.integers(0, len(body)))]  # cut short
    return b"fmt " + struct.pack("<I", mostly(draw, st.just(len(body)), u32)) + body


@st.composite
def extra_chunk(draw: st.DrawFn) -> bytes:
    cid = draw(st.sampled_from([b"LIST", b"fact", b"JUNK", b"cue ", b"bext", b"\0\0\0\0"])
               | st.binary(min_size=4, max_size=4))
    body = draw(st.binary(max_size=64))
    size = mostly(draw, st.just(len(body)), u32)
    if len(body) % 2 and draw(st.integers(0, 4)):
        body += b"\0"  # RIFF's pad byte after an odd-sized chunk
    return cid + struct.pack("<I", size) + body


@st.composite
def wav_file(draw: st.DrawFn) -> bytes:
    rf64 = draw(st.integers(0, 3)) == 0
    # random bytes as samples, or silence long enough to pass the length checks (up to 20000 bytes)
    payload = draw(st.binary(max_size=6000)) if draw(st.booleans()) else bytes(draw(st.integers(0, 20000)))
    data_size = mostly(draw, st.just(len(payload)), u32)
    chunks = [draw(fmt_chunk())] if draw(st.integers(0, 9)) else []
    chunks += [draw(extra_chunk()) for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3])))]
    chunks += [b"data" + struct.pack("<I", 0xFFFFFFFF if rf64 else data_size) + payload]
    if draw(st.integers(0, 5)) == 0:
        chunks = draw(st.permutations(chunks))
    if rf64:  # ds64 holds the real sizes, 64-bit
        sizes = (mostly(draw, st.just(0), u64), mostly(draw, st.just(len(payload)), u64), mostly(draw, st.just(0), u64))
        chunks.insert(0, b"ds64" + struct.pack("<IQQQI", 28, *sizes, 0))
    body = b"WAVE" + b"".join(chunks)
    riff_size = 0xFFFFFFFF if rf64 else mostly(draw, st.just(len(body)), u32)
    magic = b"RF64" if rf64 else mostly(draw, st.just(b"RIFF"), st.just(b"RIFX"))  # RIFX: big-endian, misread
    raw = magic + struct.pack("<I", riff_size) + body
    if draw(st.integers(0, 7)) == 0:
        raw = raw[: draw(st.integers(0, len(raw)))]  # truncated anywhere
    return raw


@fuzz(1500)
@given(raw=wav_file())
def test_forged_wav_headers(workdir: Path, raw: bytes) -> None:
    path = workdir / "forged.wav"
    path.write_bytes(raw)
    _load_checked(path)


@st.composite
def chunky_wav_file(draw: st.DrawFn) -> bytes:
    """What the numpy reader walks: many and odd-sized chunks (padded or not), ds64 anywhere, chunk sizes
    past the end, the ambisonic sub-format GUID, several fmt chunks."""
    fmt = draw(fmt_chunk())
    if draw(st.integers(0, 5)) == 0:  # the ambisonic B-format GUID holds PCM or float too
        fmt = fmt[:-12] + bytes.fromhex("2107d3118644c8c1ca000000") if len(fmt) >= 48 else fmt
    count = draw(st.sampled_from([0, 0, 5, 50, 1022, 1023, 3000]))  # with fmt, 1023 chunks may precede the data
    odd = draw(st.integers(0, 3)) == 0  # unpadded odd-sized chunks: the next chunk header is misaligned
    filler = (b"JUNK" + struct.pack("<I", 1) + (b"x" if odd else b"x\0")) * count
    payload = draw(st.binary(max_size=4000)) + bytes(draw(st.sampled_from([0, 3000, 16000, 40000])))
    parts = [filler, fmt] if draw(st.booleans()) else [fmt, filler]
    if draw(st.integers(0, 4)) == 0:
        parts.append(draw(fmt_chunk()))  # a second fmt chunk
    parts.append(b"data" + struct.pack("<I", mostly(draw, st.just(len(payload)), u32)) + payload)
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(parts)))
        parts.insert(at, b"ds64" + struct.pack("<IQQQI", mostly(draw, st.just(28), u32), *(draw(u64) for _ in range(3)),
                                               0))
    magic = draw(st.sampled_from([b"RIFF"] * 5 + [b"RF64", b"RF64", b"RIFX"]))  # RIFX: big-endian, misread
    return magic + struct.pack("<I", draw(u32)) + b"WAVE" + b"".join(parts)


@fuzz(600)
@given(raw=wav_file())
def test_forged_wav_headers_numpy_reader(workdir: Path, raw: bytes) -> None:
    path = workdir / "forged_np.wav"
    path.write_bytes(raw)
    _load_checked(path, backend="numpy")


@fuzz(400)
@given(raw=chunky_wav_file())
def test_chunk_layouts_numpy_reader(workdir: Path, raw: bytes) -> None:
    path = workdir / "chunky.wav"
    path.write_bytes(raw)
    _load_checked(path, backend="numpy")


# ---- other containers: mutated real files and random bytes --------------------------------------------


def _real(suffix: str) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, tone(0.3, 16000), 16000, format={".flac": "FLAC", ".ogg": "OGG"}[suffix])
    return buf.getvalue()


REAL = {".flac": _real(".flac"), ".ogg": _real(".ogg")}


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(sorted(REAL)))
    raw = bytearray(REAL[suffix])
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, 200 if draw(st.booleans()) else len(raw) - 1))  # the headers more often
        raw[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    return suffix, bytes(raw)


@fuzz(500)
@given(case=mutated())
def test_mutated_flac_and_ogg(workdir: Path, case: tuple[str, bytes]) -> None:
    suffix, raw = case
    path = workdir / f"mutated{suffix}"
    path.write_bytes(raw)
    _load_checked(path)


MAGIC = {".flac": [b"", b"fLaC"], ".ogg": [b"", b"OggS\0\x02"],
         ".mp3": [b"", b"ID3\x04\0\0\0\0\0\x10", b"\xff\xfb\x90\x64"]}


@fuzz(500)
@given(suffix=st.sampled_from([".flac", ".ogg", ".ogg", ".mp3"]), data=st.data())
def test_random_bytes_with_audio_suffixes(workdir: Path, suffix: str, data: st.DataObject) -> None:
    """.mp3 takes the ffmpeg path when libsndfile gives up (the demuxer is fixed to MPEG audio)."""
    head = data.draw(st.sampled_from(MAGIC[suffix]))
    body = data.draw(st.binary(min_size=0, max_size=3000))
    path = workdir / f"random{suffix}"
    path.write_bytes(head + body)
    _load_checked(path)


def _real_mp3() -> bytes:
    import shutil

    if shutil.which("ffmpeg") is None:
        return b""
    done = subprocess.run(["ffmpeg", "-v", "error", "-f", "f32le", "-ar", "16000", "-ac", "1", "-i", "pipe:0",
                           "-f", "mp3", "pipe:1"], input=tone(0.5, 16000).tobytes(), capture_output=True, check=True)
    return done.stdout


@pytest.mark.bpy
@fuzz(150)
@given(suffix=st.sampled_from([".flac", ".ogg", ".mp3"]), data=st.data())
def test_mutated_files_through_blender_aud(workdir: Path, suffix: str, data: st.DataObject) -> None:
    """Blender's decoder (FFmpeg inside Audaspace) on mutated FLAC/Ogg/MP3: the same contract."""
    pytest.importorskip("bpy")
    from avi_talking.core.audio.backends import has_aud

    if not has_aud():
        pytest.skip("this bpy has no aud module (Audaspace; the PyPI bpy 4.2 lacks it)")
    real = REAL.get(suffix) or REAL.setdefault(suffix, _real_mp3())
    if not real:
        pytest.skip("ffmpeg makes the MP3 file")
    raw = bytearray(real)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, 200 if data.draw(st.booleans()) else len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    path = workdir / f"mutated_aud{suffix}"
    path.write_bytes(bytes(raw))
    _load_checked(path, backend="aud")


# ---- the same through the command line ----------------------------------------------------------------


def _wav(channels: int = 1, rate: int = 16000, width: int = 16, data: bytes = b"\0" * 3200,
         data_size: int | None = None) -> bytes:
    align = channels * width // 8 & 0xFFFF
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * align & 0xFFFFFFFF, align, width)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", len(data) if data_size is None else data_size) + data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


CLI_CASES = {
    "channels-65535.wav": _wav(channels=65535),
    "rate-0.wav": _wav(rate=0),
    "data-beyond-the-file.wav": _wav(data=b"\0" * 1000, data_size=0xFFFFFFF0),
    # ds64 claims 2**62 bytes of data: the real 1000 bytes are read, not a huge buffer
    "rf64-huge.wav": b"RF64\xff\xff\xff\xffWAVEds64" + struct.pack("<IQQQI", 28, 2**62, 2**62, 2**61, 0)
                     + _wav(data=b"\0" * 1000, data_size=0xFFFFFFFF)[12:],
    "random.mp3": np.random.default_rng(7).integers(0, 256, 4000, dtype=np.uint8).tobytes(),
}


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_cli_error_contract(tmp_path: Path, name: str) -> None:
    audio = tmp_path / name
    audio.write_bytes(CLI_CASES[name])
    out = tmp_path / "out.npz"
    done = subprocess.run([sys.executable, "-m", "avi_talking", "generate", str(audio), "-o", str(out),
                           "--model", "procedural"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no output, no temporary file
