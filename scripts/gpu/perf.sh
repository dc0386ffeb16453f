#!/bin/bash
# Runs ON the GPU machine: run.sh (selftest, generate, bench-decode with and without CUDA graphs),
# the GEMV microbenchmark (tern bench-gemv: Llama-3.1-8B's five linear shapes at T = 1, 4, 8, 16,
# GEMV vs cuBLASLt vs copy bandwidth), then a profiled benchmark (TERN_CUDA_PROFILE=1: per-kernel
# device time of one decode step at batch 1 and of a prefill).
# Options via env: TERN_BENCH_ARGS (extra flags of run.sh's bench-decode; default --cuda-graph),
# TERN_PROFILE_ARGS (flags of the profiled bench-decode), TERN_SKIP_PROFILE=1, TERN_PERF_AB=1 (knob A/B).
set -o pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/tern-out}; mkdir -p "$OUT"
export TERN_BENCH_ARGS=${TERN_BENCH_ARGS---cuda-graph}
bash scripts/gpu/run.sh 2>&1 | tee "$OUT/run.log"
status=$?
# run.sh unpacked gpu-bin/tern.xz to /tmp/tern-bin/tern unless gpu-bin/tern was there already.
BIN=${TERN_BIN:-gpu-bin/tern}; [ -x "$BIN" ] || BIN=/tmp/tern-bin/tern
export TERN_KERNEL_DIR=${TERN_KERNEL_DIR:-$PWD/Sources/TernCUDA/Kernels}
export TERN_KERNEL_CACHE=${TERN_KERNEL_CACHE:-/tmp/tern-kernel-cache}
echo "== bench-gemv (decode GEMV vs cuBLASLt, fractions of copy bandwidth)"
timeout 90 "$BIN" bench-gemv --tokens 1,4,8,16 2>&1 | grep -v '^{' | tee "$OUT/gemv.log" || status=1
if [ -n "$TERN_PERF_AB" ]; then
  # A/B of the decode knobs against the defaults (one model load each, ~30-40 s): programmatic
  # dependent launch off; gate/up + SiLU as two kernels; the T = 1 GEMV back to one warp per row for
  # every k (which also unfuses SiLU); all off (round 1's decode path).
  for v in "TERN_CUDA_PDL=0" "TERN_CUDA_GATE_UP_SILU=0" "TERN_CUDA_GEMV_T1S_MAX_K=0" "TERN_CUDA_PDL=0 TERN_CUDA_GEMV_T1S_MAX_K=0"; do
    echo "== variant: $v"
    env $v timeout 120 "$BIN" bench-decode --device cuda --model configs/llama-3.1-8b --load-format dummy --context-length 4096 \
      --context 1024 --copy-bytes 1073741824 --batch-sizes 1 --steps 32 --cuda-graph 2>&1 | grep -E "^ +[0-9]+ " | tee -a "$OUT/ab.log"
  done
fi
if [ -z "$TERN_SKIP_PROFILE" ]; then
  echo "== profiled bench-decode"
  TERN_CUDA_PROFILE=1 timeout 200 "$BIN" bench-decode --device cuda --model configs/llama-3.1-8b --load-format dummy \
    --context-length 4096 --context 1024 --copy-bytes 1073741824 ${TERN_PROFILE_ARGS:---batch-sizes 1 --steps 4 --prefill-batch 8 --prefill-length 1024} \
    2>&1 | grep -v '^{' | tee "$OUT/profile.log"
fi
exit $status
