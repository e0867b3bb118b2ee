#!/usr/bin/env bash
# The main job on the bundled demo data: installs what is missing, builds, imports the
# PneumoniaMNIST chest X-rays into demo/PneumoniaMNIST.medsiam and prints the project summary,
# then trains a classifier for 3 minutes on the CPU, pretrains a network with SimSiam for 2
# minutes and compares a linear probe on its features with one on random-init features.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh default
cli=build/app/medsiam-cli
project=demo/PneumoniaMNIST.medsiam
"$cli" import datasets/pneumoniamnist_28.npz --project "$project" --size 64
echo
"$cli" info "$project"
echo
# A classifier in 3 minutes on the CPU: the default recipe for a network started from random
# weights (AdamW, cosine schedule, augmentation, classes weighted; docs/TRAINING.md). It keeps the
# checkpoint with the best validation ROC AUC and prints that one's val and test results.
"$cli" finetune "$project" --budget 3m
echo
# SimSiam without labels for 2 minutes, then a linear probe of its features against one of
# random-init features of the same backbone.
"$cli" pretrain "$project" --budget 2m --monitor-every 100000
run=$("$cli" runs "$project" | awk '$2 == "simsiam-pretrain" {id=$1} END {print id}')
echo
echo "Linear probe on the SimSiam features ($run):"
"$cli" probe "$project" --run "$run"
echo
echo "Linear probe on random-init features of the same backbone, for comparison:"
"$cli" probe "$project" --backbone bit-nano
echo
echo "Open the project in the desktop application with: build/app/medsiam $project"
echo "There, Train > Classification Results shows the classifier's test results, Data > Embedding"
echo "Map draws the SimSiam run's t-SNE map, and Train > Training Runs the runs' curves."
