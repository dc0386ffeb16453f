#!/bin/bash
# Runs ON the GPU machine: run.sh (selftest, generate, benchmark), then a profiled benchmark
# (TERN_CUDA_PROFILE=1: per-kernel device time of one decode step at batch 1 and of a prefill).
# Options via env: TERN_PROFILE_ARGS (flags of the profiled bench-decode).
set -o pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/tern-out}; mkdir -p "$OUT"
bash scripts/gpu/run.sh 2>&1 | tee "$OUT/run.log"
status=$?
echo "== profiled bench-decode"
TERN_CUDA_PROFILE=1 timeout 200 /tmp/tern-bin/tern bench-decode --device cuda --model configs/llama-3.1-8b --load-format dummy \
  --context-length 4096 --context 1024 --copy-bytes 1073741824 ${TERN_PROFILE_ARGS:---batch-sizes 1 --steps 4 --prefill-batch 8 --prefill-length 1024} \
  2>&1 | grep -v '^{' | tee "$OUT/profile.log"
exit $status
