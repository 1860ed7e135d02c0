"""``avitalk train llm-adapter --corpus DIR --llm PATH --out DIR``: the soft-prompt adapter that feeds
audio features to a local language model (``core/instructions/adapter.py``), trained with the LM frozen
on the corpus's instruction sentences."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ...core.common.errors import AviTalkError
from ._provenance import portable_command


def add_parser(actions: Any) -> None:
    t = actions.add_parser("llm-adapter", help="soft prompt: audio features → a local LLM's input embeddings",
                           description="Train the soft-prompt adapter for `avitalk analyze --llm PATH --llm-adapter "
                                       "DIR` on a corpus; the language model stays frozen.")
    t.add_argument("--corpus", required=True, metavar="DIR", help="corpus folder (avitalk corpus build)")
    t.add_argument("--llm", required=True, metavar="PATH", help="local transformers causal LM folder")
    t.add_argument("--out", required=True, metavar="DIR", help="folder for adapter.safetensors and adapter.json")
    t.add_argument("--stage1", metavar="PATH", help="stage-1 weights for features and descriptions (default: shipped)")
    t.add_argument("--tokens", type=int, default=8, help="virtual tokens (default 8)")
    t.add_argument("--hidden", type=int, default=256, help="adapter hidden width (default 256)")
    t.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    t.add_argument("--batch", type=int, default=8, help="segments per step (default 8)")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 0.001)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    t.add_argument("--max-clips", type=int, metavar="N", help="only the first N train clips")
    t.add_argument("--cache", metavar="DIR", help="stage-1 feature cache (as for `train stage1`)")
    t.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="feature processes (default 2)")
    t.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for name, value in (("--tokens", args.tokens), ("--hidden", args.hidden), ("--steps", args.steps),
                        ("--batch", args.batch), ("--workers", args.workers)):
        if value < 1:
            raise AviTalkError(f"{name} must be at least 1")
    if not args.lr > 0:
        raise AviTalkError("--lr must be positive")
    from ...core.corpus.dataset import Corpus
    from ...core.instructions import AUS, to_text
    from ...core.instructions.adapter import AdapterExample, lm_fingerprint, save_adapter, train_adapter
    from ...core.instructions.llm import TransformersBackend, messages_for, render_prompt
    from ...core.stage1.dataset import load_or_build
    from ...core.stage1.describe import describe
    from ...core.stage1.predict import load_predictor

    started = time.perf_counter()
    corpus = Corpus(args.corpus)
    predictor = load_predictor(args.stage1)
    backend = TransformersBackend(args.llm)
    log = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    tables = load_or_build(corpus, "train", AUS, Path(args.cache) if args.cache else None, args.workers,
                           limit=args.max_clips)
    if not len(tables):
        raise AviTalkError("the corpus has no train segments")
    entries = {e["id"]: e for e in corpus.entries("train")}
    examples = []
    row = 0
    for clip_id in tables.clip_ids:  # the table's rows follow the clips' segments in order
        for seg in entries[str(clip_id)]["segments"]:
            x = tables.x[row]
            guess = predictor.from_features(x[None], [(float(seg["start"]), float(seg["end"]))])[0]
            prompt = render_prompt(backend.tokenizer, messages_for(describe(guess)))
            examples.append(AdapterExample(x, prompt, str(seg["text"])))
            row += 1
    assert row == len(tables)
    log(f"{len(examples)} segments; LM {Path(args.llm).name}, {args.tokens} virtual tokens")
    adapter, losses = train_adapter(backend.model, backend.tokenizer, examples, predictor.model.mean,
                                    predictor.model.std, args.tokens, args.hidden, args.steps, args.batch, args.lr,
                                    args.seed, log)
    command = portable_command() if sys.argv[1:] else "avitalk train llm-adapter"
    tail = max(1, len(losses) // 10)
    card = {
        "format": "avi-talking-llm-adapter", "format_version": 1,
        "n_features": int(len(predictor.model.mean)), "features": list(predictor.model.config.features),
        "n_tokens": args.tokens, "embed_dim": int(backend.model.get_input_embeddings().embedding_dim),
        "hidden": args.hidden,
        "normalisation": {"mean": predictor.model.mean.tolist(), "std": predictor.model.std.tolist()},
        "language_model": {"folder": Path(args.llm).name, **lm_fingerprint(backend.model)},
        "stage1": predictor.name, "example_target": to_text(predictor.from_features(tables.x[:1], [(0.0, 1.0)])[0]
                                                            .instruction),
        "corpus": {"path": str(corpus.root), "seed": corpus.manifest.get("seed"), "segments": len(examples)},
        "training": {"command": command, "seed": args.seed, "steps": args.steps, "batch": args.batch, "lr": args.lr,
                     "wall_seconds": round(time.perf_counter() - started, 1),
                     "loss_first": round(float(np.mean(losses[:tail])), 5),
                     "loss_last": round(float(np.mean(losses[-tail:])), 5),
                     "losses": [round(v, 5) for v in losses]},
    }
    save_adapter(Path(args.out), adapter, card)
    if not args.quiet:
        print(f"loss {card['training']['loss_first']:.3f} → {card['training']['loss_last']:.3f}", file=sys.stderr)
    print(f"wrote {Path(args.out) / 'adapter.json'}")
    return 0
