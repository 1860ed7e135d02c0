"""The installable extension: built by Blender's own extension tool (scripts/build_extension.py), then
installed and enabled with Blender's installer into a throw-away user folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avi_talking.core.arkit import HEAD_ROTATIONS

pytestmark = pytest.mark.bpy
pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "sample.wav"

INSTALL = """
import sys, bpy
bpy.ops.wm.read_factory_settings(use_empty=True)
assert bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="user_default",
                                                enable_on_install=True) == {"FINISHED"}
assert "bl_ext.user_default.avi_talking" in bpy.context.preferences.addons
assert hasattr(bpy.types.Scene, "avi_talking") and hasattr(bpy.ops.avitalk, "bake_audio")
from bl_ext.user_default.avi_talking.core.worker import client
env = client.worker_env()
assert client.WORKER_MODULE == "avi_talking.core.worker", client.WORKER_MODULE
assert env["PYTHONPATH"].split(":")[0] == str(client.PACKAGE_ROOT.parent), env["PYTHONPATH"]
import subprocess
where = subprocess.run([sys.executable, "-m", client.WORKER_MODULE, "--probe"], env=env, capture_output=True,
                       text=True, check=True)
seen = subprocess.run([sys.executable, "-c", "import avi_talking; print(avi_talking.__file__)"], env=env,
                      capture_output=True, text=True, check=True).stdout.strip()
assert seen.startswith(str(client.PACKAGE_ROOT)), seen  # the worker runs the installed add-on's own code
bpy.ops.avitalk.add_head()
print("installed", client.PACKAGE_ROOT)
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--output-dir", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return Path(done.stdout.strip().splitlines()[-1])


def test_zip_layout_follows_the_manifest(built: Path) -> None:
    with zipfile.ZipFile(built) as z:
        names = z.namelist()
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
    assert manifest["id"] == "avi_talking" and built.name == f"avi_talking-{manifest['version']}.zip"
    assert "__init__.py" in names and "addon/operators.py" in names and "core/worker/__main__.py" in names
    assert any(n.startswith("weights/stage2/") for n in names)
    for excluded in ("tests/", "scripts/", "docs/", ".venv", ".git", "__pycache__", ".mypy_cache", "benchmarks/"):
        assert not any(excluded in n for n in names), excluded


