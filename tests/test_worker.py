"""The worker process for real: the line protocol on a spawned ``python -m avi_talking.core.worker``,
analyze + generate, progress, the per-audio cache, cancel, a crash, bad input; and the in-process client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from avi_talking.core.animation import Animation
from avi_talking.core.arkit import ARKIT52
from avi_talking.core.instructions.track import track_from_dict
from avi_talking.core.pipeline.options import GenerateOptions
from avi_talking.core.worker import InProcessClient, WorkerClient, WorkerError, probe_python
from avi_talking.core.worker.client import WORKER_MODULE, worker_env

from conftest import SpokenClip

EDITED = "An angry person speaks with brow strongly lowered and lips pressed."


@pytest.fixture
def worker():
    client = WorkerClient(sys.executable)
    yield client
    client.close()


def _segments(result: dict) -> list[dict]:
    return [{k: s[k] for k in ("start", "end", "text", "emotion", "intensity", "aus")} for s in result["segments"]]


def _track(segments: list[dict]) -> tuple:
    return tuple(track_from_dict({"segments": segments}))


def _job(audio: Path, output: Path, **options: object) -> dict:
    """A generate request in the protocol's wire format (the options as GenerateOptions.to_params gives them)."""
    return {"audio": str(audio), "output": str(output), "options": GenerateOptions(**options).to_params()}  # type: ignore[arg-type]


def test_probe_reports_torch_and_cuda() -> None:
    info = probe_python(sys.executable)
    assert info["torch"] and isinstance(info["cuda"], bool) and info["avi_talking"]
    with pytest.raises(WorkerError, match="does not exist"):
        probe_python("/nonexistent/python")


