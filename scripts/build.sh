#!/usr/bin/env bash
# Configures and builds medsiam. Usage: scripts/build.sh [PRESET]   (default: "default")
# Presets are in CMakePresets.json: default (everything, build/), core (LibTorch-only core and
# medsiam-cli, build-core/), debug, asan.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"
# Relative paths in ccache's hash let a fresh clone reuse an earlier build's objects.
export CCACHE_BASEDIR="$PWD"
export CCACHE_NOHASHDIR=true
cmake --preset "$preset" >/dev/null
# Two jobs: a LibTorch translation unit needs about 1.3 GB and this machine class has 2 cores.
cmake --build --preset "$preset" -j "${MEDSIAM_BUILD_JOBS:-2}"
