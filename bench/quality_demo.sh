#!/usr/bin/env bash
# Quality on the bundled PneumoniaMNIST (28 px X-rays cached at 64 px), CPU, about 10 minutes:
#   1. linear probe on SimSiam-pretrained features vs on random-init features of the same backbone;
#   2. a chain: supervised upstream training on half "a" of the train split, then SimSiam on the
#      other half "b" starting from it, then the probe (and the probe of the upstream model alone).
# Prints the test ROC AUC and balanced accuracy of every probe. The paper's claim is that
# transfer + SimSiam beats each alone; this prints what comes out here, whatever it is.
#
#   bench/quality_demo.sh [BACKBONE] [SSL_STEPS]      (defaults: bit-tiny 300)
set -euo pipefail
cd "$(dirname "$0")/.."
backbone=${1:-bit-tiny}
steps=${2:-300}
cli=${MEDSIAM_CLI:-build/app/medsiam-cli}
[ -x "$cli" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
project=$work/pneumonia.medsiam
"$cli" import datasets/pneumoniamnist_28.npz --project "$project" --size 64 >/dev/null 2>&1
latest() { "$cli" runs "$project" | awk -v k="$1" '$2 == k {id=$1} END {print id}'; }
probe() { # label, probe args...
  local label=$1; shift
  "$cli" probe "$project" --size 64 "$@" 2>/dev/null |
    awk -v l="$label" '$1 == "test" {printf "%-36s test ROC AUC %s  balanced accuracy %s  accuracy %s\n", l, $11, $8, $5}'
}
t0=$(date +%s)
"$cli" pretrain "$project" --backbone "$backbone" --steps "$steps" --batch 128 --lr 0.5 --monitor-every 100000 >/dev/null 2>&1
ssl=$(latest simsiam-pretrain)
t1=$(date +%s)
"$cli" finetune "$project" --backbone "$backbone" --subset a --steps 200 --batch 128 --lr 0.4 --class-weighted --eval-every 100000 >/dev/null 2>&1
up=$(latest finetune)
t2=$(date +%s)
"$cli" pretrain "$project" --backbone "$backbone" --subset b --init-run "$up" --steps "$steps" --batch 128 --lr 0.5 --monitor-every 100000 >/dev/null 2>&1
chain=$(latest simsiam-pretrain)
t3=$(date +%s)
echo "backbone $backbone, 64 px, SimSiam $steps steps of batch 128 ($((t1 - t0)) s; chain: upstream $((t2 - t1)) s, SimSiam $((t3 - t2)) s)"
probe "random init" --backbone "$backbone"
probe "SimSiam (all train images)" --run "$ssl"
probe "upstream (supervised, half a)" --backbone "$backbone" --init-run "$up"
probe "upstream half a -> SimSiam half b" --run "$chain"
echo "total $(( $(date +%s) - t0 )) s"
