"""Stage 2: the network's shapes and gradients, real training steps on a tiny corpus, checkpoints and
resume, save → load, seeds, chunked inference, weights validation, and the command line."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from avi_talking.core.arkit import ARKIT52, INDEX  # noqa: E402
from avi_talking.core.audio.loader import load_audio  # noqa: E402
from avi_talking.core.common.errors import AviTalkError, FormatError  # noqa: E402
from avi_talking.core.common.fileio import sha256_file  # noqa: E402
from avi_talking.core.corpus.dataset import Corpus  # noqa: E402
from avi_talking.core.instructions import Instruction, Segment, track_to_dict  # noqa: E402
from avi_talking.core.metrics.scores import bilabial_closure  # noqa: E402
from avi_talking.core.pipeline.instruction_choice import LOW_CONFIDENCE  # noqa: E402
from avi_talking.core.stage2 import checkpoint, weights  # noqa: E402
from avi_talking.core.stage2.conditioning import frame_weights, instruction_matrix  # noqa: E402
from avi_talking.core.stage2.config import Stage2Config  # noqa: E402
from avi_talking.core.stage2.data import held_out_sentences, load_split, sentences  # noqa: E402
from avi_talking.core.stage2.diffusion import Prior  # noqa: E402
from avi_talking.core.stage2.losses import lip_gap_mm  # noqa: E402
from avi_talking.core.stage2.net import Stage2Net  # noqa: E402
from avi_talking.core.stage2.synth import Stage2Model  # noqa: E402
from avi_talking.core.stage2.train import (  # noqa: E402
    Trainer,
    TrainOptions,
    collate,
    forward_losses,
    total,
    tuned_rows,
)

from conftest import SpokenClip, build_test_corpus, run_cli  # noqa: E402

TINY = Stage2Config(channels=32, encoder_dilations=(1, 2), decoder_dilations=(1,), style_dim=8, instr_dim=16,
                    style_channels=16, prior_hidden=32, prior_layers=1, diffusion_steps=100, ddim_steps=5)
HAPPY = Instruction("happy", 0.8, {"AU6": 0.6, "AU12": 0.8})
ANGRY = Instruction("angry", 0.8, {"AU4": 0.8, "AU7": 0.6, "AU24": 0.6})
SHIPPED = weights.default_weights()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_test_corpus(tmp_path_factory, "s2corpus", 0.012, 3, shard_seconds=30.0)


@pytest.fixture(scope="module")
def tiny_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained end to end (both phases) on the tiny corpus."""
    out = tmp_path_factory.mktemp("s2run") / "run"
    Trainer(TrainOptions(corpus=corpus, out=out, epochs=2, prior_steps=30, config=TINY, val_clips=2,
                         checkpoint_every=2, log_every=1, threads=2)).run()
    return out


@pytest.fixture(scope="module")
def shipped() -> Stage2Model:
    if not (SHIPPED / weights.CARD_NAME).is_file():
        pytest.fail("the default stage-2 weights are missing from weights/stage2")
    return Stage2Model.load()


def _batch(cfg: Stage2Config, frames: int = 37) -> tuple[Stage2Net, object]:
    from avi_talking.core.stage2.data import ClipData

    rng = np.random.default_rng(0)
    clips = []
    for n, segs in ((frames, [Segment(0, 0.6, HAPPY), Segment(0.6, 2.0, ANGRY)]), (frames - 9, [Segment(0, 1, HAPPY)])):
        clips.append(ClipData("x", rng.normal(size=(n * cfg.mel_rate, cfg.n_mels)).astype(np.float16),
                              rng.uniform(0, 0.3, (n, 52)).astype(np.float16),
                              [0.6] if len(segs) > 1 else [], instruction_matrix(segs)))
    return Stage2Net(cfg), collate(clips, cfg, torch.device("cpu"))


