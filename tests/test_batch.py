"""Headless: ``avitalk batch`` over a folder (one .blend per file, or one take per file), and the
``blender -c avitalk`` command registered by the add-on."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

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


# ---- the artist's files are never outputs; an interrupted batch still leaves its summary ------------


def _artist_blend(path: Path) -> tuple[bytes, int]:
    """A real .blend with a mesh "Face" holding shape keys; returns its bytes and (set) mtime."""
    code = ("import bpy, sys\n"
            "bpy.ops.wm.read_factory_settings(use_empty=True)\n"
            "m = bpy.data.meshes.new('M'); m.from_pydata([(0,0,0),(1,0,0),(0,1,0)], [], [(0,1,2)])\n"
            "o = bpy.data.objects.new('Face', m); bpy.context.scene.collection.objects.link(o)\n"
            "o.shape_key_add(name='Basis'); o.shape_key_add(name='jawOpen')\n"
            "bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])\n")
    subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, check=True, timeout=300)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    return path.read_bytes(), path.stat().st_mtime_ns


def _refused(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], done.stderr


def test_batch_never_writes_over_the_blend_it_reads(tmp_path: Path, spoken: SpokenClip) -> None:
    lines, out = tmp_path / "lines", tmp_path / "out"
    lines.mkdir()
    out.mkdir()
    shutil.copy(spoken.path, lines / "shot.wav")  # its output would be out/shot.blend
    shutil.copy(spoken.path, lines / "other.wav")
    shot = out / "shot.blend"
    before = _artist_blend(shot)
    done = run_cli("batch", str(lines), "-o", str(out), "--blend", str(shot), "--object", "Face",
                   "--model", "procedural")
    _refused(done, "refusing to write over an input")
    assert "shot.wav" in done.stderr
    # --takes naming the --blend file (reached through a symlinked output folder)
    (tmp_path / "link").symlink_to(out)
    done = run_cli("batch", str(lines), "-o", str(tmp_path / "link"), "--blend", str(shot), "--object", "Face",
                   "--takes", "shot.blend", "--model", "procedural")
    _refused(done, "--takes file")
    assert (shot.read_bytes(), shot.stat().st_mtime_ns) == before
    assert sorted(p.name for p in out.iterdir()) == ["shot.blend"]  # nothing else written, not even a summary


def test_batch_refuses_two_files_with_one_output(tmp_path: Path, spoken: SpokenClip) -> None:
    lines = tmp_path / "lines"
    lines.mkdir()
    for name in ("a.wav", "a.flac", "a_wav.wav"):  # a.wav → a_wav.blend, and so does a_wav.wav
        (lines / name).write_bytes(spoken.path.read_bytes())
    done = run_cli("batch", str(lines), "-o", str(tmp_path / "out"), "--model", "procedural")
    _refused(done, "would both be saved as a_wav.blend")
    assert not (tmp_path / "out").exists()


def test_batch_damaged_blend_fails_before_any_file(tmp_path: Path, spoken: SpokenClip) -> None:
    lines = tmp_path / "lines"
    lines.mkdir()
    shutil.copy(spoken.path, lines / "line.wav")
    good = tmp_path / "good.blend"
    _artist_blend(good)
    damaged = tmp_path / "damaged.blend"
    damaged.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    done = run_cli("batch", str(lines), "-o", str(tmp_path / "out"), "--blend", str(damaged), "--object", "Face",
                   "--model", "procedural")
    _refused(done, "Blender cannot open blend file")
    assert "[1/1]" not in done.stderr and not list((tmp_path / "out").iterdir())


def test_batch_named_pipe_in_the_folder_fails_alone(folder: Path, tmp_path: Path) -> None:
    (folder / "broken.wav").unlink()
    os.mkfifo(folder / "pipe.wav")
    out = tmp_path / "out"
    done = run_cli("batch", str(folder), "-o", str(out), "--model", "procedural")
    assert done.returncode == 1, done.stderr
    summary = json.loads((out / "batch_summary.json").read_text())
    failed = [f for f in summary["files"] if not f["ok"]]
    assert summary["baked"] == 2 and [f["audio"] for f in failed] == ["pipe.wav"]
    assert "named pipe" in failed[0]["error"]


def test_interrupted_batch_writes_what_finished(tmp_path: Path) -> None:
    """SIGINT after the first output appears: exit 130, and a summary naming the baked, unfinished and
    not-started files; every listed output exists, and no temporary file is left."""
    lines, out = tmp_path / "lines", tmp_path / "out"
    lines.mkdir()
    t = np.arange(16000) / 16000
    for k in range(8):  # short voiced tones: the procedural model runs phone recognition on each
        samples = 0.3 * np.sin(2 * np.pi * (150 + 20 * k) * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
        sf.write(lines / f"line_{k}.wav", samples.astype(np.float32), 16000)
    proc = subprocess.Popen([sys.executable, "-m", "avi_talking", "batch", str(lines), "-o", str(out),
                             "--model", "procedural"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not (out / "line_0.blend").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no output after 300 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "error: interrupted"
    summary = json.loads((out / "batch_summary.json").read_text())
    assert summary["stopped"] == "interrupted"
    baked = [f["audio"] for f in summary["files"] if f["ok"]]
    assert baked and baked[0] == "line_0.wav" and summary["baked"] == len(baked)
    listed = baked + summary["unfinished"] + summary["not_started"]
    assert listed == [f"line_{k}.wav" for k in range(8)] and summary["not_started"]
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{Path(a).stem}.blend" for a in baked]
                                                           + ["batch_summary.json"])
    assert "interrupted after" in stdout
