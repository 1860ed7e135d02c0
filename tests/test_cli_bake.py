"""``avitalk bake`` end to end: a spoken sentence → a saved .blend whose keys equal the Animation."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avi_talking.core.animation import Animation
from avi_talking.core.arkit import ARKIT52

from conftest import SpokenClip, run_cli

pytestmark = pytest.mark.bpy
bpy = pytest.importorskip("bpy")

from avi_talking.addon import compat  # noqa: E402
from avi_talking.addon.bake import META_PROPERTY  # noqa: E402


def _open(path: Path) -> None:
    bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)


def _head() -> object:
    heads = [o for o in bpy.data.objects if o.type == "MESH" and o.data.shape_keys is not None]
    assert len(heads) == 1
    return heads[0]


HAPPY = "A happy person speaks with lip corners mildly pulled up."


@pytest.mark.parametrize(("fps", "model"), [("30", "stage2"), ("29.97", "stage2"), ("25", "procedural")])
def test_bake_writes_keys_equal_to_the_animation(spoken: SpokenClip, tmp_path: Path, fps: str, model: str) -> None:
    blend, npz = tmp_path / "shot.blend", tmp_path / "take.npz"
    how = ["--text", HAPPY] if model == "stage2" else ["--transcript", spoken.text]
    args = [str(spoken.path), "--seed", "3", "--fps", fps, "--model", model, *how]
    baked = run_cli("bake", *args, "-o", str(blend))
    assert baked.returncode == 0, baked.stderr
    assert f"wrote {blend}" in baked.stdout
    assert run_cli("generate", *args, "-o", str(npz)).returncode == 0
    animation = Animation.load(npz)

    _open(blend)
    scene = bpy.context.scene
    head = _head()
    key = head.data.shape_keys
    action = key.animation_data.action
    curves = compat.action_fcurves(action, key)
    animated = {c.data_path.split('"')[1] for c in curves}
    assert set(ARKIT52) <= animated and len(animated) >= 52
    assert scene.render.fps / scene.render.fps_base == pytest.approx(animation.fps, rel=1e-6)
    assert (scene.frame_start, scene.frame_end) == (1, animation.n_frames)
    if compat.audio_supported():
        strips = list(compat.iter_sound_strips(scene))
        assert len(strips) == 1 and strips[0].frame_start == 1
        assert Path(bpy.path.abspath(strips[0].sound.filepath)).resolve() == spoken.path.resolve()

    for t in (0, 7, animation.n_frames // 2, animation.n_frames - 1):
        scene.frame_set(1 + t)
        for name in ("jawOpen", "mouthClose", "eyeBlinkLeft", "mouthPucker", "browInnerUp"):
            assert key.key_blocks[name].value == pytest.approx(float(animation.channel(name)[t]), abs=1e-5)
    meta = json.loads(action[META_PROPERTY])  # the take's provenance is kept in the .blend
    assert meta["model"] == animation.meta["model"] and meta["seed"] == 3
    if model == "stage2":
        assert [s["text"] for s in meta["instructions"]] == [HAPPY] and meta["instruction_source"] == "text"


def test_bake_into_the_users_own_file_and_object(tmp_path: Path, spoken: SpokenClip) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    mesh = bpy.data.meshes.new("FaceMesh")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new("Face", mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for name in ("jawOpen", "mouthClose", "eyeBlinkLeft"):
        obj.shape_key_add(name=name)
    base = tmp_path / "mine.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(base))
    before = hashlib.sha256(base.read_bytes()).hexdigest()

    out = tmp_path / "mine_baked.blend"
    result = run_cli("bake", str(spoken.path), "-o", str(out), "--blend", str(base), "--object", "Face")
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256(base.read_bytes()).hexdigest() == before  # the input file is never modified
    _open(out)
    key = bpy.data.objects["Face"].data.shape_keys
    animated = {c.data_path.split('"')[1] for c in compat.action_fcurves(key.animation_data.action, key)}
    assert animated == {"jawOpen", "mouthClose", "eyeBlinkLeft"}
    assert len(bpy.data.objects) == 1  # no built-in head added to the user's file


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--object", "Face"], "--object needs --blend"),
        (["--fps", "0"], "frame rate"),
        (["--blend", "missing.blend"], "does not exist"),
    ],
)
def test_bad_arguments_fail_cleanly(tmp_path: Path, spoken: SpokenClip, extra: list[str], message: str) -> None:
    out = tmp_path / "x.blend"
    result = run_cli("bake", str(spoken.path), "-o", str(out), *extra, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_audio_leaves_no_blend(tmp_path: Path) -> None:
    audio = tmp_path / "broken.wav"
    audio.write_bytes(b"RIFF\x10\x00\x00\x00WAVE")
    out = tmp_path / "x.blend"
    result = run_cli("bake", str(audio), "-o", str(out))
    assert result.returncode == 2 and "truncated or corrupt" in result.stderr
    assert not out.exists() and not list(tmp_path.glob("*.blend*"))


def test_wrong_output_suffix(tmp_path: Path, spoken: SpokenClip) -> None:
    result = run_cli("bake", str(spoken.path), "-o", str(tmp_path / "x.npz"))
    assert result.returncode == 2 and ".blend" in result.stderr


def test_generated_values_are_in_range(spoken: SpokenClip, tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    assert run_cli("generate", str(spoken.path), "-o", str(out)).returncode == 0
    anim = Animation.load(out)
    face, head = anim.values[:, : len(ARKIT52)], anim.values[:, len(ARKIT52) :]
    assert anim.channels[: len(ARKIT52)] == ARKIT52
    assert face.min() >= 0.0 and face.max() <= 1.0 and np.ptp(face[:, ARKIT52.index("jawOpen")]) > 0.2
    assert np.abs(head).max(initial=0.0) <= 0.35 + 0.3  # radians: the decoder's range and the take's drawn drift


# ---- the user's files: never overwritten, never opened when they are not .blend files ----------------


def _save_blend(path: Path, compress: bool) -> Path:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    mesh = bpy.data.meshes.new("M")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("Face", mesh))
    bpy.ops.wm.save_as_mainfile(filepath=str(path), compress=compress)
    return path


def _bad_blend(tmp_path: Path, kind: str, spoken: SpokenClip) -> Path:
    bad = tmp_path / "bad.blend"
    if kind == "wav-renamed":
        bad.write_bytes(spoken.path.read_bytes())
    elif kind == "text":
        bad.write_text("not a blend file\n" * 10)
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind in ("truncated", "truncated-zstd", "header-only"):
        full = _save_blend(tmp_path / "full.blend", compress=kind == "truncated-zstd").read_bytes()
        (tmp_path / "full.blend").unlink()
        bad.write_bytes(full[:12] if kind == "header-only" else full[: len(full) // 2])
    elif kind == "gzip-of-text":
        bad.write_bytes(gzip.compress(b"hello, not a blend"))
    elif kind == "fifo":
        os.mkfifo(bad)
    elif kind == "directory":
        bad.mkdir()
    return bad


BAD_BLENDS = {
    "wav-renamed": "is not a .blend file",
    "text": "is not a .blend file",
    "empty": "is empty (0 bytes)",
    "truncated": "Blender cannot open blend file",
    "truncated-zstd": "Blender cannot open blend file",
    "header-only": "Blender cannot open blend file",
    "gzip-of-text": "damaged compressed .blend file",
    "fifo": "is a named pipe",
    "directory": "is a directory",
}


@pytest.mark.parametrize("kind", sorted(BAD_BLENDS))
def test_bad_blend_input_fails_in_one_line(tmp_path: Path, spoken: SpokenClip, kind: str) -> None:
    bad = _bad_blend(tmp_path, kind, spoken)
    out = tmp_path / "out.blend"
    result = run_cli("bake", str(spoken.path), "-o", str(out), "--blend", str(bad), "--object", "Face",
                     "--model", "procedural", "--transcript", spoken.text)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and BAD_BLENDS[kind] in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.blend"]  # no output, no temporary file


@pytest.mark.parametrize("how", ["symlink", "hardlink", "dotdot"])
def test_output_that_is_the_input_blend_is_refused(tmp_path: Path, spoken: SpokenClip, how: str) -> None:
    mine = _save_blend(tmp_path / "mine.blend", compress=False)
    os.utime(mine, ns=(1_000_000_000, 1_000_000_000))
    before = (mine.read_bytes(), mine.stat().st_mtime_ns)
    (tmp_path / "sub").mkdir()
    out = {"symlink": tmp_path / "link.blend", "hardlink": tmp_path / "hard.blend",
           "dotdot": tmp_path / "sub" / ".." / "mine.blend"}[how]
    if how == "symlink":
        out.symlink_to(mine)
    elif how == "hardlink":
        os.link(mine, out)
    result = run_cli("bake", str(spoken.path), "-o", str(out), "--blend", str(mine), "--object", "Face",
                     "--model", "procedural")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to write over an input" in lines[0], result.stderr
    assert (mine.read_bytes(), mine.stat().st_mtime_ns) == before


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_blend_output_honours_the_umask(tmp_path: Path, spoken: SpokenClip, umask: int) -> None:
    out = tmp_path / "take.blend"
    result = subprocess.run([sys.executable, "-m", "avi_talking", "bake", str(spoken.path), "-o", str(out),
                             "--model", "procedural", "--transcript", spoken.text], capture_output=True, text=True,
                            timeout=600, check=False, preexec_fn=lambda: os.umask(umask))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("option", ["--instructions", "--transcript", "--flame", "--landmarks"])
def test_named_pipe_for_any_input_option_fails_at_once(tmp_path: Path, spoken: SpokenClip, option: str) -> None:
    """Each file option is checked by kind before anything reads it: a FIFO would block its reader."""
    fifo = tmp_path / {"--instructions": "track.json", "--transcript": "words.txt", "--flame": "model.npz",
                       "--landmarks": "marks.npy"}[option]
    os.mkfifo(fifo)
    extra = [option, str(fifo)]
    if option == "--landmarks":  # needs a --flame: a regular file, checked by kind first, never parsed
        (tmp_path / "model.npz").write_bytes(b"not parsed")
        extra += ["--flame", str(tmp_path / "model.npz")]
    out = tmp_path / "out.blend"
    result = subprocess.run([sys.executable, "-m", "avi_talking", "bake", str(spoken.path), "-o", str(out),
                             "--model", "procedural", *extra], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is a named pipe (FIFO), not a regular file" in lines[0], result.stderr
    assert not out.exists()


def test_import_refuses_to_write_over_its_sequence(tmp_path: Path) -> None:
    seq = tmp_path / "take.npz"
    seq.write_bytes(b"the artist's sequence")
    os.utime(seq, ns=(1_000_000_000, 1_000_000_000))
    result = run_cli("import", str(seq), "-o", str(tmp_path / "." / "take.npz"), "--fps", "30")
    assert result.returncode == 2 and "refusing to write over an input" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert seq.read_bytes() == b"the artist's sequence" and seq.stat().st_mtime_ns == 1_000_000_000
