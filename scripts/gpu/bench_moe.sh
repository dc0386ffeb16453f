#!/bin/bash
# Runs ON the GPU machine, from the repository root, with the binary carried in gpu-bin/ (as run.sh).
# MoE measurements of issue #10, in about 130 s of GPU time (each step has its own timeout; at most
# 275 s in all):
#   1. the op selftest (grouped GEMM / GEMV / FP8 mma / routing vs CPU; no fixtures) ~20 s
#   2. tern bench-moe: one DeepSeek-V3-shaped MoE layer (7168 hidden, 256 experts top-8, inner 2048)
#      in bf16, FP8 block-scaled and NVFP4; decode batches 1/8/64/256 vs the bytes roofline
#      (touched experts' weight bytes / copy bandwidth), prefill 4k/16k tokens vs a cuBLASLt
#      bf16 GEMM of the same FLOPs                                                ~25 s
#      then 256 tokens with the GEMV forced (TERN_MOE_GEMV=1): the GEMV/GEMM crossover  ~15 s
#      (defaults: tensor-core GEMV tern_moe_gemv_tc*, pipelined GEMM tern_moe_gemm_tc*;
#      TERN_MOE_GEMV_KERNEL=old / TERN_MOE_GEMM_KERNEL=old select the run-1 kernels)
#   3. bench-decode on the DeepSeek-V3 slice (1 dense + 3 MoE layers, full shapes) FP8 and NVFP4,
#      with a 4×1024 prefill                                                    ~2 × 30 s
#   4. only with TERN_MOE_FULL=1 (loading 32 / 61 GB of dummy weights takes long): bench-decode on
#      DeepSeek-V2-Lite and Qwen3-30B-A3B (bf16 dummy)
# Logs to $OUT; the summary table is printed at the end.
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
t0=$SECONDS
stamp() { echo "   ($(( SECONDS - t0 )) s so far)"; }

if [ -z "$TERN_MOE_SKIP_SELFTEST" ]; then  # all.sh's selftest stage already ran it
echo "== selftest, ops only (run.sh does the fixtures); moe / route / linear rows"
timeout 60 "$BIN" selftest --device cuda --fixtures "" > "$OUT/selftest.log" 2>&1
grep -E "^(moe|route|linear)" "$OUT/selftest.log"; grep -E "passed, .* failed" "$OUT/selftest.log"; stamp
fi

echo "== bench-moe (DeepSeek-V3 layer shape)"
timeout 70 "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 1,8,64,256,4096,16384 --dense-from 4096 --repeats 8 2>&1 \
  | tee "$OUT/bench_moe.log"; stamp
echo "== bench-moe at 256 tokens with the (tensor-core) GEMV forced: where the GEMV/GEMM crossover lies"
TERN_MOE_GEMV=1 timeout 40 "$BIN" bench-moe --formats bf16,fp8,nvfp4 --tokens 256 --repeats 8 2>&1 | grep -v JSON | tee "$OUT/bench_moe_gemv256.log"; stamp

for variant in fp8 nvfp4; do
  echo "== bench-decode deepseek-v3-slice-$variant (1 dense + 3 MoE layers)"
  timeout 60 "$BIN" bench-decode --device cuda --model configs/deepseek-v3-slice-$variant --load-format dummy --context-length 2048 \
    --batch-sizes 1,8,64,256 --context 512 --steps 8 --prefill-batch 4 --prefill-length 1024 2>&1 | tee "$OUT/decode_v3_$variant.log"; stamp
done

if [ -n "$TERN_MOE_FULL" ]; then
  for model in deepseek-v2-lite qwen3-30b-a3b; do
    echo "== bench-decode $model (bf16 dummy)"
    timeout 150 "$BIN" bench-decode --device cuda --model configs/$model --load-format dummy --context-length 2048 \
      --batch-sizes 1,8,64 --context 512 --steps 8 --prefill-batch 4 --prefill-length 1024 2>&1 | tee "$OUT/decode_$model.log"; stamp
  done
fi

echo "== summary"
grep -E "passed, .* failed" "$OUT/selftest.log"; grep FAIL "$OUT/selftest.log" | head
grep -vE "^JSON" "$OUT/bench_moe.log" | tail -n 20
for f in "$OUT"/decode_*.log; do echo "-- $(basename $f)"; grep -Ei "batch|prefill|tok/s|ms" "$f" | tail -n 6; done
echo "total $(( SECONDS - t0 )) s"