def test_shapes_and_backward_on_tiny_inputs() -> None:
    torch.manual_seed(0)
    net, batch = _batch(TINY)
    terms, pred = forward_losses(net, batch, 0.1)
    assert pred.shape == (2, 37, 52)
    assert float(pred.detach().min()) >= 0.0 and float(pred.detach().max()) <= 1.0
    assert bool((pred[..., INDEX["mouthClose"]] <= pred[..., INDEX["jawOpen"]] + 1e-7).all())
    loss = total(terms)
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert sum(float(p.grad.abs().sum()) for p in net.audio.parameters()) > 0
    assert sum(float(p.grad.abs().sum()) for p in net.style.parameters()) > 0
    prior = Prior(TINY)
    z = torch.randn(6, TINY.style_dim)
    e = torch.randn(6, TINY.instr_dim)
    prior.loss(z, e, torch.Generator().manual_seed(0)).backward()
    assert all(p.grad is not None for p in prior.parameters())
    sample = prior.sample(e, torch.randn(6, TINY.style_dim))
    assert sample.shape == (6, TINY.style_dim) and torch.isfinite(sample).all()


def test_frame_alignment_and_gap_proxy() -> None:
    # frame t of the encoder output is centred on mel frame k·t: an impulse there moves frame t most
    cfg = TINY
    net = Stage2Net(cfg).eval()
    mel = torch.zeros(1, 20 * cfg.mel_rate, cfg.n_mels)
    base = net.audio.down(torch.nn.functional.gelu(net.audio.inp(mel.transpose(1, 2))))
    mel[0, 10 * cfg.mel_rate] = 3.0
    hit = net.audio.down(torch.nn.functional.gelu(net.audio.inp(mel.transpose(1, 2))))
    change = (hit - base).abs().sum(1)[0]
    assert int(change.argmax()) == 10 and float(change[8]) == 0.0 and float(change[12]) == 0.0
    # the differentiable lip gap equals the evaluation's
    from avi_talking.core.rigs.builtin_head.measure import lip_gap_mm as exact

    values = np.random.default_rng(1).uniform(0, 0.6, (50, 52))
    assert np.allclose(lip_gap_mm(torch.tensor(values, dtype=torch.float32)).numpy(), exact(values), atol=1e-3)


def test_segment_weights_cross_fade() -> None:
    w = frame_weights([2.0], 120, 30.0, 0.25)
    assert w.shape == (2, 120) and np.allclose(w.sum(0), 1.0)
    assert w[0, 30] == 1.0 and w[1, 90] == 1.0 and abs(w[0, 60] - 0.5) < 1e-6
    assert np.abs(np.diff(w[0])).max() <= 1.0 / 15 + 1e-6  # 0.5 s linear fade = 15 frames


def test_a_few_training_steps_lower_the_loss(corpus: Path) -> None:
    torch.manual_seed(0)
    clips = load_split(Corpus(corpus), "train", TINY, limit=6)
    net = Stage2Net(TINY)
    batch = collate(clips, TINY, torch.device("cpu"))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    with torch.no_grad():
        before = float(total(forward_losses(net, batch, 0.0)[0]))
    for _ in range(40):
        loss = total(forward_losses(net, batch, 0.1)[0])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(total(forward_losses(net, batch, 0.0)[0]))
    assert after < 0.7 * before, (before, after)


def test_training_run_writes_a_loadable_model_and_log(tiny_run: Path) -> None:
    card = json.loads((tiny_run / weights.CARD_NAME).read_text())
    assert card["architecture"] == "avi-talking-stage2" and card["channels"] == list(ARKIT52)
    assert card["config"]["channels"] == TINY.channels and card["training"]["epochs"] == 2
    assert card["training"]["mel_jitter"] == 0
    log = [json.loads(line) for line in (tiny_run / "train_log.jsonl").read_text().splitlines()]
    assert any("epoch_summary" in r for r in log) and any("prior_loss" in r for r in log)
    summary = [r["epoch_summary"] for r in log if "epoch_summary" in r][-1]
    # validation reports both sides of the closure trade: bilabials shut, and lips shut where the target's are apart
    assert 0.0 <= summary["val_closure"] <= 1.0 and 0.0 <= summary["val_false_closure"] <= 1.0
    assert summary["val_opening"] >= 0.0 and "opening" in summary
    model = Stage2Model.load(tiny_run)
    assert model.cfg == TINY


