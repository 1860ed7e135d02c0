"""``avitalk train stage2 --corpus DIR --out DIR``: train the stage-2 synthesis model (docs/stage2.md).

``train.py`` owns ``avitalk train`` and calls ``add_parser(actions)`` with its sub-command group; this
module also runs alone: ``python -m avi_talking.cli.commands.train_stage2 --corpus DIR --out DIR``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...core.common.errors import AviTalkError
from ...core.common.progress import TextBar
from ...core.stage2.config import CLOSURE_TERMS, Stage2Config
from ..argparser import Parser
from ._provenance import portable_command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", required=True, metavar="DIR", help="corpus folder (avitalk corpus build)")
    p.add_argument("--extra-corpus", action="append", default=[], metavar="DIR",
                   help="also train on this corpus's train split (repeatable); --corpus's val split still chooses "
                        "the epoch, and a clip speaking a sentence of --corpus's val or test split is left out")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="run folder: checkpoints, train_log.jsonl, then model.safetensors + model_card.json")
    p.add_argument("--epochs", type=int, default=16, help="passes over the train split (default 16)")
    p.add_argument("--prior-steps", type=int, default=6000, help="diffusion-prior training steps (default 6000)")
    p.add_argument("--batch-frames", type=int, default=4096, help="frames per batch, whole clips (default 4096)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 0.002)")
    p.add_argument("--seed", type=int, default=0, help="the same seed, data and machine give the same weights")
    p.add_argument("--max-clips", type=int, metavar="N", help="only the first N train clips (quick runs)")
    p.add_argument("--val-clips", type=int, default=48, metavar="N", help="val clips checked per epoch (default 48)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--init", metavar="WEIGHTS",
                   help="fine-tune: start from these weights' network (a model folder with the same config)")
    p.add_argument("--loss-weight", action="append", default=[], metavar="TERM=W",
                   help="override a loss term's weight, e.g. closure=2 (repeatable; docs/stage2.md lists the terms)")
    p.add_argument("--tune-outputs", metavar="PREFIX[,PREFIX...]",
                   help="with --init: fine-tune only the decoder's output rows of the channels whose names start "
                        "with these (e.g. brow,eyeSquint,cheekSquint,mouthDimple); every other channel's output and "
                        "the prior stay exactly the --init weights'")
    p.add_argument("--closure", choices=CLOSURE_TERMS, default="frames",
                   help="the closure term: a hinge on every frame where the target's lips are shut (default), "
                        "one per closure event, on the smallest gap within ±2 frames of it (events), or that acting "
                        "through mouthClose's share of jawOpen alone (events-share; docs/stage2.md)")
    p.add_argument("--seal-lips", action="store_true",
                   help="mouthClose's share of jawOpen also scales the lip-parting channels by (1 − share), as the "
                        "corpus's bilabial rule does (stored in the card's config; may be switched on for --init)")
    p.add_argument("--mel-jitter", type=int, default=0, metavar="N",
                   help="shift each training clip's audio features by up to N mel frames (1/120 s) either way, drawn "
                        "per batch from the seed, so the encoder meets every phase of its frames (default 0)")
    p.add_argument("--mel-blocks", metavar="D[,D...]",
                   help="residual blocks at the mel rate (120 Hz) before the encoder's downsampling, one per dilation, "
                        "e.g. 1,2 (default none); with --init the init's network grows by them, each starting as the "
                        "identity, so the fine-tune starts from exactly the init's takes")
    p.add_argument("--grown-lr-scale", type=float, default=1.0, metavar="K",
                   help="with --init and --mel-blocks: the new blocks learn at K × --lr (they start at zero; "
                        "default 1)")
    p.add_argument("--no-head", action="store_true",
                   help="face channels only, even when the corpus has head rotations (default: learn them too)")


def add_parser(actions: Any) -> None:
    """Register ``stage2`` in ``avitalk train``'s sub-command group."""
    p = actions.add_parser("stage2", help="train the stage-2 synthesis model (audio + instructions → ARKit-52)")
    add_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise AviTalkError("training needs torch: pip install 'avi-talking[models]' (torch==2.13.0)") from exc
    from ...core.corpus.dataset import Corpus
    from ...core.stage2.checkpoint import STATE
    from ...core.stage2.train import TrainOptions, train

    out = Path(args.out)
    for name, value, low in (("--epochs", args.epochs, 1), ("--prior-steps", args.prior_steps, 1),
                             ("--batch-frames", args.batch_frames, 64), ("--val-clips", args.val_clips, 0),
                             ("--mel-jitter", args.mel_jitter, 0)):
        if value < low:
            raise AviTalkError(f"{name} must be at least {low}")
    if args.max_clips is not None and args.max_clips < 2:
        raise AviTalkError("--max-clips must be at least 2")
    if not args.lr > 0:
        raise AviTalkError("--lr must be positive")
    corpus = Corpus(args.corpus)  # a bad corpus fails here, in one line
    extras = tuple(Path(e) for e in args.extra_corpus)
    for extra in extras:
        if extra.resolve() == Path(args.corpus).resolve() or extras.count(extra) > 1:
            raise AviTalkError(f"--extra-corpus {extra}: that corpus is already in the training")
        Corpus(extra)
    head = 0 if args.no_head or not corpus.has_head else 3
    if out.exists() and not out.is_dir():
        raise AviTalkError(f"--out {out} is a file")
    if args.resume and not (out / STATE).is_file():
        raise AviTalkError(f"--resume: there is no checkpoint in {out}")
    if not args.resume and out.is_dir() and any(p.name != "cache" for p in out.iterdir()):
        raise AviTalkError(f"--out {out} is not empty (use --resume to continue the run there)")
    overrides: dict[str, float] = {}
    for item in args.loss_weight:
        name, _, value = str(item).partition("=")
        try:
            overrides[name.strip()] = float(value)
        except ValueError:
            raise AviTalkError(f"--loss-weight {item!r}: write TERM=NUMBER, e.g. closure=2") from None
    if args.init is not None and not Path(args.init).is_dir():
        raise AviTalkError(f"--init {args.init}: no such weights folder")
    mel_blocks = _dilations(args.mel_blocks) if args.mel_blocks is not None else ()
    tune = tuple(t.strip() for t in str(args.tune_outputs).split(",")) if args.tune_outputs is not None else ()
    command = portable_command(_argv_after("stage2"), "avitalk train stage2")
    opts = TrainOptions(corpus=Path(args.corpus), out=out, epochs=args.epochs, prior_steps=args.prior_steps,
                        frames_per_batch=args.batch_frames, lr=args.lr, seed=args.seed, max_clips=args.max_clips,
                        val_clips=args.val_clips, device=args.device, threads=args.threads, resume=args.resume,
                        command=command, config=Stage2Config(head_channels=head, seal_lips=args.seal_lips,
                                                           mel_blocks=mel_blocks),
                        init=Path(args.init) if args.init is not None else None, loss_weights=overrides,
                        tune_outputs=tune, closure=args.closure, mel_jitter=args.mel_jitter,
                        extra_corpora=extras, grown_lr_scale=args.grown_lr_scale)
    bar = TextBar()
    bar.enabled = bar.enabled and not getattr(args, "quiet", False)
    try:
        folder = train(opts, bar)
    finally:
        bar.close()
    print(f"wrote {folder}")
    return 0


def _dilations(text: str) -> tuple[int, ...]:
    """``--mel-blocks``: comma-separated dilations, in the range the model config allows (``config.CONFIG``)."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise AviTalkError(f"--mel-blocks {text!r}: write dilations separated by commas, e.g. 1,2") from None
    return Stage2Config.from_dict({"mel_blocks": values}, "--mel-blocks").mel_blocks


def _argv_after(word: str) -> list[str]:
    argv = sys.argv[1:]
    return argv[argv.index(word) + 1 :] if word in argv else argv


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(prog="avitalk train stage2", description="Train the stage-2 synthesis model.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except AviTalkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
