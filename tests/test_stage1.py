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
from avi_talking.core.instructions import Instruction, Segment, read_track, track_from_dict
from avi_talking.core.instructions.parser import parse
from avi_talking.core.instructions.text import quantize
from avi_talking.core.stage1.features import (
    FEATURE_NAMES,
    STAT_NAMES,
    frame_features,
    pauses,
    segment_stats,
    segment_vector,
)
from avi_talking.core.stage1.model import Stage1Config, Stage1Model, load_model, tensor_shapes
from avi_talking.core.stage1.predict import (
    FLOOR,
    SPEECH_AUS,
    SUPPORTED,
    UNSURE_TEXT,
    SegmentPrediction,
    Stage1Predictor,
    confidence_scale,
    load_predictor,
)
from avi_talking.core.stage1.segment import MAX_SECONDS, MIN_SPEECH, PHRASE_PAUSE, phrase_cuts, segment_bounds

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
    assert 12 * math.log2(fast_high.f0_reference / slow_low.f0_reference) > 3  # semitones higher
    assert b["nuclei_rate"] > a["nuclei_rate"] * 1.3  # syllables per second of speech
    assert 0.3 < a["voiced_ratio"] <= 1 and a["snr"] > 20
    assert len(FEATURE_NAMES) == 2 * len(STAT_NAMES)


