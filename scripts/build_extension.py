#!/usr/bin/env python3
"""Build the installable extension zip with Blender's own tool (``blender --command extension build``),
which validates ``blender_manifest.toml`` and honours its ``paths_exclude_pattern``.

Without a Blender binary on the PATH it runs the same tool from the ``bpy`` module (its
``scripts/addons_core/bl_pkg/cli/blender_ext.py``). Usage:

    .venv/bin/python scripts/build_extension.py [--output-dir dist]     # prints the zip's path
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def blender_version(blender: str) -> tuple[int, int]:
    """``(major, minor)`` of a Blender binary, (0, 0) when it does not say."""
    out = subprocess.run([blender, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"Blender (\d+)\.(\d+)", out)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def extension_tool() -> list[str]:
    """The command that runs Blender's extension tool: a ``blender`` binary, else the bpy module's copy."""
    blender = shutil.which("blender")
    if blender is not None and blender_version(blender) >= (4, 2):  # older ones (Debian's 3.4) have no -c
        return [blender, "--command", "extension"]
    spec = importlib.util.find_spec("bpy")
    for folder in spec.submodule_search_locations or () if spec is not None else ():
        found = sorted(Path(folder).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return [sys.executable, str(found[-1])]
    raise SystemExit("error: no Blender 4.2+ on the PATH and no bpy module with Blender's extension tool "
                     "(pip install bpy, or run ./scripts/bootstrap.sh)")


def build(output_dir: Path) -> Path:
    tool = extension_tool()
    subprocess.run([*tool, "validate", str(ROOT)], check=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    before = set(output_dir.glob("*.zip"))
    subprocess.run([*tool, "build", "--source-dir", str(ROOT), "--output-dir", str(output_dir)], check=True)
    made = sorted(set(output_dir.glob("*.zip")) - before) or sorted(output_dir.glob("*.zip"))
    if not made:
        raise SystemExit(f"error: Blender's extension tool made no zip in {output_dir}")
    return made[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist", help="where the zip goes (default dist/)")
    args = parser.parse_args()
    try:
        print(build(args.output_dir.resolve()))
    except subprocess.CalledProcessError as exc:
        print(f"error: Blender's extension tool failed (exit {exc.returncode})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