def test_mel_jitter_shifts_the_audio_against_the_targets(corpus: Path) -> None:
    clips = load_split(Corpus(corpus), "train", TINY, limit=2)
    plain = collate(clips, TINY, torch.device("cpu"))
    moved = collate(clips, TINY, torch.device("cpu"), [2, -1])
    a, b = clips[0].frames * TINY.mel_rate, clips[1].frames * TINY.mel_rate
    assert torch.equal(moved.mel[0, 2:a], plain.mel[0, : a - 2])  # delayed by two mel frames ...
    assert torch.equal(moved.mel[0, 0], plain.mel[0, 0]) and torch.equal(moved.mel[0, 1], plain.mel[0, 0])  # ... held
    assert torch.equal(moved.mel[1, : b - 1], plain.mel[1, 1:b])  # advanced by one, the last frame held
    assert torch.equal(moved.mel[1, b - 1], plain.mel[1, b - 1])
    assert torch.equal(moved.targets, plain.targets) and not torch.equal(moved.mel, plain.mel)
    assert torch.equal(collate(clips, TINY, torch.device("cpu"), [0, 0]).mel, plain.mel)


def test_resume_continues_bit_for_bit(corpus: Path, tmp_path: Path) -> None:
    def opts(out: Path) -> TrainOptions:  # with mel jitter: a resumed run draws the same shifts
        return TrainOptions(corpus=corpus, out=out, epochs=2, prior_steps=12, config=TINY, val_clips=0,
                            checkpoint_every=1, log_every=1, threads=2, max_clips=6, frames_per_batch=800,
                            mel_jitter=2)

    Trainer(opts(tmp_path / "straight")).run()

    class Stop(Exception):
        pass

    calls = []

    def interrupt(stage: str, fraction: float) -> None:
        calls.append(stage)
        if stage.startswith("stage2 epoch 2") and sum(c.startswith("stage2 epoch 2") for c in calls) == 1:
            raise Stop  # killed after the first step of epoch 2

    with pytest.raises(Stop):
        Trainer(opts(tmp_path / "broken"), progress=interrupt).run()
    resumed = dataclasses.replace(opts(tmp_path / "broken"), resume=True)
    Trainer(resumed).run()
    a = checkpoint.read_tensors(tmp_path / "straight" / weights.WEIGHTS_NAME)
    b = checkpoint.read_tensors(tmp_path / "broken" / weights.WEIGHTS_NAME)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_save_load_gives_identical_output(tiny_run: Path, spoken: SpokenClip, tmp_path: Path) -> None:
    model = Stage2Model.load(tiny_run)
    audio = load_audio(spoken.path)
    segs = [Segment(0.0, audio.duration, HAPPY)]
    first = model.animate(model.prepare(audio, 30.0), segs, 4).values
    weights.write(tmp_path / "copy", model.backend.net, model.backend.prior, {})
    again = Stage2Model.load(tmp_path / "copy")
    second = again.animate(again.prepare(audio, 30.0), segs, 4).values
    assert np.array_equal(first, second)


def test_chunked_inference_matches_one_pass(tiny_run: Path, spoken: SpokenClip) -> None:
    model = Stage2Model.load(tiny_run)
    audio = load_audio(spoken.path)
    segs = [Segment(0.0, 2.0, HAPPY), Segment(2.0, audio.duration, ANGRY)]
    whole = model.animate(model.prepare(audio, 30.0), segs, 1).values
    model.cfg = dataclasses.replace(model.cfg, chunk_seconds=1.0, overlap_seconds=1.2)  # > receptive field
    chunked = model.animate(model.prepare(audio, 30.0), segs, 1).values
    assert np.allclose(whole, chunked, atol=1e-5)


def _mangle(src: Path, dst: Path, card_edit: object = None) -> Path:
    shutil.copytree(src, dst)
    card = json.loads((dst / weights.CARD_NAME).read_text())
    if callable(card_edit):
        card_edit(card)
    (dst / weights.CARD_NAME).write_text(json.dumps(card))
    return dst


