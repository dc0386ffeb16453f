#!/bin/bash
# Builds the static release binary here and stages it (stripped) in gpu-bin/ for the device tool:
#   run(command: "bash scripts/gpu/run.sh", carry: ["gpu-bin"])
# The build runs in a snapshot of HEAD (a detached worktree beside the repository, .build-cuda kept
# there), so commits landing in this working tree during the build cannot mix into the binary and
# gpu-bin/COMMIT names exactly what was built. TERN_BUILD_IN_PLACE=1 builds the working tree itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
commit=$(git rev-parse --short HEAD)
if [ -z "${TERN_BUILD_IN_PLACE:-}" ]; then
  snapshot=${TERN_BUILD_SNAPSHOT:-$root/../.tern-gpu-build}
  if [ ! -d "$snapshot/.git" ] && [ ! -f "$snapshot/.git" ]; then git worktree add --detach "$snapshot" "$commit"; fi
  git -C "$snapshot" checkout -q --detach "$commit"
  src=$snapshot
else
  src=$root
fi
(cd "$src" && swift build -c release --static-swift-stdlib --product tern --scratch-path .build-cuda)
mkdir -p gpu-bin
cp "$src/.build-cuda/release/tern" /tmp/tern-stripped
strip /tmp/tern-stripped
# xz: the device tool carries at most 64 MiB (tree + carried paths); run.sh unpacks it there.
xz -9 -T2 -c /tmp/tern-stripped > gpu-bin/tern.xz
echo "$commit" > gpu-bin/COMMIT
# The kernel sources of the same commit travel beside the binary (common.sh and all.sh point
# TERN_KERNEL_DIR at them), so a later edit of the working tree cannot pair new kernels with it.
rm -rf gpu-bin/kernels && cp -r "$src/Sources/TernCUDA/Kernels" gpu-bin/kernels
grep -qx '/gpu-bin/' .git/info/exclude 2>/dev/null || echo '/gpu-bin/' >> .git/info/exclude
echo "built $commit"; ls -la gpu-bin
