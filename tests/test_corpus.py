"""The synthetic corpus: build, storage, determinism, split rule, true phone times, targets, augmentation."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from avi_talking.core.animation import n_frames_for
from avi_talking.core.arkit import INDEX
from avi_talking.core.audio.loader import from_samples
from avi_talking.core.corpus import augment
from avi_talking.core.corpus.build import build_corpus
from avi_talking.core.corpus.dataset import Corpus
from avi_talking.core.corpus.plan import plan_corpus
from avi_talking.core.corpus.sentences import phone_histogram
from avi_talking.core.corpus.targets import make_targets
from avi_talking.core.corpus.voices import SPLIT_VARIANTS
from avi_talking.core.instructions import Instruction, to_text
from avi_talking.core.lipsync.phone_timing import PhoneWarning, align_phones
from avi_talking.core.phonemes import ARPABET, BILABIALS, SILENCE, VOWELS
from avi_talking.core.rigs.builtin_head.measure import lip_gap_mm

from conftest import match_labels, phones_from, run_cli

HOURS, SEED = 0.02, 5


@pytest.fixture(scope="module")
def espeak_ok() -> None:
    from avi_talking.core.tts import espeak

    if not espeak.available():
        pytest.skip("espeak-ng is not installed (the set-up script installs it)")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, espeak_ok: None) -> tuple[Path, str]:
    """A tiny corpus built the way a user builds one: the CLI, two worker processes, small shards."""
    out = tmp_path_factory.mktemp("corpus") / "tiny"
    proc = run_cli("corpus", "build", "--hours", str(HOURS), "--out", str(out), "--seed", str(SEED),
                   "--workers", "2", "--shard-minutes", "0.4")
    assert proc.returncode == 0, proc.stderr
    return out, proc.stderr


def test_tiny_corpus_builds_with_summary(tiny: tuple[Path, str]) -> None:
    out, log = tiny
    assert "audio hours per wall hour" in log and "phones (the engines' true times" in log
    for phone in ("AA", "ZH", "TH"):
        assert f"{phone:>2} " in log  # the histogram lists every phone
    corpus = Corpus(out)
    manifest = corpus.manifest
    assert manifest["seed"] == SEED and manifest["fps"] == 30.0
    assert {c["split"] for c in manifest["clips"]} == {"train", "val", "test"}
    total = sum(c["duration"] for c in manifest["clips"])
    assert 0.6 * HOURS * 3600 < total < 1.6 * HOURS * 3600
    assert corpus.verify() == []
    assert sorted(p.name for p in out.iterdir()) == sorted([s["name"] for s in manifest["shards"]] + ["manifest.json"])
    for shard in manifest["shards"]:
        assert shard["name"].startswith(shard["split"]) and len(shard["sha256"]) == 64
    entry = manifest["clips"][0]
    for key in ("id", "split", "voice", "variant", "emotion", "intensity", "segments", "duration", "frames", "shard",
                "augmentation", "text"):
        assert key in entry, key
    for seg in entry["segments"]:
        assert {"start", "end", "text", "emotion", "intensity", "aus", "prosody"} <= set(seg)


def test_reader_gives_consistent_clips(tiny: tuple[Path, str]) -> None:
    corpus = Corpus(tiny[0])
    clips = list(corpus.clips())
    assert sorted(c.id for c in clips) == sorted(c["id"] for c in corpus.manifest["clips"])
    for clip in clips:
        assert clip.sr == 16000 and clip.audio.dtype == np.float32
        assert abs(clip.duration - clip.meta["duration"]) < 1e-6
        assert clip.targets.shape == (n_frames_for(clip.duration, clip.fps), 52)
        assert clip.targets.min() >= 0.0 and clip.targets.max() <= 1.0
        assert clip.phones[0].start == 0.0 and abs(clip.phones[-1].end - clip.duration) < 1e-3
        pairs = zip(clip.phones, clip.phones[1:], strict=False)
        assert all(abs(a.end - b.start) < 1e-4 and a.end > a.start for a, b in pairs)
        assert clip.segments[0].start == 0.0 and abs(clip.segments[-1].end - clip.duration) < 1e-3
        for seg in clip.segments:
            assert seg.text == to_text(seg.instruction)
        assert np.max(np.abs(clip.audio)) > 0.003  # speech survived augmentation
    test_only = list(corpus.clips("test"))
    assert test_only and all(c.split == "test" for c in test_only)


def test_same_seed_same_bytes_whatever_the_worker_count(tiny: tuple[Path, str], tmp_path: Path) -> None:
    out = tmp_path / "again"
    build_corpus(out, HOURS, SEED, workers=1, shard_seconds=60.0 * 0.4)
    assert (out / "manifest.json").read_bytes() == (tiny[0] / "manifest.json").read_bytes()
    other = tmp_path / "other"
    build_corpus(other, HOURS, SEED + 1, workers=1, shard_seconds=60.0 * 0.4)
    a = {s["name"]: s["sha256"] for s in Corpus(out).manifest["shards"]}
    b = {s["name"]: s["sha256"] for s in Corpus(other).manifest["shards"]}
    assert set(a.values()).isdisjoint(b.values())


def test_split_rule_keeps_test_texts_and_voices_out_of_training(espeak_ok: None) -> None:
    plans = plan_corpus(3.0, 11)  # planning only: as many clips as a 3-hour corpus
    sentences: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    variants: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    for plan in plans:
        for seg in plan.segments:
            sentences[plan.split].update(seg.sentences)
        variants[plan.split].add(plan.voice)  # engine and voice: the speaker
    assert sentences["test"] and sentences["train"]
    assert sentences["test"].isdisjoint(sentences["train"]) and sentences["val"].isdisjoint(sentences["train"])
    assert variants["test"].isdisjoint(variants["train"]) and variants["val"].isdisjoint(variants["train"])
    assert {v.split("+")[-1] for v in variants["test"] if ":" not in v} <= set(SPLIT_VARIANTS["test"])
    engines = {s: {v.split(":")[0] for v in variants[s] if ":" in v} for s in variants}
    assert engines["train"] == {"piper", "flite", "festival"}  # every engine speaks in training
    # the speakers the engines share between splits: flite's and festival's kal are both in val only
    speakers = {s: {v.split(":")[-1].removesuffix("16").removesuffix("_hts") for v in variants[s] if ":" in v}
                for s in variants}
    assert speakers["train"].isdisjoint(speakers["val"] | speakers["test"])
    shares = {s: sum(p.split == s for p in plans) / len(plans) for s in sentences}
    assert 0.7 < shares["train"] < 0.9 and 0.05 < shares["test"] < 0.15
    histogram = phone_histogram(" ".join(seg.sentences) for p in plans for seg in p.segments)
    assert all(histogram[p] > 0 for p in ARPABET)  # every ARPAbet phone is in the texts
    assert sum(len(p.segments) == 2 for p in plans) > 0.2 * len(plans)
    emotions = {seg.instruction.emotion for p in plans for seg in p.segments}
    assert len(emotions) == 8


def test_true_phone_times_agree_with_forced_alignment(tiny: tuple[Path, str]) -> None:
    """pocketsphinx forced alignment of each clip's (augmented) audio against the stored phone times."""
    errors: list[float] = []
    aligned = 0
    clips = list(Corpus(tiny[0]).clips())
    for clip in clips:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PhoneWarning)
            warnings.filterwarnings("ignore", message=".*clips.*")
            try:
                got = align_phones(from_samples(clip.audio, clip.sr), clip.text)
            except PhoneWarning:  # the aligner gave up on this clip (it falls back to recognition)
                continue
        truth = [p for p in clip.phones if p.label != SILENCE]
        found = [p for p in got if p.label != SILENCE]
        pairs = match_labels([p.label for p in truth], [p.label for p in found])
        assert len(pairs) >= 0.6 * len(truth), clip.id
        errors.extend(found[j].start - truth[i].start for i, j in pairs)
        aligned += 1
    assert aligned >= len(clips) // 2
    assert np.median(np.abs(errors)) < 0.05


