"""The audio backends without soundfile/soxr (Blender's own Python): the numpy WAV reader against soundfile on
real files of every layout, the numpy resampler against soxr, the end-to-end bound (features, stage 1, stage 2
and the procedural model must not move by more than 1e-3 whichever backend decoded the file), a Python where
soundfile, soxr and librosa cannot be imported, and Blender's ``aud`` module."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import warnings
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from avi_talking.core.audio.backends import ENV, has_aud
from avi_talking.core.audio.loader import Audio, AudioWarning, load_audio
from avi_talking.core.audio.resample import numpy_resample, output_length, resample
from avi_talking.core.audio.wav import MAX_CHUNKS, read_wav
from avi_talking.core.common.errors import AudioError

from conftest import tone

RATES = [8000, 11025, 22050, 44100, 48000, 96000, 192000]
SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW"]
PCM_GUID = bytes.fromhex("0100000000001000800000aa00389b71")


def _signal(frames: int, channels: int, seed: int = 0) -> np.ndarray:
    """Noise with full-scale extremes in every channel (the conversions' edge cases)."""
    data = np.clip(np.random.default_rng(seed).normal(0, 0.4, (frames, channels)), -1.0, 1.0)
    data[:8] = 1.0
    data[8:16] = -1.0
    return data


def _one_line_error(path: Path, backend: str = "numpy", max_seconds: float = 1800.0) -> str:
    with pytest.raises(AudioError) as info:
        load_audio(path, backend=backend, max_seconds=max_seconds)
    message = str(info.value)
    assert message and "\n" not in message
    return message


# ---- the numpy WAV reader against soundfile -------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("subtype", SUBTYPES)
@pytest.mark.parametrize("container", ["WAV", "WAVEX", "RF64"])
def test_wav_reader_is_bit_exact_with_soundfile(tmp_path: Path, container: str, subtype: str, channels: int) -> None:
    path = tmp_path / "clip.wav"
    sf.write(path, _signal(3001, channels), 16000, format=container, subtype=subtype)
    expected = sf.read(path, dtype="float32", always_2d=True)[0]
    got, rate = read_wav(path)
    assert rate == 16000 and got.dtype == np.float32
    assert got.shape == expected.shape and np.array_equal(got, expected)
    # and through the loader (16 kHz: no resampling), mixed down the same way
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AudioWarning)  # the extremes clip on purpose
        ours, theirs = load_audio(path, backend="numpy"), load_audio(path, backend="soundfile")
    assert np.array_equal(ours.samples, theirs.samples)
    assert ours.source_format == theirs.source_format == f"{container} {subtype}"
    assert (ours.source_channels, ours.sha256, ours.warnings) == (theirs.source_channels, theirs.sha256,
                                                                  theirs.warnings)
    assert (ours.decoder, ours.resampler, theirs.decoder, theirs.resampler) == ("numpy-wav", "none", "soundfile",
                                                                                  "none")


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_big_endian_rifx(tmp_path: Path, subtype: str) -> None:
    path = tmp_path / "rifx.wav"
    sf.write(path, _signal(4000, 2), 22050, subtype=subtype, endian="BIG")
    assert path.read_bytes()[:4] == b"RIFX"
    got, rate = read_wav(path)
    assert rate == 22050 and np.array_equal(got, sf.read(path, dtype="float32", always_2d=True)[0])


@pytest.mark.parametrize("width", [1, 2, 3, 4])
@pytest.mark.parametrize("channels", [1, 2])
def test_files_from_the_stdlib_wave_writer(tmp_path: Path, width: int, channels: int) -> None:
    """Files another writer made, checked against the integers written (not against soundfile alone)."""
    rng = np.random.default_rng(width)
    bits = 8 * width
    if width == 1:
        ints = rng.integers(0, 256, (4000, channels))
        raw = ints.astype(np.uint8).tobytes()
        expected = (ints - 128) / 128.0
    else:
        ints = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (4000, channels))
        little = ints.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :width]  # the low bytes, little-endian
        raw = little.tobytes()
        expected = ints / 2.0 ** (bits - 1)
    path = tmp_path / "stdlib.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(11025)
        w.writeframes(raw)
    got, rate = read_wav(path)
    assert rate == 11025
    assert np.array_equal(got, expected.astype(np.float32))
    assert np.array_equal(got, sf.read(path, dtype="float32", always_2d=True)[0])


