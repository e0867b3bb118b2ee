#!/usr/bin/env bash
# Installs every Debian 12 package that medsiam's build, tests and benchmark
# reference scripts need. Safe to run again: apt-get skips what is present.
# With --fuzz, also clang and its libFuzzer runtime for tests/fuzz/run.sh (CI runs it).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache git pkg-config
  # engine
  libtorch-dev libopenblas0-pthread
  # c10d's Gloo backend headers, for data-parallel training over processes
  libgloo-dev
  # data and storage
  libsqlite3-dev nlohmann-json3-dev zlib1g-dev
  # approximate nearest neighbours for large t-SNE maps (header-only)
  libhnswlib-dev
  # medical and image IO
  libdcmtk-dev dcmtk libopenjp2-7-dev
  libinsighttoolkit5-dev libopencv-dev
  # GUI
  qt6-base-dev qt6-charts-dev libqt6opengl6-dev qt6-svg-dev
  xvfb xauth
  # the package check (scripts/check-package.sh)
  desktop-file-utils appstream lintian
  # the PACS tests run a real Orthanc on loopback (started by the test, not as a service)
  orthanc
  # benchmark peers and the DICOM conformance reference
  python3 python3-numpy python3-pydicom python3-gdcm python3-sklearn python3-torch python3-torchvision
)

if [ "${1:-}" = "--fuzz" ]; then
  PACKAGES+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
