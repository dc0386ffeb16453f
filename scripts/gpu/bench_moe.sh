#!/bin/bash
# Runs ON the GPU machine, from the repository root, with the binary carried in gpu-bin/ (as run.sh).
# MoE measurements of issue #10. Expected ~80 s of GPU time with TERN_MOE_SKIP_SELFTEST=1 (run 4 took
# 56 s for steps 2 and 3; the profiled steps 2b and 3b add an estimated ~20 s), ~100 s with the
# selftest; at most ~120 s: each step's timeout is cut to what is left of TERN_MOE_BUDGET (120 s).
#   1. the op selftest (grouped GEMM / GEMV / FP8 mma / routing vs CPU; no fixtures) ~20 s
#   2. tern bench-moe: one DeepSeek-V3-shaped MoE layer (7168 hidden, 256 experts top-8, inner 2048)
#      in bf16, FP8 block-scaled and NVFP4; decode batches 1/8/64/256 vs the bytes roofline
#      (touched experts' weight bytes / copy bandwidth), prefill 4k/16k tokens vs a cuBLASLt
#      bf16 GEMM of the same FLOPs                                      5 s in run 4
#      then 256 tokens with the GEMV forced (TERN_MOE_GEMV=1): the GEMV/GEMM crossover  1 s in run 4
#      (defaults: tensor-core GEMV tern_moe_gemv_tc*, pipelined GEMM tern_moe_gemm_tc*;
#      TERN_MOE_GEMV_KERNEL=old / TERN_MOE_GEMM_KERNEL=old select the run-1 kernels)
#   2b. the same layer profiled (TERN_CUDA_PROFILE=1) at 1 / 64 / 4096 tokens, FP8 and NVFP4: per
#      point the per-kernel table and the split into routing, permutation, quantization, gate/up
#      GEMM, SiLU, down GEMM, combine, with the grouped GEMM kernels' own TFLOP/s   est. ~5 s
#   3. bench-decode on the DeepSeek-V3 slice (1 dense + 3 MoE layers, full shapes) FP8 and NVFP4,
#      with a 4×1024 prefill                                         30 + 20 s in run 4
#   3b. (between them) bench-decode on the FP8 slice profiled, batch 1, no prefill: where the 8.6 ms
#      batch-1 step goes (per-kernel table; CUDA graphs stay off under the profiler)     est. ~15 s
#   4. only with TERN_MOE_FULL=1 (loading 32 / 61 GB of dummy weights takes long): bench-decode on
#      DeepSeek-V2-Lite and Qwen3-30B-A3B (bf16 dummy)
# Logs to $OUT; the summary table is printed at the end.
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
t0=$SECONDS
stamp() { echo "   ($(( SECONDS - t0 )) s so far)"; }
BUDGET=${TERN_MOE_BUDGET:-120}
# A step's timeout: its own limit or what is left of the budget (at least 5 s), whichever is less.
limit() { local left=$(( BUDGET - (SECONDS - t0) )); [ $left -lt 5 ] && left=5; [ $1 -lt $left ] && echo $1 || echo $left; }

if [ -z "$TERN_MOE_SKIP_SELFTEST" ]; then  # all.sh's selftest stage already ran it
echo "== selftest, ops only (run.sh does the fixtures); moe / route / linear rows"
timeout $(limit 60) "$BIN" selftest --device cuda --fixtures "" > "$OUT/selftest.log" 2>&1
grep -E "^(moe|route|linear)" "$OUT/selftest.log"; grep -E "passed, .* failed" "$OUT/selftest.log"; stamp
fi

echo "== bench-moe (DeepSeek-V3 layer shape)"
timeout $(limit 40) "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 1,8,64,256,4096,16384 --dense-from 4096 --repeats 8 2>&1 \
  | tee "$OUT/bench_moe.log"; stamp
echo "== bench-moe at 256 tokens with the (tensor-core) GEMV forced: where the GEMV/GEMM crossover lies"
TERN_MOE_GEMV=1 timeout $(limit 20) "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 256 --repeats 8 2>&1 | grep -v JSON | tee "$OUT/bench_moe_gemv256.log"; stamp

echo "== bench-moe profiled (TERN_CUDA_PROFILE=1): fp8 and nvfp4 at 1 / 64 / 4096 tokens; times inflated by the profiler"
TERN_CUDA_PROFILE=1 timeout $(limit 30) "$BIN" bench-moe --formats fp8,nvfp4 --tokens 1,64,4096 --dense-from 4096 --repeats 4 2>&1 \
  | grep -v JSON | tee "$OUT/bench_moe_profile.log"; stamp

for variant in fp8 nvfp4; do
  echo "== bench-decode deepseek-v3-slice-$variant (1 dense + 3 MoE layers)"
  timeout $(limit 45) "$BIN" bench-decode --device cuda --model configs/deepseek-v3-slice-$variant --load-format dummy --context-length 2048 \
    --batch-sizes 1,8,64,256 --context 512 --steps 8 --prefill-batch 4 --prefill-length 1024 2>&1 | tee "$OUT/decode_v3_$variant.log"; stamp
  [ $variant = fp8 ] || continue
  # Before the NVFP4 slice, so that the budget cuts that one rather than this.
  echo "== bench-decode deepseek-v3-slice-fp8 profiled (TERN_CUDA_PROFILE=1), batch 1: where the batch-1 step goes"
  TERN_CUDA_PROFILE=1 timeout $(limit 30) "$BIN" bench-decode --device cuda --model configs/deepseek-v3-slice-fp8 --load-format dummy \
    --context-length 2048 --batch-sizes 1 --context 512 --steps 8 --prefill-batch 0 2>&1 | grep -v '^{' | tee "$OUT/decode_v3_fp8_profile.log"
  stamp
done

if [ -n "$TERN_MOE_FULL" ]; then
  for model in deepseek-v2-lite qwen3-30b-a3b; do
    echo "== bench-decode $model (bf16 dummy)"
    timeout 150 "$BIN" bench-decode --device cuda --model configs/$model --load-format dummy --context-length 2048 \
      --batch-sizes 1,8,64 --context 512 --steps 8 --prefill-batch 4 --prefill-length 1024 2>&1 | tee "$OUT/decode_$model.log"; stamp
  done
fi

echo "== summary"
[ -f "$OUT/selftest.log" ] && { grep -E "passed, .* failed" "$OUT/selftest.log"; grep FAIL "$OUT/selftest.log" | head; }
grep -vE "^JSON" "$OUT/bench_moe.log" | tail -n 20
for f in "$OUT"/decode_v3_fp8.log "$OUT"/decode_v3_nvfp4.log "$OUT"/decode_deepseek*.log "$OUT"/decode_qwen*.log; do
  [ -f "$f" ] || continue; echo "-- $(basename $f)"; grep -Ei "batch|prefill|tok/s|ms" "$f" | grep -v '^{' | tail -n 6; done
echo "-- profiled bench-moe: stage split per point (per-kernel rows in bench_moe_profile.log)"
grep -E "^-- profile|^   (stage|routing|permutation|quantization|gate/up|SiLU|down|combine|other|grouped)" "$OUT/bench_moe_profile.log"
echo "-- profiled slice decode, batch 1 (top 25 kernels; all in decode_v3_fp8_profile.log)"
grep -A 25 "decode profile:" "$OUT/decode_v3_fp8_profile.log"
echo "total $(( SECONDS - t0 )) s"
