"""The audio loader on real files of every odd and bad kind the tests can make."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avi_talking.core.audio.loader import TARGET_SR, AudioWarning, check_input_file, load_audio, max_audio_bytes
from avi_talking.core.common.errors import AudioError, AviTalkError

from conftest import run_cli, tone, write_audio

# ---- bad inputs: one-line AudioError ----------------------------------------------------------------


def _wav_bytes(tmp_path: Path, seconds: float = 0.5, sr: int = 16000) -> bytes:
    return write_audio(tmp_path / "ok.wav", tone(seconds, sr), sr, "PCM_16").read_bytes()


def _bad_missing(tmp_path: Path) -> Path:
    return tmp_path / "nope.wav"


def _bad_directory(tmp_path: Path) -> Path:
    d = tmp_path / "folder.wav"
    d.mkdir()
    return d


def _bad_empty(tmp_path: Path) -> Path:
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    return p


def _bad_text(tmp_path: Path) -> Path:
    p = tmp_path / "notes.wav"
    p.write_text("this is not audio at all\n" * 20)
    return p


def _bad_random(tmp_path: Path) -> Path:
    p = tmp_path / "noise.flac"
    p.write_bytes(b"junk" + np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    return p


def _bad_png(tmp_path: Path) -> Path:
    p = tmp_path / "picture.wav"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    return p


def _bad_truncated_wav(tmp_path: Path) -> Path:
    p = tmp_path / "cut.wav"
    p.write_bytes(_wav_bytes(tmp_path)[:20])
    return p


def _bad_truncated_flac(tmp_path: Path) -> Path:
    full = write_audio(tmp_path / "ok.flac", tone(0.5), 16000).read_bytes()
    p = tmp_path / "cut.flac"
    p.write_bytes(full[:30])
    return p


def _bad_truncated_ogg(tmp_path: Path) -> Path:
    full = write_audio(tmp_path / "ok.ogg", tone(0.5), 16000).read_bytes()
    p = tmp_path / "cut.ogg"
    p.write_bytes(full[:40])
    return p


def _bad_header_only(tmp_path: Path) -> Path:
    p = tmp_path / "header_only.wav"
    p.write_bytes(_wav_bytes(tmp_path)[:44])  # a complete header with no sample data
    return p


def _bad_too_short(tmp_path: Path) -> Path:
    return write_audio(tmp_path / "short.wav", tone(0.05), 16000)


def _bad_nan(tmp_path: Path) -> Path:
    data = tone(0.5)
    data[1000] = np.nan
    return write_audio(tmp_path / "nan.wav", data, 16000, "FLOAT")


def _bad_inf(tmp_path: Path) -> Path:
    data = tone(0.5)
    data[2000] = np.inf
    return write_audio(tmp_path / "inf.wav", data, 16000, "DOUBLE")


def _bad_low_rate(tmp_path: Path) -> Path:
    return write_audio(tmp_path / "low.wav", tone(0.5, 4000), 4000)


def _bad_high_rate(tmp_path: Path) -> Path:
    return write_audio(tmp_path / "high.wav", tone(0.5, 384000), 384000)


def _bad_wav_claims_more(tmp_path: Path) -> Path:
    # header promises 2 s, file holds 50 ms: must be judged by what is really there
    raw = bytearray(_wav_bytes(tmp_path, seconds=0.05))
    struct.pack_into("<I", raw, 40, 2 * 16000 * 2)
    p = tmp_path / "liar.wav"
    p.write_bytes(bytes(raw))
    return p


BAD_INPUTS = {
    "missing": (_bad_missing, "does not exist"),
    "directory": (_bad_directory, "directory"),
    "empty": (_bad_empty, "empty"),
    "text": (_bad_text, "not an audio file"),
    "random-bytes": (_bad_random, "not an audio file"),
    "png": (_bad_png, "not an audio file"),
    "truncated-wav": (_bad_truncated_wav, "truncated or corrupt"),
    "truncated-flac": (_bad_truncated_flac, "truncated or corrupt"),
    "truncated-ogg": (_bad_truncated_ogg, "truncated or corrupt"),
    "header-only": (_bad_header_only, "no audio samples"),
    "too-short": (_bad_too_short, "too short"),
    "nan": (_bad_nan, "NaN or infinite"),
    "inf": (_bad_inf, "NaN or infinite"),
    "rate-too-low": (_bad_low_rate, "sample rate"),
    "rate-too-high": (_bad_high_rate, "sample rate"),
    "header-lies": (_bad_wav_claims_more, "too short"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_line_error(tmp_path: Path, case: str) -> None:
    make, expected = BAD_INPUTS[case]
    path = make(tmp_path)
    with pytest.raises(AudioError) as info:
        load_audio(path)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_longer_than_limit_is_refused(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "long.wav", tone(3.0), 16000)
    with pytest.raises(AudioError, match="3.0 s long, over the 2.0 s limit"):
        load_audio(path, max_seconds=2.0)
    assert load_audio(path, max_seconds=4.0).duration == pytest.approx(3.0, abs=1e-3)


def test_default_limit_is_thirty_minutes() -> None:
    from avi_talking.core.audio.loader import DEFAULT_MAX_SECONDS

    assert DEFAULT_MAX_SECONDS == 1800.0


@pytest.mark.parametrize("case", ["missing", "text", "truncated-wav", "nan"])
def test_cli_error_contract(tmp_path: Path, case: str) -> None:
    make, _ = BAD_INPUTS[case]
    audio = make(tmp_path)
    out = tmp_path / "out.npz"
    result = run_cli("generate", str(audio), "-o", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert not out.exists()
    assert not list(tmp_path.glob(".out.*"))  # no temporary leftovers either


def test_cli_refuses_too_long_with_configurable_limit(tmp_path: Path) -> None:
    audio = write_audio(tmp_path / "long.wav", tone(2.0), 16000)
    out = tmp_path / "x.json"
    result = run_cli("generate", str(audio), "-o", str(out), "--max-duration", "1")
    assert result.returncode == 2 and "limit" in result.stderr and not out.exists()


def test_failed_run_keeps_an_existing_output_intact(tmp_path: Path) -> None:
    out = tmp_path / "keep.json"
    out.write_text("precious")
    result = run_cli("generate", str(tmp_path / "missing.wav"), "-o", str(out))
    assert result.returncode == 2 and out.read_text() == "precious"


# ---- odd but valid inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_bit_depths(tmp_path: Path, subtype: str) -> None:
    path = write_audio(tmp_path / f"{subtype}.wav", tone(1.0, 16000, level=0.5), 16000, subtype)
    audio = load_audio(path)
    assert audio.sr == TARGET_SR and audio.samples.dtype == np.float32
    assert len(audio.samples) == 16000
    reference = tone(1.0, 16000, level=0.5)
    tolerance = 0.02 if subtype == "PCM_U8" else 1e-3
    assert np.max(np.abs(audio.samples - reference)) < tolerance


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000, 192000])
def test_sample_rates_resample_to_16k(tmp_path: Path, rate: int) -> None:
    path = write_audio(tmp_path / f"r{rate}.wav", tone(1.5, rate, freq=440.0), rate, "PCM_16")
    audio = load_audio(path)
    assert audio.sr == 16000 and audio.source_sr == rate
    assert audio.duration == pytest.approx(1.5, abs=2e-3)
    # the 440 Hz tone survives resampling at the right pitch
    spectrum = np.abs(np.fft.rfft(audio.samples[2000:18000]))
    peak_hz = np.argmax(spectrum) * 16000 / 16000
    assert abs(peak_hz - 440.0) <= 2.0


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_mixes_to_mono(tmp_path: Path, channels: int) -> None:
    left = tone(1.0, level=0.4)
    data = np.zeros((len(left), channels), np.float32)
    data[:, 0] = left  # only the first channel carries sound
    audio = load_audio(write_audio(tmp_path / "multi.wav", data, 16000, "FLOAT"))
    assert audio.samples.ndim == 1 and audio.source_channels == channels
    assert np.allclose(audio.samples, left / channels, atol=1e-6)


@pytest.mark.parametrize("suffix", [".flac", ".ogg"])
def test_compressed_formats(tmp_path: Path, suffix: str) -> None:
    audio = load_audio(write_audio(tmp_path / f"clip{suffix}", tone(1.0, 44100), 44100))
    assert audio.duration == pytest.approx(1.0, abs=0.01)
    assert np.sqrt(np.mean(audio.samples**2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.05)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg makes the MP3 test file")
def test_mp3(tmp_path: Path) -> None:
    wav = write_audio(tmp_path / "src.wav", tone(1.0, 44100), 44100, "PCM_16")
    mp3 = tmp_path / "clip.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), str(mp3)], check=True)
    audio = load_audio(mp3)
    assert audio.duration == pytest.approx(1.0, abs=0.06)  # MP3 adds encoder padding
    assert np.sqrt(np.mean(audio.samples**2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.1)


def test_content_not_extension_decides(tmp_path: Path) -> None:
    flac_named_wav = tmp_path / "really_flac.WAV"
    sf.write(flac_named_wav, tone(0.5), 16000, format="FLAC")
    no_suffix = tmp_path / "clip"
    sf.write(no_suffix, tone(0.5), 16000, format="WAV")
    assert load_audio(flac_named_wav).duration == pytest.approx(0.5, abs=1e-3)
    assert load_audio(no_suffix).duration == pytest.approx(0.5, abs=1e-3)


def test_silence_warns_and_loads(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "quiet.wav", np.zeros(16000, np.float32), 16000)
    with pytest.warns(AudioWarning, match="silent"):
        audio = load_audio(path)
    assert audio.is_silent and audio.warnings


def test_clipping_warns(tmp_path: Path) -> None:
    loud = np.clip(tone(1.0, level=3.0), -1.0, 1.0)
    path = write_audio(tmp_path / "loud.wav", loud, 16000, "PCM_16")
    with pytest.warns(AudioWarning, match="clips"):
        load_audio(path)


def test_clean_audio_has_no_warnings(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "fine.wav", tone(1.0), 16000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        audio = load_audio(path)
    assert audio.warnings == []
    assert len(audio.sha256) == 64


def test_exact_minimum_length_loads(tmp_path: Path) -> None:
    assert load_audio(write_audio(tmp_path / "min.wav", tone(0.1), 16000)).duration == pytest.approx(0.1)


# ---- what kind of file: checked before reading (core.common.inputs.check_input_file) ----------------


def _load_or_unblock(path: Path) -> BaseException | None:
    """load_audio in a thread; should it block on a FIFO, a writer is opened to release it and the test fails."""
    outcome: list[BaseException | None] = []

    def work() -> None:
        try:
            load_audio(path)
            outcome.append(None)
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(10.0)
    if worker.is_alive():
        with open(path, "wb"):  # lets the blocked open() return
            pass
        pytest.fail(f"load_audio blocked on {path}")
    return outcome[0]


def test_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    exc = _load_or_unblock(fifo)
    assert isinstance(exc, AudioError) and "named pipe" in str(exc)


def test_devices_and_sockets_are_refused(tmp_path: Path) -> None:
    zero = tmp_path / "zero.wav"
    zero.symlink_to("/dev/zero")  # a link is followed: what it points at decides
    for path in (Path("/dev/zero"), zero):
        with pytest.raises(AudioError, match="is a device, not a regular file"):
            load_audio(path)
    sock_path = tmp_path / "s.wav"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        with pytest.raises(AudioError, match="is a socket"):
            load_audio(sock_path)


def test_dangling_link_and_file_as_folder(tmp_path: Path) -> None:
    dangling = tmp_path / "gone.wav"
    dangling.symlink_to(tmp_path / "nowhere.wav")
    plain = write_audio(tmp_path / "a.wav", tone(0.5), 16000)
    for path in (dangling, plain / "inside.wav"):
        with pytest.raises(AudioError, match="does not exist"):
            load_audio(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "secret.wav", tone(0.5), 16000)
    path.chmod(0)
    with pytest.raises(AudioError, match="cannot open audio file .*ermission denied"):
        load_audio(path)


def test_size_cap_follows_the_duration_limit(tmp_path: Path) -> None:
    """The cap is max_audio_bytes(max_seconds); a file one byte over it is refused before a byte is read."""
    limit = max_audio_bytes(1.0)
    assert limit is not None and max_audio_bytes(float("inf")) is None
    assert max_audio_bytes(2.0) - limit == max_audio_bytes(1.0) - max_audio_bytes(0.0) > 192000 * 2 * 2
    sparse = tmp_path / "huge.wav"
    with open(sparse, "wb") as fh:
        fh.truncate(limit + 1)  # sparse: no disk space used
    with pytest.raises(AudioError, match=r"over the .* limit for 1\.0 s of audio \(raise it with --max-duration"):
        load_audio(sparse, max_seconds=1.0)
    with open(sparse, "r+b") as fh:
        fh.truncate(limit)
    with pytest.raises(AudioError, match="not an audio file"):  # at the cap: read, and judged by content
        load_audio(sparse, max_seconds=1.0)


def test_check_input_file_for_other_inputs(tmp_path: Path) -> None:
    text = tmp_path / "track.json"
    text.write_text("{}")
    assert check_input_file(text, "instruction track", 2) == 2
    with pytest.raises(AviTalkError, match="instruction track .* is 2 bytes, over the 1 bytes limit"):
        check_input_file(text, "instruction track", 1)
    with pytest.raises(AviTalkError, match="blend file .* is a directory, not a regular file"):
        check_input_file(tmp_path, "blend file")


def test_cli_named_pipe_returns_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    out = tmp_path / "out.npz"
    t0 = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "avi_talking", "generate", str(fifo), "-o", str(out),
                             "--model", "procedural"], capture_output=True, text=True, timeout=60, check=False)
    assert time.monotonic() - t0 < 60
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: audio file") and "named pipe" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.wav"]


# ---- outputs: the permissions open(..., "w") would give -----------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_outputs_honour_the_umask(tmp_path: Path, umask: int) -> None:
    audio = write_audio(tmp_path / "a.wav", tone(1.0), 16000)
    out = tmp_path / "take.json"
    result = subprocess.run([sys.executable, "-m", "avi_talking", "generate", str(audio), "-o", str(out),
                             "--model", "procedural"], capture_output=True, text=True, timeout=600, check=False,
                            preexec_fn=lambda: os.umask(umask))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    # an existing output keeps its own mode, as open(..., "w") would keep it
    out.chmod(0o640)
    result = subprocess.run([sys.executable, "-m", "avi_talking", "generate", str(audio), "-o", str(out),
                             "--model", "procedural"], capture_output=True, text=True, timeout=600, check=False,
                            preexec_fn=lambda: os.umask(umask))
    assert result.returncode == 0 and stat.S_IMODE(out.stat().st_mode) == 0o640


def test_atomic_output_mode_in_process(tmp_path: Path) -> None:
    from avi_talking.core.common.fileio import atomic_output

    old = os.umask(0o027)
    try:
        with atomic_output(tmp_path / "x.txt") as tmp:
            tmp.write_text("ok")
        with atomic_output(tmp_path / "y.txt") as tmp:  # a writer that makes a new file (as Blender does)
            tmp.unlink()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"ok")
            os.close(fd)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "y.txt").stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt", "y.txt"]