def _chunk(cid: bytes, body: bytes, size: int | None = None) -> bytes:
    pad = b"\0" if len(body) % 2 else b""  # RIFF's pad byte after an odd-sized chunk
    return cid + struct.pack("<I", len(body) if size is None else size) + body + pad


def _fmt(channels: int = 1, rate: int = 16000, bits: int = 16, tag: int = 1, extensible: bytes | None = None) -> bytes:
    width = (bits + 7) // 8
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * width, channels * width, bits)
    if extensible is not None:
        body += extensible
    return _chunk(b"fmt ", body)


def _riff(*chunks: bytes, magic: bytes = b"RIFF", size: int | None = None) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return magic + struct.pack("<I", len(body) if size is None else size) + body


def _pcm16(frames: int, channels: int = 1) -> bytes:
    return (_signal(frames, channels, seed=3) * 32767).astype("<i2").tobytes()


LAYOUTS: dict[str, Callable[[], bytes]] = {
    # LIST and fact chunks (odd-sized, padded) before fmt, JUNK between fmt and data, a chunk after the data
    "chunks-around": lambda: _riff(_chunk(b"LIST", b"INFOISFT\x03\0\0\0ab\0"), _chunk(b"fact", b"\xa0\x0f\0\0\x01"),
                                   _fmt(), _chunk(b"JUNK", bytes(27)), _chunk(b"data", _pcm16(4000)),
                                   _chunk(b"LIST", b"INFOICMT\x05\0\0\0hello\0")),
    # an odd-sized 8-bit data chunk with its pad byte, followed by another chunk
    "odd-data": lambda: _riff(_fmt(bits=8), _chunk(b"data", bytes(range(256)) * 15 + b"\x80"),
                              _chunk(b"cue ", bytes(4))),
    # 12-bit samples in 16-bit containers, as WAVE_FORMAT_EXTENSIBLE with 12 valid bits
    "extensible-12-bit": lambda: _riff(
        _chunk(b"fmt ", struct.pack("<HHIIHH", 0xFFFE, 2, 16000, 64000, 4, 16)
               + struct.pack("<HHI", 22, 12, 3) + PCM_GUID),
        _chunk(b"data", (np.frombuffer(_pcm16(3000, 2), "<i2") & ~0xF).astype("<i2").tobytes())),
    # a recorder that stopped early: the data size promises more than the file holds
    "data-beyond-the-end": lambda: _riff(_fmt(), _chunk(b"data", b"", size=1 << 30) + _pcm16(4000)),
    # a streaming writer that never filled in the sizes
    "unknown-sizes": lambda: _riff(_fmt(2), _chunk(b"data", b"", size=0xFFFFFFFF) + _pcm16(3000, 2),
                                   size=0xFFFFFFFF),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_odd_chunk_layouts_read_like_soundfile(tmp_path: Path, layout: str) -> None:
    path = tmp_path / f"{layout}.wav"
    path.write_bytes(LAYOUTS[layout]())
    expected, rate = sf.read(path, dtype="float32", always_2d=True)
    got, got_rate = read_wav(path)
    assert got_rate == rate and len(got) > 1000
    assert np.array_equal(got, expected)


def _many_chunks() -> bytes:
    return _riff(*[_chunk(b"JUNK", b"") for _ in range(MAX_CHUNKS + 1)], _fmt(), _chunk(b"data", _pcm16(4000)))


MALFORMED: dict[str, tuple[Callable[[], bytes], str]] = {
    "not-wave": (lambda: b"RIFF\x10\0\0\0AVI LIST" + bytes(8), "looks like WAV but its header is truncated or corrupt"),
    "no-fmt": (lambda: _riff(_chunk(b"data", _pcm16(4000))), "data chunk comes before the fmt chunk"),
    "no-data": (lambda: _riff(_fmt(), _chunk(b"LIST", bytes(10))), "no data chunk"),
    "fmt-14-bytes": (lambda: _riff(_chunk(b"fmt ", bytes(14)), _chunk(b"data", _pcm16(4000))), "fmt chunk of 14 bytes"),
    "extensible-18-bytes": (lambda: _riff(_fmt(tag=0xFFFE, extensible=b"\0\0"), _chunk(b"data", _pcm16(4000))),
                            "WAVE_FORMAT_EXTENSIBLE fmt chunk of 18 bytes"),
    "unknown-guid": (lambda: _riff(_fmt(tag=0xFFFE, extensible=struct.pack("<HHI", 22, 16, 4) + bytes(16)),
                                   _chunk(b"data", _pcm16(4000))), "unknown sub-format"),
    "chunk-past-the-end": (lambda: _riff(_fmt(), _chunk(b"LIST", bytes(10), size=5000)), "runs past the end"),
    "too-many-chunks": (_many_chunks, f"more than {MAX_CHUNKS} chunks"),
    "two-fmt-chunks": (lambda: _riff(_fmt(), _fmt(), _chunk(b"data", _pcm16(4000))), "two fmt chunks"),
    "ds64-too-short": (lambda: b"RF64\xff\xff\xff\xffWAVE" + _chunk(b"ds64", bytes(8)) + _fmt()
                       + _chunk(b"data", _pcm16(4000)), "ds64 chunk too short"),
    "zero-bits": (lambda: _riff(_fmt(bits=0), _chunk(b"data", _pcm16(4000))), "0 bits per sample"),
    "48-bit-pcm": (lambda: _riff(_fmt(bits=48), _chunk(b"data", _pcm16(4000))), "48 bits per sample"),
    "16-bit-float": (lambda: _riff(_fmt(bits=16, tag=3), _chunk(b"data", _pcm16(4000))), "16 bits per sample"),
    "zero-channels": (lambda: _riff(_fmt(channels=0), _chunk(b"data", _pcm16(4000))), "no audio samples"),
    "65-channels": (lambda: _riff(_fmt(channels=65), _chunk(b"data", _pcm16(65 * 100))), "65 channels"),
    "rate-0": (lambda: _riff(_fmt(rate=0), _chunk(b"data", _pcm16(4000))), "sample rate 0 Hz"),
    "header-only": (lambda: _riff(_fmt(), _chunk(b"data", b"")), "no audio samples"),
    "too-short": (lambda: _riff(_fmt(), _chunk(b"data", _pcm16(1000))), "too short"),
    "nan": (lambda: _riff(_fmt(bits=32, tag=3), _chunk(b"data", np.full(4000, np.nan, "<f4").tobytes())),
            "NaN or infinite"),
    "double-beyond-float32": (lambda: _riff(_fmt(bits=64, tag=3), _chunk(b"data", np.full(4000, 1e300).tobytes())),
                              "NaN or infinite"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_wav_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    make, expected = MALFORMED[case]
    path = tmp_path / f"{case}.wav"
    path.write_bytes(make())
    if case == "unknown-guid" and has_aud():
        # an encoding the numpy reader does not know goes on to Blender's decoder where there is one (here: bpy,
        # imported by an earlier test, loaded aud), which refuses it in its own words
        assert "truncated or corrupt" in _one_line_error(path)
    else:
        assert expected in _one_line_error(path)
    with pytest.raises(AudioError, match=expected.replace("(", r"\(")):
        read_wav(path)


def test_longer_than_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, tone(3.0), 16000)
    assert "3.0 s long, over the 2.0 s limit" in _one_line_error(path, max_seconds=2.0)
    assert load_audio(path, backend="numpy", max_seconds=4.0).duration == pytest.approx(3.0)


def test_compressed_wav_needs_another_decoder(tmp_path: Path) -> None:
    """IMA ADPCM is WAV the numpy reader does not decode: aud takes it where Blender's module is there, else
    the one-line error says what to do."""
    path = tmp_path / "adpcm.wav"
    sf.write(path, tone(1.0), 16000, subtype="IMA_ADPCM")
    if has_aud():
        audio = load_audio(path, backend="numpy")
        assert audio.decoder == "aud" and audio.duration == pytest.approx(1.0, abs=0.05)
    else:
        message = _one_line_error(path)
        assert "IMA ADPCM samples" in message and "convert it to 16-bit PCM WAV" in message


def test_other_formats_without_a_decoder(tmp_path: Path) -> None:
    if has_aud():
        pytest.skip("Blender's aud module is loaded in this process: it decodes FLAC")
    flac = tmp_path / "clip.flac"
    sf.write(flac, tone(0.5), 16000, format="FLAC")
    assert _one_line_error(flac) == ("clip.flac: this Python has no decoder for FLAC files: convert it to WAV, "
                                     "or install soundfile (pip install soundfile)")
    text = tmp_path / "notes.wav"
    text.write_text("not audio\n" * 20)
    assert "not an audio file this tool can read" in _one_line_error(text)


def test_backend_choice_and_its_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "clip.wav"
    sf.write(path, tone(0.5, 44100), 44100)
    assert (load_audio(path).decoder, load_audio(path).resampler) == ("soundfile", "soxr")  # auto, all installed
    monkeypatch.setenv(ENV, "numpy")
    audio = load_audio(path)
    assert (audio.decoder, audio.resampler, audio.source_sr, audio.sr) == ("numpy-wav", "numpy", 44100, 16000)
    assert load_audio(path, backend="soundfile").decoder == "soundfile"  # the argument wins
    monkeypatch.setenv(ENV, "sox")
    with pytest.raises(AudioError, match=r"^AVITALK_AUDIO_BACKEND='sox' is not an audio backend: use auto, "):
        load_audio(path)
    if not has_aud():
        with pytest.raises(AudioError, match="=aud needs Blender's aud module"):
            load_audio(path, backend="aud")


def test_cli_under_each_backend(tmp_path: Path) -> None:
    audio = tmp_path / "clip.wav"
    sf.write(audio, tone(1.0, 48000), 48000, subtype="PCM_24")
    outs = {}
    for backend in ("soundfile", "numpy"):
        out = tmp_path / f"{backend}.json"
        done = subprocess.run([sys.executable, "-m", "avi_talking", "generate", str(audio), "-o", str(out),
                               "--model", "procedural"], capture_output=True, text=True, timeout=600, check=False,
                              env={**os.environ, ENV: backend})
        assert done.returncode == 0, done.stderr
        outs[backend] = json.loads(out.read_text())
    assert outs["numpy"]["fps"] == outs["soundfile"]["fps"]
    bad = subprocess.run([sys.executable, "-m", "avi_talking", "generate", str(audio), "-o", str(tmp_path / "x.json"),
                          "--model", "procedural"], capture_output=True, text=True, timeout=600, check=False,
                         env={**os.environ, ENV: "nope"})
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: AVITALK_AUDIO_BACKEND='nope'")
    assert not (tmp_path / "x.json").exists()


# ---- the numpy resampler against soxr --------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech_at(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Two espeak-ng sentences of different manner with a pause between, saved as 16-bit WAV at every rate."""
    from avi_talking.core.tts import espeak

    if not espeak.available():
        pytest.skip("espeak-ng is not installed (the set-up script installs it)")
    calm = espeak.synthesize("Bob met Pam by the map.", voice="en-us", rate=140, pitch=40, pitch_range=20)
    loud = espeak.synthesize("Maybe the baby wants more milk!", voice="en-us", rate=220, pitch=70,
                             pitch_range=90, volume=160)
    pause = np.zeros(int(0.6 * calm.sr), np.float32)
    samples = np.concatenate([calm.samples, pause, loud.samples]).astype(np.float32)
    folder = tmp_path_factory.mktemp("speech_rates")
    out = {}
    for rate in RATES:
        x = soxr.resample(samples, calm.sr, rate, quality="VHQ") if rate != calm.sr else samples
        out[rate] = folder / f"speech_{rate}.wav"
        sf.write(out[rate], np.clip(x, -1, 1), rate, subtype="PCM_16")
    return out


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2)
                               / np.sum((reference.astype(np.float64) - other) ** 2)))


