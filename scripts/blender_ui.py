"""Run a script in a real, windowed Blender under Xvfb, with this checkout enabled as the legacy add-on
``avi_talking``: ``python scripts/blender_ui.py SCRIPT [ARGS...]``.

The add-on reaches Blender through a throw-away user scripts folder (``BLENDER_USER_SCRIPTS``) holding
``addons/avi_talking`` → this checkout, so Blender's own add-on loader (``bl_info``) is what loads it.
The worker Python (Blender's own has no soundfile/soxr/pocketsphinx) is the Python running this file,
unless ``AVITALK_WORKER_PYTHON`` says otherwise (``run(..., env={"AVITALK_WORKER_PYTHON": ""})``: none set).
The script gets ``ARGS`` after ``--`` in ``sys.argv`` and the path of a JSON file for its results in
``AVITALK_RESULT`` (see ``blender_session.finish``). The screen is 1600×1000 unless ``AVITALK_SCREEN``
(``WIDTHxHEIGHT``) says otherwise.

Used by ``tests/test_blender_window.py`` and ``scripts/screenshot_panel.sh``. Needs ``blender`` and
``xvfb-run`` on the PATH (Debian: ``apt-get install blender xvfb xauth python3-numpy``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SESSION_HELPERS = Path(__file__).resolve().parent  # blender_session.py lives beside this file
SCREEN = (1600, 1000)


def missing_tools() -> list[str]:
    """The programs this needs that are not on the PATH."""
    return [tool for tool in ("blender", "xvfb-run") if shutil.which(tool) is None]


@dataclass
class BlenderRun:
    returncode: int
    stdout: str
    stderr: str
    result: dict[str, Any] = field(default_factory=dict)  # what the script passed to blender_session.finish

    def tracebacks(self) -> list[str]:
        """Python tracebacks Blender printed (a draw or an operator that raised)."""
        text = self.stdout + "\n" + self.stderr
        return [part.split("\n\n")[0] for part in text.split("Traceback (most recent call last):")[1:]]


def _copy_tracked(target: Path) -> None:
    """The files git tracks (what the extension zip holds and more), without .venv, build or caches."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def run(script: Path, *args: str, timeout: float = 90.0, env: dict[str, str] | None = None,
        screen: tuple[int, int] = SCREEN, installed_copy: bool = False) -> BlenderRun:
    """Run ``script`` in Blender under Xvfb (see the module docstring) and collect what it reported.
    ``installed_copy``: the add-on is a copy of the tracked files, as an install would be, instead of a link to
    this checkout (whose ``.venv`` the worker detection would find)."""
    script = script.resolve()
    missing = missing_tools()
    if missing:
        raise FileNotFoundError(f"{' and '.join(missing)} not found: apt-get install blender xvfb xauth")
    with tempfile.TemporaryDirectory(prefix="avitalk-blender-") as tmp:
        work = Path(tmp)
        addons = work / "scripts" / "addons"
        addons.mkdir(parents=True)
        if installed_copy:
            _copy_tracked(addons / "avi_talking")
        else:
            (addons / "avi_talking").symlink_to(ROOT, target_is_directory=True)
        result_file = work / "result.json"
        full_env = {
            **os.environ,
            "BLENDER_USER_SCRIPTS": str(work / "scripts"),
            "BLENDER_USER_CONFIG": str(work / "config"),
            "AVITALK_RESULT": str(result_file),
            "AVITALK_SESSION_HELPERS": str(SESSION_HELPERS),
            "TMPDIR": str(work),
            **(env or {}),
        }
        full_env.setdefault("AVITALK_WORKER_PYTHON", sys.executable)
        width, height = screen
        command = ["xvfb-run", "-a", "-s", f"-screen 0 {width}x{height}x24",
                   "blender", "--factory-startup", "--window-geometry", "0", "0", str(width), str(height),
                   "--enable-event-simulate",
                   "--python-exit-code", "1", "--python", str(script), "--", *args]
        # its own session: on a timeout the whole group (xvfb-run, Xvfb, Blender) is killed
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=full_env, cwd=work, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            tail = (stdout + stderr)[-2000:]
            raise TimeoutError(f"Blender ran past {timeout:g} s; its last output:\n{tail}") from None
        result = json.loads(result_file.read_text()) if result_file.is_file() else {}
        crash_log = work / "blender.crash.txt"  # Blender's backtrace when it crashed
        if crash_log.is_file():
            stderr += "\n" + crash_log.read_text(errors="replace")
        return BlenderRun(proc.returncode, stdout, stderr, result)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    size = os.environ.get("AVITALK_SCREEN", "")  # "WIDTHxHEIGHT": a taller screen shows the whole panel
    screen = tuple(int(n) for n in size.split("x")) if size else SCREEN
    try:
        outcome = run(Path(argv[0]).resolve(), *argv[1:], timeout=300.0, screen=(screen[0], screen[1]))
    except (FileNotFoundError, TimeoutError) as exc:
        print(f"blender_ui: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(outcome.stdout)
    sys.stderr.write(outcome.stderr)
    if outcome.result.get("error"):
        print(f"blender_ui: {outcome.result['error']}", file=sys.stderr)
        return 1
    return outcome.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
