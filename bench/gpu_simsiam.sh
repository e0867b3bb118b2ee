#!/usr/bin/env bash
# SimSiam on a GPU: medsiam-cli pretrain --cuda against the eager PyTorch peer
# (../shared/bench/reference_simsiam.py) on BiT-R50x1 and ResNet-50, batch 256, 224 px, bf16, in one run.
#   - medsiam end to end: images from the project's cache, augmentation on the GPU (docs/TRAINING.md).
#   - medsiam with augmentation off: close to model-only; and end to end without making the next
#     batch ahead (MEDSIAM_PREFETCH=0), which shows what prefetching gains.
#   - the peer: model-only on random tensors (fp32 and bf16), and end to end with torchvision's
#     JPEG loader.
# Prints images/s, the ratios (goal: medsiam end to end >= 10x the peer's end to end, and >= 1.0x
# the peer's model-only bf16 on BiT-R50x1) and the GPU memory each used.
#
#   bench/gpu_simsiam.sh [STEPS]      on a machine with a CUDA PyTorch (python3 -c 'import torch')
# Builds the `cuda` preset (core + medsiam-cli against that PyTorch's LibTorch) into build-cuda/.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-15}
py=${PYTHON:-python3}
peer="${MEDSIAM_SHARED_DIR:-../shared}/bench/reference_simsiam.py"
"$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
  { echo "gpu_simsiam: no CUDA PyTorch here (python3 -c 'import torch; torch.cuda.is_available()')" >&2; exit 1; }
export TORCH_CMAKE_PREFIX=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')
cmake --preset cuda >/dev/null
cmake --build --preset cuda --target medsiam-cli medsiam-cli-engine -j "$(nproc)" >/dev/null
cli=build-cuda/app/medsiam-cli
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 3,000 RGB images at 256 px with structure (discs and gradients), as a MedMNIST-style archive.
"$py" - "$work/rgb.npz" <<'PY'
import numpy as np, sys
rng = np.random.default_rng(0)
n, s = 3000, 256
yy, xx = np.mgrid[0:s, 0:s]
imgs = np.empty((n, s, s, 3), np.uint8)
for i in range(n):
    cx, cy, r = rng.uniform(60, 196, 2).tolist() + [rng.uniform(20, 60)]
    disc = (np.hypot(xx - cx, yy - cy) < r)
    base = 40 + 120 * disc[..., None] + (xx[..., None] * rng.uniform(0, 0.3, 3))
    imgs[i] = np.clip(base + rng.normal(0, 15, (s, s, 3)), 0, 255).astype(np.uint8)
labels = (np.arange(n) % 2).reshape(-1, 1).astype(np.uint8)
np.savez(sys.argv[1], train_images=imgs, train_labels=labels)
PY
"$cli" import "$work/rgb.npz" --project "$work/p" --size 256 >/dev/null

source bench/step_rate.sh
rate() { step_rate "$cli" "$work/p" "$py"; }
memwatch() { # the largest memory.used (MiB) while $1 runs
  local log=$work/mem.txt; : > "$log"
  (while sleep 0.5; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 >> "$log" 2>/dev/null || true; done) &
  local w=$!; "$@" >/dev/null 2>&1; kill $w 2>/dev/null || true
  sort -n "$log" | tail -1
}
for model in bit-r50x1:bit_r50x1 resnet50:resnet50_bn; do
  ours=${model%%:*}; theirs=${model##*:}
  args=(pretrain "$work/p" --backbone "$ours" --in-channels 3 --size 224 --batch 256 --steps "$steps" --cuda --bf16
        --checkpoint-every 100000 --monitor-every 100000)
  mem=$(memwatch "$cli" "${args[@]}"); e2e=$(rate)
  MEDSIAM_PREFETCH=0 "$cli" "${args[@]}" >/dev/null 2>&1; inturn=$(rate) # each batch made when its step comes
  memq=$(memwatch "$cli" "${args[@]}" --no-aug crop --no-aug flip --no-aug jitter --no-aug grayscale --no-aug blur); plain=$(rate)
  if [ -f "$peer" ]; then
    pj=$("$py" "$peer" --model "$theirs" --batch 256 --res 224 --steps "$steps" 2>/dev/null || echo '{}')
  else
    pj='{}'
  fi
  "$py" - "$ours" "$e2e" "$plain" "$mem" "$memq" "$pj" "$inturn" <<'PY'
import json, sys
name, e2e, plain, mem, memq, pj = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5], json.loads(sys.argv[6])
inturn = float(sys.argv[7])
print(f"{name}, batch 256, 224 px, bf16: medsiam end to end {e2e:.1f} img/s ({mem} MiB), augmentation off {plain:.1f} img/s ({memq} MiB)")
print(f"  next batch made ahead {e2e:.1f} img/s, in its step (MEDSIAM_PREFETCH=0) {inturn:.1f} img/s: {e2e / inturn:.2f}x")
if pj:
    mo, e = pj.get("model_only_img_s_bf16"), pj.get("end_to_end_img_s")
    print(f"  peer ({pj.get('device')}, torch {pj.get('torch')}): model-only fp32 {pj.get('model_only_img_s_fp32')} bf16 {mo}, end to end {e} img/s")
    if e: print(f"  medsiam end to end / peer end to end: {e2e / e:.2f}x (goal >= 10x)")
    if mo: print(f"  medsiam end to end / peer model-only bf16: {e2e / mo:.2f}x; augmentation off / model-only bf16: {plain / mo:.2f}x (goal >= 1.0x)")
else:
    print("  peer not run: ../shared/bench/reference_simsiam.py (or MEDSIAM_SHARED_DIR) not found, or it failed (timm for bit_r50x1?)")
PY
done
