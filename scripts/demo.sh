#!/usr/bin/env bash
# The main job on the bundled demo data: installs what is missing, builds, imports the
# PneumoniaMNIST chest X-rays into demo/PneumoniaMNIST.medsiam and prints the project summary.
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
echo "Open it in the desktop application with: build/app/medsiam $project"