def test_mismatched_weights_fail_clearly(tiny_run: Path, tmp_path: Path) -> None:
    cases = {
        "config": (lambda c: c["config"].update(channels=48), "tensor list does not match"),
        "channels": (lambda c: c.update(channels=list(reversed(c["channels"]))), "52 ARKit channels"),
        "fps": (lambda c: c.update(fps=25.0), "fps"),
        "arch": (lambda c: c.update(architecture="other-net"), "not avi-talking-stage2"),
        "key": (lambda c: c["config"].update(wings=2), "config has an unknown key 'wings'"),
    }
    for name, (edit, message) in cases.items():
        with pytest.raises(FormatError, match=message):
            Stage2Model.load(_mangle(tiny_run, tmp_path / name, edit))
    # tensors that differ from the card (card consistent with its config, file not): shape mismatch
    bad = _mangle(tiny_run, tmp_path / "tensors")
    tensors = checkpoint.read_tensors(bad / weights.WEIGHTS_NAME)
    tensors["net.decoder.out.weight"] = tensors["net.decoder.out.weight"][:40]
    checkpoint.save_tensors(bad / weights.WEIGHTS_NAME, tensors)
    card = json.loads((bad / weights.CARD_NAME).read_text())
    card["sha256"] = sha256_file(bad / weights.WEIGHTS_NAME)  # the hash fits: the shapes are what differ
    (bad / weights.CARD_NAME).write_text(json.dumps(card))
    with pytest.raises(FormatError, match="tensors do not match its card"):
        Stage2Model.load(bad)
    changed = _mangle(tiny_run, tmp_path / "sha")
    data = bytearray((changed / weights.WEIGHTS_NAME).read_bytes())
    data[-1] ^= 0xFF
    (changed / weights.WEIGHTS_NAME).write_bytes(bytes(data))
    with pytest.raises(FormatError, match="sha256"):
        Stage2Model.load(changed)
    with pytest.raises(FormatError, match="no stage-2 model card"):
        Stage2Model.load(tmp_path / "nowhere")


# ---- the shipped default weights -----------------------------------------------------------------------


def test_shipped_weights_are_small_and_described(shipped: Stage2Model) -> None:
    card = shipped.card
    assert (SHIPPED / weights.WEIGHTS_NAME).stat().st_size <= weights.MAX_BYTES
    assert card["training"]["command"].startswith("avitalk train stage2")
    assert card["corpus"]["seed"] is not None and card["metrics"], "the card carries its evaluation"


def test_seeds_pick_takes_and_keep_the_lips(shipped: Stage2Model, spoken: SpokenClip) -> None:
    audio = load_audio(spoken.path)
    prepared = shipped.prepare(audio, 30.0)
    segs = [Segment(0.0, audio.duration, HAPPY)]
    takes = [shipped.animate(prepared, segs, seed).values for seed in range(5)]
    assert np.array_equal(takes[0], shipped.animate(prepared, segs, 0).values)  # same seed, same take
    eyes = [INDEX[n] for n in ARKIT52 if n.startswith(("eyeBlink", "eyeLook"))]
    assert all(np.abs(takes[0][:, eyes] - t[:, eyes]).mean() > 1e-3 for t in takes[1:])  # different takes
    phones = spoken.speech.phones
    closures = [bilabial_closure(t[:, : len(ARKIT52)].astype(np.float64), phones, 30.0)[0] for t in takes]
    assert max(closures) - min(closures) <= 0.1, closures


