#!/usr/bin/env bash
# Starts a prefill server, a decode server and a PD router on this machine; Ctrl-C stops all three.
#   scripts/pd/launch_local.sh MODEL_DIR [extra `tern serve` flags...]
# Environment: TERN (binary, default .build/release/tern), PREFILL_PORT (30001), DECODE_PORT (30002),
# ROUTER_PORT (30000), BOOTSTRAP_PORT (8998), DEVICE (cpu), HOST (127.0.0.1).
set -euo pipefail
MODEL=${1:?usage: launch_local.sh MODEL_DIR [tern serve flags...]}
shift
TERN=${TERN:-.build/release/tern}
HOST=${HOST:-127.0.0.1}
PREFILL_PORT=${PREFILL_PORT:-30001}
DECODE_PORT=${DECODE_PORT:-30002}
ROUTER_PORT=${ROUTER_PORT:-30000}
BOOTSTRAP_PORT=${BOOTSTRAP_PORT:-8998}
DEVICE=${DEVICE:-cpu}

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

wait_healthy() {
  for _ in $(seq 1 600); do
    curl -sf "http://$HOST:$1/health" >/dev/null && return 0
    sleep 0.5
  done
  echo "server on port $1 did not become healthy" >&2
  return 1
}

"$TERN" serve --model "$MODEL" --device "$DEVICE" --host "$HOST" --port "$PREFILL_PORT" \
  --disaggregation-mode prefill --disaggregation-bootstrap-port "$BOOTSTRAP_PORT" "$@" &
pids+=($!)
"$TERN" serve --model "$MODEL" --device "$DEVICE" --host "$HOST" --port "$DECODE_PORT" \
  --disaggregation-mode decode "$@" &
pids+=($!)
wait_healthy "$PREFILL_PORT"
wait_healthy "$DECODE_PORT"
"$TERN" router --pd-disaggregation --prefill "http://$HOST:$PREFILL_PORT" "$BOOTSTRAP_PORT" \
  --decode "http://$HOST:$DECODE_PORT" --host "$HOST" --port "$ROUTER_PORT" &
pids+=($!)
wait_healthy "$ROUTER_PORT"
echo "PD ready: router http://$HOST:$ROUTER_PORT (prefill :$PREFILL_PORT, decode :$DECODE_PORT, bootstrap :$BOOTSTRAP_PORT)"
wait
