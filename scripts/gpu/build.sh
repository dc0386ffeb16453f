#!/bin/bash
# Builds the static release binary here and stages it (stripped) in gpu-bin/ for the device tool:
#   run(command: "bash scripts/gpu/run.sh", carry: ["gpu-bin"])
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --static-swift-stdlib --product tern --scratch-path .build-cuda
mkdir -p gpu-bin
cp .build-cuda/release/tern /tmp/tern-stripped
strip /tmp/tern-stripped
# xz: the device tool carries at most 64 MiB (tree + carried paths); run.sh unpacks it there.
xz -9 -T2 -c /tmp/tern-stripped > gpu-bin/tern.xz
git rev-parse --short HEAD > gpu-bin/COMMIT
grep -qx '/gpu-bin/' .git/info/exclude 2>/dev/null || echo '/gpu-bin/' >> .git/info/exclude
ls -la gpu-bin
