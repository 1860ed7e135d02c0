"""Stage 1: pitch, prosodic features, segmentation, the trained predictor (numpy) against its torch
training, model-card validation, `avitalk train stage1`, `avitalk analyze` and the eval integration."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avi_talking.core.audio.loader import from_samples, load_audio
from avi_talking.core.audio.pitch import pitch_at, track_pitch
from avi_talking.core.common.errors import FormatError
from avi_talking.core.instructions import Segment, read_track, track_from_dict
from avi_talking.core.instructions.parser import parse
from avi_talking.core.instructions.text import quantize
from avi_talking.core.stage1.features import FEATURE_NAMES, STAT_NAMES, frame_features, pauses, segment_stats
from avi_talking.core.stage1.model import load_model, tensor_shapes
from avi_talking.core.stage1.predict import Stage1Predictor, load_predictor
from avi_talking.core.stage1.segment import BOUNDARY_NAMES, Cut, segment_bounds, split_points

from conftest import build_test_corpus, run_cli, write_audio

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "weights" / "stage1"
SR = 16000


def harmonic(f0: float, seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (level * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))).astype(np.float32)


def speech(text: str, **prosody: int) -> np.ndarray:
    from avi_talking.core.tts import espeak

    if not espeak.available():
        pytest.skip("espeak-ng is not installed (the set-up script installs it)")
    s = espeak.synthesize(text, voice="en-us", **prosody)
    return from_samples(s.samples, s.sr).samples


# ---- features ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("f0", [85.0, 140.0, 230.0, 400.0])
def test_pitch_tracker_finds_the_fundamental(f0: float) -> None:
    track = track_pitch(harmonic(f0, 1.0), SR)
    inner = track.f0[5:-5]
    assert track.voiced[5:-5].all()
    assert np.median(np.abs(12 * np.log2(inner / f0))) < 0.1  # within a tenth of a semitone
    assert len(track.f0) == int(np.ceil(1.0 / 0.01))


def test_pitch_tracker_rejects_noise_and_silence() -> None:
    noise = np.random.default_rng(0).normal(0, 0.1, SR).astype(np.float32)
    assert track_pitch(noise, SR).voiced.mean() < 0.05
    assert not track_pitch(np.zeros(SR, np.float32), SR).voiced.any()


def test_pitch_follows_a_glide() -> None:
    t = np.arange(SR) / SR
    freq = 120 + 120 * t  # 120 → 240 Hz over a second: one octave
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(freq) / SR)
    f0 = track_pitch(x, SR).f0
    assert abs(f0[20] - 144) < 6 and abs(f0[80] - 216) < 8


def test_pitch_at_given_frames_matches_the_whole_track() -> None:
    t = np.arange(SR) / SR
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(120 + 120 * t) / SR) + np.random.default_rng(1).normal(0, 0.02, SR)
    track = track_pitch(x, SR)
    frames = np.array([0, 7, 20, 21, 80, 99])
    f0, periodicity = pitch_at(x, SR, frames)
    np.testing.assert_array_equal(f0, track.f0[frames])
    np.testing.assert_array_equal(periodicity, track.periodicity[frames])
    assert pitch_at(x, SR, np.array([150]))[0][0] == 0.0  # past the end: silence, unvoiced


def test_segment_statistics_describe_the_speech() -> None:
    slow_low = frame_features(from_samples(speech("We walked home along the quiet river in the evening.", rate=120,
                                                  pitch=25), SR))
    fast_high = frame_features(from_samples(speech("We walked home along the quiet river in the evening.", rate=260,
                                                   pitch=80), SR))
    a = dict(zip(STAT_NAMES, segment_stats(slow_low, 0, slow_low.n_frames), strict=True))
    b = dict(zip(STAT_NAMES, segment_stats(fast_high, 0, fast_high.n_frames), strict=True))
    assert b["f0_p50"] > a["f0_p50"] + 3  # semitones higher
    assert b["nuclei_rate"] > a["nuclei_rate"] * 1.3  # syllables per second of speech
    assert 0.3 < a["voiced_ratio"] <= 1 and a["snr"] > 20
    assert len(FEATURE_NAMES) == 2 * len(STAT_NAMES)


def test_pauses_and_segmentation_at_a_change_of_manner() -> None:
    first = speech("I am speaking slowly and calmly about the garden.", rate=120, pitch=30)
    second = speech("Now everything is fast and high and excited!", rate=250, pitch=85)
    gap = np.zeros(int(0.5 * SR), np.float32)
    audio = from_samples(np.concatenate([gap, first, gap, second, gap]), SR)
    ff = frame_features(audio)
    boundary = (len(gap) + len(first) + len(gap) / 2) / SR
    cuts = [Cut(a, b) for a, b in pauses(ff)]
    assert any(abs(c.time - boundary) < 0.1 for c in cuts)
    col = BOUNDARY_NAMES.index("diff_f0_mean")

    def pitch_jump(bx: np.ndarray) -> np.ndarray:  # a real scorer on the features: the F0 change alone
        return np.asarray(bx[:, col] / 10.0)

    chosen = split_points(ff, pitch_jump, threshold=0.6)
    assert len(chosen) == 1 and abs(chosen[0].time - boundary) < 0.1
    bounds = segment_bounds(ff, chosen)
    assert bounds[0][0] == 0.0 and bounds[-1][1] == pytest.approx(audio.duration)
    assert bounds[0][1] == bounds[1][0]
    assert split_points(ff, lambda bx: np.zeros(len(bx)), threshold=0.5) == []  # nothing changes: one segment
    # a long stretch is split at its best pause even without a change of manner
    assert len(split_points(ff, lambda bx: np.zeros(len(bx)), threshold=0.5, min_speech=0.5, max_seconds=3.0)) >= 1


# ---- the shipped model ----------------------------------------------------------------------------------------


def test_shipped_weights_are_small_registered_and_documented() -> None:
    from avi_talking.weights_fetcher import AssetStore

    assert AssetStore().verify("avi-stage1") == SHIPPED / "model.safetensors"  # sha256 in the registry
    size = (SHIPPED / "model.safetensors").stat().st_size
    assert size < 5 * 1024 * 1024
    card = json.loads((SHIPPED / "model.json").read_text())
    for key in ("architecture", "config", "normalisation", "calibration", "thresholds", "decision", "outputs",
                "corpus", "training", "metrics"):
        assert key in card, key
    assert card["training"]["command"].startswith("avitalk train stage1")
    assert all(c["recipe"].startswith("avitalk corpus build") for c in card["corpus"]["corpora"])
    test = card["metrics"]["test"]["own_segmentation"]
    assert 0 <= test["emotion_accuracy"] <= 1 and 0 <= test["intensity_mae"] <= 1 and 0 <= test["au_f1"] <= 1
    model = load_model(SHIPPED)
    assert model.config.features == FEATURE_NAMES
    assert sum(v.size for v in model.tensors.values()) == card["parameters"]


def _copy_model(tmp: Path) -> Path:
    dest = tmp / "model"
    shutil.copytree(SHIPPED, dest)
    return dest


def test_card_and_tensors_must_agree(tmp_path: Path) -> None:
    folder = _copy_model(tmp_path)
    card_file = folder / "model.json"
    card = json.loads(card_file.read_text())
    bad = dict(card, config={**card["config"], "hidden": [7, 3]})
    card_file.write_text(json.dumps(bad))
    with pytest.raises(FormatError, match="card"):
        load_model(folder)
    bad = dict(card, config={**card["config"], "features": card["config"]["features"][::-1]})
    card_file.write_text(json.dumps(bad))
    with pytest.raises(FormatError, match="other input features"):
        load_model(folder)
    card_file.write_text(json.dumps(dict(card, normalisation={**card["normalisation"], "std": [0.0] * 2})))
    with pytest.raises(FormatError, match="std"):
        load_model(folder)
    card_file.write_text(json.dumps(card))
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="sha256"):
        load_model(folder)
    card_file.write_text("{not json")
    with pytest.raises(FormatError, match="JSON"):
        load_model(folder)


def test_analyze_cli_writes_a_valid_deterministic_track(tmp_path: Path) -> None:
    wav = write_audio(tmp_path / "two.wav", np.concatenate([
        speech("Honestly, I did not expect to see you here today.", rate=150, pitch=40),
        np.zeros(SR // 2, np.float32),
        speech("This is absolutely wonderful news for all of us!", rate=210, pitch=75)]), SR)
    out1, out2 = tmp_path / "a.json", tmp_path / "b.json"
    proc = run_cli("analyze", str(wav), "-o", str(out1))
    assert proc.returncode == 0, proc.stderr
    assert run_cli("-q", "analyze", str(wav), "-o", str(out2)).returncode == 0
    assert out1.read_bytes() == out2.read_bytes()  # deterministic
    doc = json.loads(out1.read_text())
    segments = track_from_dict(doc)
    assert segments[0].start == 0.0 and segments[-1].end == pytest.approx(load_audio(wav).duration, abs=1e-3)
    for a, b in zip(segments, segments[1:], strict=False):
        assert a.end == pytest.approx(b.start)
    for raw, seg in zip(doc["segments"], segments, strict=True):
        assert 0 < raw["confidence"] <= 1 and sum(raw["emotion_probabilities"].values()) == pytest.approx(1, abs=1e-3)
        # the text reads back as the structure (the file keeps 4 decimals of the bin centres)
        assert parse(seg.text).instruction == quantize(seg.instruction)
        assert raw["emotion_probabilities"][seg.instruction.emotion] == raw["confidence"]
    assert read_track(out1)  # the reader generate/bake use
    assert doc["meta"]["model"].startswith("avi-stage1")


def test_analyze_bad_input_is_one_line_exit_2_and_no_file(tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    for args in (["analyze", str(junk), "-o", str(out)], ["analyze", str(tmp_path / "none.wav"), "-o", str(out)],
                 ["analyze", str(junk), "-o", str(tmp_path / "x.txt")],
                 ["analyze", str(junk), "-o", str(out), "--weights", str(tmp_path)],
                 ["analyze", str(junk), "-o", str(out), "--llm-adapter", str(tmp_path)],
                 ["analyze", str(junk), "-o", str(out), "--llm-url", "ftp://x"]):
        proc = run_cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert not out.exists() and not list(tmp_path.glob(".x.*"))


def test_silence_gives_one_neutral_segment(tmp_path: Path) -> None:
    wav = write_audio(tmp_path / "quiet.wav", np.zeros(2 * SR, np.float32), SR)
    out = tmp_path / "q.json"
    proc = run_cli("analyze", str(wav), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    (seg,) = read_track(out)
    assert seg.instruction.emotion == "neutral" and seg.instruction.aus == {}


# ---- training on a tiny corpus -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_test_corpus(tmp_path_factory, "s1corpus", 0.05, 5, shard_seconds=60.0)


@pytest.fixture(scope="module")
def trained(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("s1model")
    proc = run_cli("train", "stage1", "--corpus", str(tiny_corpus), "--out", str(out), "--epochs", "12",
                   "--workers", "1", "--hidden", "32,16")
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and "emotion accuracy" in proc.stderr
    return out


def test_training_writes_a_loadable_measured_model(trained: Path) -> None:
    card = json.loads((trained / "model.json").read_text())
    losses = [h["train_loss"] for h in card["training"]["losses"]]
    assert len(losses) == 12 and losses[-1] < losses[0]  # it learns
    assert card["training"]["seed"] == 0 and card["config"]["hidden"] == [32, 16]
    model = load_model(trained)
    assert set(model.tensors) == set(tensor_shapes(model.config))
    for split in ("val", "test"):
        m = card["metrics"][split]["own_segmentation"]
        assert m["segments"] > 0 and "boundaries" in m
    assert 0.5 <= card["calibration"]["temperature"] <= 5


def test_numpy_inference_matches_torch(trained: Path) -> None:
    torch = pytest.importorskip("torch")
    from avi_talking.core.stage1.train import _build_net

    model = load_model(trained)
    cfg = model.config
    net = _build_net(torch, len(cfg.features), cfg.hidden, len(cfg.emotions), len(cfg.aus), 0.0)
    state = {k if k.startswith("trunk") else k.removeprefix("head."): torch.tensor(v, dtype=torch.float32)
             for k, v in model.tensors.items() if not k.startswith("boundary")}
    net.load_state_dict(state)
    net.eval()
    x = np.random.default_rng(1).normal(size=(6, len(cfg.features))) * model.std + model.mean
    z = torch.tensor(np.clip((x - model.mean) / model.std, -6, 6), dtype=torch.float32)
    with torch.no_grad():
        logits, intensity, present, value = net(z)
    ours = model.forward(x)
    assert np.allclose(ours.emotion_logits, logits.numpy(), atol=1e-4)
    assert np.allclose(ours.intensity, torch.sigmoid(intensity).numpy(), atol=1e-5)
    assert np.allclose(ours.au_present, torch.sigmoid(present).numpy(), atol=1e-5)
    assert np.allclose(ours.au_value, torch.sigmoid(value).numpy(), atol=1e-5)


def test_training_is_reproducible(tiny_corpus: Path, trained: Path, tmp_path: Path) -> None:
    proc = run_cli("-q", "train", "stage1", "--corpus", str(tiny_corpus), "--out", str(tmp_path), "--epochs", "12",
                   "--workers", "2", "--hidden", "32,16")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "model.safetensors").read_bytes() == (trained / "model.safetensors").read_bytes()


def test_train_bad_input(tmp_path: Path) -> None:
    for args in (["train", "stage1", "--corpus", str(tmp_path), "--out", str(tmp_path / "o")],
                 ["train", "stage1", "--corpus", str(tmp_path), "--out", str(tmp_path / "o"), "--epochs", "0"],
                 ["train", "stage1", "--corpus", str(tmp_path), "--out", str(tmp_path / "o"), "--hidden", "a,b"]):
        proc = run_cli(*args)
        assert proc.returncode == 2 and proc.stderr.startswith("error: "), proc.stderr
    assert not (tmp_path / "o" / "model.json").exists()


def test_predictor_on_corpus_clips_and_eval_integration(tiny_corpus: Path, trained: Path, tmp_path: Path) -> None:
    from avi_talking.core.corpus.dataset import Corpus

    predictor = load_predictor(trained)
    assert isinstance(predictor, Stage1Predictor)
    clip = next(Corpus(tiny_corpus).clips("test"))
    result = predictor.analyze(from_samples(clip.audio, clip.sr))
    assert result.segments and all(isinstance(s.segment(), Segment) for s in result.segments)
    assert result.segments[0].start == 0 and math.isclose(result.segments[-1].end, clip.duration, abs_tol=1e-3)
    out = tmp_path / "eval"
    proc = run_cli("eval", "--model", str(trained), "--set", str(tiny_corpus), "--split", "test", "--max-clips", "2",
                   "--seeds", "1", "--workers", "1", "--plots", "0", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "metrics.json").read_text())["summary"]
    assert set(summary["stage1"]) == {"emotion_accuracy", "intensity_mae", "au_f1"}
    assert "Stage 1" in (out / "report.md").read_text() or "stage 1" in (out / "report.md").read_text().lower()


def test_stereo_input_works(tmp_path: Path) -> None:
    x = speech("A short test sentence for the analyzer.")
    wav = tmp_path / "st.wav"
    sf.write(wav, np.stack([x, 0.5 * x], axis=1), SR)
    proc = run_cli("-q", "analyze", str(wav), "-o", str(tmp_path / "st.json"))
    assert proc.returncode == 0, proc.stderr
    assert read_track(tmp_path / "st.json")
