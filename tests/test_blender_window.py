"""The add-on in a real, windowed Blender: Debian's Blender 3.4 binary under Xvfb, loading this checkout
as a legacy add-on (``bl_info``), with the model in the worker process (this test's Python), or — the default
models, no worker Python anywhere — inside Blender's own Python.

Each test checks a run of an in-Blender script from ``tests/blender_window/`` (or
``scripts/screenshot_panel.py``; draw_panels.py's one run serves two tests) through ``scripts/blender_ui.py``:
what it reported, and that Blender printed no Python
traceback (a ``draw`` that raises is printed, not raised). They launch a binary in a subprocess, so they
run once, in the bpy 5.0.1 environment (not marked ``bpy``)."""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "blender_window"
AUDIO = ROOT / "samples" / "sample.wav"
EDITED_TEXT = "A happy person speaks with a broad smile, raised brows and zorbly flutter"  # draw_panels.py's


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("blender_ui", ROOT / "scripts" / "blender_ui.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["blender_ui"] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


blender_ui = _load_runner()
pytestmark = [
    pytest.mark.blender_binary,
    pytest.mark.slow,
    pytest.mark.skipif(bool(blender_ui.missing_tools()),
                       reason=f"{' and '.join(blender_ui.missing_tools())} not installed "
                              "(scripts/bootstrap.sh --bpy42 installs them as root)"),
]


def _run(script: Path, *args: str, env: dict[str, str] | None = None, installed_copy: bool = False) -> Any:
    run = blender_ui.run(script, *args, timeout=120.0, env=env, installed_copy=installed_copy)
    assert not run.result.get("error"), run.result.get("error")
    assert run.returncode == 0, f"Blender exited with {run.returncode}:\n{run.stderr[-3000:]}"
    assert not run.tracebacks(), "Blender printed Python tracebacks:\n" + "\n---\n".join(run.tracebacks())
    return run


@pytest.fixture(scope="module")
def draw_panels_run() -> Any:
    """One run of draw_panels.py, checked by the two tests below."""
    return _run(SCRIPTS / "draw_panels.py", str(AUDIO))


def test_panels_segment_list_and_preferences_draw_in_a_window(draw_panels_run: Any) -> None:
    run = draw_panels_run
    result = run.result
    assert result["head_faces"] > 10000  # 3.4 keeps the faces only with loop_total set (compat)
    assert result["analyze"] == ["FINISHED"] and len(result["segments"]) >= 2
    assert result["segments"][0]["emotion"] == "happy" and result["segments"][0]["ignored"] == "zorbly"
    assert result["match"] == ["FINISHED"] and result["unmatched"] == ["jawOpen"]
    # the sidebar on the add-on's tab: the panel, both sub-panels and one list row per segment drawn
    tab = result["tab"]
    assert tab["AVITALK_PT_main"] >= 1 and tab["AVITALK_PT_mapping"] >= 1 and tab["AVITALK_PT_flame"] >= 1
    assert tab["AVITALK_UL_segments"] >= len(result["segments"])
    # Bake as the button runs it: modal, polled by a timer (whether Blender redraws the panel before a short
    # job ends depends on timing, so result["bake"]["draws_while_running"] is reported, not asserted)
    assert result["bake_invoke"] == ["RUNNING_MODAL"]
    assert result["bake"]["cancelled"] is False and result["bake"]["error"] is None
    assert result["takes"] == ["AVI sample take 1"]
    # a second bake, cancelled with Esc: no new take
    assert result["esc_invoke"] == ["RUNNING_MODAL"] and result["esc"]["cancelled"] is True
    assert result["takes_after_esc"] == ["AVI sample take 1"]
    # the preferences, drawn by Blender's Preferences editor after Test Worker found this Python
    assert result["test_worker"] == ["FINISHED"] and f"worker: {sys.executable}" in run.stdout
    assert result["counts"]["AVITALK_AddonPreferences"] >= 1
    # the Layer & Channels and Rig Fit sub-panels, drawn for real beside the others
    assert result["counts"]["AVITALK_PT_bake_layer"] >= 1 and result["counts"]["AVITALK_PT_rig_fit"] >= 1
    assert result["draw_errors"] == []


def test_segment_editor_at_the_default_sidebar_width(draw_panels_run: Any) -> None:
    """The same run, for issue 17's panel: text wrapped at the sidebar's default width, the panel's height
    kept while a job runs (no sub-panel drawn over its buttons), the controls that would start a second
    job greyed, timeline markers for segments and (aligned in the worker) words, the jump, the wide editor."""
    from avi_talking.core.lipsync.phone_timing import tokenize

    result = draw_panels_run.result
    sidebar = result["sidebar"]
    assert abs(sidebar["region_width"] - 220 * sidebar["ui_scale"]) <= 1  # Blender's default sidebar width
    edited = [entry for entry in result["wrapped"] if entry["text"] == EDITED_TEXT]
    assert edited, "the segment's text was not drawn wrapped"
    for entry in edited:
        assert entry["region_width"] == sidebar["region_width"] and len(entry["lines"]) >= 3
        assert " ".join(entry["lines"]) == EDITED_TEXT and entry["widest"] <= entry["width"]
    # Bake starts: of the sidebar's pixel rows only the status row and the greyed buttons change (before,
    # two more rows pushed everything down and the sub-panels' headers were drawn over Seed and Bake: 77%)
    assert result["rows_changed"] < 0.25, result["rows_changed"]
    assert result["poll_while_running"] == {"analyze": False, "bake_audio": False, "word_markers": False,
                                            "cancel_job": True}
    # S1 was edited to a happy text; S2 keeps stage 1's reading of the sample
    assert result["segment_markers"] == [[1, "S1 happy"],
                                         [result["jump_frame"][1], f"S2 {result['segments'][1]['emotion']}"]]
    assert result["jump"] == ["FINISHED"] and result["jump_frame"][0] == result["jump_frame"][1]
    assert result["words_invoke"] == ["RUNNING_MODAL"] and result["words"]["error"] is None
    assert result["word_markers"] == tokenize(AUDIO.with_suffix(".txt").read_text(encoding="utf-8"))
    # with jobs kept inside Blender (no pocketsphinx there) the panel says so and the button is greyed
    assert "pocketsphinx" in result["words_unavailable"] and result["words_poll_in_process"] is False
    assert result["words_unavailable"] in result["wrapped_in_process"]
    # the wide editor: a dialog Blender drew, the text on one line at its width
    assert result["dialog_invoke"] == ["RUNNING_MODAL"] and result["counts"]["AVITALK_OT_segment_edit_text"] >= 1
    assert [entry["lines"] for entry in result["dialog_wrapped"]][:1] == [[EDITED_TEXT]]


def test_undo_restores_the_scene_exactly_and_each_bake_is_one_step() -> None:
    result = _run(SCRIPTS / "undo_bake.py", str(AUDIO)).result
    before, baked = result["before"], result["baked"]
    assert result["bake"] == ["FINISHED"] and result["undo"] == ["FINISHED"] and result["redo"] == ["FINISHED"]
    # the bake changed what it should: 30 fps, the audio's frame range, a take, a sound strip
    assert baked["fps"] == [30, 1.0] and before["fps"] == [24, 1.0]
    assert baked["key_action"] == "AVI sample take 1" and baked["strips"] and baked["sounds"] == ["sample.wav"]
    assert baked["frames"][1] != before["frames"][1] and baked["sync_mode"] == "AUDIO_SYNC"
    # the artist's action is kept (fake user) but no longer assigned
    assert ["Artist Blink", True, 1, 1, None] in baked["actions"]
    assert result["undone"] == before  # one undo: exactly the scene before the bake
    assert result["redone"] == baked  # redo: the take is back
    assert result["bake2"] == ["FINISHED"] and result["baked2"]["key_action"] == "AVI sample take 2"
    assert result["undone2"] == baked  # one undo per bake: the first take stays


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return int(width), int(height)


def test_screenshot_script_saves_the_panel_in_use(tmp_path: Path) -> None:
    out = tmp_path / "panel.png"
    result = _run(ROOT / "scripts" / "screenshot_panel.py", str(AUDIO), str(out), "procedural").result
    width, height = _png_size(out)
    assert width > 800 and height > 600 and out.stat().st_size > 50_000  # a drawn 3D View, not a blank
    assert result["counts"]["AVITALK_PT_main"] >= 1 and result["counts"]["AVITALK_UL_segments"] >= 2
    assert result["draw_errors"] == [] and result["model"] == "procedural"
    # the sliders rewrote the first segment's text; the timeline has its segment and word markers
    assert result["text"].startswith("A strongly happy person speaks with") and "jaw mildly dropped" in result["text"]
    words = len(AUDIO.with_suffix(".txt").read_text(encoding="utf-8").split())
    assert result["markers"] >= words + 2
    timeline_width, timeline_height = _png_size(tmp_path / "panel_timeline.png")
    assert timeline_width == width and 40 < timeline_height < height


def _path_without_python(folder: Path) -> str:
    """A PATH with every program of this one but no ``python*`` (for Blender, Xvfb and xvfb-run): the worker
    detection finds no python3.11, python3 or python there, nor does Blender (its ``sys.executable`` is None)."""
    folder.mkdir()
    for directory in filter(None, os.environ.get("PATH", "").split(os.pathsep)):
        if not Path(directory).is_dir():
            continue
        for program in Path(directory).iterdir():
            link = folder / program.name
            if not program.name.startswith("python") and not link.is_symlink():
                link.symlink_to(program)
    return str(folder)


@pytest.mark.filterwarnings("ignore:stage 1 is unsure")
def test_analyze_and_bake_run_in_blenders_own_python_with_no_worker(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The default Analyze and Bake clicked in Blender 3.4 (Debian's, its Python with python3-numpy) with no
    worker Python set or to be found: both run inside Blender, and the keys equal stage 2's torch runtime."""
    from avi_talking.core.instructions.track import track_from_dict
    from avi_talking.core.pipeline.generate import generate
    from avi_talking.core.pipeline.options import GenerateOptions

    env = {"PATH": _path_without_python(tmp_path / "bin"), "AVITALK_WORKER_PYTHON": ""}
    # a copy as an install would be: the checkout's own .venv would be found as a worker Python
    result = _run(SCRIPTS / "numpy_bake.py", str(AUDIO), env=env, installed_copy=True).result
    assert result["preferences"] == {"model": "stage2", "runtime": "AUTO", "run_mode": "AUTO", "worker_python": ""}
    assert result["candidates"] == [] and result["detected"] is None and "no Python" in result["detect_error"]
    text, ok = result["test_report"]
    # (Blender found no python3.11 at start-up: its sys.executable is None, which the report must survive)
    assert result["test"] == ["FINISHED"] and ok and "None" not in text
    assert text.startswith("stage 2 on the numpy runtime runs inside Blender: ")
    # as the buttons run them: modal, the job in a thread of Blender's own Python
    for step in ("analyze", "bake"):
        assert result[f"{step}_invoke"] == ["RUNNING_MODAL"]
        assert result[step]["error"] is None and result[step]["cancelled"] is False
        assert result[step]["client"] == "InProcessClient"
    assert result["worker_started"] is False and result["children"] == [] and result["imported"] == []
    take = result["take"]
    assert take is not None and take["name"] == "AVI sample take 1" and len(take["curves"]) == 52
    meta = take["meta"]
    assert meta["runtime"] == "numpy" and meta["audio_decoder"] == "numpy-wav+numpy"
    assert [s["text"] for s in meta["instructions"]] == result["texts"] and len(result["texts"]) >= 1

    monkeypatch.setenv("AVITALK_AUDIO_BACKEND", "numpy")  # the same samples: the comparison is of stage 2
    settings = result["settings"]
    options = GenerateOptions(runtime="torch", fps=take["fps"], seed=settings["seed"], lips=settings["lips"],
                              expression=settings["expression"], blinks=settings["blinks"],
                              instructions=tuple(track_from_dict({"segments": result["track"]})))
    # the job's parameters as Bake sent them (a track's action-unit weights travel rounded to 4 decimals)
    torch_take = generate(AUDIO, GenerateOptions.from_params(options.to_params())).animation
    assert torch_take.meta["runtime"] == "torch"
    assert take["frame_end"] - take["frame_start"] + 1 == torch_take.n_frames
    face = [name for name in torch_take.channels if not name.startswith("head")]  # the head turns a pivot
    assert take["fps"] == pytest.approx(torch_take.fps, rel=1e-6) and set(take["curves"]) == set(face)
    for name in face:  # Blender frame frame_start + t holds frame t
        baked = np.asarray(take["keys"][name], dtype=np.float64)
        assert baked.shape == (torch_take.n_frames,)
        assert np.max(np.abs(baked - torch_take.channel(name))) < 1e-4, name