def test_installs_and_registers_with_blender(built: Path, tmp_path: Path) -> None:
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "blender-user")}
    # cwd: not the folder pytest runs from, where "avi_talking" may be the checkout (sys.path[0] of "-c")
    done = subprocess.run([sys.executable, "-c", INSTALL, str(built)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    installed = Path(done.stdout.split("installed ")[-1].strip())
    assert installed.name == "avi_talking" and (installed / "blender_manifest.toml").is_file()
    assert str(installed).startswith(str(tmp_path))


# ---- the default jobs inside Blender's own Python, nothing but numpy -----------------------------------

# Runs in a fresh Python whose path has "blender" in it (a Blender's bundled Python, so the worker detection
# skips it), with the project's heavy extras unimportable, no worker Python on PATH, and the checkout's own
# ``avi_talking`` blocked too: what runs is the installed zip. Args: ZIP AUDIO WORKDIR; writes WORKDIR/report.json.
IN_BLENDER = r'''
import sys
BLOCKED = ("torch", "soundfile", "soxr", "pocketsphinx", "librosa", "transformers", "avi_talking")
for name in BLOCKED:
    sys.modules[name] = None  # an import of any of them raises ImportError

import importlib, json, os, time
from pathlib import Path
import bpy

zip_path, audio, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
PKG = "bl_ext.user_default.avi_talking"
report = {"timings": {}}


def module(name):
    return importlib.import_module(f"{PKG}.{name}")


def keys_at_every_frame(key):
    """Each shape key's value at every frame of the scene's range, as Blender evaluates the assigned action."""
    scene = bpy.context.scene
    names = [kb.name for kb in key.key_blocks][1:]
    values = {name: [] for name in names}
    for frame in range(scene.frame_start, scene.frame_end + 1):
        scene.frame_set(frame)
        for name in names:
            values[name].append(key.key_blocks[name].value)
    return values


def take_of(key):
    compat = module("addon.compat")
    action = key.animation_data.action
    return {"frame_start": bpy.context.scene.frame_start, "frame_end": bpy.context.scene.frame_end,
            "fps": bpy.context.scene.render.fps / bpy.context.scene.render.fps_base,
            "curves": sorted(fc.data_path.split('"')[1] for fc in compat.action_fcurves(action, key)),
            "meta": json.loads(action["avi_talking_meta"]), "keys": keys_at_every_frame(key)}


t0 = time.perf_counter()
bpy.ops.wm.read_factory_settings(use_empty=True)
assert bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                enable_on_install=True) == {"FINISHED"}
report["timings"]["install"] = time.perf_counter() - t0
client, worker_session = module("core.worker.client"), module("addon.worker_session")
report["package_root"] = str(client.PACKAGE_ROOT)
report["candidates"] = client.python_candidates()
try:
    report["detected"] = client.detect_python()
except client.WorkerError as exc:
    report["detected"] = None
    report["detect_error"] = str(exc)

bpy.ops.avitalk.add_head()
head = bpy.context.view_layer.objects.active
settings = bpy.context.scene.avi_talking
settings.audio_path = audio
t0 = time.perf_counter()
report["analyze"] = sorted(bpy.ops.avitalk.analyze())
report["timings"]["analyze"] = time.perf_counter() - t0
report["texts"] = [seg.text for seg in settings.segments]
report["track"] = module("addon.segments").track(settings)  # the segments as Bake hands them to the model
t0 = time.perf_counter()
report["bake"] = sorted(bpy.ops.avitalk.bake_audio())
report["timings"]["bake"] = time.perf_counter() - t0
report["settings"] = {"seed": settings.seed, "lips": settings.lips, "expression": settings.expression,
                      "blinks": settings.blinks}
report["take"] = take_of(head.data.shape_keys)
report["worker_started"] = worker_session.worker_client() is not None
report["children"] = sorted(p for t in Path("/proc/self/task").glob("*")
                            for p in (t / "children").read_text().split())

# what ``blender -c avitalk bake`` runs (the root register() registered it), in this same Python
command = module("cli.blender_command")
report["cli_registered"] = command._handle is not None or not hasattr(bpy.utils, "register_cli_command")
out = work / "cli.blend"
t0 = time.perf_counter()
report["cli_rc"] = command.avitalk_command(["bake", audio, "-o", str(out)])
report["timings"]["cli_bake"] = time.perf_counter() - t0
bpy.ops.wm.open_mainfile(filepath=str(out), load_ui=False)
heads = [o for o in bpy.data.objects if o.type == "MESH" and o.data.shape_keys is not None]
report["cli_take"] = take_of(heads[0].data.shape_keys)

report["imported"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED and sys.modules[m] is not None)
(work / "report.json").write_text(json.dumps(report))
'''


@pytest.fixture(scope="module")
def numpy_only_run(built: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The zip installed and used in a Blender whose Python has only what Blender's has (numpy)."""
    work = tmp_path_factory.mktemp("numpy-only")
    python = work / "blender-python"  # the venv under a name like a Blender's bundled Python
    python.symlink_to(Path(sys.prefix), target_is_directory=True)
    empty_bin = work / "bin"  # PATH: no python3.11, python3 or python to find
    empty_bin.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("AVITALK_WORKER_PYTHON", "PYTHONPATH",
                                                              "AVITALK_AUDIO_BACKEND")}
    env.update(PATH=str(empty_bin), BLENDER_USER_RESOURCES=str(work / "blender-user"))
    done = subprocess.run([str(python / "bin" / "python"), "-c", IN_BLENDER, str(built), str(SAMPLE), str(work)],
                          capture_output=True, text=True, env=env, cwd=work, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report: dict[str, Any] = json.loads((work / "report.json").read_text())
    return report


def _max_difference(take: dict[str, Any], animation: Any) -> float:
    """The largest |key - torch| over every channel and frame (Blender frame ``frame_start + t`` holds t)."""
    assert take["frame_end"] - take["frame_start"] + 1 == animation.n_frames
    assert take["fps"] == pytest.approx(animation.fps, rel=1e-6)
    face = [name for name in animation.channels if name not in HEAD_ROTATIONS]  # the head turns a pivot, not keys
    assert set(take["curves"]) == set(face) and len(take["curves"]) == 52
    worst = 0.0
    for name in face:
        baked = np.asarray(take["keys"][name], dtype=np.float64)
        assert baked.shape == (animation.n_frames,)
        worst = max(worst, float(np.max(np.abs(baked - animation.channel(name)))))
    return worst


def test_default_jobs_run_inside_blender_with_numpy_alone(numpy_only_run: dict[str, Any]) -> None:
    report = numpy_only_run
    assert report["imported"] == []  # torch, soundfile, soxr, pocketsphinx, ... and the checkout: never
    # no worker Python could have been found, and none was started
    assert report["candidates"] == [] and report["detected"] is None and "no Python" in report["detect_error"]
    assert not (Path(report["package_root"]) / ".venv").exists()
    assert report["worker_started"] is False and report["children"] == []
    assert report["analyze"] == ["FINISHED"] and report["bake"] == ["FINISHED"]
    assert len(report["texts"]) >= 1 and all(report["texts"])
    meta = report["take"]["meta"]
    assert meta["runtime"] == "numpy" and meta["audio_decoder"] == "numpy-wav+numpy"
    assert meta["instruction_source"] == "track" and [s["text"] for s in meta["instructions"]] == report["texts"]
    assert report["cli_registered"] and report["cli_rc"] == 0
    cli_meta = report["cli_take"]["meta"]
    assert cli_meta["runtime"] == "numpy" and cli_meta["audio_decoder"] == "numpy-wav+numpy"


@pytest.mark.filterwarnings("ignore:stage 1 is unsure")
@pytest.mark.parametrize("decoder", ["numpy", "auto"])
def test_keys_baked_in_blender_equal_the_torch_runtime(numpy_only_run: dict[str, Any], decoder: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The keys equal the torch runtime's take of the same job: read by the same numpy WAV decoder (so only
    stage 2's runtime differs), and read by this venv's soundfile and soxr (the command line's full install)."""
    from avi_talking.core.instructions.track import track_from_dict
    from avi_talking.core.pipeline.generate import generate
    from avi_talking.core.pipeline.options import GenerateOptions

    monkeypatch.setenv("AVITALK_AUDIO_BACKEND", decoder)
    take, settings = numpy_only_run["take"], numpy_only_run["settings"]
    track = tuple(track_from_dict({"segments": numpy_only_run["track"]}))
    options = GenerateOptions(runtime="torch", fps=take["fps"], seed=settings["seed"], lips=settings["lips"],
                              expression=settings["expression"], blinks=settings["blinks"], instructions=track)
    # as a job's parameters carry it (the track's action-unit weights rounded to 4 decimals, as in a track
    # file): the very job Bake ran
    torch_take = generate(SAMPLE, GenerateOptions.from_params(options.to_params())).animation
    assert torch_take.meta["runtime"] == "torch"
    if decoder == "numpy":
        assert torch_take.meta["audio_decoder"] == "numpy-wav+numpy"
    assert _max_difference(take, torch_take) < 1e-4

    # ``blender -c avitalk bake SAMPLE``: the defaults (30 fps, seed 0, stage 1's instructions)
    cli = numpy_only_run["cli_take"]
    default = generate(SAMPLE, GenerateOptions(runtime="torch")).animation
    assert [s["text"] for s in cli["meta"]["instructions"]] == [s["text"] for s in default.meta["instructions"]]
    assert _max_difference(cli, default) < 1e-4
