#!/bin/bash
# Runs ON the GPU machine from the repository root (binary from gpu-bin/tern.xz as in run.sh).
# Mixed workload on one H200, Llama-3.1-8B shape (dummy weights, no tokenizer):
#   background: STREAMS (64) concurrent 1k-in/1k-out streams decoding;
#   meanwhile:  LONG_N (8) long prompts (8k in, 32 out) arriving at LONG_RATE (1) per second;
# against (a) one unified server and (b) prefill server + decode server + router on the same GPU
# (prefill --mem-fraction-static 0.4, decode in what is left; KV moved GPU to GPU by --disaggregation-transfer-backend
# cuda-ipc; TRANSFER=tcp to compare). Before each load, 4 greedy probes (batch 1, idle server)
# check that PD gives the unified server's output ids (a corrupt KV transfer shows up there).
# Prints p50/p99 ITL and output throughput of the streams, TTFT of the long prompts, for each.
# Expected GPU time: about 110 s (start-ups ~3 x 15 s with a warm kernel cache, 2 loads ~25 s each).
# Env: STREAMS, STREAM_IN (1024), STREAM_OUT (1024), LONG_N, LONG_IN (8192), LONG_RATE, TRANSFER (cuda-ipc|tcp),
#      DECODE_GPU (0; 1 puts the decode server on the second GPU: two-GPU PD).
source "$(dirname "$0")/common.sh"   # cd to the repo root, $BIN, $OUT, kernel folders, header line
STREAMS=${STREAMS:-64}; STREAM_IN=${STREAM_IN:-1024}; STREAM_OUT=${STREAM_OUT:-1024}
LONG_N=${LONG_N:-8}; LONG_IN=${LONG_IN:-8192}; LONG_RATE=${LONG_RATE:-1}
TRANSFER=${TRANSFER:-cuda-ipc}; DECODE_GPU=${DECODE_GPU:-0}
echo "== $(date -u +%FT%TZ) commit $(cat gpu-bin/COMMIT 2>/dev/null || git rev-parse --short HEAD 2>/dev/null) transfer=$TRANSFER decode_gpu=$DECODE_GPU"
# SERVE_MODEL / CONTEXT: a CPU dry run of this script uses e.g. SERVE_MODEL="--device cpu --model DIR --load-format dummy".
SERVE_MODEL=${SERVE_MODEL:---device cuda --model configs/llama-3.1-8b --load-format dummy}
COMMON=($SERVE_MODEL --skip-tokenizer-init --context-length ${CONTEXT:-12288} --host 127.0.0.1)

pids=()
stop_all() { for p in "${pids[@]}"; do kill $p 2>/dev/null; done; for p in "${pids[@]}"; do wait $p 2>/dev/null; done; pids=(); }
trap stop_all EXIT
wait_healthy() {  # port log
  for _ in $(seq 1 1200); do
    curl -sf "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "port $1 not healthy after 120 s" >&2; tail -20 "$2" >&2; return 1
}

# 4 greedy probes, one at a time; prints their output ids as JSON lines.
probe() {
  python3 - "$1" "${PROBE_LENGTHS:-5,200,1000,3000}" "${PROBE_VOCAB:-128000}" <<'PY'
import json, sys, urllib.request, random
r = random.Random(7)
for i, n in enumerate([int(x) for x in sys.argv[2].split(",")]):
    body = {"input_ids": [r.randrange(int(sys.argv[3])) for _ in range(n)],
            "sampling_params": {"max_new_tokens": 16, "temperature": 0, "ignore_eos": True}}
    req = urllib.request.Request(sys.argv[1] + "/generate", json.dumps(body).encode(), {"content-type": "application/json"})
    try:
        print(json.dumps(json.loads(urllib.request.urlopen(req, timeout=60).read())["output_ids"]))
    except Exception as e:
        print(json.dumps({"error": str(e)}))
PY
}

# Streams in the background, long prompts in the foreground; JSON lines to $OUT/pd_$1.jsonl.
load() {
  local name=$1 url=$2
  rm -f "$OUT/pd_$name.jsonl"
  timeout 150 "$BIN" bench --base-url $url --backend tern --dataset-name random --random-input-len $STREAM_IN \
    --random-output-len $STREAM_OUT --random-range-ratio 1 --num-prompts $STREAMS --max-concurrency $STREAMS \
    --warmup-requests 0 --label "$name-streams" --output-file "$OUT/pd_$name.jsonl" --quiet > "$OUT/pd_${name}_streams.log" 2>&1 &
  local bg=$!
  sleep 3
  timeout 150 "$BIN" bench --base-url $url --backend tern --dataset-name random --random-input-len $LONG_IN \
    --random-output-len 32 --random-range-ratio 1 --num-prompts $LONG_N --request-rate $LONG_RATE --seed 5 \
    --warmup-requests 0 --label "$name-long" --output-file "$OUT/pd_$name.jsonl" --quiet > "$OUT/pd_${name}_long.log" 2>&1
  wait $bg
  tail -30 "$OUT/pd_${name}_streams.log"
}

