#!/usr/bin/env bash
# The same mixed workload (long prompts arriving while many streams decode) against a unified
# server and against router + prefill + decode; prints and saves `tern bench` results.
#   scripts/pd/bench_pd_vs_unified.sh MODEL_DIR OUT_DIR [extra `tern serve` flags...]
# CPU (tiny fixture): defaults below. GPU: DEVICE=cuda INPUT_LEN=4096 OUTPUT_LEN=512 NUM_PROMPTS=512
#   CONCURRENCY=64 RATE=8, with the prefill and decode servers on separate GPUs
#   (PREFILL_ENV="CUDA_VISIBLE_DEVICES=0" DECODE_ENV="CUDA_VISIBLE_DEVICES=1"; unified uses GPU 0).
set -euo pipefail
MODEL=${1:?usage: bench_pd_vs_unified.sh MODEL_DIR OUT_DIR [serve flags...]}
OUT=${2:?OUT_DIR}
shift 2
TERN=${TERN:-.build/release/tern}
DEVICE=${DEVICE:-cpu}
INPUT_LEN=${INPUT_LEN:-160}
OUTPUT_LEN=${OUTPUT_LEN:-48}
RANGE=${RANGE:-0.1}
NUM_PROMPTS=${NUM_PROMPTS:-64}
CONCURRENCY=${CONCURRENCY:-16}
RATE=${RATE:-inf}
BENCH_FLAGS=${BENCH_FLAGS:---random-send-ids}
PREFILL_ENV=${PREFILL_ENV:-}
DECODE_ENV=${DECODE_ENV:-}
mkdir -p "$OUT"

pids=()
stop_all() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap stop_all EXIT INT TERM
wait_healthy() {
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return 0; sleep 0.5; done
  echo "port $1 not healthy" >&2; return 1
}
bench() {  # PORT LABEL
  "$TERN" bench run --base-url "http://127.0.0.1:$1" --backend openai --tokenizer "$MODEL" \
    --dataset-name random --random-input-len "$INPUT_LEN" --random-output-len "$OUTPUT_LEN" --random-range-ratio "$RANGE" \
    --num-prompts "$NUM_PROMPTS" --max-concurrency "$CONCURRENCY" --request-rate "$RATE" --warmup-requests 4 \
    $BENCH_FLAGS --label "$2" --output-file "$OUT/results.jsonl" 2>&1 | tee "$OUT/$2.txt"
}

# Unified.
env $PREFILL_ENV "$TERN" serve --model "$MODEL" --device "$DEVICE" --port 31000 "$@" >"$OUT/unified.log" 2>&1 &
pids+=($!)
wait_healthy 31000
bench 31000 unified
stop_all

# PD: prefill + decode + router.
env $PREFILL_ENV "$TERN" serve --model "$MODEL" --device "$DEVICE" --port 31001 --disaggregation-mode prefill \
  --disaggregation-bootstrap-port 31998 "$@" >"$OUT/prefill.log" 2>&1 &
pids+=($!)
env $DECODE_ENV "$TERN" serve --model "$MODEL" --device "$DEVICE" --port 31002 --disaggregation-mode decode "$@" \
  >"$OUT/decode.log" 2>&1 &
pids+=($!)
wait_healthy 31001
wait_healthy 31002
"$TERN" router --pd-disaggregation --prefill http://127.0.0.1:31001 31998 --decode http://127.0.0.1:31002 --port 31003 \
  >"$OUT/router.log" 2>&1 &
pids+=($!)
wait_healthy 31003
bench 31003 pd
stop_all
