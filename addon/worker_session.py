"""The add-on's worker client (one per Blender session), configured from the preferences, and the state of
the job that is running (for the panel's progress bar).

The client is kept between jobs, so a worker process keeps its loaded model and its per-audio cache: a
re-bake after editing only the instruction text does not analyse the audio again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bpy
from bpy.types import Context, Operator

from ..core.common.errors import AviTalkError
from ..core.pipeline.options import GenerateOptions
from ..core.worker import WorkerConfig, probe_python
from ..core.worker.client import Client, InProcessClient, Job, WorkerClient, WorkerError, detect_python
from ..core.worker.needs import describe, missing, needs
from .preferences import AVITALK_AddonPreferences, get_preferences
from .probe_report import record_probe
from .types import OperatorResult

_RUN_MODES: dict[str, bool | None] = {"AUTO": None, "WORKER": False, "IN_PROCESS": True}


@dataclass(frozen=True)
class ModelSettings:
    model: str = "stage2"
    device: str = "auto"
    runtime: str = "auto"


@dataclass
class Running:
    """The job a modal operator is waiting on (read by the panel)."""

    label: str
    job: Job


# One client of each kind, kept between jobs: the worker process keeps its loaded model and its per-audio
# cache, the in-process client its cache (a re-bake after editing only the text does not analyse again).
_in_process: InProcessClient | None = None
_worker: WorkerClient | None = None
_worker_config: WorkerConfig | None = None
running: Running | None = None


def busy() -> bool:
    """Whether a modal job is running (the operators that would start another are greyed out meanwhile)."""
    return running is not None and not running.job.done


def config(prefs: AVITALK_AddonPreferences | None) -> WorkerConfig:
    if prefs is None:
        return WorkerConfig()
    python = prefs.worker_python.strip()
    return WorkerConfig(python=bpy.path.abspath(python) if python else "", in_process=_RUN_MODES[prefs.run_mode])


def model_settings(context: Context | None = None) -> ModelSettings:
    prefs = get_preferences(context)
    if prefs is None:
        return ModelSettings()
    return ModelSettings(prefs.model, prefs.compute_device.lower(), prefs.runtime.lower())


def client(context: Context | None, op: str, params: dict[str, Any]) -> Client:
    """The client that runs this job: Blender's own Python when the job needs nothing it lacks (the default
    models never do) and the preferences allow it, else the worker process. Raises AviTalkError (one line, in
    the panel's words: what is missing and which preference changes that)."""
    global _in_process, _worker, _worker_config
    wanted = config(get_preferences(context))
    lacking = missing(op, params)
    if wanted.in_process is not False and not lacking:
        if _in_process is None:
            _in_process = InProcessClient()
        return _in_process
    if wanted.in_process:
        raise AviTalkError(f"Blender's Python lacks {describe(lacking)}: {_WAY_OUT}, or set Run In to Worker "
                           "Process with a Worker Python that has it (Preferences)")
    if _worker is None or wanted != _worker_config:
        _stop_worker()
        try:
            python = detect_python(wanted.python)
        except WorkerError:
            if not lacking:
                raise
            modules = " and ".join(need.module for need in lacking)
            raise AviTalkError(f"Blender's Python lacks {describe(lacking)} and no Worker Python was found. "
                               f"Set Worker Python (Preferences) to a Python 3.11 with this project and {modules}, "
                               f"or {_WAY_OUT}") from None
        _worker, _worker_config = WorkerClient(python), wanted
    return _worker


_WAY_OUT = ("choose Model: Stage 2 with Runtime: Auto or numpy in the add-on's preferences (they run inside "
            "Blender), or give a WAV file")


def _stop_worker() -> None:
    global _worker, _worker_config
    if _worker is not None:
        _worker.close()
    _worker, _worker_config = None, None


def shutdown() -> None:
    """Stop the jobs and the worker (unregister)."""
    global _in_process, running
    if running is not None:
        running.job.cancel()
        running = None
    if _in_process is not None:
        _in_process.close()
        _in_process = None
    _stop_worker()


def worker_client() -> WorkerClient | None:
    """The worker process client, if one was started (for the tests and the panel)."""
    return _worker


def describe_probe(info: dict[str, Any]) -> str:
    torch = f"torch {info['torch']}" if info.get("torch") else "no torch"
    cuda = f"CUDA: {info['cuda_device']}" if info.get("cuda") else "CUDA: not available (CPU)"
    extras = ", ".join(name for name, ok in dict(info.get("modules") or {}).items() if ok and name != "torch")
    return (f"{info.get('python')} (Python {info.get('python_version')}): avi_talking {info.get('avi_talking')}, "
            f"{torch}, {cuda}" + (f", {extras}" if extras else ""))


def _job_of(settings: ModelSettings) -> tuple[str, dict[str, Any]]:
    """What the chosen model needs, as a Bake of a WAV would ask for it."""
    options = GenerateOptions(model=settings.model, device=settings.device, runtime=settings.runtime)
    params = {"audio": "take.wav", "options": options.to_params()}
    torch = "torch" in {need.module for need in needs("generate", params)}
    runtime = "torch" if torch else "numpy"
    what = "the procedural model" if options.is_procedural else f"stage 2 on the {runtime} runtime"
    return what, params


class AVITALK_OT_test_worker(Operator):
    bl_idname = "avitalk.test_worker"
    bl_label = "Test"
    bl_description = ("Check that the chosen model can run: inside Blender, or in the worker Python (started once "
                      "to report what it has)")
    bl_options = {"INTERNAL"}

    def execute(self, context: Context) -> OperatorResult:
        wanted = config(get_preferences(context))
        try:
            what, params = _job_of(model_settings(context))
            lacking = missing("generate", params)
            if wanted.in_process is not False and not lacking:
                from ..core.worker.jobs import probe

                text = f"{what} runs inside Blender: " + describe_probe(probe())
            elif wanted.in_process:
                raise AviTalkError(f"{what} cannot run inside Blender: Blender's Python lacks {describe(lacking)}")
            else:
                info = probe_python(detect_python(wanted.python))
                absent = [n for n in needs("generate", params) if not dict(info.get("modules") or {}).get(n.module)]
                if absent:
                    raise AviTalkError(f"the worker Python {info.get('python')} lacks {describe(absent)}")
                text = f"{what} runs in the worker: " + describe_probe(info)
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
