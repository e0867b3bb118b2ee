#!/usr/bin/env bash
# The paper's question (Lu, Jha and Huo, 2021) on the bundled PneumoniaMNIST, in one run:
# `medsiam-cli experiment` with the same time budget per SimSiam arm (SimSiam from random init,
# from the transfer init with GroupNorm + WS, converted to BatchNorm + WS; the transfer init alone;
# random features), each probed, label-efficiency probed (1%, 10%, 100%) and fine-tuned. The
# transfer source is medsiam's default: an upstream classifier on half a of the labeled train
# images, SimSiam on half b, as the peer does.
#
# The peer: ../shared/bench/reference_convergence.py (SimSiam scratch vs transfer init in eager
# PyTorch, probe AUC over time). It needs a GPU to finish in minutes; with one (nvidia-smi) it is
# run here on the same data and seconds per run; without one its recorded GPU figures are printed
# beside medsiam's CPU result.
#
#   bench/transfer_experiment.sh [ARM_BUDGET] [THREADS] [KEEP_DIR]    (defaults: 10m 2, a temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-10m}
threads=${2:-2}
keep=${3:-}
cli=${MEDSIAM_CLI:-build/app/medsiam-cli}
peer=${PEER:-../shared/bench/reference_convergence.py}
npz=datasets/pneumoniamnist_28.npz
[ -x "$cli" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
if [ -n "$keep" ]; then work=$keep; mkdir -p "$work"; else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
project=$work/pneumonia.medsiam
[ -d "$project" ] || "$cli" import "$npz" --project "$project" >/dev/null 2>&1
echo "PneumoniaMNIST 28 px, ${budget} per SimSiam arm, ${threads} threads, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
t0=$(date +%s)
"$cli" experiment "$project" --budget "$budget" --threads "$threads" >"$work/experiment.txt" 2>"$work/experiment.log"
t1=$(date +%s)
echo "medsiam experiment: $((t1 - t0)) s in all"
cat "$work/experiment.txt"
exp=$(ls -d "$project"/experiments/*/ | tail -1)
echo
echo "table ($exp/table.csv):"
column -s, -t <"$exp/table.csv" | cut -c1-400

echo
if command -v nvidia-smi >/dev/null 2>&1 && [ -f "$peer" ]; then
  secs=$(python3 - "$budget" <<'PY'
import sys,re
t=sys.argv[1]; m=re.fullmatch(r'([0-9.]+)([smh]?)',t); v=float(m.group(1)); print(int(v*{'':1,'s':1,'m':60,'h':3600}[m.group(2)]))
PY
)
  echo "peer: reference_convergence.py, ${secs} s per run, on the GPU"
  python3 "$peer" "$npz" "$secs"
elif [ -f "$(dirname "$peer")/README.md" ]; then
  echo "peer (recorded on a GPU, $(dirname "$peer")/README.md):"
  grep -i -A2 "reference_convergence.py, ResNet-18" "$(dirname "$peer")/README.md" | sed 's/^/  /'
else
  echo "peer: not available (../shared/bench is optional)"
fi
