#!/bin/bash
# Runs ON the GPU machine, from the repository root, with the binary carried in gpu-bin/ (as run.sh).
# Prefill attention of issue #9 (wgmma kernel), in about 100 s of GPU time (each step has its own timeout):
#   1. tern selftest --device cuda without fixtures (all op cases; the attention lines matter: the
#      fa3 cases and the fa2 d128 cases run on the wgmma kernel, [wgmma2]/[w4]/[w8] the others)  ~35 s
#   2. tern bench-attention, causal prefill 8×4k and 1×32k (Llama-8B 32/8 d128), bf16 and FP8 KV, for
#      TERN_CUDA_PREFILL_ATTN = wgmma (default = wgmma3o, P·V overlapped with the next tile; FP8:
#      tern_flash_prefill_wgmma_fp8_d128), wgmmapp (warpgroups half a tile apart, ping-pong), wgmma3
#      (no overlap), and wgmma with
#      TERN_CUDA_PREFILL_FP8=old (FP8 on the FA2-style kernel)                                      ~40 s
#   3. PyTorch SDPA (flash backend) on the same shapes                                            ~15 s
# Logs to $OUT; the summary is printed at the end.
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
t0=$SECONDS
stamp() { echo "   ($(( SECONDS - t0 )) s so far)"; }

echo "== selftest (ops only)"
timeout 120 "$BIN" selftest --device cuda --fixtures "" > "$OUT/selftest.log" 2>&1
grep -E "^attention" "$OUT/selftest.log" | grep -E "fa3|fa2|FAIL"; grep -E "passed, .* failed" "$OUT/selftest.log"; stamp

echo "== prefill variants (TERN_CUDA_PREFILL_ATTN)"
for v in wgmma wgmmapp wgmma3 fp8old; do
  a=$v; f=wgmma; [ $v = fp8old ] && { a=wgmma; f=old; }
  TERN_CUDA_PREFILL_ATTN=$a TERN_CUDA_PREFILL_FP8=$f timeout 60 "$BIN" bench-attention --shapes "" --prefill-shapes gqa-llama8b --repeats 8 > "$OUT/prefill_$v.log" 2>&1
  grep -E "^prefill" "$OUT/prefill_$v.log" | sed "s/^/[$v] /" | tee -a "$OUT/prefill_variants.log"
done; stamp

echo "== PyTorch SDPA (flash) on the prefill shapes"
timeout 60 python3 scripts/gpu/sdpa_reference.py 8x4096,1x32768 2>&1 | tee "$OUT/sdpa.log"; stamp

echo "== summary"
grep -E "passed, .* failed" "$OUT/selftest.log"; grep FAIL "$OUT/selftest.log" | head -20
cat "$OUT/prefill_variants.log"
grep -E "^sdpa" "$OUT/sdpa.log"
echo "total $(( SECONDS - t0 )) s"
