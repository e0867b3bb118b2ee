#!/usr/bin/env bash
# The main job on the bundled demo data: installs what is missing, builds, imports the
# PneumoniaMNIST chest X-rays into demo/PneumoniaMNIST.medsiam and prints the project summary,
# then pretrains a small network with SimSiam on the CPU for a couple of minutes and compares a
# linear probe on its features with one on random-init features (test metrics).
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
# SimSiam on CPU: a small backbone at 64 px, 300 steps of 128 image pairs (about 2 minutes on two
# cores). The base learning rate is raised from SimSiam's 0.05 to 0.5 because a short CPU run
# takes few steps (see docs/TRAINING.md).
"$cli" pretrain "$project" --backbone bit-tiny --steps 300 --batch 128 --lr 0.5 --monitor-every 100
run=$("$cli" runs "$project" | awk '$2 == "simsiam-pretrain" {id=$1} END {print id}')
echo
echo "Linear probe on the SimSiam features ($run):"
"$cli" probe "$project" --run "$run"
echo
echo "Linear probe on random-init features of the same backbone, for comparison:"
"$cli" probe "$project" --backbone bit-tiny
echo
echo "Open the project in the desktop application with: build/app/medsiam $project"
echo "There, Data > Embedding Map draws the SimSiam run's t-SNE map, Train > Classification Results"
echo "shows the probes' test results, and Train > Training Runs the runs' curves."
