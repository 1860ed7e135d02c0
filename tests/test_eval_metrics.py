"""Evaluation metrics on constructed cases with known answers, the model registry, and ``avitalk eval``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avi_talking.core.animation import Animation
from avi_talking.core.arkit import ARKIT52, INDEX
from avi_talking.core.audio.loader import Audio
from avi_talking.core.common.errors import AviTalkError
from avi_talking.core.corpus.dataset import Corpus
from avi_talking.core.corpus.targets import make_targets
from avi_talking.core.eval.registry import load_model, register_model
from avi_talking.core.eval.runner import EvalOptions, evaluate
from avi_talking.core.instructions import Instruction, Segment, expression_vector
from avi_talking.core.metrics import scores as m
from avi_talking.core.metrics.face import lip_vertex_error, upper_face_dynamics_deviation, upper_face_vertices
from avi_talking.core.model_contract import ModelOutput
from avi_talking.core.phonemes import SILENCE
from avi_talking.core.rigs.builtin_head import build_head

from conftest import build_test_corpus, phones_from, run_cli

FPS = 30.0


PHONES = phones_from([(SILENCE, 0.5), ("B", 0.07), ("AA", 0.16), ("P", 0.06), ("AE", 0.14), ("M", 0.08), ("AO", 0.18),
                  ("T", 0.06), ("IY", 0.12), (SILENCE, 0.45), ("M", 0.08), ("AY", 0.2), (SILENCE, 0.6)])


@pytest.fixture(scope="module")
def target() -> np.ndarray:
    """Realistic target curves from the corpus's own target maker (speech-like energy in the phones)."""
    sr = 16000
    t = np.arange(int(PHONES[-1].end * sr)) / sr
    speech = np.zeros_like(t)
    for ph in PHONES:
        if ph.label != SILENCE:
            inside = (t >= ph.start) & (t < ph.end)
            level = 0.4 if ph.label in {"AA", "AE", "AO", "AY", "IY"} else 0.05
            speech[inside] = level * np.sin(2 * np.pi * 140 * t[inside])
    return make_targets(speech.astype(np.float32), PHONES, [(0.0, PHONES[-1].end)], [Instruction("happy", 0.7,
                        {"AU12": 0.6, "AU6": 0.5})], FPS, np.random.default_rng(1)).values.astype(np.float64)


def _constant(n: int, **channels: float) -> np.ndarray:
    values = np.zeros((n, len(ARKIT52)))
    for name, v in channels.items():
        values[:, INDEX[name]] = v
    return values


def test_perfect_prediction(target: np.ndarray) -> None:
    assert m.bilabial_closure(target, PHONES, FPS) == (1.0, 4)
    assert m.lag_frames(target[:, m.JAW], target[:, m.JAW]) == 0
    assert np.allclose(lip_vertex_error(target, target), 0.0)
    assert upper_face_dynamics_deviation(target, target) == pytest.approx(0.0, abs=1e-9)
    assert m.silence_closure(target, PHONES, FPS)[0] == 1.0  # a happy face at rest: lips closed
    assert m.open_vowel_jaw(target, PHONES, FPS)[0] > 0.3


@pytest.mark.parametrize("shift", [3, -3, 1, 0])
def test_shifted_prediction_gives_its_lag(target: np.ndarray, shift: int) -> None:
    jaw = target[:, m.JAW]
    shifted = np.roll(jaw, shift)  # positive: the prediction comes later
    assert m.lag_frames(shifted, jaw) == shift


def test_closed_lips_everywhere() -> None:
    n = int(PHONES[-1].end * FPS) + 1
    closed = _constant(n)
    energy = np.random.default_rng(0).normal(-30, 10, n)
    assert m.bilabial_closure(closed, PHONES, FPS)[0] == 1.0
    assert m.silence_closure(closed, PHONES, FPS)[0] == 1.0
    assert m.jaw_energy_correlation(closed, energy) == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(m.lag_frames(closed[:, m.JAW], energy))  # a still jaw has no lag
    wide_open = _constant(n, jawOpen=0.6)
    assert m.bilabial_closure(wide_open, PHONES, FPS)[0] == 0.0
    assert m.silence_closure(wide_open, PHONES, FPS)[0] == 0.0
    assert m.open_vowel_jaw(wide_open, PHONES, FPS) == (pytest.approx(0.6), 4)


