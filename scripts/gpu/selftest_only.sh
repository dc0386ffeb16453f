#!/bin/bash
# Runs ON the GPU machine: `tern selftest --device cuda` alone (every CUDA op against the CPU backend on
# random inputs, the fixture models end to end, decode-graph replay, the engine), ~150-250 s.
# SELFTEST_ARGS adds flags (e.g. --fixtures "" for the op cases only).
source "$(dirname "$0")/common.sh"
timeout ${SELFTEST_TIMEOUT:-300} "$BIN" selftest --device cuda $SELFTEST_ARGS > "$OUT/selftest.log" 2>&1
echo "rc=$?"
grep -E "passed, .* failed" "$OUT/selftest.log"; grep -E "FAIL" "$OUT/selftest.log" | head -40
tail -5 "$OUT/selftest.log"
