#!/bin/bash
# Runs ON the GPU machine, from the repository root, with the binary carried in gpu-bin/ (as run.sh).
# The Hopper wgmma grouped GEMM of issue #10 (Kernels/moe_wgmma.cu). Expected ~70 s of GPU time,
# at most ~100 s (TERN_MOEGEMM_BUDGET): each step's timeout is cut to what is left of the budget.
#   1. the op selftest (moe / linear rows: every prefill-size MoE GEMM case runs the wgmma kernels,
#      plus top-1 edge cases and DeepSeek-V3 expert shapes in bf16 / FP8 / NVFP4)     ~30 s
#   2. tern bench-moe at prefill sizes (4096 / 16384 tokens, DeepSeek-V3 layer) with the wgmma
#      kernels (default: tern_moe_wgmma, tern_moe_wgmma_nvfp4, tern_moe_wgmma_fp8x2) and with
#      TERN_MOE_GEMM_KERNEL=ws (warp-specialized bf16 / w8a8) and =wgmma1 (round 1: NVFP4 via
#      tern_moe_wgmma_dq, tern_moe_wgmma_fp8)  ~3 × 6 s
#   3. the same, profiled at 4096 tokens (TERN_CUDA_PROFILE=1): the grouped GEMM kernels' TFLOP/s  ~6 s
# Logs to $OUT; the summary table is printed at the end.
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
t0=$SECONDS
stamp() { echo "   ($(( SECONDS - t0 )) s so far)"; }
BUDGET=${TERN_MOEGEMM_BUDGET:-100}
limit() { local left=$(( BUDGET - (SECONDS - t0) )); [ $left -lt 5 ] && left=5; [ $1 -lt $left ] && echo $1 || echo $left; }

if [ -z "$TERN_MOE_SKIP_SELFTEST" ]; then
echo "== selftest, ops only; moe / linear rows"
timeout $(limit 50) "$BIN" selftest --device cuda --fixtures "" > "$OUT/selftest.log" 2>&1
echo "exit $?"
grep -E "^(moe|linear)" "$OUT/selftest.log"; grep -E "passed, .* failed" "$OUT/selftest.log"; stamp
fi

echo "== bench-moe prefill, wgmma kernels (default)"
timeout $(limit 25) "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 4096,16384 --dense-from 4096 --repeats 8 2>&1 \
  | grep -v JSON | tee "$OUT/bench_moe_wgmma.log"; stamp
echo "== bench-moe prefill, TERN_MOE_GEMM_KERNEL=ws (warp-specialized tern_moe_wgmma_ws, _ws_fp8, _ws_nvfp4)"
TERN_MOE_GEMM_KERNEL=ws timeout $(limit 25) "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 4096,16384 --dense-from 4096 --repeats 8 2>&1 \
  | grep -v JSON | tee "$OUT/bench_moe_ws.log"; stamp
echo "== bench-moe prefill, TERN_MOE_GEMM_KERNEL=wgmma1 (round-1 wgmma kernels)"
TERN_MOE_GEMM_KERNEL=wgmma1 timeout $(limit 25) "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 4096,16384 --dense-from 4096 --repeats 8 2>&1 \
  | grep -v JSON | tee "$OUT/bench_moe_wgmma1.log"; stamp
echo "== bench-moe profiled (TERN_CUDA_PROFILE=1) at 4096 tokens, wgmma kernels"
TERN_CUDA_PROFILE=1 timeout $(limit 25) "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 4096 --dense-from 4096 --repeats 4 2>&1 \
  | grep -v JSON | tee "$OUT/bench_moe_wgmma_profile.log"; stamp

echo "== summary"
[ -f "$OUT/selftest.log" ] && { grep -E "passed, .* failed" "$OUT/selftest.log"; grep -E "FAIL|error" "$OUT/selftest.log" | head -20; }
echo "-- wgmma (default)"; grep -E "^(format|bf16|fp8|nvfp4) " "$OUT/bench_moe_wgmma.log"
echo "-- ws (TERN_MOE_GEMM_KERNEL=ws)"; grep -E "^(format|bf16|fp8|nvfp4) " "$OUT/bench_moe_ws.log"
echo "-- wgmma1 (TERN_MOE_GEMM_KERNEL=wgmma1)"; grep -E "^(format|bf16|fp8|nvfp4) " "$OUT/bench_moe_wgmma1.log"
echo "-- profiled grouped GEMM kernels"; grep -E "wgmma|grouped|gate/up|down" "$OUT/bench_moe_wgmma_profile.log" | head -40
echo "total $(( SECONDS - t0 )) s"
