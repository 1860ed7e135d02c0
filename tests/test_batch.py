"""Headless: ``avitalk batch`` over a folder (one .blend per file, or one take per file), and the
``blender -c avitalk`` command registered by the add-on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SpokenClip, run_cli

pytestmark = pytest.mark.bpy
pytest.importorskip("bpy")


@pytest.fixture
def folder(tmp_path: Path, spoken: SpokenClip) -> Path:
    src = tmp_path / "lines"
    src.mkdir()
    shutil.copy(spoken.path, src / "line_a.wav")
    shutil.copy(spoken.path, src / "line_b.wav")
    (src / "broken.wav").write_text("not audio")
    (src / "notes.txt").write_text("not an audio file name: skipped")
    return src


def test_batch_one_blend_per_file_with_a_summary(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_cli("batch", str(folder), "-o", str(out), "--model", "procedural", "--fps", "24")
    assert done.returncode == 1, done.stderr  # one file failed
    assert "batch: 2 baked, 1 failed" in done.stdout and "broken.wav" in done.stdout
    assert sorted(p.name for p in out.glob("*.blend")) == ["line_a.blend", "line_b.blend"]
    summary = json.loads((out / "batch_summary.json").read_text())
    assert (summary["baked"], summary["failed"]) == (2, 1)
    failed = next(f for f in summary["files"] if not f["ok"])
    assert failed["audio"] == "broken.wav" and "not an audio file" in failed["error"]


def test_batch_takes_on_one_rig(folder: Path, tmp_path: Path) -> None:
    (folder / "broken.wav").unlink()
    out = tmp_path / "out"
    done = run_cli("batch", str(folder), "-o", str(out), "--model", "procedural", "--takes", "all.blend")
    assert done.returncode == 0, done.stderr
    check = subprocess.run([sys.executable, "-c", (
        "import bpy, sys; bpy.ops.wm.open_mainfile(filepath=sys.argv[1]);"
        "print(sorted(a.name for a in bpy.data.actions if a.get('avi_talking_take')))"), str(out / "all.blend")],
        capture_output=True, text=True, check=True)
    assert "['AVI line_a take 1', 'AVI line_b take 1']" in check.stdout


def test_batch_bad_arguments(tmp_path: Path) -> None:
    done = run_cli("batch", str(tmp_path / "nowhere"), "-o", str(tmp_path / "o"))
    assert done.returncode == 2 and done.stderr.startswith("error: folder")


def test_blender_cli_command(spoken: SpokenClip, tmp_path: Path) -> None:
    """What ``blender -c avitalk bake ...`` runs: the command the extension registers with Blender."""
    out = tmp_path / "cli.blend"
    code = (
        "import sys, bpy, avi_talking\n"
        "from avi_talking.cli import blender_command as cli_command\n"
        "avi_talking.register()\n"
        "assert cli_command._handle is not None\n"
        "rc = cli_command.avitalk_command(['bake', sys.argv[1], '-o', sys.argv[2], '--model', 'procedural'])\n"
        "avi_talking.unregister()\n"
        "assert cli_command._handle is None\n"
        "sys.exit(rc)\n")
    done = subprocess.run([sys.executable, "-c", code, str(spoken.path), str(out)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert out.is_file() and "wrote" in done.stdout
