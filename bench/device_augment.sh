#!/usr/bin/env bash
# SimSiam's augmentation, two ways, on the same cache, batches and views: per sample on CPU
# threads (data/Augment, what training on the CPU uses) and as batched tensor operations
# (train/DeviceAugment, what training on a GPU uses), on the CPU and, when there is one, on the GPU.
# Prints images per second of each and the ratio.
#
#   bench/device_augment.sh [BUILD_DIR]     (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
cmake --build "$build" --target bench_device_augment -j 2 >/dev/null
bin="$build/bench/bench_device_augment"
#     cache  input  batch  threads  batches
"$bin" 128    112    64     2        20
"$bin" 128    112    64     1        20
"$bin" 64     64     256    2        10
