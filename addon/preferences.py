"""Add-on preferences: the downloadable assets (state, Fetch with progress and Cancel) and where they
are cached. Other settings join the same class as further properties plus a ``draw_<section>``
method called from :meth:`AVITALK_AddonPreferences.draw`.

Downloads run in a background thread (the fetcher never touches bpy); a ``bpy.app.timers`` poll
redraws the preferences while one runs. Blender's "Allow Online Access" switch is read here and
passed to the fetcher; with it off nothing connects and the UI says where to put files by hand."""

from __future__ import annotations

import textwrap
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy
from bpy.props import EnumProperty, StringProperty
from bpy.types import AddonPreferences, Context, Operator, UILayout

from ..weights_fetcher import (
    AssetState,
    AssetStore,
    FetchCancelled,
    ProgressEvent,
    Registry,
    WeightsError,
    default_cache_dir,
    human_size,
    load_registry,
)
from . import compat
from .probe_report import last_probe
from .types import OperatorResult

# bl_idname of add-on preferences must be the extension's own package ("bl_ext.<repo>.avi_talking"
# inside Blender, "avi_talking" when imported from a pip install): the parent of this "addon" package.
ADDON_PACKAGE = (__package__ or "").rpartition(".")[0]

OFFLINE_REASON = "Blender's online access is off (Preferences > System > Network > Allow Online Access)"
_POLL_SECONDS = 0.25
# Operator.execute's return type (the stubs spell out the allowed strings).
_WRAP = 90

# Icons typed Any: the stubs type them as one huge Literal that varies between Blender versions.
_STATE_UI: dict[AssetState, tuple[str, Any]] = {
    AssetState.VERIFIED: ("verified", "CHECKMARK"),
    AssetState.PRESENT: ("downloaded, not verified yet", "FILE"),
    AssetState.PARTIAL: ("partly downloaded (resumes)", "TIME"),
    AssetState.MISSING: ("not downloaded", "IMPORT"),
    AssetState.INVALID: ("damaged (wrong size): fetch again", "ERROR"),
    AssetState.LOCAL: ("built in", "PACKAGE"),
    AssetState.LOCAL_ABSENT: ("built in, but missing from this installation", "ERROR"),
}

_NEEDS_DOWNLOAD = (AssetState.MISSING, AssetState.PARTIAL, AssetState.INVALID)


# -- helpers used by the rest of the add-on -------------------------------------------------------

def get_preferences(context: Context | None = None) -> AVITALK_AddonPreferences | None:
    """This add-on's preferences, or None when it is not enabled (e.g. classes registered by a test)."""
    preferences = (context or bpy.context).preferences
    addon = preferences.addons.get(ADDON_PACKAGE) if preferences is not None else None
    prefs = addon.preferences if addon is not None else None
    return prefs if isinstance(prefs, AVITALK_AddonPreferences) else None


def online_access() -> bool:
    # Present since 4.2; an older Blender has no switch, so it counts as allowed.
    return bool(getattr(bpy.app, "online_access", True))


def weights_cache_dir(prefs: AVITALK_AddonPreferences | None = None) -> Path:
    """The preference if set, else Blender's per-extension user folder, else the platform cache."""
    if prefs is not None and prefs.weights_cache_dir.strip():
        return Path(bpy.path.abspath(prefs.weights_cache_dir.strip()))
    folder = compat.extension_user_folder(ADDON_PACKAGE, "weights")
    return folder if folder is not None else default_cache_dir()


_registry_cache: dict[str, tuple[float, Registry]] = {}


def _registry(path: str) -> Registry:
    # draw() runs on every redraw: re-read the file only when it changes.
    key = path or "<built-in>"
    try:
        mtime = Path(path).stat().st_mtime if path else 0.0
    except OSError:
        mtime = -1.0
    cached = _registry_cache.get(key)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    registry = load_registry(path or None)
    _registry_cache[key] = (mtime, registry)
    return registry


def make_store(prefs: AVITALK_AddonPreferences | None = None) -> AssetStore:
    """The asset store as configured in the preferences (raises WeightsError on a bad registry)."""
    custom = prefs.weights_registry.strip() if prefs is not None else ""
    registry_path = bpy.path.abspath(custom) if custom else ""
    return AssetStore(_registry(registry_path), weights_cache_dir(prefs), online=online_access(),
                      offline_reason=OFFLINE_REASON)


