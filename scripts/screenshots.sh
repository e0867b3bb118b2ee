#!/usr/bin/env bash
# Saves the documentation screenshots (docs/screenshots/*.png) from a real scene: the bundled
# chest X-rays and DICOM files from Debian's pydicom corpus, in a real X window under Xvfb.
# Needs a build (scripts/build.sh) and the packages from scripts/install-deps.sh (Orthanc, for
# Import from PACS). MEDSIAM_SCREENSHOTS_ONLY=pacs (or about) saves the Import from PACS (or About) one alone.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build --target medsiam-screenshots -j2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
xvfb-run -a -s "-screen 0 1600x1000x24" build/tools/medsiam-screenshots docs/screenshots "$work/scene" \
  datasets/pneumoniamnist_28.npz /usr/lib/python3/dist-packages/pydicom/data/test_files
