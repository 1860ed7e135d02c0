"""``avitalk eval --real DIR`` end to end: real WAV/FLAC files made with espeak-ng (sentences with inserted
pauses, room noise), the CLI run as a subprocess with the procedural model, and its report checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli

PIECES = ("Bob met Pam by the map", "maybe the baby wants more milk", "people bring big plums home")
GAPS = (0.4, 0.5, 0.35, 0.6)  # silence before, between and after the pieces (s)


def _trimmed(text: str) -> tuple[np.ndarray, int, list[float]]:
    """espeak-ng speech cut to its sounding part, and its true p/b/m centres (s) in the cut audio."""
    from avi_talking.core.phonemes import BILABIALS
    from avi_talking.core.tts import espeak

    speech = espeak.synthesize(text, voice="en-us", rate=160)
    x = speech.samples.astype(np.float64)
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
    start = loud[0] / speech.sr
    return x[loud[0]: loud[-1] + 1], speech.sr, [p.centre - start for p in speech.phones if p.label in BILABIALS]


def _spoken_with_pauses(pieces: tuple[str, ...], seed: int) -> tuple[np.ndarray, int, list[tuple[float, float]]]:
    """The pieces with GAPS of silence around them, plus noise 40 dB below the speech; the true pauses."""
    parts: list[np.ndarray] = []
    pauses: list[tuple[float, float]] = []
    t, sr = 0.0, 16000
    for k, text in enumerate(pieces):
        x, sr, _ = _trimmed(text)
        parts += [np.zeros(int(round(GAPS[k] * sr))), x]
        pauses.append((t, t + GAPS[k]))
        t += GAPS[k] + len(x) / sr
    parts.append(np.zeros(int(round(GAPS[-1] * sr))))
    pauses.append((t, t + GAPS[-1]))
    x = np.concatenate(parts)
    rms = float(np.sqrt(np.mean(x[np.abs(x) > 0] ** 2)))
    x = x + np.random.default_rng(seed).normal(0, rms / 100, len(x))
    return x.astype(np.float32), sr, pauses


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[tuple[float, float]]]]:
    from avi_talking.core.tts import espeak

    if not espeak.available():
        pytest.skip("espeak-ng is not installed (the set-up script installs it)")
    folder = tmp_path_factory.mktemp("real")
    truth: dict[str, list[tuple[float, float]]] = {}
    x, sr, truth["bilabial.wav"] = _spoken_with_pauses(PIECES, 0)
    sf.write(folder / "bilabial.wav", x, sr, subtype="PCM_16")
    (folder / "bilabial.txt").write_text(". ".join(PIECES) + ".\n", encoding="utf-8")
    x, sr, truth["plain.flac"] = _spoken_with_pauses(PIECES[1:], 1)
    sf.write(folder / "plain.flac", x, sr)  # no transcript
    x, sr, truth["foreign.wav"] = _spoken_with_pauses(PIECES[:1], 2)
    sf.write(folder / "foreign.wav", x, sr, subtype="PCM_16")
    (folder / "foreign.txt").write_text("鲍勃在地图旁遇见了帕姆\n", encoding="utf-8")  # no English words to align
    (folder / "notes.md").write_text("not audio\n", encoding="utf-8")
    return folder, truth


@pytest.fixture(scope="module")
def report(recordings: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder, _ = recordings
    out = tmp_path_factory.mktemp("eval") / "report"
    done = run_cli("eval", "--real", str(folder), "--model", "procedural", "--seed", "3", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {out}"
    return out, json.loads((out / "metrics.json").read_text(encoding="utf-8"))


def _clip(metrics: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in metrics["clips"] if c["file"] == name)


def test_report_has_every_recording(report: tuple[Path, dict[str, Any]]) -> None:
    out, metrics = report
    assert [c["file"] for c in metrics["clips"]] == ["bilabial.wav", "foreign.wav", "plain.flac"]
    assert metrics["model"] == "procedural" and metrics["options"]["seed"] == 3
    text = (out / "report.md").read_text(encoding="utf-8")
    for name in ("bilabial.wav", "foreign.wav", "plain.flac"):
        assert f"| {name} |" in text
        png = out / f"curves_{Path(name).stem}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["report"]  # no temporary folder left


def test_vad_finds_the_inserted_pauses(report: tuple[Path, dict[str, Any]],
                                       recordings: tuple[Path, dict[str, list[tuple[float, float]]]]) -> None:
    _, metrics = report
    for name, pauses in recordings[1].items():
        found = _clip(metrics, name)["pauses"]
        for a, b in pauses:
            assert any(abs(f[0] - a) <= 0.05 and abs(f[1] - b) <= 0.05 for f in found), (name, (a, b), found)


def test_procedural_baseline_closes_the_lips_in_clean_pauses(report: tuple[Path, dict[str, Any]]) -> None:
    _, metrics = report
    s = metrics["summary"]
    assert s["pause_closure"] >= 0.95
    assert s["pause_closure_all"] <= s["pause_closure"] + 1e-9  # the edges are where the mouth is still moving
    for clip in metrics["clips"]:
        assert clip["pause_frames"] > 0.8 * 30 * (sum(GAPS) - 6 * 0.07) * (len(clip["pauses"]) / 4) - 5
        assert clip["jaw_loudness_r"] > 0.4
        assert abs(clip["jaw_loudness_lag"]) <= 2
        assert clip["mouth_motion"] > 0 and clip["lip_gap_std_speech"] > 1.0
        assert clip["head_std"] is None  # the model has no head channels
        assert clip["instructions"] == []  # the procedural model follows none


def test_bilabial_closure_from_forced_alignment(report: tuple[Path, dict[str, Any]]) -> None:
    _, metrics = report
    clip = _clip(metrics, "bilabial.wav")
    assert clip["transcript"] is True
    assert clip["bilabials"] == 21  # every p/b/m the dictionary gives for the three pieces
    # the procedural model times its own phones by recognition (recall about 0.5), so it misses some
    assert 0.3 <= clip["bilabial_closure"] <= 1.0
    assert metrics["summary"]["bilabials"] == clip["bilabials"]
    assert _clip(metrics, "plain.flac")["bilabials"] == 0 and _clip(metrics, "plain.flac")["bilabial_closure"] is None
    foreign = _clip(metrics, "foreign.wav")
    assert foreign["transcript"] is True and foreign["bilabials"] == 0
    assert any("could not be aligned" in n for n in foreign["notes"])


def _refused(args: list[str], out: Path) -> str:
    done = run_cli("eval", *args, "--out", str(out))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert not out.exists() and done.stdout == ""
    return lines[0]


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, recordings: tuple[Path, Any]) -> None:
    out = tmp_path / "out"
    assert "does not exist" in _refused(["--real", str(tmp_path / "missing"), "--model", "procedural"], out)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no audio files" in _refused(["--real", str(empty), "--model", "procedural"], out)
    (empty / "readme.txt").write_text("hello\n", encoding="utf-8")
    (empty / "sub.wav").mkdir()  # a folder with an audio suffix is not audio
    assert "no audio files" in _refused(["--real", str(empty), "--model", "procedural"], out)
    assert "not a folder" in _refused(["--real", str(empty / "readme.txt"), "--model", "procedural"], out)
    folder = recordings[0]
    assert "not allowed with" in _refused(["--real", str(folder), "--set", str(folder), "--model", "procedural"], out)
    assert "--set" in _refused(["--real", str(folder), "--transcripts"], out)
    assert "seed" in _refused(["--real", str(folder), "--seed", "-1"], out)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    assert "broken.wav" in _refused(["--real", str(bad), "--model", "procedural"], out)
    assert sorted(p.name for p in bad.iterdir()) == ["broken.wav"]


def test_forced_alignment_places_the_bilabials(recordings: tuple[Path, Any]) -> None:
    """The p/b/m times the measure uses lie where espeak-ng really spoke them."""
    from avi_talking.core.audio.loader import load_audio
    from avi_talking.core.lipsync.phone_timing import force_align
    from avi_talking.core.phonemes import BILABIALS

    folder, truth = recordings
    starts = [b for _, b in truth["bilabial.wav"][:-1]]  # each piece begins where a pause ends
    true = [start + c for start, text in zip(starts, PIECES, strict=True) for c in _trimmed(text)[2]]
    phones = force_align(load_audio(folder / "bilabial.wav"), (folder / "bilabial.txt").read_text("utf-8"))
    assert phones is not None
    aligned = [p.centre for p in phones if p.label in BILABIALS]
    assert len(aligned) == len(true) == 21
    errors = np.abs(np.array(aligned) - np.array(true))
    assert np.median(errors) < 0.03 and errors.max() < 0.08, errors.round(3)


def test_accent_track_finds_a_pitch_rise_and_the_response_beats_a_shuffled_copy() -> None:
    from avi_talking.core.eval.real import accent_response, accent_track

    sr, fps = 16000, 30.0
    t = np.arange(int(4.0 * sr)) / sr
    f0 = 120.0 * 2 ** (3.0 * np.exp(-0.5 * ((t - 2.0) / 0.12) ** 2) / 12)  # a 3-semitone accent at 2 s
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 8)).astype(np.float32) * 0.2
    n = int(4.0 * fps)
    accent = accent_track(x, sr, fps, n)
    assert abs(int(np.argmax(accent)) / fps - 2.0) < 0.1 and accent.max() > 1.0
    mask = np.ones(n, bool)
    follows = np.roll(accent, 2)  # a brow that rises with the accent
    r, shuffled = accent_response(accent, follows, mask)
    assert r > 0.8 and shuffled < 0.5 * r