def test_bilabials_seal_the_lips_over_any_expression() -> None:
    """The composition rule: AU25/26 lips-apart yield to p/b/m; vowels stay open; in pauses the mouth rests
    closed whatever the AUs say (parted lips and a dropped jaw are speech-driven), the brows keep theirs."""
    phones = phones_from([(SILENCE, 0.4), ("AA", 0.15), ("M", 0.07), ("AA", 0.15), ("P", 0.06), ("IY", 0.12),
                      ("B", 0.06), ("AO", 0.15), (SILENCE, 0.5)])
    sr = 16000
    t = np.arange(int(phones[-1].end * sr)) / sr
    speech = np.where((t > 0.4) & (t < phones[-2].end), 0.3 * np.sin(2 * np.pi * 150 * t), 0.0)
    open_mouth = Instruction("surprised", 1.0, {"AU25": 1.0, "AU26": 1.0, "AU10": 0.8, "AU1": 0.8})
    targets = make_targets(speech.astype(np.float32), phones, [(0.0, phones[-1].end)], [open_mouth], 30.0,
                           np.random.default_rng(0)).values
    gap = lip_gap_mm(targets)
    times = np.arange(len(gap)) / 30.0
    for ph in phones:
        near = np.abs(times - ph.centre) <= max(0.5 / 30, ph.duration / 2) + 1e-9
        if ph.label in BILABIALS:
            assert gap[near].min() < 1.0, ph
        elif ph.label in VOWELS:
            assert gap[near].max() > 5.0, ph
    pause = times > phones[-1].start + 0.15
    assert gap[pause].max() < 1.0  # an open-mouthed instruction still closes the lips between phrases
    assert targets[pause, INDEX["browInnerUp"]].mean() > 0.5  # while the rest of the expression holds
    assert targets[:, INDEX["browInnerUp"]].mean() > 0.5
    neutral = make_targets(speech.astype(np.float32), phones, [(0.0, phones[-1].end)], [Instruction()], 30.0,
                           np.random.default_rng(0)).values
    assert lip_gap_mm(neutral)[pause].max() < 0.5  # a neutral face rests with closed lips


