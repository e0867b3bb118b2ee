#!/usr/bin/env bash
# Fine-tuning speed on this CPU: forward+backward images per second of a 2-class, 1-channel
# classifier in training mode, batch 64, for medsiam's bit-nano, bit-tiny and resnet18 and the
# peer's ResNet-18 (torchvision, as MedMNIST's recipe builds it), at 32, 64 and 128 px, fp32 and
# bf16 autocast, with the CIFAR stem (3x3/1 conv, no pooling: what medsiam and MedMNIST give
# small images) and the ImageNet stem (7x7/2 conv and max-pool). The table backs the recipe's
# choice of network, input size and precision (docs/TRAINING.md).
#
# On a CPU without AVX512-BF16 bf16 is emulated and 10-30x slower: it is timed on batch 4, one
# step, and the whole table then takes about an hour on 2 cores (STEMS=cifar halves it).
#
#   bench/cpu_speed.sh [THREADS] [STEMS]     (defaults: 2 "cifar imagenet")
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
stems=${2:-cifar imagenet}
cli=${MEDSIAM_CLI:-build/app/medsiam-cli}
[ -x "$cli" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
if grep -q avx512_bf16 /proc/cpuinfo; then native=1; else native=0; fi
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $threads threads, AVX512-BF16: $([ $native = 1 ] && echo yes || echo no)"
peer() { # stem size bf16 batch steps
  /usr/bin/python3 - "$@" "$threads" <<'EOF' 2>/dev/null || echo "-"
import sys, time, torch, torch.nn as nn, torch.nn.functional as F, torchvision
stem, size, bf16, bs, steps, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3] == '1', int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads)
m = torchvision.models.resnet18(num_classes=2)
if stem == 'cifar':
    m.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False); m.maxpool = nn.Identity()
else:
    m.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
m.train()
x = torch.randn(bs, 1, size, size); y = torch.randint(0, 2, (bs,))
def step():
    m.zero_grad()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        loss = F.cross_entropy(m(x).float(), y)
    loss.backward()
step()
t = time.time()
for _ in range(steps): step()
print('%.1f' % (bs * steps / (time.time() - t)))
EOF
}
ours() { # backbone stem size bf16 batch steps
  local flag=""; [ "$4" = 1 ] && flag=--bf16
  "$cli" model bench --backbone "$1" --stem "$2" --size "$3" --classes 2 --in-channels 1 --batch "$5" --steps "$6" \
    --threads "$threads" $flag 2>/dev/null | sed -n 's/.*forward+backward [0-9.]* ms (\([0-9.]*\) img\/s).*/\1/p'
}
printf "%-9s %-22s %8s %8s %8s\n" stem network "32 px" "64 px" "128 px"
for stem in $stems; do
  for bf16 in 0 1; do
    if [ $bf16 = 1 ] && [ $native = 0 ]; then batch=4; steps=1; else batch=64; steps=3; fi
    prec=$([ $bf16 = 1 ] && echo bf16 || echo fp32)
    for net in bit-nano bit-tiny resnet18 peer; do
      row=()
      for size in 32 64 128; do
        if [ $net = peer ]; then row+=("$(peer $stem $size $bf16 $batch $steps)"); else row+=("$(ours $net $stem $size $bf16 $batch $steps)"); fi
      done
      label=$([ $net = peer ] && echo "peer ResNet-18 $prec" || echo "$net $prec")
      printf "%-9s %-22s %8s %8s %8s\n" "$stem" "$label" "${row[@]}"
    done
  done
done