# -- background downloads --------------------------------------------------------------------------

@dataclass
class FetchJob:
    """One download, shared between its worker thread (writes) and the UI (reads)."""

    asset: str
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    fraction: float = 0.0
    message: str = "starting"
    error: str | None = None
    result: str | None = None
    finished: bool = False
    reported: bool = False  # the failure has been printed to the console

    def on_progress(self, event: ProgressEvent) -> None:
        self.fraction = event.fraction
        if event.message:
            self.message = event.message
        elif event.total:
            self.message = f"{human_size(event.done)} of {human_size(event.total)}"

    def run(self, store: AssetStore) -> None:
        try:
            self.result = str(store.fetch(self.asset, progress=self.on_progress, cancel=self.cancel))
            self.message = "done"
        except FetchCancelled:
            self.message = "cancelled; the next Fetch resumes"
        except WeightsError as exc:
            self.error = str(exc)
        except Exception as exc:  # a thread must not die silently: show it in the UI
            self.error = f"unexpected error: {type(exc).__name__}: {exc}"
        finally:
            self.finished = True


_jobs: dict[str, FetchJob] = {}


def running_job(asset: str) -> FetchJob | None:
    job = _jobs.get(asset)
    return job if job is not None and not job.finished else None


def _poll_jobs() -> float | None:
    """Timer: redraw the preferences while downloads run; stop once all are finished."""
    wm = getattr(bpy.context, "window_manager", None)
    for window in getattr(wm, "windows", ()):
        for area in window.screen.areas:
            if area.type == "PREFERENCES":
                area.tag_redraw()
    for job in _jobs.values():
        if job.finished and job.error and not job.reported:
            print(f"AVI-Talking: fetching {job.asset} failed: {job.error}")
            job.reported = True
    return _POLL_SECONDS if any(not job.finished for job in _jobs.values()) else None


def _start_polling() -> None:
    if not bpy.app.timers.is_registered(_poll_jobs):
        bpy.app.timers.register(_poll_jobs, first_interval=_POLL_SECONDS)


# -- operators --------------------------------------------------------------------------------------

class AVITALK_OT_fetch_weights(Operator):
    bl_idname = "avitalk.fetch_weights"
    bl_label = "Fetch"
    bl_description = "Download this asset into the weights folder and verify its sha256"
    bl_options = {"INTERNAL"}

    asset: StringProperty(name="Asset", description="Registry name of the asset")  # type: ignore[valid-type]

    def execute(self, context: Context) -> OperatorResult:
        prefs = get_preferences(context)
        try:
            store = make_store(prefs)
            asset = store.asset(self.asset)
            if asset.is_local:
                store.resolve(asset.name)  # raises with a clear message when it is absent
                self.report({"INFO"}, f"{asset.name} is built in; nothing to download")
                return {"FINISHED"}
            needs_download = store.state(asset) in _NEEDS_DOWNLOAD
            offline = store.offline_message(asset) if needs_download else None
            if offline is not None:
                self.report({"ERROR"}, offline)
                return {"CANCELLED"}
        except WeightsError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if running_job(asset.name) is not None:
            self.report({"WARNING"}, f"{asset.name} is already being fetched")
            return {"CANCELLED"}

        job = FetchJob(asset.name)
        _jobs[asset.name] = job
        if bpy.app.background:
            # Timers do not tick in --background: fetch synchronously.
            job.run(store)
            if job.error:
                self.report({"ERROR"}, job.error)
                return {"CANCELLED"}
            self.report({"INFO"}, f"{asset.name}: {job.message} ({job.result})")
            return {"FINISHED"}
        job.thread = threading.Thread(target=job.run, args=(store,), name=f"avitalk-fetch-{asset.name}",
                                      daemon=True)
        job.thread.start()
        _start_polling()
        return {"FINISHED"}


