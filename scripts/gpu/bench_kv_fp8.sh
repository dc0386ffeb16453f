#!/bin/bash
# Runs ON the GPU machine (issue 9, end to end): `tern bench` 1k/8k on the Llama-3.1-8B shape (dummy
# weights, token ids) with a bf16 and with an fp8_e4m3 KV cache, each at the concurrency its own KV
# pool holds (pool tokens / (input + output), from the server's ready line; at most MAX_CONC), one wave
# of that many requests. Prints output tok/s and median TPOT per cache type.
# Expected GPU time: ~5 min at 1k/8k (two start-ups of ~12 s, ~8,200 decode steps each); OUTLEN=2048
# makes it ~1.5 min. Env: IN (1024), OUTLEN (8192), MAX_CONC (512), SERVE_MODEL, PORT, KV_TYPES
# ("bf16 fp8_e4m3"; one of them runs that half alone).
# CPU dry run: TERN_BIN=.build/debug/tern SERVE_MODEL="--device cpu --model fixtures/models/llama" IN=16 OUTLEN=16 MAX_CONC=4
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
IN=${IN:-1024}; OUTLEN=${OUTLEN:-8192}; MAX_CONC=${MAX_CONC:-512}; PORT=${PORT:-30000}
SERVE_MODEL=${SERVE_MODEL:---device cuda --model configs/llama-3.1-8b --load-format dummy}
rm -f "$OUT/kv_fp8.jsonl"
server_pid=
stop_server() { [ -n "$server_pid" ] && kill $server_pid 2>/dev/null && wait $server_pid 2>/dev/null; server_pid=; }
trap stop_server EXIT
for kv in ${KV_TYPES:-bf16 fp8_e4m3}; do
  echo "== $kv KV cache"
  "$BIN" serve $SERVE_MODEL --skip-tokenizer-init --context-length $((IN + OUTLEN)) --kv-cache-dtype $kv \
    --max-running-requests $MAX_CONC --port $PORT > "$OUT/serve_$kv.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 1800); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
    kill -0 $server_pid 2>/dev/null || { echo "server exited"; tail -20 "$OUT/serve_$kv.log"; exit 1; }
    sleep 0.1
  done
  tokens=$(grep -o 'kv_pool_tokens=[0-9]*' "$OUT/serve_$kv.log" | head -1 | cut -d= -f2)
  c=$(( ${tokens:-0} / (IN + OUTLEN) )); [ $c -gt $MAX_CONC ] && c=$MAX_CONC
  echo "KV pool $tokens tokens: concurrency $c"
  [ $c -ge 1 ] || { echo "no room for one request"; exit 1; }
  timeout 900 "$BIN" bench --base-url http://127.0.0.1:$PORT --backend tern --dataset-name random \
    --random-input-len $IN --random-output-len $OUTLEN --random-range-ratio 1 --num-prompts $c --max-concurrency $c \
    --warmup-requests 0 --label "kv-$kv-c$c" --output-file "$OUT/kv_fp8.jsonl" --quiet 2>&1 | tail -25
  stop_server
done
echo "== summary (input $IN, output $OUTLEN)"
python3 - "$OUT/kv_fp8.jsonl" <<'PY'
import json, sys
print("          KV cache | concurrency | output tok/s | median TPOT ms | failed")
for line in open(sys.argv[1]):
    if not line.strip().startswith("{"): continue
    r = json.loads(line)
    print(f"{r.get('label', '?'):>18} | {r.get('max_concurrency')!s:>11} | {r.get('output_throughput', 0):12.1f} | "
          f"{r.get('median_tpot_ms', 0):14.2f} | {r.get('failed', 0)}")
PY
