"""Clients that run worker jobs without blocking the caller: ``WorkerClient`` (a separate Python process,
e.g. when Blender's Python has no torch) and ``InProcessClient`` (a thread here). Both hand out ``Job``s
that the caller polls (a Blender modal operator on a timer) or waits on (``--background``)."""

from __future__ import annotations

import collections
import itertools
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..common.errors import AviTalkError
from ..common.progress import Cancelled, ProgressFn
from .jobs import JobRunner, describe_failure
from .needs import describe, missing
from .protocol import Message, ProtocolError, decode_message, encode, request

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding blender_manifest.toml
# the top-level import name the worker Python uses ("avi_talking"; inside Blender this package is
# "bl_ext.<repo>.avi_talking", but a plain Python imports it by its last name)
IMPORT_NAME = (__package__ or "avi_talking.core.worker").split(".core.worker")[0].rpartition(".")[2]
WORKER_MODULE = f"{IMPORT_NAME}.core.worker"
PROBE_TIMEOUT = 120.0
_STDERR_LINES = 40


class WorkerError(AviTalkError):
    """The worker could not be started, failed, or stopped unexpectedly."""


@dataclass(frozen=True)
class WorkerConfig:
    python: str = ""  # the worker's Python; empty: detected (see ``detect_python``)
    in_process: bool | None = None  # True: always here; False: always a worker process; None: decide


# ---- jobs --------------------------------------------------------------------------------------------

