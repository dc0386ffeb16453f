#!/bin/bash
# Runs ON the GPU machine, from the repository root, with the binary carried in gpu-bin/ (as run.sh).
# Attention measurements of issue #9, in about 180 s of GPU time (TERN_ATTN_SKIP_SELFTEST=1: ~140 s) (every step has its own timeout):
#   1. the attention selftest cases (flash bf16/fp8, split-KV, >32k prefix, MLA latent, fp8 storeKV
#      codes) and the fixtures end to end with bf16 and fp8 KV caches                 ~30 s
#   2. tern bench-attention: decode attention alone, bf16 and fp8 KV, batch 1/16/64/256 × context
#      1k/4k/32k (points over 40 GB of KV skipped), GQA (Llama-8B 32/8 d128) and MLA (DeepSeek-V3
#      128 heads, 512 + 64), KV bytes / time as a fraction of the copy bandwidth; causal prefill
#      8×4k and 1×32k in TFLOP/s; MLA (absorbed, tern_mla_attention) prefill 8×4k       ~60 s
#   2a. MLA decode (bf16/fp8, batch 1-256 × 1k-32k) and 8×4k MLA prefill again with
#       TERN_CUDA_MLA_ATTN=ldsm (the earlier MLA kernel), lines prefixed [mla-ldsm]            ~30 s
#   2b. the prefill benchmark again with TERN_CUDA_PREFILL_ATTN=w4, =w8 and =old      ~35 s
#   3. PyTorch SDPA (flash backend) on the same prefill shapes                          ~15 s
# Logs to $OUT; the summary is printed at the end.
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
t0=$SECONDS
stamp() { echo "   ($(( SECONDS - t0 )) s so far)"; }

if [ -z "$TERN_ATTN_SKIP_SELFTEST" ]; then
  echo "== selftest (attention, storeKV fp8, models incl. fp8-kv)"
  timeout 150 "$BIN" selftest --device cuda 2>&1 > "$OUT/selftest.log"
  grep -E "^(attention|storeKV|model)" "$OUT/selftest.log"; grep -E "passed, .* failed" "$OUT/selftest.log"; stamp
fi

echo "== bench-attention"
timeout 150 "$BIN" bench-attention --repeats 8 --prefill-shapes gqa-llama8b 2>&1 | tee "$OUT/bench_attention.log"; stamp
echo "== bench-attention MLA prefill/extend in the absorbed form (8×4k)"
timeout 60 "$BIN" bench-attention --shapes "" --prefill-shapes mla-dsv3 --prefill 8x4096 --repeats 6 2>&1 | tee "$OUT/bench_attention_mla_prefill.log"; stamp

echo "== MLA kernel ldsm (TERN_CUDA_MLA_ATTN=ldsm: tern_mla_attention_ldsm) beside the default (v2) above"
TERN_CUDA_MLA_ATTN=ldsm timeout 60 "$BIN" bench-attention --shapes mla-dsv3 --prefill-shapes mla-dsv3 --prefill 8x4096 --repeats 6 2>&1 \
  | grep -E "^(decode|prefill) " | sed "s/^/[mla-ldsm] /" | tee "$OUT/bench_attention_mla_ldsm.log"; stamp

echo "== prefill kernel variants (TERN_CUDA_PREFILL_ATTN: default wgmma, w4, w8, old)"
for v in w4 w8 old; do
  TERN_CUDA_PREFILL_ATTN=$v timeout 60 "$BIN" bench-attention --shapes "" --prefill-shapes gqa-llama8b --repeats 8 2>&1 \
    | grep -E "^prefill" | sed "s/^/[$v] /" | tee -a "$OUT/bench_attention_variants.log"
done; stamp

echo "== PyTorch SDPA (flash) on the prefill shapes"
timeout 60 python3 scripts/gpu/sdpa_reference.py 8x4096,1x32768 2>&1 | tee "$OUT/sdpa.log"; stamp

echo "== summary"
[ -f "$OUT/selftest.log" ] && { grep -E "passed, .* failed" "$OUT/selftest.log"; grep FAIL "$OUT/selftest.log" | head -20; }
grep -vE "^JSON" "$OUT/bench_attention.log" | tail -n 60
grep -E "^prefill" "$OUT/bench_attention_mla_prefill.log"
cat "$OUT/bench_attention_mla_ldsm.log" 2>/dev/null
cat "$OUT/bench_attention_variants.log" 2>/dev/null
cat "$OUT/sdpa.log"
echo "total $(( SECONDS - t0 )) s"