def _clean_speech() -> np.ndarray:
    import soxr

    from avi_talking.core.tts import espeak

    speech = espeak.synthesize("Maybe the baby wants more milk, said Bob.", voice="en-us+m3")
    return np.asarray(soxr.resample(speech.samples, speech.sr, 16000), np.float64)


def test_augmentation_keeps_time_and_reaches_the_snr(espeak_ok: None) -> None:
    clean = _clean_speech()
    rng = np.random.default_rng(3)
    noisy = augment.apply(clean, {"level_dbfs": -20.0, "noise": {"type": "white", "snr_db": 10.0}}, rng)
    assert noisy.dtype == np.int16 and len(noisy) == len(clean)
    y = noisy.astype(np.float64) / 32768
    k = float(y @ clean / (clean @ clean))  # the speech part, by least squares
    noise = y - k * clean
    snr = 10 * np.log10(augment.speech_power(k * clean) / np.mean(noise**2))
    assert abs(snr - 10.0) < 1.0
    assert abs(20 * np.log10(np.sqrt(augment.speech_power(y))) - (-20.0)) < 0.5
    for params in ({"reverb": {"rt60": 0.6, "drr_db": 3.0}}, {"telephone": True}, {"resample": 8000}):
        out = augment.apply(clean, {"level_dbfs": -20.0, **params}, np.random.default_rng(1)).astype(np.float64)
        lags = np.arange(-200, 201)
        xc = [float(out[max(0, l):len(out) + min(0, l)] @ clean[max(0, -l):len(clean) - max(0, l)]) for l in lags]
        assert lags[int(np.argmax(xc))] == 0, params  # the speech is not moved in time
    phone_band = np.abs(np.fft.rfft(augment.telephone(clean)))
    f = np.fft.rfftfreq(len(clean), 1 / 16000)
    assert phone_band[f > 4500].sum() < 0.01 * phone_band[(f > 300) & (f < 3400)].sum()


