"""Head motion: the corpus's head-rotation targets (nods on the accents, the emotion's manner), the drift and
phrase turns drawn per take at inference, their
storage in the shards, a stage-2 network with head channels trained for real on a tiny corpus, both
runtimes agreeing, and the --head strength."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from avi_talking.core.arkit import ARKIT52, FACE_AND_HEAD, HEAD_ROTATIONS
from avi_talking.core.common.errors import FormatError
from avi_talking.core.corpus.accents import Accent
from avi_talking.core.corpus.dataset import Corpus
from avi_talking.core.corpus.head_motion import NOD_DEG, head_motion, nod_curve
from avi_talking.core.instructions import Instruction
from avi_talking.core.stage2.motion import DEG, add_head_drift, add_nods, speaking_frames

from conftest import SpokenClip, build_test_corpus

FPS = 30.0
TIMES = np.arange(int(6.0 * FPS)) / FPS
ACCENTS = [Accent(1.0, 1.0, 0.0), Accent(2.5, 0.4, 0.0), Accent(4.0, 0.0, 1.0), Accent(4.1, 0.3, 0.0)]


def _run(instr: Instruction, seed: int, accents: list[Accent] = ACCENTS) -> np.ndarray:
    head, _ = head_motion(accents, TIMES, np.ones((1, len(TIMES))), [instr], np.random.default_rng(seed))
    return head


def test_nods_fall_on_the_accents_and_grow_with_them() -> None:
    curve = nod_curve(ACCENTS, TIMES)
    peaks = [t for t in range(1, len(TIMES) - 1) if curve[t] > curve[t - 1] and curve[t] >= curve[t + 1]]
    # accents 0.1 s apart share one nod, at the stronger one
    assert [round(TIMES[t], 1) for t in peaks] == [1.0, 2.5, 4.0]
    heights = curve[peaks]
    assert heights[0] > 2 * heights[1] > 0 and np.degrees(heights[0]) == pytest.approx(NOD_DEG, rel=0.01)
    assert np.degrees(curve).max() < 5.0 and curve.min() >= 0.0  # a chin dip of a few degrees, never up
    assert not nod_curve([], TIMES).any()


def test_targets_are_nods_only_deterministic_in_the_audio() -> None:
    """Drift and phrase turns are drawn at inference (stage2.motion), not in the targets: the same accents
    give the same nods whatever the clip's seed, up to the drawn expressiveness (one gain per clip)."""
    a, b = _run(Instruction("neutral", 0.0, {}), 3), _run(Instruction("neutral", 0.0, {}), 4)
    assert not a[:, [0, 2]].any() and not b[:, [0, 2]].any()
    assert np.array_equal(a, _run(Instruction("neutral", 0.0, {}), 3))
    ratio = a[:, 1].max() / b[:, 1].max()
    np.testing.assert_allclose(a[:, 1], ratio * b[:, 1], atol=1e-7)
    assert not _run(Instruction("neutral", 0.0, {}), 3, []).any()


def test_the_emotion_sets_the_manner() -> None:
    sad = np.mean([np.degrees(_run(Instruction("sad", 1.0, {}), s))[:, 1].std() for s in range(8)])
    angry = np.mean([np.degrees(_run(Instruction("angry", 1.0, {}), s))[:, 1].std() for s in range(8)])
    assert sad < 0.6 * angry  # an angry speaker nods hard, a sad one barely
    down = np.mean([np.degrees(_run(Instruction("sad", 1.0, {}), s))[:, 1].mean() for s in range(8)])
    up = np.mean([np.degrees(_run(Instruction("surprised", 1.0, {}), s))[:, 1].mean() for s in range(8)])
    assert down > up + 3.0  # a sad head hangs, a surprised one lifts


def _speaking() -> np.ndarray:
    on = np.zeros(len(TIMES), bool)
    for a, b in ((0.5, 2.0), (2.6, 3.0), (3.6, 5.5)):  # three phrases after pauses of 0.5 s or more
        on[(TIMES >= a) & (TIMES < b)] = True
    return on


def test_drift_and_phrase_turns_are_drawn_per_take() -> None:
    def take(seed: int, speaking: np.ndarray) -> np.ndarray:
        head = np.zeros((len(TIMES), 3))
        add_head_drift(head, TIMES, seed, speaking, FPS)
        return head

    one, again, other = take(5, _speaking()), take(5, _speaking()), take(6, _speaking())
    assert np.array_equal(one, again) and np.abs(one - other).mean() > 0.2 * DEG
    deg = np.degrees(np.stack([take(s, _speaking()) for s in range(20)]))
    assert 0.5 < deg.std(axis=(0, 1)).mean() < 4.0 and np.abs(deg).max() < 15.0  # degrees heads move by
    assert np.abs(np.diff(deg, axis=1)).max() < 1.5  # degrees per frame: eased, no jumps
    # a phrase start turns the head: over the second after each start the pose moves more than in mid-phrase
    quiet = np.stack([take(s, np.zeros(len(TIMES), bool)) for s in range(20)])
    talking = np.stack([take(s, _speaking()) for s in range(20)])
    assert np.abs(talking - quiet)[:, TIMES > 3.6, :].mean() > 0.5 * DEG


