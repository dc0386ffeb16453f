#!/bin/bash
# Runs ON the GPU machine: A/B of the environment knobs at decode (one bench-decode per variant),
# a greedy generate check without allocation zeroing, and a profiled step at batch 64.
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/tern-out}; mkdir -p "$OUT"
BIN=/tmp/tern-bin/tern; mkdir -p /tmp/tern-bin; xz -dc gpu-bin/tern.xz > $BIN; chmod +x $BIN
export TERN_KERNEL_DIR=$PWD/Sources/TernCUDA/Kernels TERN_KERNEL_CACHE=/tmp/tern-kernel-cache
B="$BIN bench-decode --device cuda --model configs/llama-3.1-8b --load-format dummy --context-length 4096 --context 1024 --copy-bytes 1073741824 --prefill-batch 0"
for device in cpu cuda; do
  TERN_CUDA_ZERO_ALLOC=0 timeout 60 $BIN generate --device $device --model fixtures/models/llama-bf16 --input-ids 322,281,448,108,80,188,399 \
    --max-new-tokens 12 --logits-top 1 2>&1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print("no-zero '$device'", d["output_ids"])'
done
for v in "" "TERN_CUDA_ZERO_ALLOC=0" "TERN_CUDA_FLASH_TARGET_BLOCKS=2048" "TERN_CUDA_FLASH_TARGET_BLOCKS=4096 TERN_CUDA_ZERO_ALLOC=0"; do
  echo "== variant: ${v:-default}"
  env $v timeout 120 $B --batch-sizes 1,16,64 --steps 16 2>&1 | grep -E "^ +[0-9]+ " | tee -a "$OUT/experiments.log"
done
echo "== profile batch 64"
TERN_CUDA_PROFILE=1 timeout 120 $B --batch-sizes 64 --steps 4 2>&1 | grep -v '^{' | tee "$OUT/profile64.log"
