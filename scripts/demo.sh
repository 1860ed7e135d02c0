#!/usr/bin/env bash
# The main job, end to end: the sample WAV shipped in the repo → a baked .blend (built-in head,
# 52 animated shape keys from the shipped stage-1 + stage-2 models, sound strip). Sets up what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
mkdir -p out
.venv/bin/avitalk bake samples/sample.wav -o out/sample.blend "$@"