class AVITALK_OT_cancel_fetch(Operator):
    bl_idname = "avitalk.cancel_fetch_weights"
    bl_label = "Cancel"
    bl_description = "Stop this download; the part already downloaded is kept and the next Fetch resumes it"
    bl_options = {"INTERNAL"}

    asset: StringProperty(name="Asset")  # type: ignore[valid-type]

    def execute(self, context: Context) -> OperatorResult:
        job = running_job(self.asset)
        if job is None:
            return {"CANCELLED"}
        job.cancel.set()
        job.message = "cancelling"
        return {"FINISHED"}


# -- preferences ------------------------------------------------------------------------------------

class AVITALK_AddonPreferences(AddonPreferences):
    bl_idname = ADDON_PACKAGE

    weights_cache_dir: StringProperty(  # type: ignore[valid-type]
        name="Weights Folder",
        description="Where downloaded assets are kept. Empty: this extension's user folder in Blender's "
                    "configuration",
        subtype="DIR_PATH",
    )
    weights_registry: StringProperty(  # type: ignore[valid-type]
        name="Asset Registry",
        description="A registry JSON file to use instead of the built-in list (e.g. a mirror). "
                    "Empty: the built-in list",
        subtype="FILE_PATH",
    )

    compute_device: EnumProperty(  # type: ignore[valid-type]
        name="Compute Device",
        description="Where the stage-2 model runs",
        items=[("AUTO", "Auto", "The GPU when torch sees a CUDA one, else the CPU"),
               ("CUDA", "CUDA", "An NVIDIA GPU through torch (fails clearly when there is none)"),
               ("CPU", "CPU", "The CPU")],
        default="AUTO",
    )
    model: EnumProperty(  # type: ignore[valid-type]
        name="Model",
        description="What animates the face",
        items=[("stage2", "Stage 2 (trained)", "Follows the instructions per segment; takes differ by seed; runs "
                                               "inside Blender (numpy runtime)"),
               ("procedural", "Procedural", "Phone-timed visemes and blinks; ignores instructions; needs pocketsphinx "
                                            "(a Worker Python that has it)")],
        default="stage2",
    )
    runtime: EnumProperty(  # type: ignore[valid-type]
        name="Runtime",
        description="What runs the stage-2 network",
        items=[("AUTO", "Auto", "numpy on the CPU (inside Blender, nothing to install); torch for a CUDA GPU"),
               ("NUMPY", "numpy", "Inside Blender's own Python, on the CPU"),
               ("TORCH", "torch", "torch (CPU or CUDA): needs torch, in Blender's Python or in the Worker Python")],
        default="AUTO",
    )
    run_mode: EnumProperty(  # type: ignore[valid-type]
        name="Run In",
        description="Where the models run",
        items=[("AUTO", "Auto", "Inside Blender when the job needs nothing Blender's Python lacks (the default models "
                                "never do), else a worker process"),
               ("WORKER", "Worker Process", "Always a separate Python process (the Worker Python below)"),
               ("IN_PROCESS", "Blender", "Always inside Blender's Python (not the procedural model or the torch "
                                         "runtime, unless Blender's Python has pocketsphinx or torch)")],
        default="AUTO",
    )
    worker_python: StringProperty(  # type: ignore[valid-type]
        name="Worker Python",
        description="Only for the torch runtime (CUDA) and the procedural model: a Python 3.11 with this project "
                    "installed (and torch or pocketsphinx). Empty: detected (the project's .venv, "
                    "AVITALK_WORKER_PYTHON, python3 on the PATH)",
        subtype="FILE_PATH",
    )

    flame_model_path: StringProperty(  # type: ignore[valid-type]
        name="FLAME Model",
        description="Your FLAME model file (generic_model.pkl, flame2023.pkl or a converted .npz): what Add FLAME "
                    "Head uses when no file is chosen",
        subtype="FILE_PATH",
    )
    flame_landmarks_path: StringProperty(  # type: ignore[valid-type]
        name="FLAME Landmarks",
        description="Its landmark embedding (e.g. DECA's landmark_embedding.npy), for ARKit retargets beyond the jaw",
        subtype="FILE_PATH",
    )

    def draw(self, context: Context) -> None:
        # One method per section; new settings add their own draw_<section>(layout, context) call here.
        self.draw_worker(self.layout, context)
        self.draw_weights(self.layout, context)

    def draw_worker(self, layout: UILayout, context: Context) -> None:
        box = layout.box()
        box.label(text="Models and Worker", icon="SETTINGS")
        col = box.column()
        col.prop(self, "model")
        col.prop(self, "runtime")
        col.prop(self, "compute_device")
        col.prop(self, "run_mode")
        row = col.row(align=True)
        row.prop(self, "worker_python")
        row.operator("avitalk.test_worker", text="Test", icon="PLAY")
        probe = last_probe()
        if probe is not None:
            _wrapped(box, probe[0], icon="CHECKMARK" if probe[1] else "ERROR")
        col = box.column()
        col.prop(self, "flame_model_path")
        col.prop(self, "flame_landmarks_path")

    def draw_weights(self, layout: UILayout, context: Context) -> None:
        box = layout.box()
        box.label(text="Model Weights and Assets", icon="PACKAGE")
        try:
            store = make_store(self)
        except WeightsError as exc:
            _wrapped(box, str(exc), icon="ERROR")
            box.prop(self, "weights_registry")
            return
        online = store.offline() is None
        if not online:
            _wrapped(box, f"Downloads are off: {store.offline()}. Files can still be placed by hand in the "
                          "folders shown below.", icon="INTERNET_OFFLINE")
        for asset in store.registry:
            self._draw_asset(box.box(), store, asset.name, online)

        col = box.column()
        col.prop(self, "weights_cache_dir")
        row = col.row()
        row.label(text=f"In use: {store.cache_dir}", icon="FILE_FOLDER")
        props = row.operator("wm.path_open", text="Open", icon="FILE_FOLDER")
        if props is not None:
            props.filepath = str(store.cache_dir)
        col.prop(self, "weights_registry")

    @staticmethod
    def _draw_asset(layout: UILayout, store: AssetStore, name: str, online: bool) -> None:
        asset = store.asset(name)
        state = store.state(asset)
        state_text, icon = _STATE_UI[state]
        size = f", {human_size(asset.size)}" if asset.size else ""

        row = layout.row()
        row.label(text=f"{asset.name} {asset.version} ({asset.kind}{size})", icon=icon)
        job = _jobs.get(asset.name)
        if job is not None and not job.finished:
            compat.progress(row, job.fraction, job.message)
            _asset_button(row, AVITALK_OT_cancel_fetch.bl_idname, asset.name, text="", icon="CANCEL")
        else:
            row.label(text=state_text)
            if not asset.is_local and state is not AssetState.VERIFIED:
                sub = row.row()
                sub.enabled = online
                _asset_button(sub, AVITALK_OT_fetch_weights.bl_idname, asset.name, icon="IMPORT")

        _wrapped(layout, asset.description)
        layout.label(text=f"Licence: {asset.license}")
        if job is not None and job.finished and job.error:
            _wrapped(layout, job.error, icon="ERROR")
        if state is AssetState.LOCAL_ABSENT:
            _wrapped(layout, f"Expected at {store.path_for(asset)}. Reinstall the add-on, or choose your own "
                             "weights file.", icon="INFO")
        elif not online and state in _NEEDS_DOWNLOAD:
            _wrapped(layout, f"Download {asset.file} from {asset.url} and put it in "
                             f"{store.folder_for(asset)}", icon="URL")


def _asset_button(layout: UILayout, idname: str, asset: str, **kwargs: Any) -> None:
    props = layout.operator(idname, **kwargs)
    if props is not None:
        props.asset = asset


def _wrapped(layout: UILayout, text: str, icon: Any = "NONE") -> None:
    # Blender labels do not wrap; long messages (paths, URLs) are split over several labels.
    col = layout.column(align=True)
    for i, line in enumerate(textwrap.wrap(text, _WRAP) or [""]):
        col.label(text=line, icon=icon if i == 0 else "BLANK1")


def unregister_extra() -> None:
    # Ask running downloads to stop; their partial files stay for a later resume.
    for job in _jobs.values():
        job.cancel.set()
    if bpy.app.timers.is_registered(_poll_jobs):
        bpy.app.timers.unregister(_poll_jobs)


CLASSES = (AVITALK_OT_fetch_weights, AVITALK_OT_cancel_fetch, AVITALK_AddonPreferences)
