#!/usr/bin/env bash
# The README's panel pictures (docs/images/panel.png and panel_timeline.png), taken headless: Debian's Blender (3.4, a legacy
# add-on load of this checkout) under Xvfb, the model in the project's .venv as the worker process.
# Usage: scripts/screenshot_panel.sh [OUT.png] [MODEL]   (needs: apt-get install blender xvfb xauth)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/images/panel.png}"
shift || true
# a screen tall enough for the whole panel at the sidebar's default width
export AVITALK_SCREEN="${AVITALK_SCREEN:-1600x1400}"
# Blender runs in a throw-away folder: the paths go in absolute
exec .venv/bin/python scripts/blender_ui.py scripts/screenshot_panel.py "$PWD/samples/sample.wav" "$(realpath -m "$out")" "$@"
