# Sourced by the scripts in scripts/gpu/ (they run ON the GPU machine): repository root as the working
# directory, $BIN = the tern binary (gpu-bin/tern.xz unpacked once to /tmp/tern-bin/tern; the device
# tool carries at most 64 MiB, so the binary travels xz-compressed), $OUT, the kernel source and cache
# folders, and a header line with the date and the commit the binary was built from.
set -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN=${TERN_BIN:-gpu-bin/tern}
if [ ! -x "$BIN" ] && [ -f gpu-bin/tern.xz ]; then
  BIN=/tmp/tern-bin/tern; mkdir -p /tmp/tern-bin
  # Unpacked once per machine; again when a newer archive arrives (a warm machine keeps /tmp).
  [ -x $BIN ] && [ ! gpu-bin/tern.xz -nt $BIN ] || { xz -dc gpu-bin/tern.xz > $BIN 2>/dev/null || python3 -c 'import lzma,sys; sys.stdout.buffer.write(lzma.open("gpu-bin/tern.xz").read())' > $BIN; }
  chmod +x $BIN
fi
OUT=${OUT:-/tmp/tern-out}
mkdir -p "$OUT"
# The kernels built with the binary (build.sh stages them in gpu-bin/kernels), else the tree's.
[ -d gpu-bin/kernels ] && KERNELS_DEFAULT=$PWD/gpu-bin/kernels || KERNELS_DEFAULT=$PWD/Sources/TernCUDA/Kernels
export TERN_KERNEL_DIR=${TERN_KERNEL_DIR:-$KERNELS_DEFAULT}
export TERN_KERNEL_CACHE=${TERN_KERNEL_CACHE:-/tmp/tern-kernel-cache}
echo "== $(date -u +%FT%TZ) commit $(cat gpu-bin/COMMIT 2>/dev/null || git rev-parse --short HEAD 2>/dev/null)"