@dataclass
class Job:
    """One request. ``poll()`` from the owning thread drains its messages and updates the state."""

    id: str
    op: str
    _owner: Any = field(repr=False, default=None)
    _inbox: queue.Queue[Message] = field(default_factory=queue.Queue, repr=False)
    stage: str = "starting"
    fraction: float = 0.0
    result: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    error: str | None = None
    cancelled: bool = False

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None or self.cancelled

    def deliver(self, message: Message) -> None:  # any thread
        self._inbox.put(message)

    def poll(self) -> list[Message]:
        messages: list[Message] = []
        while True:
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                return messages
            messages.append(message)
            self._apply(message)

    def _apply(self, message: Message) -> None:
        if self.done:
            return
        if message.type == "progress":
            self.stage, self.fraction = message.stage, min(max(message.fraction, 0.0), 1.0)
        elif message.type == "result":
            self.result, self.warnings, self.fraction, self.stage = message.result, message.warnings, 1.0, "done"
        elif message.type == "error":
            self.error = message.message or "the worker failed"

    def wait(self, timeout: float | None = None, on_progress: ProgressFn | None = None) -> dict[str, Any]:
        """Block until done; the result, or WorkerError (cancelled, failed, or timed out). Progress
        messages are passed to ``on_progress`` as they arrive."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise WorkerError(f"the {self.op} job did not finish within {timeout:g} s")
            try:
                message = self._inbox.get(timeout=0.5 if left is None else min(0.5, left))
            except queue.Empty:
                continue
            self._apply(message)
            if on_progress is not None and message.type == "progress":
                on_progress(message.stage, message.fraction)
        return self.outcome()

    def outcome(self) -> dict[str, Any]:
        if self.cancelled:
            raise WorkerError(f"the {self.op} job was cancelled")
        if self.error is not None:
            raise WorkerError(self.error)
        assert self.result is not None
        return self.result

    def cancel(self) -> None:
        if not self.done and self._owner is not None:
            self._owner.cancel(self)


_ids = itertools.count(1)


# ---- a separate process --------------------------------------------------------------------------------

def worker_env() -> dict[str, str]:
    """The environment for a worker: this package importable by its plain name when its folder has it."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONHOME", None)  # Blender sets its own; another Python must not inherit it
    if PACKAGE_ROOT.name == IMPORT_NAME:
        parts = [str(PACKAGE_ROOT.parent), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    return env


class WorkerClient:
    """A worker process, started on the first job and kept (with its cache and loaded model) for the next."""

    def __init__(self, python: str) -> None:
        self.python = python
        self.info: dict[str, Any] = {}
        self._proc: subprocess.Popen[str] | None = None
        self._job: Job | None = None
        self._lock = threading.Lock()
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _start(self) -> subprocess.Popen[str]:
        if self.alive:
            assert self._proc is not None
            return self._proc
        try:
            proc = subprocess.Popen([self.python, "-u", "-m", WORKER_MODULE], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                    env=worker_env(), start_new_session=True)
        except OSError as exc:
            raise WorkerError(f"cannot start the worker Python {self.python}: {exc.strerror or exc}") from None
        self._proc = proc
        self._stderr.clear()
        assert proc.stdout is not None and proc.stderr is not None
        threading.Thread(target=self._read_stdout, args=(proc, proc.stdout), daemon=True,
                         name="avitalk-worker-out").start()
        threading.Thread(target=self._read_stderr, args=(proc.stderr,), daemon=True,
                         name="avitalk-worker-err").start()
        return proc

    def submit(self, op: str, params: dict[str, Any]) -> Job:
        with self._lock:
            if self._job is not None and not self._job.done:
                raise WorkerError(f"the worker is busy with a {self._job.op} job")
            job = Job(str(next(_ids)), op, self)
            self._job = job  # before the process starts: its reader reports an early exit to this job
            try:
                proc = self._start()
            except WorkerError:
                self._job = None
                raise
        try:
            assert proc.stdin is not None
            proc.stdin.write(encode(request(job.id, op, params)))
            proc.stdin.flush()
        except (OSError, ValueError):
            pass  # the process is gone: the stdout reader reports the crash
        return job

    def _read_stdout(self, proc: subprocess.Popen[str], stream: IO[str]) -> None:
        for line in stream:
            try:
                message = decode_message(line)
            except ProtocolError:
                self._stderr.append(f"(stdout) {line.rstrip()}")
                continue
            if message.type == "ready":
                self.info = message.info
                continue
            job = self._job
            if job is not None and message.id == job.id:
                job.deliver(message)
        code = proc.wait()
        job = self._job
        if job is not None and proc is self._proc and not job.done:
            job.deliver(Message("error", job.id, message=self._crash_message(code)))

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            self._stderr.append(line.rstrip())

    def _crash_message(self, code: int) -> str:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        time.sleep(0.05)  # let the stderr reader catch the last lines
        last = next((line for line in reversed(self._stderr) if line.strip()), "")
        return f"the worker process ({self.python}) {how}" + (f": {last.strip()}" if last else "")

    def stderr_tail(self) -> list[str]:
        return list(self._stderr)

    def cancel(self, job: Job) -> None:
        """Stop the job by stopping the process (a new one starts with the next job)."""
        if job is not self._job or job.done:
            return
        job.cancelled = True
        self._kill()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError, AttributeError):
            proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)

    def close(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None and proc.stdin is not None:
            try:
                proc.stdin.write(encode({"op": "shutdown"}))
                proc.stdin.close()
                proc.wait(timeout=3)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        self._kill()


# ---- in this process ---------------------------------------------------------------------------------

class InProcessClient:
    """The same jobs in a thread of this process (when the job needs nothing this Python lacks)."""

    python = sys.executable or ""

    def __init__(self) -> None:
        self.runner = JobRunner()
        self._job: Job | None = None
        self._stop = threading.Event()

    def submit(self, op: str, params: dict[str, Any]) -> Job:
        if self._job is not None and not self._job.done:
            raise WorkerError(f"busy with a {self._job.op} job")
        job = Job(str(next(_ids)), op, self)
        self._job = job
        self._stop = threading.Event()
        stop = self._stop

        def progress(stage: str, fraction: float) -> None:
            if stop.is_set():
                raise Cancelled()
            job.deliver(Message("progress", job.id, stage=stage, fraction=fraction))

        def work() -> None:
            try:
                result, notes = self.runner.run(op, params, progress)
            except Exception as exc:
                job.deliver(Message("error", job.id, message=describe_failure(exc, in_process=True)))
                return
            job.deliver(Message("result", job.id, result=result, warnings=tuple(notes)))

        threading.Thread(target=work, daemon=True, name=f"avitalk-{op}").start()
        return job

    def cancel(self, job: Job) -> None:
        # the thread stops at its next progress report; its late messages are ignored
        if job is self._job and not job.done:
            job.cancelled = True
            self._stop.set()

    def close(self) -> None:
        if self._job is not None:
            self.cancel(self._job)


Client = WorkerClient | InProcessClient


# ---- choosing a Python ---------------------------------------------------------------------------------

def in_process_possible(op: str = "generate", params: dict[str, Any] | None = None) -> bool:
    """This Python can run the operation itself (then no worker process is needed): the default path —
    stage 1, stage 2 on the numpy runtime, WAV audio — needs numpy alone (``needs``)."""
    return not missing(op, params or {})


def python_candidates() -> list[str]:
    """Where a worker Python may be, most specific first (they are probed in this order)."""
    found = [os.environ.get("AVITALK_WORKER_PYTHON", "")]
    for venv in (".venv", "venv"):
        found.append(str(PACKAGE_ROOT / venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")))
    here = sys.executable or ""  # None in a Blender that found no python3.11 on the PATH at start-up
    if here and "blender" not in here.lower():
        found.append(here)
    found += [shutil.which(name) or "" for name in ("python3.11", "python3", "python")]
    return [p for p in dict.fromkeys(found) if p and Path(p).is_file()]


def probe_python(python: str, timeout: float = PROBE_TIMEOUT) -> dict[str, Any]:
    """What ``python`` can run as a worker (the project's version, torch, CUDA); WorkerError if nothing."""
    if not python or not Path(python).is_file():
        raise WorkerError(f"worker Python {python or '(none)'} does not exist")
    try:
        done = subprocess.run([python, "-m", WORKER_MODULE, "--probe"], capture_output=True, text=True,
                              env=worker_env(), timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise WorkerError(f"{python} did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise WorkerError(f"cannot run {python}: {exc.strerror or exc}") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise WorkerError(f"{python} cannot run the worker ({IMPORT_NAME} not importable there?): {last}")
    try:
        info = json.loads(lines[-1])
    except json.JSONDecodeError:
        raise WorkerError(f"{python} answered the probe with {lines[-1][:80]!r}") from None
    return dict(info)


def detect_python(preferred: str = "") -> str:
    """``preferred`` when given; else the first candidate that runs the worker, one with torch first."""
    if preferred.strip():
        return preferred.strip()
    usable: list[str] = []
    for python in python_candidates():
        try:
            info = probe_python(python)
        except WorkerError:
            continue
        if info.get("torch"):
            return python
        usable.append(python)
    if usable:
        return usable[0]
    raise WorkerError("no Python that can run the worker was found: install the project into a Python 3.11 "
                      "(pip install 'avi-talking[models]') and set it as the worker Python in the preferences")


def runs_in_process(config: WorkerConfig, op: str, params: dict[str, Any]) -> bool:
    """Whether ``config`` runs this operation here (True) or in a worker process (False). Forced in-process
    (``in_process=True``) with something missing here is a one-line WorkerError naming it."""
    if config.in_process is False:
        return False
    lacking = missing(op, params)
    if config.in_process and lacking:
        raise WorkerError(f"this Python lacks {describe(lacking)}, so it cannot run this job in-process")
    return not lacking


def start_client(config: WorkerConfig = WorkerConfig(), op: str = "generate",
                 params: dict[str, Any] | None = None) -> Client:
    """An in-process client when allowed and the operation can run here, else a worker process client (not
    started yet)."""
    if runs_in_process(config, op, params or {}):
        return InProcessClient()
    return WorkerClient(detect_python(config.python))