def test_false_closure_counts_shut_lips_where_the_target_speaks(target: np.ndarray) -> None:
    assert m.false_closure(target, target)[0] == 0.0
    shut = np.zeros_like(target)  # scores every bilabial (above) and every frame the target opens here
    share, n_open = m.false_closure(shut, target)
    assert share == 1.0 and n_open > 20
    half = target.copy()  # lips shut over the first half only: about the first half's share of open frames
    half[: len(half) // 2] = 0.0
    first = m.false_closure(target[: len(half) // 2], target[: len(half) // 2])[1]
    assert m.false_closure(half, target)[0] == pytest.approx(first / n_open)


def test_false_closure_by_phone_says_which_sounds_the_lips_shut_on(target: np.ndarray) -> None:
    n_open = m.false_closure(target, target)[1]
    assert all(closed == 0 for closed, _ in m.false_closure_by_phone(target, target, PHONES, FPS).values())
    shut = np.zeros_like(target)
    by_phone = m.false_closure_by_phone(shut, target, PHONES, FPS)
    assert sum(apart for _, apart in by_phone.values()) == n_open  # every open frame under exactly one phone
    assert all(closed == apart for closed, apart in by_phone.values())
    assert {"AA", "T", "IY"} <= set(by_phone) and not {"B", "P", "M"} & set(by_phone)  # bilabials: target shut
    on_t = target.copy()  # the lips shut on the t alone
    t = next(ph for ph in PHONES if ph.label == "T")
    on_t[int(np.ceil(t.start * FPS)) : int(np.ceil(t.end * FPS))] = 0.0
    wrong = {ph: closed for ph, (closed, _) in m.false_closure_by_phone(on_t, target, PHONES, FPS).items() if closed}
    assert set(wrong) == {"T"} and wrong["T"] == by_phone["T"][1]


def test_speech_opening_compares_mean_gaps_outside_pauses(target: np.ndarray) -> None:
    gap, gap_target, n = m.speech_opening(target, target, PHONES, FPS)
    assert gap == gap_target > 2.0 and 0 < n < len(target)
    assert m.speech_opening(np.zeros_like(target), target, PHONES, FPS)[0] == 0.0
    wider = target.copy()
    wider[:, m.JAW] = np.clip(wider[:, m.JAW] * 1.5, 0.0, 1.0)
    assert m.speech_opening(wider, target, PHONES, FPS)[0] > gap


def test_jaw_that_follows_energy_correlates() -> None:
    energy = np.random.default_rng(1).normal(-30, 8, 200)
    values = np.zeros((200, 52))
    values[:, m.JAW] = (energy - energy.min()) / np.ptp(energy) * 0.5
    assert m.jaw_energy_correlation(values, energy) == pytest.approx(1.0)
    values[:, m.JAW] = 0.5 - values[:, m.JAW]
    assert m.jaw_energy_correlation(values, energy) == pytest.approx(-1.0)


def test_closure_counts_only_within_40_ms() -> None:
    fps = 100.0
    phones = phones_from([(SILENCE, 0.5), ("M", 0.06), ("AA", 0.3)])  # M ends at 0.56 s
    for close_at, counted in ((0.59, True), (0.61, False), (0.47, True), (0.45, False)):
        values = _constant(100, jawOpen=0.5)
        values[int(round(close_at * fps))] = 0.0
        assert m.bilabial_closure(values, phones, fps)[0] == float(counted), close_at


def test_lip_vertex_error_matches_the_shape_key() -> None:
    head = build_head()
    lips = head.groups["lips"]
    expected = np.linalg.norm(0.2 * head.shape_keys["jawOpen"][lips].astype(np.float64), axis=1).max() * 1000
    pred = _constant(10, jawOpen=0.2)
    pred[5:] = 0.0
    error = lip_vertex_error(pred, _constant(10))
    assert error[:5] == pytest.approx(np.full(5, expected), rel=1e-4)
    assert error[5:] == pytest.approx(np.zeros(5), abs=1e-6)
    assert expected > 3.0  # mm: a fifth of the jaw's range moves the lower lip visibly


def test_upper_face_dynamics_deviation_known_answers() -> None:
    still = _constant(40)
    assert upper_face_dynamics_deviation(_constant(40, browInnerUp=0.7), still) == pytest.approx(0.0, abs=1e-6)
    flashing = _constant(40)
    flashing[::2, INDEX["browInnerUp"]] = 1.0  # half the frames raised: std of |d| is |d|/2 per vertex
    head = build_head()
    d = np.linalg.norm(head.shape_keys["browInnerUp"][upper_face_vertices()].astype(np.float64), axis=1) * 1000
    assert upper_face_dynamics_deviation(flashing, still) == pytest.approx(float(np.mean(d / 2)), rel=1e-3)
    assert float(np.mean(d)) > 0.5  # the brows are in the upper-face set
    assert upper_face_dynamics_deviation(_constant(40, jawOpen=0.5), still) < 0.05  # the jaw is not


def test_diversity_is_the_mean_pairwise_distance() -> None:
    base = np.random.default_rng(2).uniform(0, 0.5, (50, 52))
    assert m.diversity([base] * 10) == 0.0
    step = 0.03
    takes = [base + i * step * np.eye(52)[INDEX["browInnerUp"]] for i in range(10)]
    assert m.diversity(takes) == pytest.approx(step * 11 / 3)  # Σ|i−j| over 90 ordered pairs / 90
    assert math.isnan(m.diversity([base]))


def test_adherence_reads_back_what_was_added() -> None:
    n = 90
    neutral = np.random.default_rng(3).uniform(0, 0.3, (n, 52))
    segments = [Segment(0.0, 1.5, Instruction("angry", 0.8, {"AU4": 0.6, "AU7": 0.05})),
                Segment(1.5, 3.0, Instruction("happy", 0.5, {"AU12": 0.3}))]
    instructed = neutral.copy()
    instructed[:45] += expression_vector({"AU4": 0.6})
    instructed[45:] += expression_vector({"AU12": 0.3})
    result = {au: (req, got) for au, req, got in m.adherence(instructed, neutral, segments, FPS)}
    assert set(result) == {"AU4", "AU12"}  # AU7 is below the presence threshold
    assert result["AU4"][1] == pytest.approx(0.6) and result["AU12"][1] == pytest.approx(0.3)
    assert all(got == pytest.approx(0.0) for _, _, got in m.adherence(neutral, neutral, segments, FPS))


def test_stage1_scores() -> None:
    truth = [Segment(0.0, 2.0, Instruction("angry", 0.8, {"AU4": 0.7, "AU24": 0.5})),
             Segment(2.0, 4.0, Instruction("sad", 0.4, {"AU15": 0.4}))]
    perfect = m.stage1_scores(m.stage1_counts(truth, truth))
    assert perfect == {"emotion_accuracy": 1.0, "intensity_mae": 0.0, "au_f1": 1.0}
    guess = [Segment(0.0, 2.1, Instruction("angry", 0.6, {"AU4": 0.7, "AU24": 0.5, "AU7": 0.3})),
             Segment(2.1, 4.0, Instruction("fearful", 0.4, {"AU15": 0.5}))]
    scores = m.stage1_scores(m.stage1_counts(truth, guess))
    assert scores["emotion_accuracy"] == 0.5
    assert scores["intensity_mae"] == pytest.approx(0.1)
    assert scores["au_f1"] == pytest.approx(6 / 7)  # tp 3, fp 1, fn 0


# ---- registry and the command --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_test_corpus(tmp_path_factory, "evalset", 0.015, 21, shard_seconds=30.0)


class _StillFace:
    """A model that never moves (lips closed): closure 1, no diversity, no adherence."""

    name = "still"

    def prepare(self, audio: Audio, fps: float, transcript: str | None = None) -> Any:
        return (audio.duration, fps)

    def generate(self, prepared: Any, instructions: list[Segment] | None, seed: int) -> ModelOutput:
        duration, fps = prepared
        return ModelOutput(Animation(fps, ARKIT52, np.zeros((int(duration * fps) + 1, 52), np.float32)))


class _NeutralGuesser(_StillFace):
    """Stage 1 that always answers "neutral" for the whole clip."""

    name = "neutral-guesser"

    def generate(self, prepared: Any, instructions: list[Segment] | None, seed: int) -> ModelOutput:
        out = super().generate(prepared, instructions, seed)
        if instructions is None:
            out.instructions = [Segment(0.0, prepared[0], Instruction())]
        return out


def test_stage1_scores_come_from_predicted_instructions(corpus_dir: Path) -> None:
    register_model("neutral-guesser-test", lambda path: _NeutralGuesser())
    corpus = Corpus(corpus_dir)
    result = evaluate(corpus, "neutral-guesser-test", EvalOptions(split="train", seeds=1, max_clips=4))
    truth = [seg for entry in corpus.entries("train")[:4] for seg in entry["segments"]]
    stage1 = result.summary["stage1"]
    assert stage1["emotion_accuracy"] == pytest.approx(np.mean([s["emotion"] == "neutral" for s in truth]))
    assert stage1["intensity_mae"] == pytest.approx(np.mean([s["intensity"] for s in truth]), abs=1e-3)
    au_present = sum(v >= 0.1 for s in truth for v in s["aus"].values())
    assert (stage1["au_f1"] == 0.0) if au_present else math.isnan(stage1["au_f1"])


def test_registry_plugs_in_models(corpus_dir: Path, tmp_path: Path) -> None:
    assert load_model("procedural").name == "procedural"
    with pytest.raises(AviTalkError, match="unknown model"):
        load_model("no-such-model")
    weights = tmp_path / "net.safetensors"
    weights.write_bytes(b"\0")
    with pytest.raises(AviTalkError, match="model card"):
        load_model(str(weights))
    (tmp_path / "net.json").write_text(json.dumps({"architecture": "still-face-test"}))
    with pytest.raises(AviTalkError, match="not registered"):
        load_model(str(weights))
    register_model("still-face-test", lambda path: _StillFace())
    assert load_model(str(weights)).name == "still"
    result = evaluate(Corpus(corpus_dir), str(weights), EvalOptions(split="train", seeds=3, max_clips=2))
    s = result.summary
    assert s["clips"] == 2 and s["bilabial_closure"] == 1.0 and s["silence_closure"] == 1.0
    assert s["false_closure"] == 1.0 and s["speech_gap_mm"] == 0.0 < s["speech_gap_mm_target"]  # a shut mouth
    by_phone = s["false_closure_by_phone"]
    assert by_phone and all(v["share"] == 1.0 and v["closed"] == v["apart"] > 0 for v in by_phone.values())
    assert [v["closed"] for v in by_phone.values()] == sorted((v["closed"] for v in by_phone.values()), reverse=True)
    assert s["diversity"] == 0.0 and s["jaw_energy_corr"] == 0.0 and s["stage1"] is None
    assert s["lve_mm"] > 1.0  # the targets do move
    assert all(v["realised"] == 0.0 for v in s["adherence"].values())


def test_eval_command_writes_report(corpus_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = run_cli("eval", "--model", "procedural", "--set", str(corpus_dir), "--split", "train", "--out", str(out),
                   "--seeds", "3", "--max-clips", "2", "--plots", "1", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in out.iterdir()}
    assert {"report.md", "metrics.json", "metrics_table.png"} <= names
    assert sum(n.startswith("curves_") and n.endswith(".png") for n in names) == 1
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "metrics.json").read_text())
    s = data["summary"]
    assert data["model"] == "procedural" and s["clips"] == 2 and len(data["clips"]) == 2
    assert s["stage1"] is None and s["diversity"] > 0.0  # seeds change blinks and brows
    assert 0.0 <= s["bilabial_closure"] <= 1.0 and s["lve_mm"] > 0.0
    assert s["adherence_ratio"] == pytest.approx(0.0, abs=0.05)  # the baseline ignores instructions
    report = (out / "report.md").read_text()
    assert "| bilabial closure" in report and "Not applicable" in report
    assert "| lips closed where the target's are apart" in report and 0.0 <= s["false_closure"] <= 1.0
    per_clip = [set(c["false_closure_by_phone"]) for c in data["clips"]]
    assert "by true phone" in report and set(s["false_closure_by_phone"]) == per_clip[0] | per_clip[1]


def test_eval_bad_input(corpus_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    for args, words in ((["--model", "procedural", "--set", str(tmp_path / "none")], "not a corpus"),
                        (["--model", "nope", "--set", str(corpus_dir)], "unknown model"),
                        (["--model", "procedural", "--set", str(corpus_dir), "--split", "dev"], "no split"),
                        (["--model", "procedural", "--set", str(corpus_dir), "--seeds", "0"], "--seeds")):
        proc = run_cli("eval", *args, "--out", str(out))
        assert proc.returncode == 2 and proc.stderr.startswith("error:") and words in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1
        assert not out.exists()