def test_instructions_are_followed_and_blend_at_boundaries(shipped: Stage2Model, spoken: SpokenClip) -> None:
    audio = load_audio(spoken.path)
    prepared = shipped.prepare(audio, 30.0)
    neutral = shipped.animate(prepared, [Segment(0.0, audio.duration, Instruction())], 0).values
    happy = shipped.animate(prepared, [Segment(0.0, audio.duration, HAPPY)], 0).values
    smile = [INDEX["mouthSmileLeft"], INDEX["mouthSmileRight"]]
    assert happy[:, smile].mean() - neutral[:, smile].mean() > 0.4
    cut = 2.0
    mixed = shipped.animate(prepared, [Segment(0.0, cut, HAPPY), Segment(cut, audio.duration, ANGRY)], 0).values
    frame = int(cut * 30)
    brow = INDEX["browDownLeft"]
    assert mixed[: frame - 15, smile].mean() > mixed[frame + 15 :, smile].mean() + 0.3
    assert mixed[frame + 15 :, brow].mean() > mixed[: frame - 15, brow].mean() + 0.3
    # a fade, not a jump: across the ±0.25 s cross-fade the smile passes through intermediate values, and no
    # single frame carries much of the ~0.8 change (speech itself moves the smile by up to ~0.15 a frame)
    curve = mixed[frame - 12 : frame + 12, smile[0]]
    before, after = mixed[frame - 24 : frame - 12, smile[0]].mean(), mixed[frame + 12 : frame + 24, smile[0]].mean()
    between = (curve > after + 0.2 * (before - after)) & (curve < before - 0.2 * (before - after))
    assert between.sum() >= 3, curve
    # the outputs are cross-faded (each segment decoded under its own condition): the fade is near linear
    assert np.abs(np.diff(curve)).max() < 0.2 * (before - after)
    # ... and up to the fade the first segment's mouth is the happy take's own (a blended condition reached half a
    # decoder receptive field, 7 frames, further back)
    mouth = [INDEX[n] for n in ARKIT52 if n.startswith(("mouth", "jaw"))]
    clear = frame - int(round(0.25 * 30)) - 1
    assert np.allclose(mixed[:clear, mouth], happy[:clear, mouth], atol=1e-5)  # (summation order differs)


# ---- command line --------------------------------------------------------------------------------------


def test_cli_conditioning_is_recorded(spoken: SpokenClip, tmp_path: Path) -> None:
    text = "A happy person speaks with lip corners strongly pulled up."
    out = tmp_path / "a.npz"
    proc = run_cli("generate", str(spoken.path), "-o", str(out), "--text", text, "--seed", "2")
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(str(np.load(out)["meta"]))
    assert meta["model"] == "stage2" and meta["seed"] == 2 and meta["instructions"][0]["text"] == text
    track = tmp_path / "track.json"
    track.write_text(json.dumps(track_to_dict([Segment(0.0, 1.5, HAPPY), Segment(1.5, 9.0, ANGRY, "grr")])))
    out2 = tmp_path / "b.json"
    proc = run_cli("generate", str(spoken.path), "-o", str(out2), "--instructions", str(track))
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(out2.read_text())["meta"]
    assert [s["text"] for s in meta["instructions"]][1] == "grr" and meta["instruction_source"] == "track"
    bad = tmp_path / "c.npz"
    proc = run_cli("generate", str(spoken.path), "-o", str(bad), "--instructions", str(track), "--text", text)
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and not bad.exists()
    track.write_text('{"segments": [{"start": 2, "end": 1}]}')
    proc = run_cli("generate", str(spoken.path), "-o", str(bad), "--instructions", str(track))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and not bad.exists()


def test_cli_bad_weights_and_missing_torch(spoken: SpokenClip, tiny_run: Path, tmp_path: Path) -> None:
    broken = _mangle(tiny_run, tmp_path / "w", lambda c: c["config"].update(style_dim=9))
    out = tmp_path / "x.npz"
    proc = run_cli("generate", str(spoken.path), "-o", str(out), "--model", str(broken))
    assert proc.returncode == 2 and "tensor list does not match" in proc.stderr and not out.exists()
    assert len(proc.stderr.strip().splitlines()) == 1
    # without torch (Blender's own Python) stage 2 runs on the numpy runtime (tests/test_stage2_numpy.py)
    no_torch = ("import sys; sys.modules['torch'] = None\n"
                "from avi_talking.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", no_torch, "generate", str(spoken.path), "-o", str(out),
                           "--text", "A happy person speaks."], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(str(np.load(out)["meta"]))["runtime"] == "numpy"


