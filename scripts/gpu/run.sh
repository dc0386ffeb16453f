#!/bin/bash
# Runs ON the GPU machine, from the repository root, with the binary carried in gpu-bin/:
#   selftest (every CUDA op vs the CPU backend, fixture models end to end), a smoke generate, then
#   the Llama-3.1-8B (dummy weights) decode/prefill benchmark. Logs go to $OUT when it is set.
# Build here first:   bash scripts/gpu/build.sh
# Options via env:    TERN_SKIP_BENCH=1, TERN_SKIP_SELFTEST=1 (when all.sh's selftest stage ran it), TERN_BENCH_ARGS="..." (extra bench-decode flags)
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
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