@pytest.mark.parametrize("rate", RATES)
def test_resampler_matches_soxr_on_speech(speech_at: dict[int, Path], rate: int) -> None:
    """Measured: 94 (8 kHz), 90 (11.025), 89 (22.05 and 44.1), 104 (48), 95 (96) and 117 dB (192 kHz)."""
    x, sr = sf.read(speech_at[rate], dtype="float32")
    ours, theirs = numpy_resample(x, sr, 16000), soxr.resample(x, sr, 16000, quality="HQ")
    assert len(ours) == len(theirs)
    assert snr_db(theirs, ours) > 85.0


@pytest.mark.parametrize("rate", [8000, 44100, 48000, 192000])
def test_resampler_frequency_response(rate: int) -> None:
    """Flat where soxr is flat, soxr's roll-off in the top 5 % of the band, nothing folded back from above."""

    def gain_db(freq: float, fn: Callable[[np.ndarray], np.ndarray]) -> float:
        t = np.arange(rate) / rate
        y = fn(np.sin(2 * np.pi * freq * t).astype(np.float32)).astype(np.float64)
        return float(20 * np.log10(max(np.sqrt(2 * np.mean(y[2000:-2000] ** 2)), 1e-12)))

    nyquist = min(rate, 16000) / 2
    for share in (0.1, 0.5, 0.9):
        assert abs(gain_db(share * nyquist, lambda x: numpy_resample(x, rate, 16000))) < 1e-3
    for share in (0.93, 0.95, 0.97):  # the transition band, where soxr is −0.1 .. −25 dB
        ours = gain_db(share * nyquist, lambda x: numpy_resample(x, rate, 16000))
        theirs = gain_db(share * nyquist, lambda x: soxr.resample(x, rate, 16000, quality="HQ"))
        assert abs(ours - theirs) < 0.05
    if rate > 16000:  # above the output's Nyquist frequency: aliases stay ~110 dB down
        for freq in (8100.0, 12000.0, min(20000.0, 0.45 * rate)):
            assert gain_db(freq, lambda x: numpy_resample(x, rate, 16000)) < -100


