#!/bin/bash
# Runs ON the GPU machine, from the repository root, with the binary carried in gpu-bin/ (as run.sh).
# MLA head-batched ops (issues #10 / #9): DeepSeek-V3's absorbed W_UK / W_UV as one head-batched GEMV or
# strided-batched cuBLASLt GEMM per layer and the per-head q/k/v slices as one copy kernel, instead of
# 128 launches each; prefill in the absorbed form through the latent kernel (TERN_CUDA_MLA_PREFILL, default
# absorbed; =expanded: kv_b-expanded keys/values, whose 192/128 widths only the scalar tern_paged_attention
# takes). Expected ~100 s of GPU time, at most ~120 s (TERN_MLA_BUDGET):
#   1. op selftest, headLinear / copyHeads rows only (+ the pass/fail line; TERN_MLA_SKIP_SELFTEST=1 skips) ~20 s
#   2. bench-decode deepseek-v3-slice-fp8, batches 1/8/64/256, 1024 context, 4×1024 prefill (absorbed) ~45 s
#   3. profiled (TERN_CUDA_PROFILE=1): batch 1 decode + the 4×1024 prefill, absorbed (default)      ~15 s
#   4. profiled, TERN_CUDA_MLA_PREFILL=expanded: batch 64 decode (4 steps) + the 4×1024 prefill expanded ~20 s
#   5. only with TERN_MLA_V2LITE=1 (and TERN_MLA_BUDGET=170): DeepSeek-V2-Lite decode 1/32 + prefill both forms ~45 s
# Logs to $OUT; the summary (step times, prefill throughput, top kernels) is printed at the end.
source "$(dirname "$0")/common.sh"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
t0=$SECONDS
stamp() { echo "   ($(( SECONDS - t0 )) s so far)"; }
BUDGET=${TERN_MLA_BUDGET:-120}
limit() { local left=$(( BUDGET - (SECONDS - t0) )); [ $left -lt 5 ] && left=5; [ $1 -lt $left ] && echo $1 || echo $left; }
MODEL="--device cuda --model configs/deepseek-v3-slice-fp8 --load-format dummy --context-length 2048"

if [ -z "$TERN_MLA_SKIP_SELFTEST" ]; then
echo "== selftest, ops only; headLinear / copyHeads rows"
timeout $(limit 60) "$BIN" selftest --device cuda --fixtures "" > "$OUT/selftest.log" 2>&1
grep -E "^(headLinear|copyHeads)" "$OUT/selftest.log"; grep -E "FAIL" "$OUT/selftest.log" | head -20
grep -E "passed, .* failed" "$OUT/selftest.log"; stamp
fi

echo "== bench-decode deepseek-v3-slice-fp8, head-batched MLA (default)"
timeout $(limit 45) "$BIN" bench-decode $MODEL --batch-sizes 1,8,64,256 --context 1024 --steps 16 --prefill-batch 4 --prefill-length 1024 2>&1 \
  | tee "$OUT/decode_v3_fp8.log"; stamp
echo "== profiled (TERN_CUDA_PROFILE=1): batch 1 decode + 4×1024 prefill, absorbed prefill (default)"
TERN_CUDA_PROFILE=1 timeout $(limit 30) "$BIN" bench-decode $MODEL --batch-sizes 1 --context 1024 --steps 8 --prefill-batch 4 --prefill-length 1024 2>&1 \
  | grep -v '^{' | tee "$OUT/decode_v3_fp8_profile.log"; stamp
echo "== profiled, TERN_CUDA_MLA_PREFILL=expanded: batch 64 decode (4 steps) + 4×1024 prefill expanded"
TERN_CUDA_MLA_PREFILL=expanded TERN_CUDA_PROFILE=1 timeout $(limit 40) "$BIN" bench-decode $MODEL --batch-sizes 64 --context 1024 --steps 4 \
  --prefill-batch 4 --prefill-length 1024 2>&1 | grep -v '^{' | tee "$OUT/decode_v3_fp8_profile_expanded.log"; stamp

if [ -n "$TERN_MLA_V2LITE" ]; then
# Opt-in (~40 s more): DeepSeek-V2-Lite (16 heads, no q_lora, bf16, 27 layers), absorbed prefill vs expanded.
V2="--device cuda --model configs/deepseek-v2-lite --load-format dummy --context-length 2048"
echo "== DeepSeek-V2-Lite: batches 1/32, 4×1024 prefill absorbed (default), then TERN_CUDA_MLA_PREFILL=expanded prefill"
timeout $(limit 30) "$BIN" bench-decode $V2 --batch-sizes 1,32 --context 1024 --steps 16 --prefill-batch 4 --prefill-length 1024 2>&1 \
  | grep -v '^{' | tee "$OUT/decode_v2lite.log"; stamp
TERN_CUDA_MLA_PREFILL=expanded timeout $(limit 20) "$BIN" bench-decode $V2 --batch-sizes 1 --context 16 --steps 1 --prefill-batch 4 --prefill-length 1024 2>&1 \
  | grep -v '^{' | tee "$OUT/decode_v2lite_expanded.log"; stamp
fi

echo
echo "== summary: default (absorbed prefill)"
grep -hE "^batch  step|^ +[0-9]+ +[0-9.]+ +[0-9.]+ |^prefill [0-9]" "$OUT/decode_v3_fp8.log"
echo "-- profiled runs (timings include profiler events): absorbed, then expanded prefill"
grep -hE "^prefill [0-9]" "$OUT/decode_v3_fp8_profile.log" "$OUT/decode_v3_fp8_profile_expanded.log"
echo "-- batch 1 decode, top kernels:"
grep -A12 "^batch 1 decode profile" "$OUT/decode_v3_fp8_profile.log"
echo "-- batch 64 decode, top kernels:"
grep -A14 "^batch 64 decode profile" "$OUT/decode_v3_fp8_profile_expanded.log"
echo "-- 4×1024 prefill, absorbed, top kernels:"
grep -A16 "^prefill profile" "$OUT/decode_v3_fp8_profile.log"
echo "-- 4×1024 prefill, expanded (TERN_CUDA_MLA_PREFILL=expanded), top kernels:"
grep -A16 "^prefill profile" "$OUT/decode_v3_fp8_profile_expanded.log"
if [ -n "$TERN_MLA_V2LITE" ]; then
echo "-- DeepSeek-V2-Lite: default, then the prefill expanded"
grep -hE "^ +[0-9]+ +[0-9.]+ +[0-9.]+ |^prefill [0-9]" "$OUT/decode_v2lite.log"
grep -hE "^prefill [0-9]" "$OUT/decode_v2lite_expanded.log"
fi
