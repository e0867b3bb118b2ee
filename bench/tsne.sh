#!/usr/bin/env bash
# t-SNE speed and quality: medsiam-cli tsne against scikit-learn's Barnes-Hut t-SNE
# (../shared/bench/reference_tsne.py) on the same inputs, in one run: 10k x 128 synthetic clusters
# and a real embedding of the bundled PneumoniaMNIST (a short SimSiam run of bit-tiny), then
# medsiam alone at 50k and 100k points (the peer too with --large-peer: it takes many minutes).
# Times are each tool's own fit time (no start-up or file reading); trustworthiness (k = 10) is
# computed by scikit-learn on the same 3000-point sample for both.
#
#   bench/tsne.sh [--large-peer]
set -euo pipefail
cd "$(dirname "$0")/.."
cli=${MEDSIAM_CLI:-build/app/medsiam-cli}
peer="${MEDSIAM_SHARED_DIR:-../shared}/bench/reference_tsne.py"
[ -x "$cli" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
large_peer=${1:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trust() { /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, numpy as np
from sklearn.manifold import trustworthiness
x = np.load(sys.argv[1]).astype(np.float32); y = np.load(sys.argv[2])
idx = np.random.default_rng(1).choice(len(x), min(3000, len(x)), replace=False)
print(round(float(trustworthiness(x[idx], y[idx], n_neighbors=10)), 4))
PY
}
ours() { # input.npy -> seconds
  "$cli" tsne --npy "$1" --out "$work/ours.npy" 2>/dev/null | sed -n 's/.* in \([0-9.]*\) s.*/\1/p'
}
compare() { # label, input.npy, [peer]
  local label=$1 input=$2 s t ps pt
  s=$(ours "$input"); t=$(trust "$input" "$work/ours.npy")
  if [ "${3:-peer}" = peer ]; then
    local json; json=$(/usr/bin/python3 "$peer" --npy "$input" 2>/dev/null)
    ps=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
    pt=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["trustworthiness_k10"])')
    python3 -c "print(f'$label: medsiam {$s:7.2f} s, trustworthiness {$t}; scikit-learn {$ps:7.2f} s, {$pt}; speed-up {$ps / $s:5.1f}x, trustworthiness difference {$t - $pt:+.4f}')"
  else
    echo "$label: medsiam $s s, trustworthiness $t"
  fi
}
make_input() { /usr/bin/python3 - "$1" "$work/syn$1.npy" "$(dirname "$peer")" <<'PY'
import sys, numpy as np
sys.path.insert(0, sys.argv[3])
from reference_tsne import synthetic
np.save(sys.argv[2], synthetic(int(sys.argv[1]), 128)[0])
PY
}
make_input 10000
compare "10k x 128 synthetic clusters" "$work/syn10000.npy"
project=$work/pneumonia.medsiam
"$cli" import datasets/pneumoniamnist_28.npz --project "$project" --size 64 >/dev/null 2>&1
"$cli" pretrain "$project" --backbone bit-tiny --steps 100 --batch 128 --lr 0.5 --monitor-every 100000 >/dev/null 2>&1
run=$("$cli" runs "$project" | awk '$2 == "simsiam-pretrain" {id=$1} END {print id}')
"$cli" embed "$project" "$run" --npy "$work/pneumonia.npy" >/dev/null 2>&1
compare "PneumoniaMNIST, 5030 x 256 SimSiam embedding" "$work/pneumonia.npy"
for n in 50000 100000; do
  make_input $n
  if [ "$large_peer" = --large-peer ]; then compare "${n} x 128 synthetic clusters" "$work/syn$n.npy"
  else compare "${n} x 128 synthetic clusters" "$work/syn$n.npy" no-peer; fi
done
