"""The one options type: one set of defaults, checked when made, one wire format (to_params/from_params) used by
the command line, the worker and the add-on, and one generation path (with the analysis cache as an option)."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import fields
from pathlib import Path

import pytest

from avi_talking.cli.commands._common import add_synthesis_arguments, options_from
from avi_talking.core.common.errors import AviTalkError
from avi_talking.core.instructions import Instruction, Segment
from avi_talking.core.pipeline.cache import AnalysisCache
from avi_talking.core.pipeline.generate import generate
from avi_talking.core.pipeline.options import GenerateOptions
from avi_talking.core.worker.jobs import JobRunner

from conftest import SpokenClip, run_cli

TRACK = (Segment(0.0, 1.0, Instruction("happy", 0.6, {"AU12": 0.7}), "A happy person speaks."),
         Segment(1.0, 2.5, Instruction("angry", 0.5, {"AU4": 0.6}), "An angry person speaks."))


def _cli_defaults() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_synthesis_arguments(parser)
    return parser.parse_args(["speech.wav"])


def test_the_command_line_takes_its_defaults_from_the_options_type() -> None:
    assert options_from(_cli_defaults()) == GenerateOptions()
    assert GenerateOptions().model == "stage2" and GenerateOptions().device == "auto"


@pytest.mark.parametrize("options", [
    GenerateOptions(),
    GenerateOptions(model="procedural", fps=29.97, seed=7, transcript="bob met pam", lips=0.5, expression=2.0,
                    blinks=0.0, device="cpu", max_seconds=60.0),
    GenerateOptions(instructions=TRACK, seed=3, device="cuda:1", runtime="torch"),
    GenerateOptions(instruction_text="An angry person speaks with brow strongly lowered."),
])
def test_the_wire_format_round_trips_through_json(options: GenerateOptions) -> None:
    params = json.loads(json.dumps(options.to_params()))  # what crosses the worker's pipe
    back = GenerateOptions.from_params(params)
    assert back == options
    assert set(params) == {f.name for f in fields(GenerateOptions)}


@pytest.mark.parametrize(("change", "message"), [
    ({"seed": -1}, "seed must be a whole number"),
    ({"seed": 2**40}, "seed must be a whole number"),
    ({"seed": True}, "seed must be a whole number"),
    ({"seed": 1.5}, "seed must be a whole number"),
    ({"max_seconds": math.nan}, "maximum duration must be a finite number"),
    ({"max_seconds": math.inf}, "maximum duration must be a finite number"),
    ({"max_seconds": 0.0}, "positive number of seconds"),
    ({"fps": 0.5}, "outside 1..240"),
    ({"fps": math.nan}, "fps must be a finite number"),
    ({"fps": "30"}, "fps must be a number"),
    ({"lips": 11.0}, "lips must be between 0 and 10"),
    ({"blinks": -0.1}, "blinks must be between 0 and 10"),
    ({"expression": False}, "expression must be a number"),
    ({"model": "nonexistent-model"}, "unknown model"),
    ({"device": "tpu"}, "unknown compute device"),
    ({"runtime": "jax"}, "unknown stage-2 runtime"),
    ({"runtime": "numpy", "device": "cuda"}, "numpy runtime runs on the CPU"),
    ({"instruction_text": "   "}, "instruction text is empty"),
    ({"instructions": (), }, "no segments"),
    ({"instructions": TRACK, "instruction_text": "A sad person speaks."}, "not both"),
])
def test_bad_values_fail_when_the_options_are_made(change: dict, message: str) -> None:
    with pytest.raises(AviTalkError, match=message):
        GenerateOptions(**change)


@pytest.mark.parametrize(("params", "message"), [
    ({"segments": []}, "unknown generation option"),  # the old wire format: refused, not ignored
    ({"model": 3}, "model must be a string"),
    ({"instructions": "happy"}, "must be a list of segments"),
    ({"transcript": ["a"]}, "transcript must be a string"),
    ("stage2", "must be a JSON object"),
])
def test_from_params_refuses_what_to_params_never_writes(params: object, message: str) -> None:
    with pytest.raises(AviTalkError, match=message):
        GenerateOptions.from_params(params)  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "message"), [
    (["--seed", "-1"], "seed must be a whole number"),
    (["--max-duration", "nan"], "maximum duration must be a finite number"),
    (["--lips", "inf"], "lips must be a finite number"),
    (["--device", "tpu"], "unknown compute device"),
])
def test_the_command_line_refuses_bad_values_in_one_line(spoken: SpokenClip, tmp_path: Path, args: list[str],
                                                          message: str) -> None:
    out = tmp_path / "take.npz"
    done = run_cli("generate", str(spoken.path), "-o", str(out), "--model", "procedural", *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error:") and message in done.stderr
    assert not out.exists()


def test_analyze_refuses_a_nan_duration_limit(spoken: SpokenClip, tmp_path: Path) -> None:
    out = tmp_path / "track.json"
    done = run_cli("analyze", str(spoken.path), "-o", str(out), "--max-duration", "nan")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "finite number" in done.stderr
    assert not out.exists()


def test_one_generation_path_with_and_without_the_cache(spoken: SpokenClip, tmp_path: Path) -> None:
    """The worker's job and a direct call run the same path: the same options give the same animation, and the
    cache only changes what is recomputed."""
    options = GenerateOptions(model="procedural", fps=25.0, seed=5, transcript=spoken.text)
    direct = generate(spoken.path, options)
    cache = AnalysisCache()
    first = generate(spoken.path, options, cache=cache)
    again = generate(spoken.path, GenerateOptions.from_params({**options.to_params(), "seed": 6}), cache=cache)
    assert (first.audio_cached, first.reused_analysis) == (False, False)
    assert (again.audio_cached, again.reused_analysis) == (True, True)
    assert (direct.animation.values == first.animation.values).all()
    assert not (again.animation.values == first.animation.values).all()  # another take

    runner = JobRunner()
    out = tmp_path / "take.npz"
    result, _ = runner.run("generate", {"audio": str(spoken.path), "output": str(out),
                                        "options": options.to_params()}, lambda stage, fraction: None)
    from avi_talking.core.animation import Animation

    assert (Animation.load(out).values == direct.animation.values).all()
    assert result["device"] == "cpu" and result["model"] == "procedural"


def test_a_track_is_checked_against_its_audio(spoken: SpokenClip, tmp_path: Path) -> None:
    """More segments than the audio can hold: refused in one line; a segment past the end: a warning."""
    from avi_talking.core.instructions import track_to_dict

    duration = spoken.speech.samples.shape[0] / spoken.speech.sr  # type: ignore[attr-defined]
    crowded = tmp_path / "crowded.json"
    step = duration / 40
    crowded.write_text(json.dumps(track_to_dict([Segment(k * step, (k + 1) * step, Instruction())
                                                 for k in range(40)])))
    out = tmp_path / "take.npz"
    done = run_cli("generate", str(spoken.path), "-o", str(out), "--instructions", str(crowded))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "segments for" in done.stderr
    assert not out.exists()
    late = tmp_path / "late.json"
    late.write_text(json.dumps(track_to_dict([Segment(0.0, duration, Instruction()),
                                              Segment(duration + 1.0, duration + 2.0, Instruction("happy", 0.5))])))
    done = run_cli("generate", str(spoken.path), "-o", str(out), "--instructions", str(late))
    assert done.returncode == 0, done.stderr
    assert "after the audio ends" in done.stderr and out.exists()


def test_generate_never_writes_over_its_instruction_track(spoken: SpokenClip, tmp_path: Path) -> None:
    from avi_talking.core.instructions import track_to_dict

    track = tmp_path / "take.json"
    track.write_text(json.dumps(track_to_dict([Segment(0.0, 1.0, Instruction("happy", 0.5))])))
    before = track.read_bytes()
    done = run_cli("generate", str(spoken.path), "-o", str(track), "--instructions", str(track))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and done.stderr.startswith("error:")
    assert track.read_bytes() == before


def test_the_cache_checks_the_audio_file_before_hashing_it(tmp_path: Path) -> None:
    """A named pipe would block the hash forever (the worker's cache hashes before it decodes)."""
    import os
    import threading

    fifo = tmp_path / "line.wav"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            AnalysisCache().clip(str(fifo), 60.0)
        except BaseException as exc:  # the outcome is asserted below
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "the cache blocked on a named pipe"
    assert isinstance(outcome[0], AviTalkError) and "pipe" in str(outcome[0])


@pytest.mark.parametrize("runtime", ["numpy", "torch"])
def test_the_runtime_is_chosen_and_recorded(spoken: SpokenClip, tmp_path: Path, runtime: str) -> None:
    from avi_talking.core.animation import Animation

    out = tmp_path / f"{runtime}.npz"
    done = run_cli("generate", str(spoken.path), "-o", str(out), "--runtime", runtime, "--text",
                   "A neutral person speaks.")
    assert done.returncode == 0, done.stderr
    assert Animation.load(out).meta["runtime"] == runtime


def test_the_torch_runtime_without_torch_is_one_line(spoken: SpokenClip, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "take.npz"
    code = ("import sys; sys.modules['torch'] = None\n"
            "from avi_talking.cli import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "generate", str(spoken.path), "-o", str(out), "--runtime",
                           "torch"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "pip install" in done.stderr
    assert not out.exists()
