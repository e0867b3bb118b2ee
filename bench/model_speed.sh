#!/usr/bin/env bash
# CPU (or GPU) forward and forward+backward time of medsiam's networks, in training mode, on
# random input: the small CPU configurations at 64 px and BiT-R50x1 / ResNet-50 at 224 px,
# batch 8, fp32 and bf16 autocast. Absolute figures: there is no peer for this micro-benchmark
# (the SimSiam training step is compared with ../shared/bench/reference_simsiam.py by the
# training benchmark).
#
#   bench/model_speed.sh [extra medsiam-cli model bench options, e.g. --threads 1 or --cuda]
set -euo pipefail
cd "$(dirname "$0")/.."
cli=${MEDSIAM_CLI:-build/app/medsiam-cli}
[ -x "$cli" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
for precision in "" --bf16; do
  for b in bit-nano bit-tiny bit-small resnet-nano; do
    "$cli" model bench --backbone "$b" --size 64 --batch 64 --steps 5 $precision "$@"
  done
  for b in bit-r50x1 resnet50; do
    "$cli" model bench --backbone "$b" --size 224 --batch 8 --steps 3 $precision "$@"
  done
done
