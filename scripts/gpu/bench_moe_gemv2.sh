#!/bin/bash
# Runs ON the GPU machine, from the repository root, with the binary carried in gpu-bin/ (as run.sh).
# The v2 decode MoE GEMV (Kernels/moe_gemv2.cu, issue #10: ≥ 0.70 of the bytes roofline for NVFP4 at
# 8 / 64 tokens and for every format at 256). Expected ~110 s of GPU time (at most ~210 s: each step
# has its own timeout):
#   1. the op selftest, moe / linear rows (v2 cases: all formats, 0 / odd / ~8 / 12 / 27 rows per
#      expert, NVFP4 at the DeepSeek-V3 depths)                                      ~20 s
#   2. bench-moe decode points with the v2 kernels (default: NVFP4 loads activations late)  ~20 s
#   3. the same with TERN_MOE_GEMV2_LATE=0 (every format early: the round-2 default) and =1
#      (every format late)                                                            ~2 × 10 s
#   3a. the same with TERN_MOE_GEMV2_PREFETCH=1 (L2 prefetches), and with both          ~2 × 5 s
#   3b. the same with TERN_MOE_GEMV_KERNEL=tc (the previous GEMV, side by side)         ~5 s
#   4. the v2 kernels profiled (TERN_CUDA_PROFILE=1), NVFP4 at 8 / 64 tokens: gate/up vs down  ~10 s
#   5. the GEMV/GEMM crossover with 16-row tiles: 384 / 512 tokens (12 / 16 rows per expert), v2
#      forced (TERN_MOE_GEMV=1) against the grouped GEMM forced (TERN_MOE_GEMV=0)          ~25 s
# The first tensor-core GEMV (tern_moe_gemv_tc*, this morning's 0.37 / 0.41 for NVFP4) stays
# selectable with TERN_MOE_GEMV_KERNEL=tc. Logs to $OUT; the summary is printed at the end.
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
# Run 2 (e1e4211) carried a tern binary built before the v2 dispatch landed: every figure was the
# old tern_moe_gemv_tc. These environment-variable names are string literals of the round-2 Swift code.
for marker in TERN_MOE_GEMV2_LATE TERN_MOE_GEMV_NVFP4_ROWS "v2 early"; do
  grep -q -a "$marker" "$BIN" || echo "!! STALE BINARY: $BIN lacks $marker (the v2 dispatch); rebuild gpu-bin/tern.xz from this tree"
done
t0=$SECONDS
stamp() { echo "   ($(( SECONDS - t0 )) s so far)"; }

if [ -z "$TERN_MOE_SKIP_SELFTEST" ]; then
  echo "== selftest, ops only; moe / linear rows"
  timeout 90 "$BIN" selftest --device cuda --fixtures "" > "$OUT/selftest.log" 2>&1
  grep -E "^(moe|linear)" "$OUT/selftest.log"; grep -E "passed, .* failed" "$OUT/selftest.log"
  echo "v2 ran rows: $(grep -c '^moe \[v2 ran\]' "$OUT/selftest.log") (expected 54), failing: $(grep '^moe \[v2 ran\]' "$OUT/selftest.log" | grep -vc ' ok')"; stamp
fi

echo "== bench-moe decode, v2 GEMV (default)"
timeout 40 "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 1,8,64,256 --repeats 8 2>&1 | grep -v JSON | tee "$OUT/bench_moe_v2.log"; stamp
echo "== bench-moe decode, v2 GEMV with early activation loads for every format (TERN_MOE_GEMV2_LATE=0)"
TERN_MOE_GEMV2_LATE=0 timeout 40 "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 1,8,64,256 --repeats 8 2>&1 | grep -v JSON \
  | tee "$OUT/bench_moe_v2_early.log"; stamp
echo "== bench-moe decode, v2 GEMV with late activation loads for every format (TERN_MOE_GEMV2_LATE=1)"
TERN_MOE_GEMV2_LATE=1 timeout 40 "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 1,8,64,256 --repeats 8 2>&1 | grep -v JSON \
  | tee "$OUT/bench_moe_v2_late.log"; stamp
