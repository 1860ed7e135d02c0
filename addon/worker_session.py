"""The add-on's worker client (one per Blender session), configured from the preferences, and the state of
the job that is running (for the panel's progress bar).

The client is kept between jobs, so a worker process keeps its loaded model and its per-audio cache: a
re-bake after editing only the instruction text does not analyse the audio again."""

from __future__ import annotations

from dataclasses import dataclass

import bpy
from bpy.types import Context, Operator

from ..core.common.errors import AviTalkError
from ..core.worker import WorkerConfig, probe_python, start_client
from ..core.worker.client import Client, Job, detect_python, in_process_possible
from .preferences import AVITALK_AddonPreferences, get_preferences
from .probe_report import record_probe
from .types import OperatorResult

_RUN_MODES: dict[str, bool | None] = {"AUTO": None, "WORKER": False, "IN_PROCESS": True}


@dataclass(frozen=True)
class ModelSettings:
    model: str = "stage2"
    device: str = "auto"


@dataclass
class Running:
    """The job a modal operator is waiting on (read by the panel)."""

    label: str
    job: Job


_client: Client | None = None
_client_config: WorkerConfig | None = None
running: Running | None = None


def config(prefs: AVITALK_AddonPreferences | None) -> WorkerConfig:
    if prefs is None:
        return WorkerConfig()
    python = prefs.worker_python.strip()
    return WorkerConfig(python=bpy.path.abspath(python) if python else "", in_process=_RUN_MODES[prefs.run_mode])


def model_settings(context: Context | None = None) -> ModelSettings:
    prefs = get_preferences(context)
    if prefs is None:
        return ModelSettings()
    return ModelSettings(prefs.model, prefs.compute_device.lower())


def client(context: Context | None = None) -> Client:
    """The session's client, (re)made when the preferences changed. Raises WorkerError (one line)."""
    global _client, _client_config
    wanted = config(get_preferences(context))
    if _client is None or wanted != _client_config:
        shutdown()
        _client, _client_config = start_client(wanted), wanted
    return _client


def shutdown() -> None:
    """Stop the worker (unregister, or the preferences changed)."""
    global _client, _client_config, running
    if running is not None:
        running.job.cancel()
        running = None
    if _client is not None:
        _client.close()
    _client, _client_config = None, None


def describe_probe(info: dict[str, object]) -> str:
    torch = f"torch {info['torch']}" if info.get("torch") else "no torch (only the procedural model)"
    cuda = f"CUDA: {info['cuda_device']}" if info.get("cuda") else "CUDA: not available (CPU)"
    return f"{info.get('python')} (Python {info.get('python_version')}): avi_talking {info.get('avi_talking')}, " \
           f"{torch}, {cuda}"


class AVITALK_OT_test_worker(Operator):
    bl_idname = "avitalk.test_worker"
    bl_label = "Test Worker"
    bl_description = "Start the worker Python once and report whether it runs the project, torch and CUDA"
    bl_options = {"INTERNAL"}

    def execute(self, context: Context) -> OperatorResult:
        prefs = get_preferences(context)
        wanted = config(prefs)
        try:
            if wanted.in_process or (wanted.in_process is None and not wanted.python and in_process_possible()):
                from ..core.worker.jobs import probe

                text = "runs inside Blender: " + describe_probe(probe())
            else:
                text = "worker: " + describe_probe(probe_python(detect_python(wanted.python)))
        except AviTalkError as exc:
            record_probe(str(exc), False)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        record_probe(text, True)
        self.report({"INFO"}, text)
        return {"FINISHED"}


def unregister_extra() -> None:
    shutdown()


CLASSES = (AVITALK_OT_test_worker,)