def test_wire_format_ready_progress_result(spoken: SpokenClip) -> None:
    """The raw protocol: a ready line, progress lines, one result; junk gets an error and the loop goes on."""
    proc = subprocess.Popen([sys.executable, "-m", WORKER_MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=worker_env())
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["type"] == "ready" and ready["protocol"] == 2 and ready["info"]["torch"]
        proc.stdin.write("not json\n")
        proc.stdin.write(json.dumps({"id": "a1", "op": "analyze", "params": {"audio": str(spoken.path)}}) + "\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["type"] == "error"
        lines = []
        while not lines or lines[-1]["type"] == "progress":
            lines.append(json.loads(proc.stdout.readline()))
        assert all(m["id"] == "a1" for m in lines)
        fractions = [m["fraction"] for m in lines if m["type"] == "progress"]
        assert len(fractions) >= 2 and fractions == sorted(fractions)
        assert lines[-1]["type"] == "result" and lines[-1]["result"]["segments"]
        proc.stdin.write(json.dumps({"op": "shutdown"}) + "\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()


def test_analyze_then_generate_with_edited_segments(worker: WorkerClient, spoken: SpokenClip,
                                                    tmp_path: Path) -> None:
    job = worker.submit("analyze", {"audio": str(spoken.path)})
    seen = []
    while not job.done:
        seen += job.poll()
        time.sleep(0.02)
    analysis = job.outcome()
    assert any(m.type == "progress" for m in seen)
    segments = _segments(analysis)
    assert segments and segments[0]["start"] == pytest.approx(0.0, abs=0.5)
    segments[0]["text"] = EDITED
    segments[0].update(emotion="angry", intensity=0.7, aus={"AU4": 0.8, "AU24": 0.6})

    out = tmp_path / "take1.npz"
    first = worker.submit("generate", _job(spoken.path, out, instructions=_track(segments), model="stage2", seed=1,
                                           fps=25, device="cpu")).wait(300)
    anim = Animation.load(out)
    assert anim.space == "arkit52" and anim.fps == 25 and anim.channels[:52] == ARKIT52
    assert EDITED in json.dumps(anim.meta)
    assert first["reused_analysis"] is False and first["audio_cached"] is True  # analyze loaded the audio

    # only the text changed: the audio analysis (and stage 2's audio encoding) is re-used, same process
    pid = worker.pid
    segments[0].update(text="A happy person speaks.", emotion="happy", aus={"AU12": 0.8})
    out2 = tmp_path / "take2.npz"
    second = worker.submit("generate", _job(spoken.path, out2, instructions=_track(segments), model="stage2", seed=1,
                                            fps=25, device="cpu")).wait(300)
    assert second["reused_analysis"] is True and worker.pid == pid
    assert not np.allclose(Animation.load(out2).values, anim.values)


def test_bad_input_is_one_line_and_the_worker_survives(worker: WorkerClient, spoken: SpokenClip,
                                                       tmp_path: Path) -> None:
    job = worker.submit("generate", {"audio": str(tmp_path / "missing.wav"), "output": str(tmp_path / "x.npz")})
    with pytest.raises(WorkerError, match="does not exist") as info:
        job.wait(120)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "x.npz").exists()
    pid = worker.pid
    assert worker.submit("analyze", {"audio": str(spoken.path)}).wait(120)["segments"]
    assert worker.pid == pid


def test_cancel_kills_the_worker(worker: WorkerClient, spoken: SpokenClip, tmp_path: Path) -> None:
    job = worker.submit("generate", _job(spoken.path, tmp_path / "c.npz", model="procedural"))
    while not job.poll() and not job.done:
        time.sleep(0.01)  # the worker is up and working
    pid = worker.pid
    assert pid is not None
    job.cancel()
    assert job.cancelled and job.done and not worker.alive
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(WorkerError, match="cancelled"):
        job.outcome()
    # the next job starts a fresh worker
    assert worker.submit("analyze", {"audio": str(spoken.path)}).wait(120)["segments"]
    assert worker.pid != pid


def test_worker_crash_is_reported(worker: WorkerClient, spoken: SpokenClip, tmp_path: Path) -> None:
    job = worker.submit("generate", _job(spoken.path, tmp_path / "k.npz", model="procedural"))
    while not job.poll() and not job.done:
        time.sleep(0.01)
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGKILL)  # what an out-of-memory kill or a segfault looks like
    with pytest.raises(WorkerError, match="killed by signal 9"):
        job.wait(60)
    assert worker.submit("analyze", {"audio": str(spoken.path)}).wait(120)["segments"]  # and it recovers


def test_a_python_without_the_project_fails_clearly(tmp_path: Path, spoken: SpokenClip) -> None:
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\necho 'no module named avi_talking' >&2\nexit 1\n")
    script.chmod(0o755)
    client = WorkerClient(str(script))
    with pytest.raises(WorkerError, match="exited with code 1: no module named avi_talking"):
        client.submit("analyze", {"audio": str(spoken.path)}).wait(30)
    with pytest.raises(WorkerError, match="cannot run the worker"):
        probe_python(str(script))


def test_in_process_client_runs_and_cancels(spoken: SpokenClip, tmp_path: Path) -> None:
    client = InProcessClient()
    result = client.submit("generate", _job(spoken.path, tmp_path / "p.npz", model="procedural",
                                            transcript=spoken.text)).wait(120)
    assert Animation.load(result["animation"]).n_frames > 50
    again = client.submit("generate", _job(spoken.path, tmp_path / "q.npz", model="procedural",
                                           transcript=spoken.text, seed=4)).wait(120)
    assert again["reused_analysis"] is True
    job = client.submit("analyze", {"audio": str(tmp_path / "p.npz")})
    job.cancel()
    assert job.cancelled
    with pytest.raises(WorkerError, match="cancelled"):
        job.wait(5)


def test_generate_anywhere_through_a_worker(spoken: SpokenClip) -> None:
    """What the CLI does inside Blender (no torch there): the model work in a worker process."""
    from avi_talking.core.pipeline.options import GenerateOptions
    from avi_talking.core.worker.remote import generate_anywhere

    client = WorkerClient(sys.executable)
    seen: list[float] = []
    try:
        anim = generate_anywhere(spoken.path, GenerateOptions(fps=24.0, model="procedural", seed=2),
                                 lambda stage, f: seen.append(f), worker=client)
    finally:
        client.close()
    assert anim.fps == 24.0 and anim.n_frames > 50 and anim.meta["seed"] == 2 and seen


def test_worker_detection_in_a_python_without_an_executable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Blender's Python has ``sys.executable = None`` when Blender found no python3.11 on the PATH at start-up
    (Debian's Blender 3.4): the detection then finds nothing, in one line, instead of an AttributeError."""
    from avi_talking.core.worker import client

    monkeypatch.setattr(sys, "executable", None)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("AVITALK_WORKER_PYTHON", raising=False)
    venvs = [client.PACKAGE_ROOT / venv / "bin" / "python" for venv in (".venv", "venv")]
    assert client.python_candidates() == [str(p) for p in venvs if p.is_file()]
    if not any(p.is_file() for p in venvs):
        with pytest.raises(WorkerError, match="no Python that can run the worker was found"):
            client.detect_python()
