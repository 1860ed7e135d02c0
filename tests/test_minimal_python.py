"""The default path in a Python that has only numpy and bpy (what Blender's own Python has): the `avitalk`
command line bakes the sample with stage 1 + stage 2 on the numpy runtime; what needs more says what to install."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "sample.wav"
BLOCKED = ("torch", "soundfile", "soxr", "pocketsphinx", "librosa", "transformers", "requests", "scipy")

RUN = """
import json, sys
for name in {blocked!r}:
    sys.modules[name] = None  # as absent as in Blender's Python
from avi_talking.cli import main
code = main(sys.argv[1:])
loaded = sorted(name for name in {blocked!r} if sys.modules.get(name) is not None)
print("LOADED " + json.dumps(loaded))
sys.exit(code)
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", RUN.format(blocked=BLOCKED), *args], capture_output=True,
                          text=True, timeout=600, check=False)


def test_generate_runs_on_numpy_alone(tmp_path: Path) -> None:
    from avi_talking.core.animation import Animation

    out = tmp_path / "take.npz"
    done = _run("generate", str(SAMPLE), "-o", str(out), "--seed", "2")
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout
    meta = Animation.load(out).meta
    assert meta["runtime"] == "numpy" and meta["audio_decoder"] == "numpy-wav+numpy"
    assert meta["instruction_source"] == "stage 1"


@pytest.mark.bpy
def test_bake_runs_on_numpy_and_bpy_alone(tmp_path: Path) -> None:
    pytest.importorskip("bpy")
    out = tmp_path / "shot.blend"
    done = _run("bake", str(SAMPLE), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.is_file() and "LOADED []" in done.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "procedural"], "pocketsphinx"),
    (["--runtime", "torch"], "pip install"),
])
def test_what_needs_more_says_what_to_install(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "take.npz"
    done = _run("generate", str(SAMPLE), "-o", str(out), *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error:") and message in done.stderr
    assert not out.exists()


def test_other_formats_without_a_decoder_say_so(tmp_path: Path) -> None:
    """No soundfile and no Blender (no aud): a FLAC is one line that says what to do."""
    import soundfile as sf

    flac = tmp_path / "line.flac"
    data, rate = sf.read(SAMPLE)
    sf.write(flac, data, rate)
    out = tmp_path / "take.npz"
    done = _run("generate", str(flac), "-o", str(out))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "convert it to WAV" in done.stderr and not out.exists()
    assert json.loads(done.stdout.split("LOADED ", 1)[1]) == []
