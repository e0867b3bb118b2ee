#!/usr/bin/env bash
# DICOM conformance against the peer: Debian's pydicom test corpus through medsiam's import and
# through pydicom + gdcm (../shared/bench/reference_dicom_decode.py), in one run. Every image the
# reference decodes must be imported with its windowed 8-bit statistics within one grey level,
# and every other file must carry a reason (build/bench/bench_dicom_conformance says which).
#
#   bench/dicom_conformance.sh        (build first: scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
reference="${MEDSIAM_SHARED_DIR:-../shared}/bench/reference_dicom_decode.py"
[ -f "$reference" ] || { echo "the reference decoder is not here: $reference (set MEDSIAM_SHARED_DIR)" >&2; exit 1; }
test=build/bench/bench_dicom_conformance
[ -x "$test" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
MEDSIAM_REFERENCE_DECODER=$(realpath "$reference") QT_QPA_PLATFORM=offscreen "$test"