def test_fine_tune_starts_from_given_weights_with_other_loss_weights(corpus: Path, tiny_run: Path,
                                                                     tmp_path: Path) -> None:
    """--init: phase 1 starts from the weights' network (after a few warm-up steps at a tiny learning rate the
    tuned network is still the given one, a fresh run's is not); --loss-weight overrides a term and the card
    records both."""
    def opts(out: Path, **extra: Any) -> TrainOptions:
        return TrainOptions(corpus=corpus, out=out, epochs=1, prior_steps=4, config=TINY, val_clips=0,
                            log_every=1, threads=2, max_clips=6, frames_per_batch=800, lr=1e-4, **extra)

    net, prior, card = weights.load(tiny_run)
    with torch.no_grad():  # a network far from what the seed initialises
        for param in net.parameters():
            param.add_(0.05 * torch.randn_like(param))
    start = weights.write(tmp_path / "start", net, prior, {})

    def distance(out: Path) -> float:
        a = checkpoint.read_tensors(out / weights.WEIGHTS_NAME)
        b = checkpoint.read_tensors(start / weights.WEIGHTS_NAME)
        return max(float((a[k] - b[k]).abs().max()) for k in a if k.startswith("net."))

    Trainer(opts(tmp_path / "fresh")).run()
    Trainer(opts(tmp_path / "tuned", init=start, loss_weights={"closure": 2.5}, closure="events")).run()
    assert distance(tmp_path / "tuned") < 1e-3 < 0.01 < distance(tmp_path / "fresh")
    card = json.loads((tmp_path / "tuned" / weights.CARD_NAME).read_text())
    assert card["training"]["loss_weights"]["closure"] == 2.5 and card["training"]["init"].startswith("sha256:")
    assert card["training"]["closure"] == "events"
    assert json.loads((tmp_path / "fresh" / weights.CARD_NAME).read_text())["training"]["closure"] == "frames"
    with pytest.raises(AviTalkError, match="closure term"):
        Trainer(opts(tmp_path / "bad", closure="windows"))
    for bad in ({"closeness": 1.0}, {"closure": -1.0}, {"closure": float("nan")}, {"gap": float("inf")}):
        with pytest.raises(AviTalkError, match="loss weights"):
            Trainer(opts(tmp_path / "bad", loss_weights=bad))
    assert not (tmp_path / "bad").exists()
    other = dataclasses.replace(TINY, channels=TINY.channels * 2)
    with pytest.raises(AviTalkError, match="another model config"):
        Trainer(dataclasses.replace(opts(tmp_path / "bad2", init=start), config=other))
    # the seal adds no parameter: a fine-tune may switch it on (and the card says so), never off again
    sealing = dataclasses.replace(TINY, seal_lips=True)
    Trainer(dataclasses.replace(opts(tmp_path / "sealed", init=start, closure="events-share"), config=sealing)).run()
    card = json.loads((tmp_path / "sealed" / weights.CARD_NAME).read_text())
    assert card["config"]["seal_lips"] is True and card["training"]["closure"] == "events-share"
    with pytest.raises(AviTalkError, match="add --seal-lips"):
        Trainer(opts(tmp_path / "bad3", init=tmp_path / "sealed"))


