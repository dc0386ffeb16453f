#!/bin/bash
# Runs ON the GPU machine: the session's new kernels against their fallbacks, benchmarks only (run the
# selftest beside it, e.g. in another all.sh lane). Every step has its own timeout; ~150 s in all.
#   prefill attention: TERN_CUDA_PREFILL_ATTN=wgmma (default) | wgmma3o | wgmma2 | w4, + PyTorch SDPA   ~60 s
#   MoE grouped GEMM at prefill sizes: wgmma (default) vs TERN_MOE_GEMM_KERNEL=ws | wgmma1 (MOE_VARIANTS)  ~35 s
#   MLA decode + 8×4k prefill: TERN_CUDA_MLA_ATTN=v4 (default) vs v3                                    ~60 s
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
t0=$SECONDS
stamp() { echo "   ($(( SECONDS - t0 )) s so far)"; }
for v in ${PREFILL_VARIANTS:-wgmma wgmma3o wgmma2 w4}; do
  TERN_CUDA_PREFILL_ATTN=$v timeout 60 "$BIN" bench-attention --shapes "" --prefill-shapes gqa-llama8b --repeats 8 2>&1 \
    | grep -E "^prefill|copy|rror" | sed "s/^/[prefill $v] /" | tee -a "$OUT/prefill.log"
done; stamp
timeout 60 python3 scripts/gpu/sdpa_reference.py 8x4096,1x32768 2>&1 | tee "$OUT/sdpa.log"; stamp
for v in ${MOE_VARIANTS:-default ws wgmma1}; do
  env $([ $v != default ] && echo TERN_MOE_GEMM_KERNEL=$v) timeout 60 "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 4096,16384 \
    --dense-from 4096 --repeats 8 2>&1 | grep -vE "^JSON" | sed "s/^/[moe $v] /" | tee -a "$OUT/moe.log"
done; stamp
# Per-kernel times of the default MoE GEMMs (op profiler), 4096 tokens                                 ~8 s
TERN_CUDA_PROFILE=1 timeout 30 "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 4096 --dense-from 4096 --repeats 4 2>&1 \
  | grep -vE "^JSON" > "$OUT/moe_profile.log"; grep -E "wgmma|gemm_tc" "$OUT/moe_profile.log" | head -24; stamp
for v in ${MLA_VARIANTS:-v4 v3}; do
  TERN_CUDA_MLA_ATTN=$v timeout 80 "$BIN" bench-attention --shapes mla-dsv3 --prefill-shapes mla-dsv3 --prefill 8x4096 --repeats 6 2>&1 \
    | grep -E "^(decode|prefill) |rror" | sed "s/^/[mla $v] /" | tee -a "$OUT/mla.log"
done; stamp
