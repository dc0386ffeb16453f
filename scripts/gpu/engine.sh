#!/bin/bash
# Runs ON the GPU machine, from the repository root, with the binary carried in gpu-bin/ (as run.sh):
# the engine's GPU step path on Llama-3.1-8B (dummy bf16 weights): decode steps through the whole
# engine (scheduler, CUDA-graph replay, GPU sampling, overlapped output) at concurrency 1/16/64,
# beside the plain path (plain forward, all logits downloaded, host sampling, no overlap) on the
# same loaded model. Prints one table. Expected: under 120 s (most of it loading the dummy weights).
# The engine's correctness on the GPU is in `tern selftest --device cuda` (rows "engine", run.sh).
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
echo "== bench-engine llama-3.1-8b dummy bf16 (greedy), engine path vs plain path"
timeout 300 "$BIN" bench-engine --device cuda --model configs/llama-3.1-8b --load-format dummy --context-length 4096 \
  --concurrency ${TERN_ENGINE_CONCURRENCY:-1,16,64} --steps 64 --prompt-length 512 --also-plain $TERN_ENGINE_ARGS 2>&1 \
  | tee "$OUT/engine.log"
status=$?
echo "== summary"
grep -E "^\|" "$OUT/engine.log"
exit $status
