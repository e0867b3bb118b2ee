#!/usr/bin/env bash
# SimSiam training-step throughput on this machine: medsiam-cli pretrain against the eager
# PyTorch + torchvision peer (../shared/bench/reference_simsiam.py, model only, random input) on
# the same network (ResNet-18, SimSiam heads 2048/512), batch 64, 64 px, fp32 and bf16, in one
# run; prints image pairs per second and the ratio. medsiam's figure includes its augmentation
# (done in the training loop), the peer's excludes data loading. Then medsiam's own figures for
# the small CPU configurations.
#
#   bench/simsiam_step.sh [STEPS]     (default 20; Debian's python3-torch and python3-torchvision)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-20}
peer="${MEDSIAM_SHARED_DIR:-../shared}/bench/reference_simsiam.py"
source bench/step_rate.sh
demo_project 64
rate() { step_rate "$cli" "$project"; }
ours() { "$cli" pretrain "$project" --steps "$steps" --batch 64 --size 64 --checkpoint-every 100000 --monitor-every 100000 "$@" >/dev/null 2>&1; rate; }
peer_json=$(/usr/bin/python3 "$peer" --model resnet18_bn --batch 64 --res 64 --steps "$steps" --no-e2e 2>/dev/null)
peer_fp32=$(echo "$peer_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["model_only_img_s_fp32"])')
peer_bf16=$(echo "$peer_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["model_only_img_s_bf16"])')
ms_fp32=$(ours --backbone resnet18 --in-channels 3 --projector-dim 2048 --predictor-dim 512)
ms_bf16=$(ours --backbone resnet18 --in-channels 3 --projector-dim 2048 --predictor-dim 512 --bf16)
python3 - "$ms_fp32" "$peer_fp32" "$ms_bf16" "$peer_bf16" <<'PY'
import sys
a, b, c, d = map(float, sys.argv[1:])
print(f"ResNet-18 SimSiam step, batch 64, 64 px, fp32: medsiam {a:7.1f} pairs/s, peer {b:7.1f}, ratio {a / b:5.2f}x")
print(f"ResNet-18 SimSiam step, batch 64, 64 px, bf16: medsiam {c:7.1f} pairs/s, peer {d:7.1f}, ratio {c / d:5.2f}x")
PY
for b in bit-nano bit-tiny bit-small resnet-nano; do
  echo "$b SimSiam step, batch 64, 64 px, gray, fp32: $(ours --backbone "$b") pairs/s"
done
