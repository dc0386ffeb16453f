#!/bin/bash
# Runs ON the GPU machine, from the repository root, with the binary carried in gpu-bin/:
#   selftest (every CUDA op vs the CPU backend, fixture models end to end), a smoke generate, then
#   the Llama-3.1-8B (dummy weights) decode/prefill benchmark. Logs go to $OUT when it is set.
# Build here first:   bash scripts/gpu/build.sh
# Options via env:    TERN_SKIP_BENCH=1, TERN_SKIP_SELFTEST=1 (when all.sh's selftest stage ran it), TERN_BENCH_ARGS="..." (extra bench-decode flags)
set -o pipefail
cd "$(dirname "$0")/../.."
BIN=${TERN_BIN:-gpu-bin/tern}
# The binary travels xz-compressed (the device tool carries at most 64 MiB with the tree).
if [ ! -x "$BIN" ] && [ -f gpu-bin/tern.xz ]; then
  BIN=/tmp/tern-bin/tern; mkdir -p /tmp/tern-bin
  xz -dc gpu-bin/tern.xz > $BIN 2>/dev/null || python3 -c 'import lzma,sys; sys.stdout.buffer.write(lzma.open("gpu-bin/tern.xz").read())' > $BIN
  chmod +x $BIN
fi
OUT=${OUT:-/tmp/tern-out}
mkdir -p "$OUT"
export TERN_KERNEL_DIR=${TERN_KERNEL_DIR:-$PWD/Sources/TernCUDA/Kernels}
export TERN_KERNEL_CACHE=${TERN_KERNEL_CACHE:-/tmp/tern-kernel-cache}
echo "== $(date -u +%FT%TZ) commit $(cat gpu-bin/COMMIT 2>/dev/null || git rev-parse --short HEAD 2>/dev/null)"
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm --format=csv,noheader
status=0

if [ -z "$TERN_SKIP_SELFTEST" ]; then
  echo "== selftest"
  timeout 300 "$BIN" selftest --device cuda 2>&1 | tee "$OUT/selftest.log" || status=1
fi

echo "== generate (llama-bf16 fixture, greedy)"
for device in cpu cuda; do
  timeout 60 "$BIN" generate --device $device --model fixtures/models/llama-bf16 --input-ids 322,281,448,108,80,188,399 \
    --max-new-tokens 12 --logits-top 1 2>&1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print("'$device'", d["output_ids"])' || status=1
done

if [ -z "$TERN_SKIP_BENCH" ]; then
  echo "== bench-decode llama-3.1-8b dummy bf16"
  timeout 400 "$BIN" bench-decode --device cuda --model configs/llama-3.1-8b --load-format dummy --context-length 4096 \
    --batch-sizes 1,16,64 --context 1024 --steps 32 --prefill-batch 8 --prefill-length 1024 $TERN_BENCH_ARGS 2>&1 \
    | tee "$OUT/bench.log" || status=1
fi
echo "== summary"
if [ -f "$OUT/selftest.log" ]; then
  grep -E "passed, .* failed" "$OUT/selftest.log"
  grep -E "FAIL" "$OUT/selftest.log" | head -20
fi
exit $status
