#!/bin/bash
# Runs ON the GPU machine, from the repository root, with the binary carried in gpu-bin/ (as run.sh).
# Batch-1 decode of Llama-3.1-8B (issue #8), round 3: the decode-attention combine modes alone, with
# CUDA graphs, on top of the current defaults (norm kernel + GEMV, TERN_CUDA_NORM_GEMV unset = off;
# 256-key splits; no decode PDL):
#   default   TERN_CUDA_DECODE_COMBINE unset (= old: the sequential tern_decode_combine)
#   onepass   TERN_CUDA_DECODE_COMBINE=onepass (the last block per (token, KV head) merges, no combine launch)
#   wide      TERN_CUDA_DECODE_COMBINE=wide (tern_decode_combine_w)
# bench-decode --cuda-graph at batch 1 for each (~11 s each, plain and graph steps). About 40 s of GPU
# time (estimate; every step has its own timeout). TERN_DENSE_PROFILE=1 adds a profiled batch-1 step of
# the defaults (per-kernel table, ~10 s). Logs to $OUT; a summary table at the end.
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
t0=$SECONDS
stamp() { echo "   ($(( SECONDS - t0 )) s so far)"; }

BD="bench-decode --device cuda --model configs/llama-3.1-8b --load-format dummy --context-length 4096 --context 1024 --steps 32 --cuda-graph --batch-sizes 1"
for variant in "default|" "onepass|TERN_CUDA_DECODE_COMBINE=onepass" "wide|TERN_CUDA_DECODE_COMBINE=wide"; do
  name=${variant%%|*}; vars=${variant#*|}
  echo "== bench-decode $name (${vars:-defaults}), batch 1"
  timeout 60 env $vars "$BIN" $BD > "$OUT/decode_$name.log" 2>&1; grep -E "^ +[0-9]+ +[0-9.]+ |copy" "$OUT/decode_$name.log"; stamp
done

if [ -n "$TERN_DENSE_PROFILE" ]; then
  echo "== profiled batch 1 (defaults): per-kernel table (serialised launches: absolute times inflated)"
  timeout 60 env TERN_CUDA_PROFILE=1 "$BIN" bench-decode --device cuda --model configs/llama-3.1-8b --load-format dummy \
    --context-length 4096 --context 1024 --steps 8 --batch-sizes 1 > "$OUT/profile_default.log" 2>&1
  grep -vE "^ +[0-9]+ +[0-9.]+ |^\{" "$OUT/profile_default.log" | head -30; stamp
fi

echo "== summary: batch-1 decode step with CUDA graphs (batch step_ms tokens/s MB/step GB/s fraction), per combine mode"
for f in default onepass wide; do
  printf "%-8s %s\n" "$f" "$(grep -E '^ +1 +[0-9.]+ .*cuda graph' "$OUT/decode_$f.log" | head -1)"
done