def test_bad_input_gives_one_line_and_no_output(tmp_path: Path, espeak_ok: None) -> None:
    out = tmp_path / "nope"
    proc = run_cli("corpus", "build", "--hours", "0", "--out", str(out))
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and proc.stderr.count("\n") == 1
    assert not out.exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    proc = run_cli("corpus", "build", "--hours", "0.01", "--out", str(busy))
    assert proc.returncode == 2 and "not an empty folder" in proc.stderr
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    proc = run_cli("corpus", "info", str(tmp_path))
    assert proc.returncode == 2 and "not a corpus" in proc.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_verify_notices_a_changed_shard(tiny: tuple[Path, str], tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny[0], copy)
    assert run_cli("corpus", "verify", str(copy)).returncode == 0
    shard = next(copy.glob("test-*.npz"))
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF
    shard.write_bytes(bytes(data))
    proc = run_cli("corpus", "verify", str(copy))
    assert proc.returncode == 2 and shard.name in proc.stderr
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["format"] == "avi-talking-corpus"


def test_a_worker_that_dies_stops_the_build_with_one_clear_error() -> None:
    import ctypes

    from avi_talking.core.common.errors import AviTalkError
    from avi_talking.core.common.progress import null_progress
    from avi_talking.core.corpus.build import _run

    # ctypes.string_at(0) reads address 0: the worker process dies of SIGSEGV, as when a speech engine's C library
    # crashes; the build used to wait for that shard for ever
    with pytest.raises(AviTalkError, match="worker process died"):
        _run([0, 0, 0], 2, null_progress, 3, work=ctypes.string_at)  # type: ignore[list-item, arg-type]


def test_espeak_speaks_a_call_that_kills_its_library(espeak_ok: None) -> None:
    """espeak-ng 1.51 dies on this call (en-us+rob, low and wide); the wrapper tries wide calls in a forked copy
    and speaks it with a narrower range, so the corpus build (and this test process) lives on."""
    from avi_talking.core.tts import espeak

    text = "George will deliver it honestly."
    speech = espeak.synthesize(text, voice="en-us+rob", rate=130, pitch=16, pitch_range=99, volume=128, word_gap=2)
    assert speech.duration > 1.0 and [p.label for p in speech.phones if p.label != SILENCE][:3] == ["JH", "AO", "R"]


def test_probing_a_wide_call_leaves_the_speech_as_it_was(espeak_ok: None) -> None:
    """espeak-ng carries state from one utterance to the next; the forked try must not touch the parent's, or a
    corpus would no longer be the same bytes for the same seed. Two fresh processes speak the same two utterances,
    one through ``synthesize`` (the wide one probed first), one straight through the library."""
    import hashlib
    import subprocess
    import sys

    code = """
import hashlib, sys
from avi_talking.core.tts import espeak
args = dict(rate=150, pitch=30, volume=100, word_gap=0, ssml=False)
h = hashlib.sha256()
for text, rng in (("Could you bring the map before Monday?", 95), ("My brother plays the piano.", 60)):
    if sys.argv[1] == "probed":
        s = espeak.synthesize(text, voice="en-us+m3", pitch_range=rng, **args)
    else:
        p = {"rate": 150, "pitch": 30, "range": rng, "volume": 100, "wordgap": 0}
        s = espeak._get().speak(text, "en-us+m3", p, False)
    h.update(s.samples.tobytes())
print(h.hexdigest())
"""
    digests = [subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, check=True).stdout
               for mode in ("probed", "direct")]
    assert digests[0] == digests[1] and len(digests[0].strip()) == len(hashlib.sha256().hexdigest())