echo "== bench-moe decode, v2 GEMV with L2 prefetches 12 steps ahead (TERN_MOE_GEMV2_PREFETCH=1)"
TERN_MOE_GEMV2_PREFETCH=1 timeout 40 "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 1,8,64,256 --repeats 8 2>&1 | grep -v JSON \
  | tee "$OUT/bench_moe_v2_prefetch.log"; stamp
echo "== bench-moe decode, v2 GEMV late activations + L2 prefetches (TERN_MOE_GEMV2_LATE=1 TERN_MOE_GEMV2_PREFETCH=1)"
TERN_MOE_GEMV2_LATE=1 TERN_MOE_GEMV2_PREFETCH=1 timeout 40 "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 1,8,64,256 --repeats 8 2>&1 \
  | grep -v JSON | tee "$OUT/bench_moe_v2_late_prefetch.log"; stamp
echo "== bench-moe decode, the previous tensor-core GEMV (TERN_MOE_GEMV_KERNEL=tc), same points"
TERN_MOE_GEMV_KERNEL=tc timeout 40 "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 1,8,64,256 --repeats 8 2>&1 | grep -v JSON \
  | tee "$OUT/bench_moe_tc.log"; stamp
echo "== bench-moe profiled (TERN_CUDA_PROFILE=1), every format at 8 / 64 / 256 tokens, v2; times inflated by the profiler"
TERN_CUDA_PROFILE=1 timeout 40 "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 8,64,256 --repeats 4 2>&1 | grep -v JSON \
  | tee "$OUT/bench_moe_v2_profile.log"; stamp

echo "== crossover: 384 / 512 tokens, v2 GEMV forced (TERN_MOE_GEMV=1) vs the grouped GEMM forced (TERN_MOE_GEMV=0; NVFP4's default is now the GEMV up to 16 rows per expert)"
TERN_MOE_GEMV=1 timeout 40 "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 384,512 --repeats 8 2>&1 | grep -v JSON \
  | tee "$OUT/bench_moe_v2_crossover_gemv.log"; stamp
TERN_MOE_GEMV=0 timeout 40 "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 384,512 --repeats 8 2>&1 | grep -v JSON \
  | tee "$OUT/bench_moe_v2_crossover_gemm.log"; stamp

echo "== summary"
[ -f "$OUT/selftest.log" ] && { grep -E "passed, .* failed" "$OUT/selftest.log"; grep FAIL "$OUT/selftest.log" | head -20
  echo "v2 ran rows: $(grep -c '^moe \[v2 ran\]' "$OUT/selftest.log") (expected 54)"; }
echo "-- kernels that ran in the profiled NVFP4 points (must be tern_moe_gemv2_nvfp4*)"
grep -oE "tern_moe_gemv[a-z0-9_]*" "$OUT/bench_moe_v2_profile.log" | sort | uniq -c
echo "-- v2 (default)"; grep -E "^(format|bf16|fp8|nvfp4) " "$OUT/bench_moe_v2.log"
echo "-- v2 early activations (TERN_MOE_GEMV2_LATE=0)"; grep -E "^(format|bf16|fp8|nvfp4) " "$OUT/bench_moe_v2_early.log"
echo "-- v2 late activations (TERN_MOE_GEMV2_LATE=1)"; grep -E "^(format|bf16|fp8|nvfp4) " "$OUT/bench_moe_v2_late.log"
echo "-- v2 L2 prefetch"; grep -E "^(format|bf16|fp8|nvfp4) " "$OUT/bench_moe_v2_prefetch.log"
echo "-- v2 late + L2 prefetch"; grep -E "^(format|bf16|fp8|nvfp4) " "$OUT/bench_moe_v2_late_prefetch.log"
echo "-- tc (TERN_MOE_GEMV_KERNEL=tc)"; grep -E "^(format|bf16|fp8|nvfp4) " "$OUT/bench_moe_tc.log"
echo "-- v2 profiled (ms/step per kernel; times inflated by the profiler)"; grep -E "tern_moe_gemv2|^-- profile" "$OUT/bench_moe_v2_profile.log"
echo "-- 384 / 512 tokens: v2 GEMV forced, then the grouped GEMM forced"; grep -hE "^(bf16|fp8|nvfp4) " "$OUT/bench_moe_v2_crossover_gemv.log" "$OUT/bench_moe_v2_crossover_gemm.log"
echo "total $(( SECONDS - t0 )) s"
