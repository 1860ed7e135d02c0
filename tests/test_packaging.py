"""The package as pip and Blender see it: every sub-package is listed, the manifest is valid."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {"avi_talking"}
    for init in ROOT.rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT)
        if rel.parts and (rel.parts[0].startswith(".") or rel.parts[0] in {"tests", "build", "dist"}):
            continue
        if rel.parts:
            found.add(".".join(("avi_talking", *rel.parts)))
    assert found == listed


def test_blender_manifest_fields() -> None:
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    for key in ("schema_version", "id", "version", "name", "tagline", "maintainer", "type", "blender_version_min",
                "license"):
        assert key in manifest
    assert manifest["type"] == "add-on" and manifest["id"].isidentifier()
    assert tuple(int(x) for x in manifest["blender_version_min"].split(".")) >= (4, 2, 0)
    assert len(manifest["tagline"]) <= 64 and not manifest["tagline"].endswith((".", "!", "?"))
    assert all(not reason.endswith(".") for reason in manifest["permissions"].values())
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert manifest["version"] == pyproject["project"]["version"]


def test_imports_inside_the_package_are_relative() -> None:
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0].startswith(".") or rel.parts[0] in {"tests", "benchmarks", "scripts", "build"}:
            continue
        text = path.read_text(encoding="utf-8")
        if "import avi_talking" in text or "from avi_talking" in text:
            offenders.append(str(rel))
    assert offenders == []


def test_the_wheel_carries_the_models_sample_and_registry(tmp_path: Path) -> None:
    """A non-editable install must find the shipped weights, the sample and the registry beside the code."""
    import subprocess
    import sys
    import zipfile

    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("avi_talking-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("samples/sample.wav", "weights/stage1/model.json", "weights/stage1/model.safetensors",
                 "weights/stage2/model_card.json", "weights/stage2/model.safetensors", "weights_fetcher/registry.json",
                 "blender_manifest.toml", "core/stage2/synth.py", "addon/bake.py"):
        assert f"avi_talking/{name}" in names, name
    assert not any(n.startswith(("avi_talking/tests/", "avi_talking/.venv")) for n in names)


def test_legacy_bl_info_matches_the_manifest() -> None:
    """Blender before 4.2 (Debian's 3.4, used for the windowed tests) loads the add-on from ``bl_info``."""
    import tomllib

    import avi_talking

    manifest = tomllib.loads((Path(avi_talking.__file__).parent / "blender_manifest.toml").read_text())
    info = avi_talking.bl_info
    assert ".".join(map(str, info["version"])) == manifest["version"] == avi_talking.__version__
    assert info["name"] == manifest["name"] and info["blender"] <= (3, 4, 0)
