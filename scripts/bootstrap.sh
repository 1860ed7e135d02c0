#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Debian packages (when root), a local virtual environment
# (.venv, bpy 5.0.1 + CPU torch + dev tools) and, with --bpy42 (the test set-up), a second one
# (.venv-bpy42) for the Blender 4.2 API generation plus Debian's Blender and Xvfb for the windowed tests.
# Safe to run repeatedly; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_42=0
for arg in "$@"; do
  case "$arg" in
    --bpy42) want_42=1 ;;
    *) echo "bootstrap: unknown option $arg" >&2; exit 2 ;;
  esac
done

PY="${AVITALK_PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "bootstrap: needs CPython 3.11 (bpy wheels exist for 3.11 only); set AVITALK_PYTHON" >&2
  exit 2
fi

# espeak-ng (speech for tests and the corpus), sox/ffmpeg (MP3 and format tests), flite and festival with
# its voices (more corpus speakers).
voices="espeak-ng libespeak-ng1 sox ffmpeg flite festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k"
if ! ldconfig -p 2>/dev/null | grep -q libespeak-ng || ! command -v ffmpeg >/dev/null || ! command -v flite >/dev/null \
   || ! [ -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $voices >/dev/null
  else
    echo "bootstrap: speech engines missing and not root; install them with: sudo apt-get install $voices" >&2
  fi
fi

# The test set-up only (--bpy42): Debian's Blender (3.4) and Xvfb for the windowed tests
# (tests/test_blender_window.py); Blender's Python takes numpy from python3-numpy.
if [ "$want_42" = 1 ] && command -v dpkg-query >/dev/null; then
  missing=()
  for pkg in blender xvfb xauth python3-numpy; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "bootstrap: ${missing[*]} missing and not root: the windowed Blender tests will be skipped" \
           "(sudo apt-get install ${missing[*]})" >&2
    fi
  fi
fi

stamp_ok() { [ -f "$1/.avitalk-stamp" ] && [ "$(cat "$1/.avitalk-stamp")" = "$2" ]; }
deps_hash=$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)

if ! stamp_ok .venv "$deps_hash"; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first and pinned: the local CPU wheel, never the multi-GB CUDA build. The llm extra
  # (transformers) is installed so the tests exercise the optional LLM backend with a tiny local model.
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e ".[dev,models,blender,llm,corpus]"
  echo "$deps_hash" > .venv/.avitalk-stamp
fi

if [ "$want_42" = 1 ] && ! stamp_ok .venv-bpy42 "$deps_hash"; then
  [ -x .venv-bpy42/bin/python ] || "$PY" -m venv .venv-bpy42
  .venv-bpy42/bin/python -m pip install -q --upgrade pip
  # Blender 4.2 LTS ships numpy 1.26; keep the same major version.
  # torch too (the pinned CPU wheel): the CLI's default model is stage 2 on both Blender generations.
  .venv-bpy42/bin/python -m pip install -q "bpy==4.2.23" "numpy<2" "pytest>=8" "hypothesis>=6.100" "torch==2.13.0"
  .venv-bpy42/bin/python -m pip install -q -e ".[models]"
  echo "$deps_hash" > .venv-bpy42/.avitalk-stamp
fi
