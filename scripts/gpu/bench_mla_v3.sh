#!/bin/bash
# Runs ON the GPU machine, from the repository root, with the binary carried in gpu-bin/ (as run.sh).
# MLA decode v3 (tern_mla_decode_v3[_fp8], wgmma; the default) against v2, in about 150 s of GPU time:
#   1. the op selftest (tern selftest --device cuda --fixtures ''): the "mla v3/v2/ldsm" attention cases  ~60 s
#   2. bench-attention MLA decode (bf16/fp8, batch 1-256 × 1k-32k) with the default (v3)              ~40 s
#   3. the same with TERN_CUDA_MLA_ATTN=v2, lines prefixed [mla-v2]                                      ~40 s
# Logs to $OUT; a summary at the end.
source "$(dirname "$0")/common.sh"
t0=$SECONDS
stamp() { echo "   ($(( SECONDS - t0 )) s so far)"; }

echo "== selftest (ops only)"
timeout 120 "$BIN" selftest --device cuda --fixtures "" > "$OUT/selftest.log" 2>&1
grep -E "^attention .*mla" "$OUT/selftest.log"; grep -E "passed, .* failed" "$OUT/selftest.log"; stamp

echo "== MLA decode, default (v3)"
timeout 90 "$BIN" bench-attention --shapes mla-dsv3 --prefill-shapes "" --repeats 6 2>&1 | tee "$OUT/mla_v3.log"; stamp
echo "== MLA decode, TERN_CUDA_MLA_ATTN=v2"
TERN_CUDA_MLA_ATTN=v2 timeout 90 "$BIN" bench-attention --shapes mla-dsv3 --prefill-shapes "" --repeats 6 2>&1 \
  | grep -E "^decode " | sed "s/^/[mla-v2] /" | tee "$OUT/mla_v2.log"; stamp

echo "== summary"
grep -E "passed, .* failed" "$OUT/selftest.log"; grep FAIL "$OUT/selftest.log" | head -30
grep -E "^decode " "$OUT/mla_v3.log" | sed "s/^/[mla-v3] /"
cat "$OUT/mla_v2.log"
echo "total $(( SECONDS - t0 )) s"
