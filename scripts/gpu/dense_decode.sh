#!/bin/bash
# Runs ON the GPU machine, from the repository root, with the binary carried in gpu-bin/ (as run.sh).
# Batch-1 decode of Llama-3.1-8B (issue #8), round 2: the pre-norms inside the T = 1 GEMVs
# (tern_gemv_bf16_t1_norm / _t1s_norm / _t1s_silu_norm) and rope + K/V store in the qkv one
# (tern_gemv_bf16_t1_norm_rope), both default, against the norm kernel + GEMV (TERN_CUDA_NORM_GEMV=0)
# and the separate rope kernel (TERN_CUDA_NORM_GEMV_ROPE=0), with the decode attention defaults of
# df70f14 (256-key splits, combine kernel, no PDL). About 105 s of GPU time, ~65 s with
# TERN_DENSE_SKIP_SELFTEST=1 (estimates; every step has its own timeout):
#   1. selftest: the norm_gemv, gemv, gate_up_silu, decode graph and model lines               ~40 s
#   2. bench-decode --cuda-graph batch 1,16,64 (all fused), batch 1 with TERN_CUDA_NORM_GEMV=0 and
#      with TERN_CUDA_NORM_GEMV_ROPE=0                                                           ~45 s
#   3. batch 1 profiled (TERN_CUDA_PROFILE=1, 8 steps), norm in the GEMV and not: per-kernel times
#      (serialised launches, so absolute step times are inflated)                                ~20 s
# Logs to $OUT; a summary table at the end. TERN_DENSE_SKIP_SELFTEST=1 skips step 1.
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
t0=$SECONDS
stamp() { echo "   ($(( SECONDS - t0 )) s so far)"; }

if [ -z "$TERN_DENSE_SKIP_SELFTEST" ]; then
  echo "== selftest (norm_gemv, gemv, gate_up_silu, decode graph, model lines)"
  timeout 200 "$BIN" selftest --device cuda > "$OUT/selftest.log" 2>&1
  echo "norm_gemv cases: $(grep -cE '^norm_gemv' "$OUT/selftest.log") (ok: $(grep -E '^norm_gemv' "$OUT/selftest.log" | grep -c ' ok'))"
  grep -E "^(decode graph|model) " "$OUT/selftest.log"
  grep -E "passed, .* failed" "$OUT/selftest.log"; grep -E "FAIL" "$OUT/selftest.log" | head -20; stamp
fi

BD="bench-decode --device cuda --model configs/llama-3.1-8b --load-format dummy --context-length 4096 --context 1024 --steps 32 --cuda-graph"
echo "== bench-decode (norm in the GEMV), batch 1,16,64"
timeout 150 "$BIN" $BD --batch-sizes 1,16,64 > "$OUT/decode_new.log" 2>&1; grep -E "^ +[0-9]+ +[0-9.]+ |copy" "$OUT/decode_new.log"; stamp
for variant in "nonorm|TERN_CUDA_NORM_GEMV=0" "norope|TERN_CUDA_NORM_GEMV_ROPE=0"; do
  name=${variant%%|*}; vars=${variant#*|}
  echo "== bench-decode $name ($vars), batch 1"
  timeout 90 env $vars "$BIN" $BD --batch-sizes 1 > "$OUT/decode_$name.log" 2>&1; grep -E "^ +[0-9]+ +[0-9.]+ " "$OUT/decode_$name.log"; stamp
done

PD="bench-decode --device cuda --model configs/llama-3.1-8b --load-format dummy --context-length 4096 --context 1024 --steps 8 --batch-sizes 1"
for variant in "norm|TERN_CUDA_NORM_GEMV=1" "nonorm|TERN_CUDA_NORM_GEMV=0"; do
  name=${variant%%|*}; vars=${variant#*|}
  echo "== profiled batch 1 ($vars): per-kernel table"
  timeout 60 env TERN_CUDA_PROFILE=1 $vars "$BIN" $PD > "$OUT/profile_$name.log" 2>&1; grep -vE "^ +[0-9]+ +[0-9.]+ |^\{" "$OUT/profile_$name.log" | head -30; stamp
done

echo "== summary: batch-1 decode step (batch step_ms tokens/s MB/step GB/s fraction), per variant"
for f in new nonorm norope; do
  printf "%-8s %s\n" "$f" "$(grep -E '^ +1 +[0-9.]+ .*cuda graph' "$OUT/decode_$f.log" | head -1)"
done
