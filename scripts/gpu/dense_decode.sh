#!/bin/bash
# Runs ON the GPU machine, from the repository root, with the binary carried in gpu-bin/ (as run.sh).
# Batch-1 decode of Llama-3.1-8B (issue #8): decode attention in one pass (split-KV merged by the
# last block, no combine launch), 2-tile splits, attention as a programmatic dependent, the pre-norms
# inside the T = 1 GEMVs — against the previous behaviour (TERN_CUDA_DECODE_COMBINE=old
# TERN_CUDA_DECODE_MIN_SPLIT=256 TERN_CUDA_DECODE_PDL=0 TERN_CUDA_NORM_GEMV=0). About 220 s of GPU time, ~160 s with TERN_DENSE_SKIP_SELFTEST=1 (estimates; every step has its own timeout):
#   1. selftest: attention, norm_gemv and decode graph lines (every decode case under the
#      three combine modes)                                                               ~40 s
#   2. bench-attention, GQA Llama-8B bf16, batch 1/16 × 1k/4k: new, then old              ~20 s
#   3. bench-decode --cuda-graph batch 1,16,64 (new), batch 1 old and batch 1 with the
#      combine kernel (wide) / 1-tile splits (MIN_SPLIT=64) / qkv and o through the flat
#      T = 1 GEMV (TERN_CUDA_GEMV_T1S_MIN_N=0) / pre-norms as separate kernels
#      (TERN_CUDA_NORM_GEMV=0; by default the RMSNorm runs inside the T = 1 GEMV after it)    ~130 s
# Logs to $OUT; a summary table at the end. TERN_DENSE_SKIP_SELFTEST=1 skips step 1.
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
t0=$SECONDS
stamp() { echo "   ($(( SECONDS - t0 )) s so far)"; }
OLD="TERN_CUDA_DECODE_COMBINE=old TERN_CUDA_DECODE_MIN_SPLIT=256 TERN_CUDA_DECODE_PDL=0 TERN_CUDA_NORM_GEMV=0"

if [ -z "$TERN_DENSE_SKIP_SELFTEST" ]; then
  echo "== selftest (attention lines)"
  timeout 200 "$BIN" selftest --device cuda > "$OUT/selftest.log" 2>&1
  echo "combine/one-pass cases: $(grep -cE '^attention +(combine|one pass)' "$OUT/selftest.log") (ok: $(grep -E '^attention +(combine|one pass)' "$OUT/selftest.log" | grep -c ' ok'))"
  echo "norm_gemv cases: $(grep -cE '^norm_gemv' "$OUT/selftest.log") (ok: $(grep -E '^norm_gemv' "$OUT/selftest.log" | grep -c ' ok'))"
  grep -E "^decode graph" "$OUT/selftest.log"
  grep -E "passed, .* failed" "$OUT/selftest.log"; grep -E "FAIL" "$OUT/selftest.log" | head -20; stamp
fi

BA=(bench-attention --shapes gqa-llama8b --kv-cache-dtypes bf16 --batch-sizes 1,16 --contexts 1024,4096 --prefill "" --repeats 8)
echo "== bench-attention (new)"
timeout 60 "$BIN" "${BA[@]}" > "$OUT/attn_new.log" 2>&1; grep -E "^decode|copy" "$OUT/attn_new.log"; stamp
echo "== bench-attention (old: $OLD)"
timeout 60 env $OLD "$BIN" "${BA[@]}" > "$OUT/attn_old.log" 2>&1; grep -E "^decode|copy" "$OUT/attn_old.log"; stamp

BD="bench-decode --device cuda --model configs/llama-3.1-8b --load-format dummy --context-length 4096 --context 1024 --steps 32 --cuda-graph"
echo "== bench-decode new, batch 1,16,64"
timeout 150 "$BIN" $BD --batch-sizes 1,16,64 > "$OUT/decode_new.log" 2>&1; grep -E "^ +[0-9]+ +[0-9.]+ |copy" "$OUT/decode_new.log"; stamp
for variant in "old|$OLD" "wide|TERN_CUDA_DECODE_COMBINE=wide" "split64|TERN_CUDA_DECODE_MIN_SPLIT=64" "flatgemv|TERN_CUDA_GEMV_T1S_MIN_N=0" "nonorm|TERN_CUDA_NORM_GEMV=0"; do
  name=${variant%%|*}; vars=${variant#*|}
  echo "== bench-decode $name ($vars), batch 1"
  timeout 90 env $vars "$BIN" $BD --batch-sizes 1 > "$OUT/decode_$name.log" 2>&1; grep -E "^ +[0-9]+ +[0-9.]+ " "$OUT/decode_$name.log"; stamp
done

echo "== summary: batch-1 decode step (batch step_ms tokens/s MB/step GB/s fraction), per variant"
for f in new old wide split64 flatgemv nonorm; do
  printf "%-8s %s\n" "$f" "$(grep -E '^ +1 +[0-9.]+ .*cuda graph' "$OUT/decode_$f.log" | head -1)"
done
echo "bench-attention batch 1 (new / old):"; grep -E "^decode .* 1 +(1024|4096) " "$OUT/attn_new.log" "$OUT/attn_old.log"