def test_resampler_lengths_edges_and_paths() -> None:
    rng = np.random.default_rng(5)
    for rate in (8000, 11025, 12345, 44100, 48000, 191999):
        for n in (1, 2, 999, 1001, 4411):
            x = rng.normal(0, 0.3, n).astype(np.float32)
            assert len(numpy_resample(x, rate, 16000)) == len(soxr.resample(x, rate, 16000)) == output_length(
                n, rate, 16000)
    # a constant stays constant away from the edges (gain 1), and the edges are zero-padded, as soxr does
    steady = numpy_resample(np.full(44100, 0.5, np.float32), 44100, 16000)
    assert np.allclose(steady[500:-500], 0.5, atol=1e-5)
    edges = soxr.resample(np.full(44100, 0.5, np.float32), 44100, 16000, quality="HQ")
    assert steady[0] == pytest.approx(edges[0], abs=0.02)  # the step at the start: soxr's two stages differ a little
    assert np.allclose(steady[8:], edges[8:], atol=1e-4)
    # the general path (any rate) agrees with the polyphase one where both apply
    x = rng.normal(0, 0.3, 30000).astype(np.float32)
    for rate in (8000, 22050, 96000):
        assert np.max(np.abs(numpy_resample(x, rate, 16000, gather=True) - numpy_resample(x, rate, 16000))) < 1e-5
    # odd rates, through the general path: still soxr's numbers on speech-like audio
    for rate in (12345, 191999):  # the second one decimated first, then gathered
        odd = tone(2.0, rate, freq=440.0) + tone(2.0, rate, freq=3100.0, level=0.1)
        two_stage = numpy_resample(odd, rate, 16000)
        assert snr_db(soxr.resample(odd, rate, 16000, quality="HQ"), two_stage) > 80
        assert np.max(np.abs(numpy_resample(odd, rate, 16000, gather=True) - two_stage)) < 1e-4


