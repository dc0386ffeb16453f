#!/usr/bin/env bash
# InferenceMAX-style 1k/1k concurrency sweep of `tern serve` on the CPU backend with `tern bench`.
#
#   scripts/bench/cpu_sweep.sh                     # tiny Llama fixture, concurrency 1..64
#   CONCS=1,2,4 NUM_PROMPTS=8 scripts/bench/cpu_sweep.sh
#
# Environment:
#   TERN         tern binary (default .build/release/tern; build: swift build -c release --product tern)
#   MODEL        model directory (default fixtures/models/llama)
#   CONCS        concurrencies (default 1,2,4,8,16,32,64)
#   NUM_PROMPTS  measured requests per point (default: InferenceMAX's 10 x concurrency)
#   WARMUPS      warm-up requests per point (default: 2 x concurrency)
#   PRESET       1k1k, 1k8k or 8k1k (default 1k1k)
#   OUT          output path without extension (default docs/bench/cpu-llama-1k1k): OUT.jsonl, OUT.svg, OUT.txt
#   PORT         server port (default 30123)
set -euo pipefail
cd "$(dirname "$0")/../.."

TERN=${TERN:-.build/release/tern}
MODEL=${MODEL:-fixtures/models/llama}
CONCS=${CONCS:-1,2,4,8,16,32,64}
PRESET=${PRESET:-1k1k}
OUT=${OUT:-docs/bench/cpu-llama-1k1k}
PORT=${PORT:-30123}

case "$PRESET" in
  1k1k) CONTEXT=2048 ;;
  1k8k|8k1k) CONTEXT=9216 ;;
  *) echo "unknown PRESET $PRESET" >&2; exit 2 ;;
esac

# The tiny fixture declares 256 positions. Its weights do not depend on that number (RoPE is
# computed), so a copy with max_position_embeddings raised serves 1k+1k sequences: a load test of
# the serving path, not of model quality.
POSITIONS=$(sed -nE 's/.*"max_position_embeddings": *([0-9]+).*/\1/p' "$MODEL/config.json")
if [ "${POSITIONS:-0}" -lt "$CONTEXT" ]; then
  LONG=$(mktemp -d)
  cp "$MODEL"/* "$LONG"/
  sed -i -E "s/(\"max_position_embeddings\": *)[0-9]+/\1$CONTEXT/" "$LONG/config.json"
  MODEL_NAME=$(basename "$MODEL")
  MODEL=$LONG
fi

"$TERN" serve --model "$MODEL" --served-model-name "${MODEL_NAME:-$(basename "$MODEL")}" --context-length "$CONTEXT" --port "$PORT" --log-level warning &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; [ -n "${LONG:-}" ] && rm -rf "$LONG"' EXIT

for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; then break; fi
  sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { echo "server did not come up" >&2; exit 1; }

ARGS=(--base-url "http://127.0.0.1:$PORT" --backend openai --preset "$PRESET" --sweep-concurrency "$CONCS"
      --output-file "$OUT.jsonl" --plot-output "$OUT.svg" --label "tern serve, CPU, ${MODEL_NAME:-$(basename "$MODEL")}" --num-gpus 1)
[ -n "${NUM_PROMPTS:-}" ] && ARGS+=(--num-prompts "$NUM_PROMPTS")
[ -n "${WARMUPS:-}" ] && ARGS+=(--warmup-requests "$WARMUPS")

rm -f "$OUT.jsonl"
echo "+ $TERN bench ${ARGS[*]}" | tee "$OUT.txt"
"$TERN" bench "${ARGS[@]}" | tee -a "$OUT.txt"