def test_growing_by_mel_blocks_starts_from_the_init_exactly(corpus: Path, tiny_run: Path, tmp_path: Path) -> None:
    """--mel-blocks with --init: the init's network grows by residual blocks at the mel rate that start as the
    identity, so before any step the grown network gives the init's output bit for bit; training then moves
    them, the card stores them, and a block list that does not extend the init's is refused."""
    grown = dataclasses.replace(TINY, mel_blocks=(1, 2))

    def opts(out: Path, cfg: Stage2Config, init: Path, scale: float = 1.0) -> TrainOptions:
        return TrainOptions(corpus=corpus, out=out, epochs=1, prior_steps=4, config=cfg, val_clips=0, threads=2,
                            max_clips=6, frames_per_batch=800, lr=2e-2, init=init, grown_lr_scale=scale)

    trainer = Trainer(opts(tmp_path / "grown", grown, tiny_run, scale=5.0))
    init_net = weights.load(tiny_run)[0]
    _, batch = _batch(TINY)
    with torch.no_grad():
        a, b = (forward_losses(net, batch, 0.0)[1] for net in (init_net, trainer.net))
    assert torch.equal(a, b) and len(trainer.net.audio.mel_blocks) == 2
    trainer.run()
    rest, new = trainer.opt.param_groups  # the grown blocks learn at 5 × the rate of the rest, step by step
    assert {id(p) for p in new["params"]} == {id(p) for p in trainer.net.audio.mel_blocks.parameters()}
    assert new["lr"] == pytest.approx(5.0 * rest["lr"]) and rest["lr"] > 0
    tensors = checkpoint.read_tensors(tmp_path / "grown" / weights.WEIGHTS_NAME)
    assert float(tensors["net.audio.mel_blocks.1.conv2.weight"].abs().max()) > 0  # no longer the identity
    card = json.loads((tmp_path / "grown" / weights.CARD_NAME).read_text())
    assert card["config"]["mel_blocks"] == [1, 2] and card["training"]["grown_lr_scale"] == 5.0
    assert card["training"]["grown"] == sorted(n for n, _ in trainer.net.named_parameters() if "mel_blocks" in n)
    model = Stage2Model.load(tmp_path / "grown", runtime="numpy")
    assert len(model.backend.audio.mel_blocks) == 2  # the numpy runtime reads them too
    Trainer(opts(tmp_path / "more", dataclasses.replace(TINY, mel_blocks=(1, 2, 4)), tmp_path / "grown"))
    for blocks in ((2,), ()):  # not an extension of the init's (1, 2)
        with pytest.raises(AviTalkError, match="may only add blocks"):
            Trainer(opts(tmp_path / "bad", dataclasses.replace(TINY, mel_blocks=blocks), tmp_path / "grown"))
    with pytest.raises(AviTalkError, match="grown-lr-scale"):
        Trainer(opts(tmp_path / "bad", grown, tiny_run, scale=0.0))
    for bad in ("0", "1,x", ""):
        proc = run_cli("train", "stage2", "--corpus", str(corpus), "--out", str(tmp_path / "o"), "--mel-blocks", bad)
        assert proc.returncode == 2 and "--mel-blocks" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists() and not (tmp_path / "o").exists()


