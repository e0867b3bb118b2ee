#!/usr/bin/env bash
# Data-parallel SimSiam on this machine: one process with every core's threads against N processes
# with cores / N threads each (medsiam-cli pretrain --nproc N, Gloo over loopback), on the same
# run (the bundled X-rays, the same global batch, steps and seed). Prints the median images/s of
# each and the scaling efficiency (N processes' speed over one process's), then what one step's
# gradient all-reduce costs at these networks' sizes (tests' distributed_worker, 2 ranks).
#
#   bench/data_parallel.sh [STEPS] [NPROC]     (default 30 steps, 2 processes)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-30}
nproc=${2:-2}
source bench/step_rate.sh
demo_project 64
cores=$(nproc)
rate() { step_rate "$cli" "$project"; }
for config in "bit-nano 32 128 ln" "bit-tiny 64 64 ln" "resnet18 64 64 bn"; do
  set -- $config
  args=(pretrain "$project" --backbone "$1" --size "$2" --batch "$3" --head-norm "$4" --steps "$steps"
        --checkpoint-every 100000 --monitor-every 100000)
  "$cli" "${args[@]}" --threads "$cores" >/dev/null 2>&1
  one=$(rate)
  "$cli" "${args[@]}" --nproc "$nproc" >/dev/null 2>&1
  many=$(rate)
  python3 - "$1" "$2" "$3" "$one" "$many" "$nproc" "$cores" <<'PY'
import sys
name, size, batch, one, many, n, cores = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
print(f"{name} SimSiam, {size} px, batch {batch}: 1 process x {cores} threads {one:7.1f} img/s, "
      f"{n} processes x {max(1, cores // n)} threads {many:7.1f} img/s, scaling efficiency {many / one:5.2f}")
PY
done
# The gradient all-reduce alone: bit-tiny-sized and ResNet-18 + SimSiam heads-sized buckets.
worker=$(dirname "$cli")/../tests/core/distributed_worker
if [ -x "$worker" ]; then
  for floats in 1000000 23000000; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$worker" allreduce-time 60 "$floats" >/dev/null &
    RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$worker" allreduce-time 60 "$floats" | grep all-reduce
    wait
  done
fi
