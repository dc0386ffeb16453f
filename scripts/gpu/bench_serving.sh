#!/bin/bash
# Runs ON the GPU machine from the repository root (binary from gpu-bin/tern.xz as in run.sh):
#   1. start-up of `tern serve --device cuda` (Llama-3.1-8B shape, dummy weights, no tokenizer) from
#      launch to /health OK, with a cold and then a warm kernel cache (TERN_KERNEL_CACHE);
#   2. `tern bench` 1k/1k (random ids, exact lengths: --random-range-ratio 1, ignore_eos) at
#      concurrency 1, 16, 64, 256, one wave each (num-prompts = concurrency);
#   3. the PyTorch reference (scripts/gpu/torch_decode_reference.py) at the same batches;
#   then one table: concurrency | tern tok/s | tern median TPOT | torch tok/s | torch TPOT.
# Expected GPU time: about 150 s (two start-ups ~2 x 20 s, bench ~70 s, torch ~45 s); every step has a timeout.
# Env: BENCH_CONCURRENCY (1,16,64,256), BENCH_PROMPTS (same list: prompts per concurrency),
#      TERN_SERVE_ARGS (extra serve flags), SKIP_TORCH=1, TORCH_MAX_SECONDS (4: decode seconds per batch).
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
CONC=${BENCH_CONCURRENCY:-1,16,64,256}
PROMPTS=${BENCH_PROMPTS:-$CONC}
PORT=${PORT:-30000}
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader

# 256 streams x 2048 tokens = 524,288 KV slots (128 KiB each in bf16: 69 GB) + weights 16 GB.
# SERVE_MODEL / IN / OUTLEN / CONTEXT / MAX_TOKENS: a CPU dry run of this script uses e.g.
# SERVE_MODEL="--device cpu --model DIR --load-format dummy" IN=64 OUTLEN=16 CONTEXT=256 SKIP_TORCH=1.
SERVE_MODEL=${SERVE_MODEL:---device cuda --model configs/llama-3.1-8b --load-format dummy}
IN=${IN:-1024}; OUTLEN=${OUTLEN:-1024}
SERVE=("$BIN" serve $SERVE_MODEL --skip-tokenizer-init
       --context-length ${CONTEXT:-4096} --max-total-tokens ${MAX_TOKENS:-540672} --max-running-requests 256 --port $PORT $TERN_SERVE_ARGS)

server_pid=
stop_server() { [ -n "$server_pid" ] && kill $server_pid 2>/dev/null && wait $server_pid 2>/dev/null; server_pid=; }
trap stop_server EXIT

# Starts the server with kernel cache $1, log $2; sets $started to seconds from launch to /health OK.
# Not called in $( ): server_pid must be set in this shell, or stop_server cannot stop it.
start_server() {
  if curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then echo "port $PORT already serving" >&2; return 1; fi
  local t0=$(date +%s.%N)
  TERN_KERNEL_CACHE=$1 "${SERVE[@]}" > "$2" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 1800); do
    if curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then
      started=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')"); return 0
    fi
    kill -0 $server_pid 2>/dev/null || { echo "server exited" >&2; tail -20 "$2" >&2; return 1; }
    sleep 0.1
  done
  echo "server not healthy after 180 s" >&2; tail -20 "$2" >&2; return 1
}

CACHE=$(mktemp -d /tmp/tern-kcache-XXXX)
echo "== start-up, cold kernel cache ($CACHE)"
start_server "$CACHE" "$OUT/serve_cold.log" || exit 1
cold=$started; echo "cold: $cold s"
stop_server
echo "== start-up, warm kernel cache"
start_server "$CACHE" "$OUT/serve_warm.log" || exit 1
warm=$started; echo "warm: $warm s"

echo "== tern bench 1k/1k"
rm -f "$OUT/bench_serving.jsonl"
IFS=, read -ra cs <<< "$CONC"; IFS=, read -ra ns <<< "$PROMPTS"
for i in "${!cs[@]}"; do
  c=${cs[$i]}; n=${ns[$i]:-$c}
  timeout 120 "$BIN" bench --base-url http://127.0.0.1:$PORT --backend tern --dataset-name random \
    --random-input-len $IN --random-output-len $OUTLEN --random-range-ratio 1 --num-prompts $n \
    --max-concurrency $c --warmup-requests 0 --label tern-c$c --output-file "$OUT/bench_serving.jsonl" --quiet \
    2>&1 | tee -a "$OUT/bench_serving.log" | tail -25
done
stop_server

if [ -z "$SKIP_TORCH" ]; then
  echo "== PyTorch reference"
  timeout 200 python3 scripts/gpu/torch_decode_reference.py --batches "$CONC" --input $IN --output $OUTLEN \
    --max-seconds ${TORCH_MAX_SECONDS:-4} 2>&1 | tee "$OUT/torch_reference.jsonl"
fi

echo "== summary ($SERVE_MODEL, input $IN, output $OUTLEN)"
python3 - "$OUT/bench_serving.jsonl" "$OUT/torch_reference.jsonl" "$cold" "$warm" <<'PY'
import json, sys
def lines(p):
    try: return [json.loads(l) for l in open(p) if l.strip().startswith("{")]
    except FileNotFoundError: return []
tern = {r.get("max_concurrency"): r for r in lines(sys.argv[1])}
torch = {r["batch"]: r for r in lines(sys.argv[2]) if "batch" in r}
print(f"start-up to /health OK: cold kernel cache {sys.argv[3]} s, warm {sys.argv[4]} s")
print(f"{'concurrency':>11} | {'tern tok/s':>10} | {'tern median TPOT ms':>19} | {'torch tok/s':>11} | {'torch TPOT ms':>13} | tern/torch")
for c in sorted(set(tern) | set(torch), key=lambda x: x or 0):
    t, p = tern.get(c, {}), torch.get(c, {})
    ts, tt = t.get("output_throughput"), t.get("median_tpot_ms")
    ps, pt = p.get("tok_s"), p.get("tpot_ms")
    f = lambda v, w: f"{v:>{w}.1f}" if isinstance(v, (int, float)) else f"{'-':>{w}}"
    ratio = f"{ts / ps:.2f}" if ts and ps else "-"
    fail = f" (failed {t.get('failed')})" if t.get("failed") else ""
    print(f"{c:>11} | {f(ts, 10)} | {f(tt, 19)} | {f(ps, 11)} | {f(pt, 13)} | {ratio}{fail}")
PY
