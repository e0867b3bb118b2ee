#!/usr/bin/env bash
# Classifier quality on a time budget, on the bundled PneumoniaMNIST (28 px chest X-rays; train
# 3882, val 524, test 624), in one run on this machine, one job at a time:
#   1. medsiam's default fine-tune with --budget (default 10m);
#   2. medsiam SimSiam pretraining with half the budget, then the default fine-tune from it with
#      the other half;
#   3. the peer: MedMNIST v2's ResNet-18 (28) recipe in PyTorch (../shared/bench/
#      reference_supervised.py) with the same budget and threads, its best-val epoch's test scores.
#      --bf16 is passed to the peer only on a CPU with AVX512-BF16 (elsewhere it is ~10x slower).
# Prints test ROC AUC, accuracy and balanced accuracy of each, and the seconds each took.
#
#   bench/quality_budget.sh [BUDGET_SECONDS] [THREADS]     (defaults: 600 2)
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-600}
threads=${2:-2}
half=$((budget / 2))
cli=${MEDSIAM_CLI:-build/app/medsiam-cli}
peer=${PEER:-../shared/bench/reference_supervised.py}
npz=datasets/pneumoniamnist_28.npz
[ -x "$cli" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
project=$work/pneumonia.medsiam
"$cli" import "$npz" --project "$project" --size 64 >/dev/null 2>&1
latest() { "$cli" runs "$project" | awk -v k="$1" '$2 == k {id=$1} END {print id}'; }
# The "test" line under "model:" in a fine-tune's output: the selected checkpoint's test scores.
scores() { # label, seconds, output file
  awk -v l="$1" -v s="$2" '
    /^model:/ {sel = substr($0, 8); m = 1}
    m && $1 == "test" {printf "%-44s test ROC AUC %s  accuracy %s  balanced accuracy %s  (%s s; %s)\n", l, $NF, $5, $8, s, sel; m = 0}
    /^WARNING/ {print "    " $0}' "$3"
}
echo "PneumoniaMNIST 28 px, budget ${budget} s, ${threads} threads, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

t0=$(date +%s.%N)
"$cli" finetune "$project" --budget "${budget}s" --threads "$threads" >"$work/ft.txt" 2>&1
t1=$(date +%s.%N)
scores "medsiam default fine-tune" "$(printf %.0f "$(echo "$t1 - $t0" | bc)")" "$work/ft.txt"

t0=$(date +%s.%N)
"$cli" pretrain "$project" --budget "${half}s" --threads "$threads" >"$work/pt.txt" 2>&1
ssl=$(latest simsiam-pretrain)
"$cli" finetune "$project" --init-run "$ssl" --budget "${half}s" --threads "$threads" >"$work/ft2.txt" 2>&1
t1=$(date +%s.%N)
scores "medsiam SimSiam ${half} s + fine-tune ${half} s" "$(printf %.0f "$(echo "$t1 - $t0" | bc)")" "$work/ft2.txt"

if [ -f "$peer" ] && [ -x /usr/bin/python3 ]; then
  bf16=()
  if grep -q avx512_bf16 /proc/cpuinfo; then bf16=(--bf16); fi
  t0=$(date +%s.%N)
  /usr/bin/python3 "$peer" "$npz" --budget "$budget" --threads "$threads" "${bf16[@]}" >"$work/peer.txt" 2>&1 || true
  t1=$(date +%s.%N)
  /usr/bin/python3 - "$work/peer.txt" "$(printf %.0f "$(echo "$t1 - $t0" | bc)")" "${bf16[*]:-fp32}" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
final = [r for r in rows if r.get('final')]
if not final:
    print('peer: no result'); sys.exit()
f = final[0]; t = f['test_at_best_val']
label = 'peer ResNet-18 (MedMNIST recipe, %s)' % sys.argv[3].lstrip('-')
print('%-44s test ROC AUC %.3f  accuracy %.3f  balanced accuracy %.3f  (%s s; %d epochs, best-val epoch %d)'
      % (label, t['auc'], t['acc'], t.get('bal_acc', float('nan')), sys.argv[2], f['epochs'], f['best_val_epoch']))
EOF
else
  echo "peer: $peer not found (it lives in ../shared/bench, outside the repository)"
fi
