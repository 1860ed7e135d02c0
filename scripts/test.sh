#!/usr/bin/env bash
# The test command (README, CI): set up what is missing, then lint, type-check and run the tests on
# bpy 5.0.1 (.venv) and the Blender-facing tests again on bpy 4.2 LTS (.venv-bpy42).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh --bpy42
echo "== ruff";  .venv/bin/ruff check .
echo "== mypy";  .venv/bin/mypy .
echo "== pytest (bpy 5.0.1)"; .venv/bin/python -m pytest -q "$@"
echo "== pytest -m bpy (bpy 4.2 LTS)"; .venv-bpy42/bin/python -m pytest -q -m bpy "$@"
