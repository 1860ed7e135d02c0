"""The installable extension: built by Blender's own extension tool (scripts/build_extension.py), then
installed and enabled with Blender's installer into a throw-away user folder."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.bpy
pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parent.parent

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
    done = subprocess.run([sys.executable, "-c", INSTALL, str(built)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    installed = Path(done.stdout.split("installed ")[-1].strip())
    assert installed.name == "avi_talking" and (installed / "blender_manifest.toml").is_file()
    assert str(installed).startswith(str(tmp_path))