def test_speaking_frames_from_the_level() -> None:
    level = np.full(len(TIMES), -60.0)
    level[_speaking()] = -20.0
    level[(TIMES > 1.0) & (TIMES < 1.05)] = -60.0  # a stop closure inside a word is bridged
    found = speaking_frames(level, FPS)
    np.testing.assert_array_equal(found, _speaking())
    assert not speaking_frames(np.full(50, -40.0), FPS).any() and speaking_frames(np.zeros(0), FPS).size == 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_test_corpus(tmp_path_factory, "headcorpus", 0.01, 7, shard_seconds=30.0)


def test_corpus_stores_head_rotations(corpus: Path) -> None:
    c = Corpus(corpus)
    assert c.has_head and c.manifest["head_channels"] == list(HEAD_ROTATIONS)
    for clip in c.clips(limit=4):
        assert clip.head is not None and clip.head.shape == (len(clip.targets), 3)
        assert 0.0 < np.degrees(clip.head).std() < 10.0
        assert "head_expressiveness" in clip.meta["variation"]


torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def head_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from avi_talking.core.stage2.config import Stage2Config
    from avi_talking.core.stage2.train import Trainer, TrainOptions

    cfg = Stage2Config(channels=32, encoder_dilations=(1, 2), decoder_dilations=(1,), style_dim=8, instr_dim=16,
                       style_channels=16, prior_hidden=32, prior_layers=1, diffusion_steps=100, ddim_steps=5,
                       head_channels=3)
    out = tmp_path_factory.mktemp("headrun") / "run"
    Trainer(TrainOptions(corpus=corpus, out=out, epochs=12, prior_steps=20, config=cfg, val_clips=2,
                         log_every=1, threads=2)).run()
    return out


def test_training_learns_head_channels_and_both_runtimes_agree(head_run: Path, spoken: SpokenClip) -> None:
    from avi_talking.core.audio.loader import load_audio
    from avi_talking.core.stage2.synth import Stage2Model

    card = json.loads((head_run / "model_card.json").read_text())
    assert card["channels"] == list(FACE_AND_HEAD) and card["config"]["head_channels"] == 3
    log = [json.loads(line) for line in (head_run / "train_log.jsonl").read_text().splitlines()]
    heads = [r["head"] for r in log if "head" in r and "epoch_summary" not in r]
    assert len(heads) >= 12 and np.mean(heads[-3:]) < np.mean(heads[:3])  # the head loss went down (lr warming up)
    audio = load_audio(spoken.path)
    takes = {}
    for runtime in ("numpy", "torch"):
        model = Stage2Model.load(head_run, runtime=runtime)
        prepared = model.prepare(audio, 30.0)
        anim = model.animate(prepared, None, seed=1)
        assert anim.channels == FACE_AND_HEAD
        takes[runtime] = anim.values
        assert np.abs(anim.values[:, 52:]).max() <= 0.35 + 0.3  # HEAD_SCALE radians at most, and the drawn drift
        double = model.animate(prepared, None, seed=1, head=2.0).values
        np.testing.assert_allclose(double[:, 52:], 2 * anim.values[:, 52:], atol=1e-6)
        np.testing.assert_array_equal(double[:, :52], anim.values[:, :52])  # the face is untouched
        none = model.animate(prepared, None, seed=1, head=0.0)
        assert none.channels == ARKIT52
    np.testing.assert_allclose(takes["numpy"], takes["torch"], atol=2e-5)


def test_head_channels_config_is_checked() -> None:
    from avi_talking.core.stage2.config import Stage2Config

    with pytest.raises(FormatError):
        Stage2Config.from_dict({"head_channels": 2})
    assert Stage2Config.from_dict({"head_channels": 3}).head_channels == 3
    assert dataclasses.replace(Stage2Config(), head_channels=0) == Stage2Config()  # old cards load unchanged


def test_nods_fall_on_loud_syllables_and_the_seed_picks_them() -> None:
    speaking = _speaking()
    level = np.where(speaking, -30.0, -70.0)
    loud = [1.0, 1.6, 4.2, 5.0]  # syllables 8 dB over the speech level
    for t in loud:
        level[np.abs(TIMES - t) < 0.05] = -22.0

    def take(seed: int) -> np.ndarray:
        head = np.zeros((len(TIMES), 3))
        add_nods(head, level, speaking, TIMES, FPS, seed)
        return head

    takes = np.stack([take(s) for s in range(30)])
    assert not takes[:, :, [0, 2]].any() and takes.min() >= 0.0  # chin down only
    assert np.array_equal(takes[0], take(0)) and not np.array_equal(takes[0], takes[1])
    mean = np.degrees(takes[:, :, 1].mean(axis=0))
    for t in loud:  # a nod just before each loud syllable, in most takes
        near = np.abs(TIMES - (t - 0.03)) < 0.05
        assert mean[near].max() > 0.8
    assert mean[np.abs(TIMES - 3.0) < 0.3].max() < 0.05  # none on the flat syllables between
    assert np.degrees(takes).max() <= 3.0 + 1e-9
    flat = np.zeros((len(TIMES), 3))
    add_nods(flat, np.where(speaking, -30.0, -70.0), speaking, TIMES, FPS, 0)
    assert not flat.any()  # an even level has no loud syllables
