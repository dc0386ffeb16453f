#!/usr/bin/env bash
# Builds Tern and runs its whole test suite on the CPU. Needs only the Swift toolchain:
# reference data made with Python (transformers, tokenizers) is committed under fixtures/ and Tests/*/Data.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift test --skip-build