echo "== (a) unified server"
"$BIN" serve "${COMMON[@]}" --port 30000 --max-total-tokens 262144 > "$OUT/pd_unified_serve.log" 2>&1 & pids+=($!)
wait_healthy 30000 "$OUT/pd_unified_serve.log" || exit 1
probe http://127.0.0.1:30000 > "$OUT/probe_unified.jsonl"
load unified http://127.0.0.1:30000
stop_all
# The prefill server sizes its KV from memory in use at its start: wait until the unified server's is gone.
for _ in $(seq 1 60); do
  used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | sort -n | tail -1)
  [ "${used:-0}" -lt 2000 ] && break; sleep 0.5
done

echo "== (b) prefill + decode + router ($TRANSFER)"
# --mem-fraction-static counts what is in use on the GPU at start-up (SGLang's rule: fraction x total
# minus used), so the servers start one after the other: the prefill server takes at most 0.4 of the
# GPU, the decode server then fits under 0.85 with the prefill server's memory counted as used.
"$BIN" serve "${COMMON[@]}" --port 30001 --mem-fraction-static 0.4 --max-total-tokens 98304 \
  --disaggregation-mode prefill --disaggregation-bootstrap-port 8998 --disaggregation-transfer-backend $TRANSFER \
  > "$OUT/pd_prefill_serve.log" 2>&1 & pids+=($!)
wait_healthy 30001 "$OUT/pd_prefill_serve.log" || exit 1
DECODE_FRACTION=0.85; [ "$DECODE_GPU" != 0 ] && DECODE_FRACTION=0.4
"$BIN" serve "${COMMON[@]}" --port 30002 --mem-fraction-static $DECODE_FRACTION --max-total-tokens 212992 --base-gpu-id $DECODE_GPU \
  --disaggregation-mode decode --disaggregation-transfer-backend $TRANSFER \
  > "$OUT/pd_decode_serve.log" 2>&1 & pids+=($!)
wait_healthy 30002 "$OUT/pd_decode_serve.log" || exit 1
"$BIN" router --pd-disaggregation --prefill http://127.0.0.1:30001 8998 --decode http://127.0.0.1:30002 \
  --host 127.0.0.1 --port 30000 > "$OUT/pd_router.log" 2>&1 & pids+=($!)
wait_healthy 30000 "$OUT/pd_router.log" || exit 1
probe http://127.0.0.1:30000 > "$OUT/probe_pd.jsonl"
load pd http://127.0.0.1:30000
stop_all

echo "== summary (Llama-3.1-8B shape, one H200: $STREAMS x $STREAM_IN/$STREAM_OUT streams + $LONG_N x ${LONG_IN}-token prompts at $LONG_RATE/s)"
python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
def recs(name):
    p = os.path.join(out, f"pd_{name}.jsonl")
    return {r.get("label", "").split("-")[-1]: r for r in (json.loads(l) for l in open(p) if l.strip())} if os.path.exists(p) else {}
a, b = [open(os.path.join(out, f"probe_{n}.jsonl")).read().split("\n") for n in ("unified", "pd")]
same = sum(1 for x, y in zip(a, b) if x and x == y and "error" not in x)
print(f"greedy probes: PD output ids equal to unified for {same}/{len([x for x in a if x])} prompts")
print(f"{'setup':>8} | {'streams tok/s':>13} | {'ITL p50 ms':>10} | {'ITL p99 ms':>10} | {'TPOT med ms':>11} | {'long TTFT p50 ms':>16} | failed")
for name in ("unified", "pd"):
    r = recs(name); s, l = r.get("streams", {}), r.get("long", {})
    f = lambda v: f"{v:.1f}" if isinstance(v, (int, float)) else "-"
    print(f"{name:>8} | {f(s.get('output_throughput')):>13} | {f(s.get('median_itl_ms')):>10} | {f(s.get('p99_itl_ms')):>10} | "
          f"{f(s.get('median_tpot_ms')):>11} | {f(l.get('median_ttft_ms')):>16} | {(s.get('failed') or 0) + (l.get('failed') or 0)}")
PY