def test_speaker_normalisation_makes_a_high_and_a_low_voice_alike() -> None:
    """The same espeak sentence at two pitch levels: 10 semitones apart, near-identical normalised F0."""
    text = "We walked home along the quiet river in the evening, and then we rested."
    low = frame_features(from_samples(speech(text, pitch=20), SR))
    high = frame_features(from_samples(speech(text, pitch=80), SR))
    shift = 12 * math.log2(high.f0_reference / low.f0_reference)
    assert shift > 8  # the voices really differ
    a = dict(zip(FEATURE_NAMES, segment_vector(low, 0, low.n_frames), strict=True))
    b = dict(zip(FEATURE_NAMES, segment_vector(high, 0, high.n_frames), strict=True))
    for name in ("f0_rel_mean", "f0_rel_p10", "f0_rel_p50"):
        assert abs(a[name] - b[name]) < 0.1 * shift, (name, a[name], b[name])
    assert abs(a["f0_rel_p90"] - b["f0_rel_p90"]) < 0.2 * shift  # espeak widens a high voice's range a little
    assert abs(a["energy_rel"] - b["energy_rel"]) < 1.0  # dB
    # a segment relative to its recording: its first half, in either voice
    half_low = segment_vector(low, 0, low.n_frames // 2)
    half_high = segment_vector(high, 0, high.n_frames // 2)
    k = FEATURE_NAMES.index("f0_rel_mean")
    assert abs(half_low[k] - half_high[k]) < 0.15 * shift


def test_phrase_segments_at_the_pauses() -> None:
    """Three sentences with 0.6 s pauses between them: a segment per sentence (at least), cut in each pause."""
    sentences = [speech("I am speaking slowly and calmly about the garden.", rate=130, pitch=30),
                 speech("Now everything is fast and high and excited!", rate=220, pitch=70),
                 speech("Then the evening came and we all went home.", rate=160, pitch=45)]
    gap = np.zeros(int(0.6 * SR), np.float32)
    audio = from_samples(np.concatenate([sentences[0], gap, sentences[1], gap, sentences[2]]), SR)
    ff = frame_features(audio)
    pause_centres = [(len(sentences[0]) + len(gap) / 2) / SR,
                     (len(sentences[0]) + len(gap) + len(sentences[1]) + len(gap) / 2) / SR]
    cuts = phrase_cuts(ff)
    for centre in pause_centres:
        assert any(abs(c.time - centre) < 0.15 for c in cuts), (centre, [c.time for c in cuts])
    bounds = segment_bounds(ff, cuts)
    assert len(bounds) >= 3
    assert bounds[0][0] == 0.0 and bounds[-1][1] == pytest.approx(audio.duration)
    assert all(b0[1] == b1[0] for b0, b1 in zip(bounds, bounds[1:], strict=False))
    assert all(MIN_SPEECH - 0.01 <= b - a <= MAX_SECONDS + 0.01 for a, b in bounds), bounds
    # the model's segmentation is the same phrase segmentation
    assert load_predictor(SHIPPED).split(ff) == bounds


def test_a_long_stretch_without_pauses_is_cut_at_its_deepest_dips() -> None:
    """15 s of speech with only short (0.12 s) gaps: no phrase pause, so the long-stretch rule cuts it, each
    piece between MIN_SPEECH and MAX_SECONDS, the cuts in the gaps."""
    s = speech("We walked home along the quiet river in the evening.", rate=170)
    gap = np.zeros(int(0.12 * SR), np.float32)
    reps = int(np.ceil(15 * SR / (len(s) + len(gap))))
    audio = from_samples(np.concatenate([np.concatenate([s, gap]) for _ in range(reps)]), SR)
    ff = frame_features(audio)
    assert not pauses(ff, PHRASE_PAUSE)
    cuts = phrase_cuts(ff)
    bounds = segment_bounds(ff, cuts)
    assert len(bounds) >= math.ceil(audio.duration / MAX_SECONDS)
    assert all(b - a <= MAX_SECONDS + 0.01 and b - a >= MIN_SPEECH - 0.01 for a, b in bounds), bounds
    # each cut lies in silence (one of the gaps, or a silent stop inside the sentence), not inside a sounding
    # word; gaps this short are bridged by the voice-activity detector, so the cut is the quietest frame
    assert all(ff.energy_db[c.frame] < -60.0 for c in cuts), [(c.time, float(ff.energy_db[c.frame])) for c in cuts]


def test_short_pieces_join_a_neighbour() -> None:
    ff = frame_features(from_samples(np.concatenate([
        speech("Yes.", rate=170), np.zeros(int(0.5 * SR), np.float32),
        speech("We walked home along the quiet river in the evening.", rate=170)]), SR))
    assert pauses(ff, PHRASE_PAUSE)  # the pause is there
    bounds = segment_bounds(ff, phrase_cuts(ff))
    assert len(bounds) == 1  # "Yes." alone is shorter than MIN_SPEECH: it joins the sentence


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
        # the shown emotion is the top-rated one (or neutral, saying so, when the model is unsure)
        probs = raw["emotion_probabilities"]
        assert raw["confidence"] == max(probs.values())
        if raw["confidence"] >= FLOOR:
            assert probs[seg.instruction.emotion] == raw["confidence"]
        else:
            assert seg.instruction == Instruction() and seg.text == UNSURE_TEXT
        assert not set(seg.instruction.aus) & SPEECH_AUS  # the speech drives the mouth
        if seg.instruction.intensity > 0.3:  # only where the confidence supports it
            assert raw["confidence"] >= SUPPORTED
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


# ---- a stage 1 that knows what it does not know ------------------------------------------------------------


def _model(logits: list[float], intensity: float = 3.0, aus: tuple[str, ...] = ("AU1", "AU4", "AU12", "AU25",
                                                                                   "AU26", "AU27")) -> Stage1Model:
    """A network without hidden layers whose heads answer their biases (the input is standardised to 0):
    the emotion logits given, the intensity head at sigmoid(``intensity``), every AU present at 0.95 and
    at 0.8. Its AUs include the speech-driven ones, as an older card's did."""
    from avi_talking.core.instructions import EMOTIONS
    from avi_talking.core.stage1.segment import BOUNDARY_NAMES

    cfg = Stage1Config(FEATURE_NAMES, (), EMOTIONS, aus, BOUNDARY_NAMES, 2)
    biases = {"emotion": np.array(logits, float), "intensity": np.array([intensity]),
              "au_present": np.full(len(aus), 3.0), "au_value": np.full(len(aus), math.log(0.8 / 0.2))}
    tensors = {name: np.zeros(shape) for name, shape in tensor_shapes(cfg).items()}
    for head, bias in biases.items():
        tensors[f"head.{head}.bias"] = bias
    n, nb = len(FEATURE_NAMES), len(BOUNDARY_NAMES)
    return Stage1Model(cfg, tensors, np.zeros(n), np.ones(n), np.zeros(nb), np.ones(nb), temperature=1.0,
                       au_threshold=0.5)


def _read(model: Stage1Model) -> SegmentPrediction:
    (pred,) = Stage1Predictor(model).from_features(np.zeros((1, len(FEATURE_NAMES))), [(0.0, 2.0)])
    return pred


def _logits_for(p_top: float, top: int = 4) -> list[float]:
    """Logits whose softmax gives ``p_top`` to emotion ``top`` and the rest evenly."""
    rest = (1 - p_top) / 7
    return [math.log(p_top if k == top else rest) for k in range(8)]


def test_the_emotion_shown_is_the_top_rated_one() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        logits = list(rng.normal(size=8) * rng.uniform(0.5, 4.0))
        logits[0] += 1.0  # neutral a little ahead often, as the corpus prior would make it
        pred = _read(_model(logits))
        top = max(pred.emotion_probabilities, key=lambda e: pred.emotion_probabilities[e])
        assert pred.confidence == pytest.approx(pred.emotion_probabilities[top])
        if pred.confidence >= FLOOR:
            assert pred.instruction.emotion == top
        else:  # unsure: neutral, and the reading says so
            assert pred.instruction == Instruction() and pred.text == UNSURE_TEXT


def test_speech_driven_aus_are_never_held() -> None:
    for p_top in (0.3, 0.7, 0.99):
        pred = _read(_model(_logits_for(p_top)))
        assert pred.instruction.aus and not set(pred.instruction.aus) & SPEECH_AUS
        text = pred.segment().text
        # AU1, AU4, AU12 only: brows and lip corners; a surprised reading names the prototype's parted lips and
        # dropped jaw only to say they are not held ("... without lips parted or jaw dropped")
        held = text.split(" without ")[0]
        assert "lips" not in held and "jaw" not in held
        assert parse(text).instruction == pred.instruction


def test_low_confidence_shrinks_toward_neutral() -> None:
    readings = [(p, _read(_model(_logits_for(p)))) for p in (0.99, 0.8, 0.6, 0.5, 0.4, 0.3, 0.26, 0.2, 0.13)]
    sure = readings[0][1]
    assert sure.instruction.emotion == "surprised" and sure.instruction.intensity > 0.8 and sure.scale == 1.0
    intensities = [r.instruction.intensity for _, r in readings]
    au1 = [r.instruction.aus.get("AU1", 0.0) for _, r in readings]
    assert intensities == sorted(intensities, reverse=True) and au1 == sorted(au1, reverse=True)
    for p, r in readings:
        assert r.scale == pytest.approx(float(confidence_scale(p, 8)), abs=1e-6)
        if p < SUPPORTED:  # unsupported: never more than "slightly"
            assert r.instruction.intensity <= 0.3 and all(v <= 0.3 for v in r.instruction.aus.values())
        if p < FLOOR:
            assert r.instruction == Instruction() and r.text == UNSURE_TEXT
            parsed = parse(r.segment().text)
            assert parsed.instruction == Instruction() and not parsed.warnings
    assert intensities[-1] == 0.0 and au1[-1] == 0.0
    # the scale: 0 at chance, 1 from SUPPORTED, linear between
    assert float(confidence_scale(1 / 8, 8)) == 0.0 and float(confidence_scale(SUPPORTED, 8)) == 1.0
    assert float(confidence_scale((1 / 8 + SUPPORTED) / 2, 8)) == pytest.approx(0.5)
    # the raw reading (shrink off) keeps the full intensity
    (raw,) = Stage1Predictor(_model(_logits_for(0.4)), shrink=False).from_features(
        np.zeros((1, len(FEATURE_NAMES))), [(0.0, 2.0)])
    assert raw.instruction.intensity > 0.8 and raw.instruction.emotion == "surprised"
