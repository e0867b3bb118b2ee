#!/usr/bin/env bash
# Active learning on the bundled PneumoniaMNIST: start with 20 labeled train images, then 5 rounds
# of 20 more, chosen (a) least certain first, as the desktop app's review queue orders them, and
# (b) at random; each round fine-tunes a new classifier with the same time budget, and the known
# labels stand in for the person. Prints test ROC AUC and balanced accuracy against the number of
# labels for both strategies (the peer here is random choice, on the same data in the same run).
#
#   bench/active_learning.sh [BUDGET_SECONDS_PER_ROUND] [THREADS] [SEED]     (defaults: 30 2 0)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BENCH:-build/bench/bench_active_learning}
[ -x "$bin" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" datasets/pneumoniamnist_28.npz "$work/al" "${1:-30}" 5 20 20 "${2:-2}" "${3:-0}"
