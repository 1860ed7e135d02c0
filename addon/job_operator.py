"""A base for operators whose work runs in the worker (or a thread): modal with a timer in the UI, with a
progress bar and Esc to cancel; synchronous under ``--background`` and when called from a script
(``execute``), where timers do not tick or the caller wants the result at once.

Subclasses give ``job_params`` (checks the input and says what to ask the worker; nothing in the scene
changes yet) and ``job_finished`` (applies the result to the scene)."""

from __future__ import annotations

from typing import Any

import bpy
from bpy.types import Context, Event, Operator

from ..core.common.errors import AviTalkError
from ..core.worker.client import Job
from . import worker_session
from .types import OperatorResult

POLL_SECONDS = 0.1
SYNC_TIMEOUT = 3600.0
MISSING_DEPS = ("Blender's Python lacks a module this job needs ({name}): choose Model: Stage 2 with Runtime: Auto in "
                "the add-on's preferences (it runs inside Blender), or set a Worker Python that has it")


class WorkerJobOperator(Operator):
    bl_options = {"REGISTER", "UNDO"}
    job_op = ""  # the worker operation

    _job: Job | None = None
    _timer: Any = None
    _request: dict[str, Any] | None = None

    @classmethod
    def poll(cls, context: Context) -> bool:
        """Greyed out while a job runs: one job at a time (subclasses add their own conditions)."""
        return not worker_session.busy()

    # ---- for subclasses -------------------------------------------------------------------------------

    def job_params(self, context: Context) -> dict[str, Any]:
        raise NotImplementedError

    def job_finished(self, context: Context, result: dict[str, Any], warnings: tuple[str, ...]) -> None:
        raise NotImplementedError

    # ---- running -------------------------------------------------------------------------------------

    def _prepare(self, context: Context) -> dict[str, Any] | None:
        try:
            return self.job_params(context)
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
        except ImportError as exc:
            self.report({"ERROR"}, MISSING_DEPS.format(name=exc.name or exc))
        return None

    def _finish(self, context: Context, job: Job) -> OperatorResult:
        if job.cancelled:
            self.report({"WARNING"}, f"{self.bl_label}: cancelled")
            return {"CANCELLED"}
        if job.error is not None:
            self.report({"ERROR"}, job.error)
            return {"CANCELLED"}
        try:
            self.job_finished(context, job.result or {}, job.warnings)
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}

    def execute(self, context: Context) -> OperatorResult:
        params = self._prepare(context)
        if params is None:
            return {"CANCELLED"}
        try:
            job = worker_session.client(context, self.job_op, params).submit(self.job_op, params)
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        try:
            job.wait(SYNC_TIMEOUT)
        except AviTalkError as exc:
            if not job.done:  # timed out
                job.cancel()
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
        return self._finish(context, job)

    def invoke(self, context: Context, event: Event) -> OperatorResult:
        wm = context.window_manager
        if bpy.app.background or wm is None or context.window is None:
            return self.execute(context)
        if worker_session.busy() and worker_session.running is not None:
            self.report({"WARNING"}, f"wait for {worker_session.running.label} to finish (or press Esc)")
            return {"CANCELLED"}
        params = self._prepare(context)
        if params is None:
            return {"CANCELLED"}
        try:
            self._job = worker_session.client(context, self.job_op, params).submit(self.job_op, params)
        except AviTalkError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        worker_session.running = worker_session.Running(self.bl_label, self._job)
        self._timer = wm.event_timer_add(POLL_SECONDS, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        return {"RUNNING_MODAL"}

    def modal(self, context: Context, event: Event) -> OperatorResult:
        job = self._job
        if job is None:
            return {"CANCELLED"}
        if event.type == "ESC":
            job.cancel()
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        job.poll()
        wm = context.window_manager
        if wm is not None:
            wm.progress_update(int(100 * job.fraction))
        _redraw(context)
        if not job.done:
            return {"PASS_THROUGH"}
        self._stop(context)
        return self._finish(context, job)

    def cancel(self, context: Context) -> None:  # Blender cancels modal operators e.g. on file load
        if self._job is not None:
            self._job.cancel()
        self._stop(context)

    def _stop(self, context: Context) -> None:
        wm = context.window_manager
        if wm is not None:
            if self._timer is not None:
                wm.event_timer_remove(self._timer)
            wm.progress_end()
        self._timer = None
        worker_session.running = None
        _redraw(context)


def _redraw(context: Context) -> None:
    screen = context.screen
    for area in screen.areas if screen is not None else ():
        if area.type == "VIEW_3D":
            area.tag_redraw()