def test_pitch_and_from_samples_follow_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from avi_talking.core.audio.loader import from_samples
    from avi_talking.core.audio.pitch import _to_pitch_rate

    x = tone(1.0, 22050, freq=150.0)
    with_soxr = _to_pitch_rate(from_samples(x, 22050).samples, 16000)
    assert from_samples(x, 22050).resampler == "soxr"
    monkeypatch.setenv(ENV, "numpy")
    audio = from_samples(x, 22050)
    assert audio.resampler == "numpy"
    assert np.array_equal(_to_pitch_rate(audio.samples, 16000), numpy_resample(audio.samples, 16000, 8000))
    assert snr_db(with_soxr, _to_pitch_rate(audio.samples, 16000)) > 80
    assert np.array_equal(resample(x, 22050, 16000), numpy_resample(x, 22050, 16000))


# ---- end to end: what the models see must not move ---------------------------------------------------------


def _decode(path: Path, backend: str, monkeypatch: pytest.MonkeyPatch) -> Audio:
    monkeypatch.setenv(ENV, backend)  # the pitch tracker's resampler follows it too
    audio = load_audio(path)
    assert audio.decoder == {"soundfile": "soundfile", "numpy": "numpy-wav"}[backend]
    return audio


@pytest.mark.slow
@pytest.mark.parametrize("rate", RATES)
def test_animation_does_not_move_between_backends(speech_at: dict[int, Path], rate: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Stage 2 through the normal pipeline, the procedural model on the same phones, and stage 1's segments,
    from the same file decoded by soundfile+soxr and by the numpy reader+resampler: animation values within
    1e-3 (measured: at most 5e-5), the same segments and emotions."""
    from avi_talking.core.audio.features import extract_features
    from avi_talking.core.lipsync.phone_timing import recognize_phones
    from avi_talking.core.lipsync.procedural import ProceduralSettings, synthesize
    from avi_talking.core.pipeline.generate import generate
    from avi_talking.core.pipeline.options import GenerateOptions
    from avi_talking.core.stage1.predict import load_predictor
    from avi_talking.core.stage2.runtime import load_stage2, torch_available

    if not torch_available():
        pytest.skip("stage 2 needs torch")
    load_stage2()
    options = GenerateOptions(model="stage2", instruction_text="A neutral person speaks.", seed=0, device="cpu")
    predictor = load_predictor()
    path = speech_at[rate]
    phones = recognize_phones(_decode(path, "soundfile", monkeypatch))  # one set of phones for both
    stage2, procedural, segments = {}, {}, {}
    for backend in ("soundfile", "numpy"):
        audio = _decode(path, backend, monkeypatch)
        stage2[backend] = generate(path, options).animation.values
        features = extract_features(audio, 30.0)
        procedural[backend] = synthesize(phones, features, ProceduralSettings(0, 1.0, 1.0, 1.0))
        result = predictor.analyze(audio)
        segments[backend] = [(s.start, s.end, s.instruction.emotion) for s in result.segments]
    assert stage2["numpy"].shape == stage2["soundfile"].shape
    assert np.max(np.abs(stage2["numpy"] - stage2["soundfile"])) <= 1e-3
    assert np.max(np.abs(procedural["numpy"] - procedural["soundfile"])) <= 1e-3
    assert segments["numpy"] == segments["soundfile"] and len(segments["numpy"]) >= 1


# ---- a Python without soundfile, soxr or librosa (Blender's) -------------------------------------------------

NO_DECODERS = """
import json, sys
for name in ("soundfile", "soxr", "librosa"):
    sys.modules[name] = None  # import fails, as in Blender's own Python
from avi_talking.core.audio.loader import load_audio
from avi_talking.core.audio.features import extract_features
from avi_talking.core.common.errors import AudioError
from avi_talking.core.stage1.predict import load_predictor
audio = load_audio(sys.argv[1])
features = extract_features(audio, 30.0)
result = load_predictor().analyze(audio)
try:
    load_audio(sys.argv[2])
    flac = "decoded"
except AudioError as exc:
    flac = str(exc)
print(json.dumps({
    "decoder": audio.decoder, "resampler": audio.resampler, "frames": features.n_frames,
    "voiced": int(features.voiced.sum()), "flac": flac,
    "segments": [[s.start, s.end, s.instruction.emotion] for s in result.segments],
    "loaded": sorted(n for n in ("soundfile", "soxr", "librosa", "torch", "bpy") if sys.modules.get(n)),
}))
"""


def test_runs_where_soundfile_soxr_and_librosa_cannot_be_imported(tmp_path: Path) -> None:
    wav = tmp_path / "stereo.wav"
    left = tone(2.0, 44100, freq=180.0) * (np.arange(88200) % 22050 < 15000)  # syllable-like bursts
    sf.write(wav, np.stack([left, 0.5 * left], axis=1), 44100, subtype="PCM_24")
    flac = tmp_path / "clip.flac"
    sf.write(flac, tone(0.5), 16000, format="FLAC")
    done = subprocess.run([sys.executable, "-c", NO_DECODERS, str(wav), str(flac)], capture_output=True, text=True,
                          timeout=600, check=False, env={k: v for k, v in os.environ.items() if k != ENV})
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert (got["decoder"], got["resampler"], got["loaded"]) == ("numpy-wav", "numpy", [])
    assert got["flac"].startswith("clip.flac: this Python has no decoder for FLAC files")
    # the same numbers as the full install's
    from avi_talking.core.audio.features import extract_features
    from avi_talking.core.stage1.predict import load_predictor

    audio = load_audio(wav)
    features = extract_features(audio, 30.0)
    segments = [[s.start, s.end, s.instruction.emotion] for s in load_predictor().analyze(audio).segments]
    assert (got["frames"], got["voiced"], got["segments"]) == (features.n_frames, int(features.voiced.sum()),
                                                               segments)


BLOCKED_CLI = """
import sys
for name in ("soundfile", "soxr", "librosa", "pocketsphinx"):
    sys.modules[name] = None
from avi_talking.cli import main
from avi_talking.core.audio.loader import load_audio
from avi_talking.core.stage1.describe import transcribe
assert transcribe(load_audio(sys.argv[1]), 0.0, 1.0) is None  # no words to add without pocketsphinx
sys.exit(main(["generate", sys.argv[1], "-o", sys.argv[2], "--model", "procedural"]))
"""


def test_procedural_without_pocketsphinx_is_one_line(tmp_path: Path) -> None:
    wav = tmp_path / "clip.wav"
    sf.write(wav, tone(1.0, 22050), 22050)
    out = tmp_path / "take.json"
    done = subprocess.run([sys.executable, "-c", BLOCKED_CLI, str(wav), str(out)], capture_output=True, text=True,
                          timeout=600, check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: the procedural model times its phones with pocketsphinx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.wav"]


# ---- Blender's aud module (bpy 5.0; the PyPI bpy 4.2 has no Audaspace) -------------------------------------


def _aud_or_skip() -> None:
    pytest.importorskip("bpy")
    if not has_aud():
        import bpy

        pytest.skip(f"bpy {bpy.app.version_string} has no aud module (Audaspace; the PyPI bpy 4.2 lacks it)")


def _mp3(tmp_path: Path, data: np.ndarray, rate: int) -> Path:
    import shutil

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg makes the MP3 test file")
    wav = tmp_path / "src.wav"
    sf.write(wav, data, rate, subtype="PCM_16")
    out = tmp_path / "clip.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-b:a", "192k", str(out)], check=True)
    return out


@pytest.mark.bpy
@pytest.mark.parametrize("kind", ["flac", "ogg", "mp3"])
def test_aud_decodes_like_soundfile(tmp_path: Path, kind: str) -> None:
    _aud_or_skip()
    t = np.arange(int(1.5 * 44100)) / 44100
    data = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)], axis=1)
    if kind == "mp3":
        path = _mp3(tmp_path, data, 44100)
    else:
        path = tmp_path / f"clip.{kind}"
        sf.write(path, data, 44100, format=kind.upper())
    # at the source rate, so only the decoders differ
    ours, theirs = load_audio(path, backend="aud", sr=44100), load_audio(path, backend="soundfile", sr=44100)
    container = {"flac": "FLAC", "ogg": "Ogg", "mp3": "MP3"}[kind]
    assert ours.decoder == "aud" and ours.source_format == f"{container} (aud)"
    assert (ours.source_sr, ours.source_channels) == (44100, 2)
    assert len(ours.samples) == len(theirs.samples)
    assert np.max(np.abs(ours.samples - theirs.samples)) < 1e-4
    # and at 16 kHz through the numpy resampler: what the models see
    a16, s16 = load_audio(path, backend="aud"), load_audio(path, backend="soundfile")
    assert a16.resampler == "numpy" and snr_db(s16.samples, a16.samples) > 60


@pytest.mark.bpy
def test_aud_refusals(tmp_path: Path) -> None:
    _aud_or_skip()
    playlist = tmp_path / "list.ogg"
    playlist.write_text("#EXTM3U\n#EXTINF:1,\n/etc/hostname\n")
    assert "not an audio file this tool can read" in _one_line_error(playlist, backend="aud")
    good = tmp_path / "ok.flac"
    sf.write(good, tone(1.0), 16000, format="FLAC")
    broken = tmp_path / "broken.flac"
    broken.write_bytes(good.read_bytes()[:60])
    assert "broken.flac" in _one_line_error(broken, backend="aud")
    long = tmp_path / "long.ogg"
    sf.write(long, tone(3.0), 16000, format="OGG")
    assert "over the 2.0 s limit" in _one_line_error(long, backend="aud", max_seconds=2.0)
    # the numpy backend hands FLAC to aud when it is there
    assert load_audio(good, backend="numpy").decoder == "aud"


IN_BLENDER = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[-4])
import aud
from avi_talking.core.audio.backends import has_soundfile, has_soxr, provide_aud
from avi_talking.core.audio.features import extract_features
from avi_talking.core.audio.loader import load_audio
from avi_talking.core.stage1.predict import load_predictor
provide_aud(aud)  # what the add-on does when Blender registers it
wav, flac = load_audio(sys.argv[-3]), load_audio(sys.argv[-2])
np.save(sys.argv[-1], np.stack([wav.samples, flac.samples]))
features = extract_features(wav, 30.0)
segments = [[s.start, s.end, s.instruction.emotion] for s in load_predictor().analyze(wav).segments]
print("RESULT " + json.dumps({"decoders": [wav.decoder, flac.decoder, wav.resampler, flac.resampler],
                               "has": [has_soundfile(), has_soxr()], "voiced": int(features.voiced.sum()),
                               "segments": segments}))
"""


@pytest.mark.blender_binary
@pytest.mark.slow
def test_in_a_real_blender(tmp_path: Path, speech_at: dict[int, Path]) -> None:
    """Debian's Blender binary, whose Python has numpy but no soundfile or soxr: WAV through the numpy reader,
    FLAC through Audaspace, stage 1 on top; the same numbers as this Python's soundfile+soxr."""
    import shutil

    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("no blender binary (scripts/bootstrap.sh --bpy42 installs Debian's)")
    (tmp_path / "avi_talking").symlink_to(Path(__file__).resolve().parents[1])
    wav = speech_at[44100]
    flac = tmp_path / "speech.flac"
    sf.write(flac, sf.read(wav, dtype="float32")[0], 44100, format="FLAC", subtype="PCM_16")
    out = tmp_path / "samples.npy"
    done = subprocess.run([blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr",
                           IN_BLENDER, "--", str(tmp_path), str(wav), str(flac), str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-2000:] + done.stderr[-2000:]
    got = json.loads(lines[0][len("RESULT "):])
    assert got["has"] == [False, False]
    assert got["decoders"] == ["numpy-wav", "aud", "numpy", "numpy"]
    from avi_talking.core.audio.features import extract_features
    from avi_talking.core.stage1.predict import load_predictor

    reference = load_audio(wav)
    blender_wav, blender_flac = np.load(out)
    assert snr_db(reference.samples, blender_wav) > 85 and snr_db(reference.samples, blender_flac) > 85
    segments = [[s.start, s.end, s.instruction.emotion] for s in load_predictor().analyze(reference).segments]
    assert got["segments"] == segments
    assert got["voiced"] == int(extract_features(reference, 30.0).voiced.sum())

