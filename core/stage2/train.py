"""Training stage 2 on a corpus: ``avitalk train stage2 --corpus DIR --out DIR``.

Phase 1 (``epochs`` passes over the train split): audio encoder, instruction encoder, style encoder and
decoder together — reconstruction (channel L1, velocity, lip gap, closure hinge) with the style latent
taken from the target motion, plus InfoNCE between style latents and instruction embeddings.
Phase 2 (``prior_steps``): the diffusion prior learns instruction embedding → style latent on the frozen
latents of every training segment (cheap: one vector per segment).

Checkpoints (safetensors + JSON, no pickle) are written every ``checkpoint_every`` steps and at phase
ends; ``--resume`` continues from the last one bit for bit (batch order is drawn per epoch from the seed,
torch's RNG state is saved). Losses go to ``train_log.jsonl``; the result is ``model.safetensors`` +
``model_card.json`` in the output folder.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..arkit import FACE_AND_HEAD
from ..common.errors import AviTalkError, FormatError
from ..common.progress import ProgressFn, null_progress
from ..corpus.dataset import Corpus
from ..metrics.scores import bilabial_closure, false_closure
from . import checkpoint, weights
from .conditioning import frame_weights
from .config import CLOSURE_TERMS, Stage2Config
from .data import ClipData, batches, held_out_sentences, load_split, speaks_any
from .diffusion import Prior
from .losses import expression, head_loss, info_nce, reconstruction
from .net import N_OUT as N_FACE
from .net import Stage2Net, output_row

LOG_NAME = "train_log.jsonl"
# closure 3.0 (was 1.0): the synthetic test split's bilabials closed in 0.76 of cases, mostly missed on noisy,
# codec-coded and diphone-voiced clips where a closure is only likely, not certain, from the audio. gap 2.0
# (was 1.0): with closure at 3 alone the mouth opened less (open vowels at 0.72 of the target's jaw)
LOSS_WEIGHTS = {"l1": 4.0, "vel": 2.0, "gap": 2.0, "lips": 0.0, "closure": 3.0, "opening": 0.0, "expr": 2.0, "nce": 0.1,
                "head": 1.0}
LATENT_NOISE = 0.1  # style latents are jittered in training so the decoder tolerates prior samples


@dataclass
class TrainOptions:
    corpus: Path
    out: Path
    epochs: int = 16
    prior_steps: int = 6000
    frames_per_batch: int = 4096
    lr: float = 2e-3
    prior_lr: float = 1e-3
    seed: int = 0
    max_clips: int | None = None  # only the first N train clips (quick runs, tests)
    val_clips: int = 48
    device: str = "auto"
    threads: int | None = None
    resume: bool = False
    checkpoint_every: int = 200
    log_every: int = 20
    config: Stage2Config = field(default_factory=Stage2Config)
    command: str = ""
    init: Path | None = None  # fine-tune: phase 1 starts from these weights' network (same config)
    loss_weights: dict[str, float] = field(default_factory=dict)  # overrides of LOSS_WEIGHTS
    # fine-tune only the decoder's output rows of the channels whose names start with one of these (``tuned_rows``):
    # every other channel's output stays bit for bit the --init weights', and so does the prior
    tune_outputs: tuple[str, ...] = ()
    closure: str = "frames"  # config.CLOSURE_TERMS: per-frame hinge, per event, per event through the share alone
    # shift each training clip's log-mel by up to this many mel frames (1/120 s) either way, drawn per batch from the
    # seed: the strided encoder then meets every phase of its 4 mel frames per animation frame (a 4 ms shift of the
    # audio alone changed which bilabials the shipped network closed, 0.942 -> 0.936 of them)
    mel_jitter: int = 0
    # more corpora whose train splits join --corpus's (its val split still chooses the epoch); a clip that speaks a
    # sentence of --corpus's val or test split is left out, so the held-out text stays held out
    extra_corpora: tuple[Path, ...] = ()
    # the learning rate of the parameters --init's network grows by (``mel_blocks`` it lacks), × this: they start
    # at zero, and at a fine-tune's rate two epochs moved their output weights to a twentieth of a trained block's
    grown_lr_scale: float = 1.0


@dataclass
class Batch:
    mel: torch.Tensor  # [B, T·k, n_mels]
    targets: torch.Tensor  # [B, T, 52 (+3 head)]
    mask: torch.Tensor  # [B, T]
    instructions: torch.Tensor  # [B, S, D]
    weights: torch.Tensor  # [B, S, T] soft segment weights (decoder conditioning)
    hard: torch.Tensor  # [B, S, T] segment membership (style pooling)
    exists: torch.Tensor  # [B, S] bool


def collate(clips: list[ClipData], cfg: Stage2Config, device: torch.device,
            shifts: Sequence[int] | None = None) -> Batch:
    """``shifts``: per clip, mel frames to delay (+) or advance (−) its audio against its targets, edges held."""
    k = cfg.mel_rate
    b, t, s = len(clips), max(c.frames for c in clips), max(len(c.instructions) for c in clips)
    mel = np.zeros((b, t * k, cfg.n_mels), np.float32)
    tgt = np.zeros((b, t, clips[0].targets.shape[1]), np.float32)
    mask = np.zeros((b, t), np.float32)
    instr = np.zeros((b, s, clips[0].instructions.shape[1]), np.float32)
    soft = np.zeros((b, s, t), np.float32)
    exists = np.zeros((b, s), bool)
    for i, c in enumerate(clips):
        n = c.frames
        mel[i, : n * k] = c.mel if not shifts or not shifts[i] else _shifted(c.mel, shifts[i])
        mel[i, n * k :] = c.mel[-1]  # hold the clip's last (quiet) frame over the padding
        tgt[i, :n] = c.targets
        tgt[i, n:] = c.targets[-1]
        mask[i, :n] = 1.0
        ns = len(c.instructions)
        instr[i, :ns] = c.instructions
        soft[i, :ns] = frame_weights(c.cuts, t, cfg.fps, cfg.crossfade)
        exists[i, :ns] = True
    hard = (soft >= soft.max(axis=1, keepdims=True)) * mask[:, None, :] * exists[:, :, None]
    as_t = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
    return Batch(as_t(mel), as_t(tgt), as_t(mask), as_t(instr), as_t(soft), as_t(hard.astype(np.float32)),
                 as_t(exists))


def _shifted(mel: np.ndarray, by: int) -> np.ndarray:
    """``mel`` delayed by ``by`` frames (advanced when negative), the first or last frame held over the gap."""
    idx = np.clip(np.arange(len(mel)) - by, 0, len(mel) - 1)
    return mel[idx]


def forward_losses(net: Stage2Net, batch: Batch, noise: float, closure: str = "frames",
                   lips: bool = True) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    h = net.audio(batch.mel)
    e = net.instruction(batch.instructions)
    z = net.style(batch.targets, batch.hard)
    z_in = z + noise * torch.randn_like(z) if noise else z
    pred = net.decode(h, z_in, e, batch.weights)
    face, target = pred[..., :N_FACE], batch.targets[..., :N_FACE]
    terms = reconstruction(face, target, batch.mask, closure, lips)
    terms["expr"] = expression(face, target, batch.hard)
    if pred.shape[-1] > N_FACE:
        terms["head"] = head_loss(pred[..., N_FACE:], batch.targets[..., N_FACE:], batch.mask)
    zs, es = z[batch.exists], e[batch.exists]
    vecs = batch.instructions[batch.exists]
    same = (vecs[:, None, :] - vecs[None, :, :]).abs().amax(-1) < 1e-6  # exact: cdist's matmul path is not
    terms["nce"] = info_nce(net.style_head(zs), net.instr_head(es), same) if len(zs) > 1 else z.sum() * 0
    return terms, pred


def total(terms: dict[str, torch.Tensor], weights: dict[str, float] = LOSS_WEIGHTS) -> torch.Tensor:
    out = torch.zeros((), device=next(iter(terms.values())).device)
    for k, v in terms.items():
        out = out + weights[k] * v
    return out


def tuned_rows(prefixes: tuple[str, ...], head_channels: int) -> list[int]:
    """The decoder output rows (``net.output_row``) of the channels named by ``prefixes``; a prefix that names
    no channel is an error."""
    names = list(FACE_AND_HEAD[: N_FACE + head_channels])
    rows: list[int] = []
    for prefix in prefixes:
        hits = [k for k, n in enumerate(names) if n.startswith(prefix)]
        if not prefix or not hits:
            raise AviTalkError(f"--tune-outputs {prefix!r}: no channel of this model starts with it "
                               f"(channels: {', '.join(names[:3])} ... {names[-1]})")
        rows += [output_row(k) for k in hits]
    return sorted(set(rows))


def _row_mask(mask: torch.Tensor) -> Any:
    return lambda grad: grad * mask


def selection_score(closure: float, gap: float) -> float:
    """How an epoch's network is chosen: validation bilabial closure (share, 0..1) less the validation lip-gap
    term (mean |gap error| in cm, about 0.17–0.3 over a run). Both moved by similar amounts between the
    epochs of the session-5 run, in opposite directions; either alone picked a network bad at the other."""
    return round(float(closure) - float(gap), 5)


def _lr(step: int, total_steps: int, base: float, warmup: int = 200) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AviTalkError("--device cuda was asked for, but torch sees no CUDA device")
    return torch.device(name)


class Trainer:
    def __init__(self, opts: TrainOptions, progress: ProgressFn = null_progress,
                 echo: Any = None) -> None:
        self.opts = opts
        self.cfg = opts.config
        self.progress = progress
        self.echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
        self.device = _device(opts.device)
        if opts.threads:
            torch.set_num_threads(opts.threads)
        torch.manual_seed(opts.seed)
        unknown = sorted(set(opts.loss_weights) - set(LOSS_WEIGHTS))
        if unknown or any(not 0.0 <= v < math.inf for v in opts.loss_weights.values()):
            raise AviTalkError(f"loss weights: each must be a known term ({', '.join(LOSS_WEIGHTS)}) with a finite "
                               f"number ≥ 0 (unknown: {', '.join(unknown) or 'none'})")
        self.loss_weights = {**LOSS_WEIGHTS, **opts.loss_weights}
        if opts.closure not in CLOSURE_TERMS:
            raise AviTalkError(f"closure term {opts.closure!r}: one of {', '.join(CLOSURE_TERMS)}")
        self.net = Stage2Net(self.cfg)
        self.prior = Prior(self.cfg)  # a small MLP on one vector per segment: it trains on the CPU
        if opts.tune_outputs and opts.init is None:
            raise AviTalkError("--tune-outputs fine-tunes given weights: name them with --init")
        self.rows = tuned_rows(opts.tune_outputs, self.cfg.head_channels) if opts.tune_outputs else []
        self.grown: set[str] = set()  # the parameters the init's network grew by (their own learning rate)
        self.init_id = self._initialise(opts.init) if opts.init is not None else None
        self.extras: list[tuple[Corpus, list[ClipData], int]] = []  # extra_corpora: (corpus, train clips, left out)
        self.net = self.net.to(self.device)
        if not opts.grown_lr_scale > 0 or not math.isfinite(opts.grown_lr_scale):
            raise AviTalkError("--grown-lr-scale must be a positive number")
        self.opt = torch.optim.AdamW(self._param_groups(), lr=opts.lr, weight_decay=0.0 if self.rows else 1e-4)
        self.prior_opt = torch.optim.AdamW(self.prior.parameters(), lr=opts.prior_lr, weight_decay=0.0)
        self.state: dict[str, Any] = {"phase": 1, "epoch": 0, "batch": 0, "step": 0, "prior_step": 0,
                                      "seconds": 0.0, "history": []}
        # the network of the epoch with the best validation score (``selection_score``: bilabial closure less the
        # lip-gap error) in the run's second half — closure drifted down over the last epochs of a run while the
        # gap error still fell, and choosing by closure alone kept an under-opened mouth: phase 2 and the card use it
        self.best: dict[str, Any] | None = None
        self.best_net: dict[str, torch.Tensor] = {}

    def _initialise(self, folder: Path) -> str:
        """Load the network of the weights in ``folder`` (checked like any weights; with ``tune_outputs`` their
        prior too, which the frozen encoders keep valid); returns their id."""
        net, prior, card = weights.load(folder)
        cfg = Stage2Config.from_dict(card.get("config", {}), f"{folder}: config")
        if replace(cfg, seal_lips=self.cfg.seal_lips, mel_blocks=self.cfg.mel_blocks) != self.cfg:
            raise AviTalkError(f"--init {folder}: those weights have another model config than this run")
        if cfg.seal_lips and not self.cfg.seal_lips:  # switching it on adds no parameter; off would undo training
            raise AviTalkError(f"--init {folder}: those weights seal the lips through the share (add --seal-lips)")
        have = len(cfg.mel_blocks)
        if self.cfg.mel_blocks[:have] != cfg.mel_blocks:
            raise AviTalkError(f"--init {folder}: those weights have mel blocks {list(cfg.mel_blocks)}; this run may "
                               f"only add blocks after them (--mel-blocks)")
        # growing by mel blocks: the new ones start as the identity (``net.AudioEncoder``), the rest is the init's
        missing, unexpected = self.net.load_state_dict(net.state_dict(), strict=False)
        grown = {f"audio.mel_blocks.{i}." for i in range(have, len(self.cfg.mel_blocks))}
        if unexpected or any(not any(k.startswith(g) for g in grown) for k in missing):
            raise AviTalkError(f"--init {folder}: those weights do not fit this run's network")
        self.grown = set(missing)
        if self.rows:
            self.prior.load_state_dict(prior.state_dict())
        return f"sha256:{str(card.get('sha256', ''))[:16]}"

    def _param_groups(self) -> list[dict[str, Any]]:
        """The optimiser's groups, each with the ``scale`` of the run's learning rate it trains at: the grown
        parameters (``grown_lr_scale``) apart from the rest."""
        params = self._trainable()
        names = {id(p): n for n, p in self.net.named_parameters()}
        grown = [p for p in params if names.get(id(p)) in self.grown]
        rest = [p for p in params if names.get(id(p)) not in self.grown]
        groups = [{"params": rest, "scale": 1.0}]
        if grown:
            groups.append({"params": grown, "scale": float(self.opts.grown_lr_scale)})
        return groups

    def _trainable(self) -> list[torch.nn.Parameter]:
        """All of the network's parameters, or with ``tune_outputs`` the decoder's output and offset layers,
        whose gradients are masked to the tuned rows (Adam without weight decay leaves a row with zero gradient
        exactly as it was, so the other channels' outputs stay bit for bit)."""
        if not self.rows:
            return list(self.net.parameters())
        for p in self.net.parameters():
            p.requires_grad_(False)
        layers = (self.net.decoder.out, self.net.decoder.offset)
        mask = torch.zeros(layers[0].weight.shape[0], device=self.device)
        mask[self.rows] = 1.0
        params: list[torch.nn.Parameter] = []
        for layer in layers:
            for tensor in (layer.weight, layer.bias):
                assert isinstance(tensor, torch.nn.Parameter)
                tensor.requires_grad_(True)
                tensor.register_hook(_row_mask(mask.reshape((-1,) + (1,) * (tensor.dim() - 1))))
                params.append(tensor)
        return params

    # ---- bookkeeping -------------------------------------------------------------------------------

    def log(self, record: dict[str, Any]) -> None:
        with open(self.opts.out / LOG_NAME, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def save_checkpoint(self) -> None:
        tensors = weights.model_tensors(self.net, self.prior)
        opt_t, opt_info = checkpoint.optimizer_tensors(self.opt, "opt")
        popt_t, popt_info = checkpoint.optimizer_tensors(self.prior_opt, "prior_opt")
        tensors.update(opt_t)
        tensors.update(popt_t)
        tensors["rng.torch"] = torch.get_rng_state()
        tensors.update({f"best.{k}": v for k, v in self.best_net.items()})
        state = {**self.state, "optimizer": opt_info, "prior_optimizer": popt_info,
                 "config": self.cfg.to_dict(), "options": self._options_record()}
        if self.best is not None:
            state["best"] = self.best
        checkpoint.save(self.opts.out, tensors, state)

    def restore(self) -> bool:
        found = checkpoint.load(self.opts.out)
        if found is None:
            return False
        tensors, state = found
        if Stage2Config.from_dict(state["config"], f"checkpoint in {self.opts.out}: config") != self.cfg:
            raise AviTalkError(f"the checkpoint in {self.opts.out} was made with another model config")
        try:  # the JSON is checked (checkpoint.STATE_SPEC); tensors that do not fit this run fail here
            self.net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
            self.prior.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("prior.")})
            checkpoint.restore_optimizer(self.opt, "opt", tensors, state["optimizer"])
            checkpoint.restore_optimizer(self.prior_opt, "prior_opt", tensors, state["prior_optimizer"])
            torch.set_rng_state(tensors["rng.torch"])
            self.best = state.get("best")
            self.best_net = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise FormatError(f"the checkpoint in {self.opts.out} does not fit this run: {exc}") from None
        self.state = {k: state[k] for k in ("phase", "epoch", "batch", "step", "prior_step", "seconds", "history")}
        return True

    def _options_record(self) -> dict[str, Any]:
        rec = asdict(self.opts)
        rec.pop("config")
        rec["extra_corpora"] = [str(p) for p in self.opts.extra_corpora]
        return {k: str(v) if isinstance(v, Path) else v for k, v in rec.items()}

    # ---- phases ------------------------------------------------------------------------------------

    def run(self) -> Path:
        opts = self.opts
        opts.out.mkdir(parents=True, exist_ok=True)
        resumed = self.restore() if opts.resume else False
        if resumed:
            self.echo(f"resuming: phase {self.state['phase']}, epoch {self.state['epoch'] + 1}, "
                      f"step {self.state['step']}")
        corpus = Corpus(opts.corpus)
        cache = opts.out / "cache"
        t0 = time.perf_counter()
        train = load_split(corpus, "train", self.cfg, opts.max_clips, cache,
                           progress=lambda s, f: self.progress(s, 0.05 * f))
        self.extras = self._extra_train(corpus, cache)
        train += [clip for _, clips, _ in self.extras for clip in clips]
        val = load_split(corpus, "val", self.cfg, opts.val_clips, keep_phones=True) if opts.val_clips else []
        self.echo(f"data: {len(train)} train clips ({sum(c.frames for c in train) / self.cfg.fps / 3600:.2f} h), "
                  f"{len(val)} val clips, read in {time.perf_counter() - t0:.0f} s; device {self.device}, "
                  f"{torch.get_num_threads()} threads")
        started = time.perf_counter() - float(self.state["seconds"])
        if self.state["phase"] == 1:
            self._phase1(train, val, started)
            self._select_best()
            self.state.update(phase=2, seconds=time.perf_counter() - started)
            self.save_checkpoint()
        if self.state["phase"] == 2 and self.rows:  # encoders frozen: the init's prior (loaded) still fits
            self.state.update(phase=3, prior_step=self.opts.prior_steps)
        if self.state["phase"] == 2:
            self._phase2(train, started)
            self.state.update(phase=3, seconds=time.perf_counter() - started)
            self.save_checkpoint()
        return self._finish(corpus, train, val, time.perf_counter() - started)

    def _extra_train(self, corpus: Corpus, cache: Path) -> list[tuple[Corpus, list[ClipData], int]]:
        """The train splits of ``extra_corpora``, less clips speaking ``corpus``'s held-out sentences (counted)."""
        held_out = held_out_sentences(corpus) if self.opts.extra_corpora else frozenset()
        out = []
        for root in self.opts.extra_corpora:
            extra = Corpus(root)
            if self.cfg.head_channels and not extra.has_head:
                raise AviTalkError(f"--extra-corpus {root} has no head rotations: rebuild it, or train with --no-head")
            clips = load_split(extra, "train", self.cfg, self.opts.max_clips, cache, exclude=held_out,
                               progress=lambda s, f: self.progress(f"{s} (extra)", 0.05 * f))
            left_out = sum(speaks_any(c, held_out) for c in extra.entries("train"))
            out.append((extra, clips, left_out))
        return out

    def _epoch_batches(self, train: list[ClipData], epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.opts.seed, epoch])
        return batches(train, self.opts.frames_per_batch, rng)

    def _phase1(self, train: list[ClipData], val: list[ClipData], started: float) -> None:
        opts = self.opts
        per_epoch = len(self._epoch_batches(train, 0))
        total_steps = per_epoch * opts.epochs
        self.net.train()
        lips = self.loss_weights["lips"] > 0  # the lip-vertex term only where it weighs (validation reports it always)
        while self.state["epoch"] < opts.epochs:
            epoch = self.state["epoch"]
            plan = self._epoch_batches(train, epoch)
            running: dict[str, float] = {}
            count = 0
            for b in range(self.state["batch"], len(plan)):
                step = self.state["step"]
                for g in self.opt.param_groups:
                    g["lr"] = _lr(step, total_steps, opts.lr) * g.get("scale", 1.0)
                shifts = None
                if opts.mel_jitter:  # drawn from (seed, epoch, batch): a resumed run draws the same
                    draw = np.random.default_rng([opts.seed, epoch, b, 7])  # 7: a stream apart from the batch order's
                    shifts = draw.integers(-opts.mel_jitter, opts.mel_jitter + 1, len(plan[b])).tolist()
                batch = collate([train[i] for i in plan[b]], self.cfg, self.device, shifts)
                terms, _ = forward_losses(self.net, batch, LATENT_NOISE, self.opts.closure, lips)
                loss = total(terms, self.loss_weights)
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for p in self.net.parameters() if p.requires_grad], 1.0)
                self.opt.step()
                for k, v in terms.items():
                    running[k] = running.get(k, 0.0) + v.item()
                running["loss"] = running.get("loss", 0.0) + loss.item()
                count += 1
                self.state.update(batch=b + 1, step=step + 1)
                frac = (epoch * per_epoch + b + 1) / total_steps
                self.progress(f"stage2 epoch {epoch + 1}/{opts.epochs} loss {loss.item():.4f}", 0.05 + 0.85 * frac)
                if (step + 1) % opts.log_every == 0:
                    self.log({"phase": 1, "epoch": epoch + 1, "step": step + 1, "lr": _lr(step, total_steps, opts.lr),
                              "seconds": round(time.perf_counter() - started, 1),
                              **{k: round(v.item(), 5) for k, v in terms.items()}, "loss": round(loss.item(), 5)})
                if (step + 1) % opts.checkpoint_every == 0:
                    self.state["seconds"] = time.perf_counter() - started
                    self.save_checkpoint()
            summary = {k: round(v / max(1, count), 5) for k, v in running.items()}
            summary.update(self.validate(val))
            summary.update(epoch=epoch + 1, seconds=round(time.perf_counter() - started, 1))
            self.state["history"].append(summary)
            self._consider(epoch + 1, summary.get("val_closure"), summary.get("val_gap"))
            self.log({"phase": 1, "epoch_summary": summary})
            self.echo(f"epoch {epoch + 1}/{opts.epochs}: " + ", ".join(
                f"{k} {v}" for k, v in summary.items() if k not in ("epoch",)))
            self.state.update(epoch=epoch + 1, batch=0, seconds=time.perf_counter() - started)
            self.save_checkpoint()

    def _consider(self, epoch: int, closure: float | None, gap: float | None) -> None:
        """Keep this epoch's network if it is in the second half and scores best so far (ties: later)."""
        if closure is None or gap is None or epoch <= self.opts.epochs // 2:
            return
        score = selection_score(closure, gap)
        if self.best is None or score >= self.best.get("score", -math.inf):
            self.best = {"epoch": epoch, "val_closure": float(closure), "val_gap": float(gap), "score": score}
            self.best_net = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}

    def _select_best(self) -> None:
        if self.best is None or self.best["epoch"] == self.opts.epochs or not self.best_net:
            return
        self.net.load_state_dict(self.best_net)
        self.echo(f"using the network of epoch {self.best['epoch']} (validation closure {self.best['val_closure']}, "
                  f"lip-gap error {self.best.get('val_gap')})")

    @torch.no_grad()
    def validate(self, val: list[ClipData]) -> dict[str, float]:
        """Validation losses and bilabial closure (true phones), style latent from the target motion."""
        if not val:
            return {}
        self.net.eval()
        sums: dict[str, float] = {}
        hits = count = shut = apart = 0
        for start in range(0, len(val), 8):
            clips = val[start : start + 8]
            batch = collate(clips, self.cfg, self.device)
            terms, pred = forward_losses(self.net, batch, 0.0, self.opts.closure)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(clips)
            for i, clip in enumerate(clips):
                face = pred[i, : clip.frames, :N_FACE].double().cpu().numpy()
                wrong, n_apart = false_closure(face, batch.targets[i, : clip.frames, :N_FACE].double().cpu().numpy())
                if n_apart:
                    shut += round(wrong * n_apart)
                    apart += n_apart
                if clip.phones is None:
                    continue
                share, n = bilabial_closure(face, clip.phones, self.cfg.fps)
                if n:
                    hits += round(share * n)
                    count += n
        self.net.train()
        out = {f"val_{k}": round(v / len(val), 5) for k, v in sums.items()}
        if count:
            out["val_closure"] = round(hits / count, 4)
        if apart:  # the lips shut where the target's are apart: the price of closure (eval's false closure)
            out["val_false_closure"] = round(shut / apart, 4)
        return out

    @torch.no_grad()
    def latents(self, train: list[ClipData]) -> tuple[torch.Tensor, torch.Tensor]:
        """Style latents and instruction embeddings of every training segment (network frozen)."""
        self.net.eval()
        zs, es = [], []
        plan = batches(train, self.opts.frames_per_batch, np.random.default_rng([self.opts.seed, 10_000]))
        for idx in sorted(plan):
            batch = collate([train[i] for i in idx], self.cfg, self.device)
            z = self.net.style(batch.targets, batch.hard)
            e = self.net.instruction(batch.instructions)
            zs.append(z[batch.exists])
            es.append(e[batch.exists])
        return torch.cat(zs), torch.cat(es)

    def _phase2(self, train: list[ClipData], started: float) -> None:
        opts = self.opts
        z, e = (x.cpu() for x in self.latents(train))
        if self.state["prior_step"] == 0:
            self.prior.latent_mean.copy_(z.mean(0))
            self.prior.latent_std.copy_(z.std(0).clamp(min=1e-3))
        gen = torch.Generator(device="cpu").manual_seed(opts.seed + 1)
        # one generator stream per step: resuming at step s draws what an unbroken run would have drawn
        self.prior.train()
        running = 0.0
        for step in range(self.state["prior_step"], opts.prior_steps):
            gen.manual_seed(opts.seed * 1_000_003 + step)
            for g in self.prior_opt.param_groups:
                g["lr"] = _lr(step, opts.prior_steps, opts.prior_lr, warmup=100)
            idx = torch.randint(0, len(z), (min(256, len(z)),), generator=gen)
            loss = self.prior.loss(z[idx], e[idx], gen)
            self.prior_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.prior_opt.step()
            running += loss.item()
            self.state["prior_step"] = step + 1
            self.progress(f"prior {step + 1}/{opts.prior_steps} loss {loss.item():.4f}",
                          0.9 + 0.09 * (step + 1) / opts.prior_steps)
            if (step + 1) % (opts.log_every * 10) == 0:
                self.log({"phase": 2, "step": step + 1, "prior_loss": round(running / (opts.log_every * 10), 5),
                          "seconds": round(time.perf_counter() - started, 1)})
                self.echo(f"prior step {step + 1}/{opts.prior_steps}: loss {running / (opts.log_every * 10):.4f}")
                running = 0.0
            if (step + 1) % (opts.checkpoint_every * 10) == 0:
                self.state["seconds"] = time.perf_counter() - started
                self.save_checkpoint()
        self.prior.eval()

    def _finish(self, corpus: Corpus, train: list[ClipData], val: list[ClipData], seconds: float) -> Path:
        self.net.eval()
        self.prior.eval()
        last = self.state["history"][-1] if self.state["history"] else {}
        splits = corpus.splits
        own = train[: len(train) - sum(len(clips) for _, clips, _ in self.extras)]  # --corpus's clips come first
        info = {
            "name": "stage2",
            "output": "ARKit-52 blendshape weights 0..1 per frame at fps (frame t at t / fps s)",
            "corpus": {
                **_provenance(corpus), "fps": corpus.fps,
                "generator": corpus.manifest.get("generator"), "train_clips": len(own),
                "train_hours": round(sum(c.frames for c in own) / self.cfg.fps / 3600, 3),
                "splits": {k: v.get("clips") for k, v in splits.items()},
            },
            "extra_corpora": [{
                **_provenance(extra), "train_clips": len(clips), "left_out": left_out,
                "train_hours": round(sum(c.frames for c in clips) / self.cfg.fps / 3600, 3),
            } for extra, clips, left_out in self.extras],
            "training": {
                "command": self.opts.command, "seed": self.opts.seed, "epochs": self.opts.epochs,
                "steps": self.state["step"], "prior_steps": self.opts.prior_steps,
                "frames_per_batch": self.opts.frames_per_batch, "lr": self.opts.lr, "loss_weights": self.loss_weights,
                "init": self.init_id, "tune_outputs": list(self.opts.tune_outputs), "closure": self.opts.closure,
                "mel_jitter": self.opts.mel_jitter, "grown": sorted(self.grown),
                "grown_lr_scale": self.opts.grown_lr_scale, "seconds": round(seconds, 1), "device": str(self.device),
                "threads": torch.get_num_threads(),
                "torch": torch.__version__, "python": platform.python_version(),
                "cpu_count": os.cpu_count(), "final": last, "selected_epoch": (
                    self.best["epoch"] if self.best is not None else len(self.state["history"])),
            },
            "metrics": {},
        }
        folder = weights.write(self.opts.out, self.net, self.prior, info)
        self.progress("done", 1.0)
        return folder


def _provenance(corpus: Corpus) -> dict[str, Any]:
    """A corpus's seed, requested hours and the command that rebuilds it (for the model card)."""
    seed, hours = corpus.manifest.get("seed"), corpus.manifest.get("hours_requested")
    return {"seed": seed, "hours_requested": hours, "build_command": f"avitalk corpus build --hours {hours} --out DIR "
                                                                     f"--seed {seed}"}


def train(opts: TrainOptions, progress: ProgressFn = null_progress) -> Path:
    return Trainer(opts, progress).run()