def test_tuning_only_some_outputs_leaves_every_other_channel_and_the_prior_exact(corpus: Path, tiny_run: Path,
                                                                                   tmp_path: Path) -> None:
    """--tune-outputs: only the decoder's output/offset rows of the named channels move (here brows and the
    dimple), so every other channel's output is bit for bit the init's, the prior is the init's, and the card
    says so; a prefix that names nothing, or no --init, is a one-line error."""
    out = tmp_path / "tuned"
    Trainer(TrainOptions(corpus=corpus, out=out, epochs=2, prior_steps=4, config=TINY, val_clips=0, threads=2,
                         max_clips=6, frames_per_batch=800, lr=2e-2, init=tiny_run,
                         tune_outputs=("brow", "mouthDimple"))).run()
    a = checkpoint.read_tensors(tiny_run / weights.WEIGHTS_NAME)
    b = checkpoint.read_tensors(out / weights.WEIGHTS_NAME)
    changed = {k for k in a if not torch.equal(a[k], b[k])}
    assert changed == {f"net.decoder.{layer}.{p}" for layer in ("out", "offset") for p in ("weight", "bias")}
    tuned = tuned_rows(("brow", "mouthDimple"), TINY.head_channels)
    assert [ARKIT52[r] for r in tuned] == [n for n in ARKIT52 if n.startswith(("brow", "mouthDimple"))]
    for name in changed:
        rows = (a[name] - b[name]).reshape(len(a[name]), -1).abs().amax(1) > 0
        assert set(np.flatnonzero(rows.numpy())) <= set(tuned) and rows.any()
    card = json.loads((out / weights.CARD_NAME).read_text())
    assert card["training"]["tune_outputs"] == ["brow", "mouthDimple"]
    # mouthClose is the share row after the 52, head channels come after it
    assert tuned_rows(("mouthClose",), 3) == [52] and tuned_rows(("head",), 3) == [53, 54, 55]
    with pytest.raises(AviTalkError, match="no channel"):
        tuned_rows(("eyebrow",), 0)
    proc = run_cli("train", "stage2", "--corpus", str(corpus), "--out", str(tmp_path / "o"), "--tune-outputs", "brow")
    assert proc.returncode == 2 and "--init" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_an_extra_corpus_joins_the_training_but_never_with_held_out_text(corpus: Path, tmp_path_factory:
                                                                          pytest.TempPathFactory) -> None:
    other = build_test_corpus(tmp_path_factory, "s2extra", 0.006, 9, shard_seconds=30.0)
    manifest = json.loads((other / "manifest.json").read_text())
    test_text = next(c["text"] for c in Corpus(corpus).entries("test"))
    leak = next(c for c in manifest["clips"] if c["split"] == "train")
    leak["text"] = f"{sentences(test_text)[0].upper()}  Then  something new."  # one held-out sentence, recased
    (other / "manifest.json").write_text(json.dumps(manifest))
    n_other = sum(c["split"] == "train" for c in manifest["clips"])
    assert sentences(test_text)[0] in held_out_sentences(Corpus(corpus))
    kept = load_split(Corpus(other), "train", TINY, exclude=held_out_sentences(Corpus(corpus)))
    assert len(kept) == n_other - 1 and leak["id"] not in {c.id for c in kept}

    root = tmp_path_factory.mktemp("s2both")
    steps = {}
    for name, extras in (("alone", ()), ("both", (other,))):
        out = root / name
        Trainer(TrainOptions(corpus=corpus, out=out, epochs=1, prior_steps=4, config=TINY, val_clips=0, threads=2,
                             frames_per_batch=800, extra_corpora=extras)).run()
        card = json.loads((out / weights.CARD_NAME).read_text())
        steps[name] = card["training"]["steps"]
    assert card["extra_corpora"] == [{"seed": 9, "hours_requested": 0.006, "build_command": (
        "avitalk corpus build --hours 0.006 --out DIR --seed 9"), "train_clips": n_other - 1, "left_out": 1,
        "train_hours": card["extra_corpora"][0]["train_hours"]}]
    assert card["extra_corpora"][0]["train_hours"] > 0
    assert card["corpus"]["train_clips"] == len(Corpus(corpus).entries("train"))  # the main corpus's own count
    assert steps["both"] > steps["alone"]  # the extra clips were trained on

    proc = run_cli("train", "stage2", "--corpus", str(corpus), "--extra-corpus", str(corpus), "--out",
                   str(root / "o"))
    assert proc.returncode == 2 and "already in the training" in proc.stderr and not (root / "o").exists()


def test_train_command_rejects_bad_loss_weights_and_init(corpus: Path, tmp_path: Path) -> None:
    for extra, words in ((["--loss-weight", "closure"], "TERM=NUMBER"), (["--init", str(tmp_path / "none")],
                                                                       "no such weights folder")):
        proc = run_cli("train", "stage2", "--corpus", str(corpus), "--out", str(tmp_path / "o"), *extra)
        assert proc.returncode == 2 and words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "o").exists()


def test_train_command_rejects_bad_input(tmp_path: Path) -> None:
    from avi_talking.cli.commands.train_stage2 import main

    assert main(["--corpus", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()
    with pytest.raises(AviTalkError):
        from avi_talking.core.stage2.train import _device

        if torch.cuda.is_available():
            raise AviTalkError("cuda present: nothing to check")
        _device("cuda")


def test_stage1_chooses_when_nothing_is_given_and_says_how_sure(spoken: SpokenClip, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    proc = run_cli("generate", str(spoken.path), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(out.read_text())["meta"]
    assert meta["instruction_source"] == "stage 1"
    confidence = meta["stage1_confidence"]
    assert len(confidence) == len(meta["instructions"]) >= 1 and all(0 < c <= 1 for c in confidence)
    spans = [s["end"] - s["start"] for s in meta["instructions"]]
    overall = float(np.average(confidence, weights=spans))
    assert ("stage 1 is unsure" in proc.stderr) == (overall < LOW_CONFIDENCE), (overall, proc.stderr)
