#!/bin/bash
# Runs ON the GPU machine (issue 10, end to end): `tern bench` 1k/1k sweeps against `tern serve` for the
# MoE architectures with dummy weights, through scripts/gpu/bench_serving.sh (no PyTorch reference):
# DeepSeek-V2-Lite (bf16, ~32 GB) and Qwen3-30B-A3B (bf16, ~61 GB). Logs per model under $OUT/<model>/.
# Expected GPU time: ~4 min (dummy-weight generation dominates each start-up; two start-ups per model).
# Env: MOE_MODELS ("deepseek-v2-lite qwen3-30b-a3b"), BENCH_CONCURRENCY (1,16,64), OUTLEN, IN.
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
ROOT_OUT=$OUT
for model in ${MOE_MODELS:-deepseek-v2-lite qwen3-30b-a3b}; do
  echo "===== $model"
  mkdir -p "$ROOT_OUT/$model"
  OUT="$ROOT_OUT/$model" TERN_BIN=$BIN SKIP_TORCH=1 BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-1,16,64} MAX_TOKENS=${MAX_TOKENS:-262144} \
    SERVE_MODEL="--device cuda --model configs/$model --load-format dummy" bash scripts/gpu/bench_serving.sh 2>&1 | tail -8
done
