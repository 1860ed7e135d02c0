"""Head motion: the corpus's head-rotation targets (nods on loud vowels, the emotion's manner), their
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
from avi_talking.core.corpus.dataset import Corpus
from avi_talking.core.corpus.head_motion import head_motion
from avi_talking.core.instructions import Instruction
from avi_talking.core.phonemes import SILENCE, Phone

from conftest import SpokenClip, build_test_corpus

FPS = 30.0


def _phones() -> tuple[list[Phone], np.ndarray, np.ndarray]:
    """Two phrases of alternating consonant-vowel syllables; every third vowel is loud."""
    phones = [Phone(SILENCE, 0.0, 0.4)]
    t = 0.4
    loud: list[float] = []
    for _phrase in range(2):
        for k in range(12):
            phones.append(Phone("T", t, t + 0.07))
            phones.append(Phone("AA", t + 0.07, t + 0.22))
            if k % 3 == 0:
                loud.append(t + 0.145)
            t += 0.22
        phones.append(Phone(SILENCE, t, t + 0.6))
        t += 0.6
    times = np.arange(int(t * FPS)) / FPS
    loudness = np.full(len(times), 0.3)
    for c in loud:
        loudness[np.abs(times - c) < 0.06] = 1.0
    return phones, times, loudness


def _run(instr: Instruction, seed: int) -> np.ndarray:
    phones, times, loudness = _phones()
    head, _ = head_motion(phones, times, loudness, np.ones((1, len(times))), [instr], FPS,
                          np.random.default_rng(seed))
    return head


def test_nods_follow_loud_vowels() -> None:
    phones, times, loudness = _phones()
    loud_frames = loudness > 0.9
    gains = []
    for seed in range(12):
        pitch = _run(Instruction("neutral", 0.0, {}), seed)[:, 1]
        detrended = pitch - np.convolve(pitch, np.ones(31) / 31, mode="same")
        gains.append(detrended[loud_frames].mean() - detrended[~loud_frames].mean())
    assert np.mean(gains) > 0.3 * np.pi / 180  # chin down at the loud vowels by a fraction of a degree or more


def test_units_manner_and_determinism() -> None:
    neutral = _run(Instruction("neutral", 0.0, {}), 3)
    assert np.array_equal(neutral, _run(Instruction("neutral", 0.0, {}), 3))
    assert not np.array_equal(neutral, _run(Instruction("neutral", 0.0, {}), 4))
    deg = np.degrees(neutral)
    assert 0.2 < deg.std(0).mean() < 6.0 and np.abs(deg).max() < 20.0  # radians, of the size heads move
    sad = np.mean([np.degrees(_run(Instruction("sad", 1.0, {}), s)).std(0).mean() for s in range(8)])
    happy = np.mean([np.degrees(_run(Instruction("happy", 1.0, {}), s)).std(0).mean() for s in range(8)])
    assert sad < happy
    down = np.mean([np.degrees(_run(Instruction("sad", 1.0, {}), s))[:, 1].mean() for s in range(8)])
    up = np.mean([np.degrees(_run(Instruction("surprised", 1.0, {}), s))[:, 1].mean() for s in range(8)])
    assert down > up + 3.0  # a sad head hangs, a surprised one lifts


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
    Trainer(TrainOptions(corpus=corpus, out=out, epochs=3, prior_steps=20, config=cfg, val_clips=2,
                         log_every=1, threads=2)).run()
    return out


def test_training_learns_head_channels_and_both_runtimes_agree(head_run: Path, spoken: SpokenClip) -> None:
    from avi_talking.core.audio.loader import load_audio
    from avi_talking.core.stage2.synth import Stage2Model

    card = json.loads((head_run / "model_card.json").read_text())
    assert card["channels"] == list(FACE_AND_HEAD) and card["config"]["head_channels"] == 3
    log = [json.loads(line) for line in (head_run / "train_log.jsonl").read_text().splitlines()]
    heads = [r["head"] for r in log if "head" in r and "epoch_summary" not in r]
    assert heads and heads[-1] < heads[0]  # the head loss went down
    audio = load_audio(spoken.path)
    takes = {}
    for runtime in ("numpy", "torch"):
        model = Stage2Model.load(head_run, runtime=runtime)
        prepared = model.prepare(audio, 30.0)
        anim = model.animate(prepared, None, seed=1)
        assert anim.channels == FACE_AND_HEAD
        takes[runtime] = anim.values
        assert np.abs(anim.values[:, 52:]).max() <= 0.35 + 1e-6  # HEAD_SCALE radians at most
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
