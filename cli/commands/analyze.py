"""``avitalk analyze IN -o instr.json``: speech → instruction track (stage 1), the editable text the artist
reads before baking (docs/instructions.md). Optionally a local LLM writes the sentences."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

from ...core.audio.loader import DEFAULT_MAX_SECONDS
from ...core.common.errors import AviTalkError
from ...core.common.fileio import check_output_path
from ...core.common.progress import TextBar
from ._inputs import check_file_arguments, named_inputs


def add_parser(sub: Any) -> None:
    p = sub.add_parser("analyze", help="audio → instruction track (.json): emotion, intensity, action units",
                       description="Split speech into phrases at its pauses and "
                                   "describe each one (emotion, intensity, FACS action units, an AVI-style "
                                   "sentence) with the trained stage-1 model; optionally let a local LLM write "
                                   "the sentences.")
    p.add_argument("audio", help="speech audio: WAV, FLAC, OGG or MP3")
    p.add_argument("-o", "--output", required=True, help="output instruction track (.json)")
    p.add_argument("--weights", metavar="PATH", help="stage-1 weights (folder or model.json); default: shipped")
    p.add_argument("--transcript", metavar="TEXT|FILE", help="what is said, for the LLM (default: pocketsphinx)")
    llm = p.add_mutually_exclusive_group()
    llm.add_argument("--llm", metavar="PATH", help="a local transformers causal LM folder writes the sentences")
    llm.add_argument("--llm-url", metavar="URL",
                     help="an OpenAI-compatible chat server on your machine (e.g. http://127.0.0.1:8080)")
    p.add_argument("--llm-model", default="default", help="model name sent to --llm-url (default 'default')")
    p.add_argument("--llm-adapter", metavar="DIR", help="soft-prompt adapter for --llm (avitalk train llm-adapter)")
    p.add_argument("--min-speech", type=float, default=None, metavar="SECONDS",
                   help="shortest segment: a shorter phrase joins its neighbour (default 1.5)")
    p.add_argument("--max-segment", type=float, default=None, metavar="SECONDS",
                   help="longer phrases are cut at their deepest pause (default 6)")
    p.add_argument("--max-duration", type=float, default=DEFAULT_MAX_SECONDS, metavar="SECONDS",
                   help=f"refuse longer audio (default {DEFAULT_MAX_SECONDS:.0f})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ...core.audio.loader import load_audio
    from ...core.common.fileio import atomic_output
    from ...core.lipsync.phone_timing import read_transcript
    from ...core.pipeline.options import check_duration_limit
    from ...core.stage1.predict import load_predictor
    from ...core.stage1.segment import MAX_SECONDS, MIN_SPEECH

    out = check_output_path(args.output, (".json",), named_inputs(args))  # never over an input
    check_file_arguments(args)
    limit = check_duration_limit(args.max_duration)
    if args.llm_adapter and not args.llm:
        raise AviTalkError("--llm-adapter needs --llm (the adapter feeds a local transformers model)")
    min_speech = MIN_SPEECH if args.min_speech is None else args.min_speech
    max_segment = MAX_SECONDS if args.max_segment is None else args.max_segment
    if not 0.1 <= min_speech <= 60:
        raise AviTalkError("--min-speech must be between 0.1 and 60 seconds")
    if not 2 * min_speech <= max_segment:
        raise AviTalkError("--max-segment must be at least twice --min-speech")
    transcript = read_transcript(args.transcript) if args.transcript else None
    predictor = load_predictor(args.weights)  # bad weights fail before any audio work
    backend = _backend(args)
    audio = load_audio(args.audio, max_seconds=limit)
    bar = TextBar()
    bar.enabled = bar.enabled and not args.quiet
    try:
        result = predictor.analyze(audio, bar, min_speech, max_segment)
        notes = [w for s in result.segments for w in s.warnings]
        if backend is not None:
            notes += _ask_llm(backend, result, audio, transcript, bar)
    finally:
        bar.close()
    for note in notes:
        warnings.warn(note, stacklevel=1)
    doc = {"segments": [s.to_dict() for s in result.segments],
           "meta": {"model": predictor.name, "llm": backend.name if backend is not None else None,
                    "audio": audio.path.name if audio.path else None, "audio_sha256": audio.sha256,
                    "duration": round(audio.duration, 6), "warnings": list(audio.warnings) + notes}}
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if not args.quiet:
        from ...core.instructions.text import reading_line

        for s in result.segments:
            print(f"{s.start:7.2f}-{s.end:7.2f} s  [{s.confidence:.2f}] {s.text or s.segment().text}", file=sys.stderr)
            print(f"{'':18}read as: {reading_line(s.instruction)}", file=sys.stderr)  # the emotion's units too
    print(f"wrote {out}")
    return 0


def _backend(args: argparse.Namespace) -> Any:
    from ...core.instructions.llm import ChatServerBackend, TransformersBackend

    if args.llm_url:
        return ChatServerBackend(args.llm_url, args.llm_model)
    if args.llm:
        return TransformersBackend(args.llm, args.llm_adapter)
    return None


def _ask_llm(backend: Any, result: Any, audio: Any, transcript: str | None, progress: Any) -> list[str]:
    """Let the LLM write each segment's instruction; returns the warnings."""
    from ...core.instructions.llm import instruct
    from ...core.instructions.text import to_text
    from ...core.stage1.describe import describe, transcribe

    notes: list[str] = []
    for k, seg in enumerate(result.segments):
        words = transcript if transcript is not None else transcribe(audio, seg.start, seg.end)
        outcome = instruct(backend, describe(seg, words), seg.instruction, to_text(seg.instruction))
        notes += outcome.warnings
        if outcome.used_llm:
            seg.instruction, seg.text, seg.source = outcome.instruction, outcome.text, "llm"
        progress("LLM", (k + 1) / len(result.segments))
    return notes
