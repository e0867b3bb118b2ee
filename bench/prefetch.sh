#!/usr/bin/env bash
# Making the next batch ahead (util/Prefetcher) on this CPU: medsiam-cli pretrain with
# MEDSIAM_PREFETCH=0 (each batch made when its step comes, the CPU default) and =1 (made on a
# second thread while the step runs, the GPU default) on the same run: the bundled X-rays, 64 px,
# batch 64. Prints the median images/s of each and the ratio; below 1.0x is why the CPU does
# not prefetch (core/system/Runtime: prefetchBatches). bench/gpu_simsiam.sh measures it on a GPU.
#
#   bench/prefetch.sh [STEPS]     (default 25)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-25}
source bench/step_rate.sh
demo_project 64
for config in "bit-nano --in-channels 1" "resnet18 --in-channels 3 --projector-dim 2048 --predictor-dim 512"; do
  set -- $config
  args=(pretrain "$project" --backbone $config --size 64 --batch 64 --steps "$steps" --checkpoint-every 100000 --monitor-every 100000)
  MEDSIAM_PREFETCH=0 "$cli" "${args[@]}" >/dev/null 2>&1
  off=$(step_rate "$cli" "$project")
  MEDSIAM_PREFETCH=1 "$cli" "${args[@]}" >/dev/null 2>&1
  on=$(step_rate "$cli" "$project")
  python3 - "$1" "$off" "$on" "$(nproc)" <<'PY'
import sys
name, off, on, cores = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
print(f"{name} SimSiam, batch 64, 64 px, {cores} cores: each batch in its step {off:7.1f} img/s, "
      f"made ahead on a second thread {on:7.1f} img/s, ratio {on / off:4.2f}x")
PY
done
