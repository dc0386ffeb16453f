#!/bin/bash
# Runs ON the GPU machine: the session's combined GPU run, one stage after another, each under its
# own time limit, every log collected into $OUT/logs.tgz (the device tool returns at most 8 files).
#   STAGES="selftest perf serving attention moe pd" TOTAL_LIMIT=560 bash scripts/gpu/all.sh
# Stage → script: selftest → run.sh (selftest, generate, bench-decode; TERN_SKIP_BENCH=1 for selftest
# only), perf → perf.sh, serving → bench_serving.sh, attention → bench_attention.sh,
# moe → bench_moe.sh, pd → bench_pd.sh, engine → engine.sh, kvfp8 → bench_kv_fp8.sh (1k/8k with bf16 vs
# fp8 KV), moeserving → bench_moe_serving.sh (MoE 1k/1k sweeps), dense → dense_decode.sh (batch-1 decode A/B),
# kernels → kernels_ab.sh (new kernels vs fallbacks), selftestonly → selftest_only.sh, mla → bench_mla.sh
# (MLA head-batched ops: selftest rows, DeepSeek-V3 slice decode/prefill, profiled prefill absorbed vs TERN_CUDA_MLA_PREFILL=expanded). Limits in seconds via LIMIT_<stage>.
# LANE=N (on a machine with several GPUs) runs this instance on GPU N alone, with its own binary copy,
# port range and log archive (logsN.tgz), so two lanes can run side by side:
#   LANE=0 STAGES="..." bash scripts/gpu/all.sh & LANE=1 STAGES="..." bash scripts/gpu/all.sh; wait
# Never put the text "tern-bin" in the device command itself: the clean-up between stages kills
# processes whose command line contains this lane's binary path.
set -o pipefail
cd "$(dirname "$0")/../.."
FINAL_OUT=${OUT:-/tmp/tern-out}
if [ -n "$LANE" ]; then
  export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-$LANE}
  export PORT=${PORT:-$((30000 + 100 * LANE))}
  GPU_QUERY="-i $LANE"
fi
LOGS=/tmp/tern-logs$LANE; rm -rf $LOGS; mkdir -p $LOGS
BIN_DIR=/tmp/tern-bin$LANE
# Unpack the binary once (run.sh does the same when it is called alone).
if [ -f gpu-bin/tern.xz ]; then
  mkdir -p $BIN_DIR
  xz -dc gpu-bin/tern.xz > $BIN_DIR/tern 2>/dev/null || python3 -c 'import lzma,sys; sys.stdout.buffer.write(lzma.open("gpu-bin/tern.xz").read())' > $BIN_DIR/tern
  chmod +x $BIN_DIR/tern
fi
export TERN_BIN=$BIN_DIR/tern
# The kernels built with the binary (build.sh stages them in gpu-bin/kernels), else the tree's.
[ -d gpu-bin/kernels ] && export TERN_KERNEL_DIR=$PWD/gpu-bin/kernels || export TERN_KERNEL_DIR=$PWD/Sources/TernCUDA/Kernels
export TERN_KERNEL_CACHE=${TERN_KERNEL_CACHE:-/tmp/tern-kernel-cache}
echo "== $(date -u +%FT%TZ) commit $(cat gpu-bin/COMMIT 2>/dev/null)"
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv,noheader
declare -A SCRIPT=([selftest]=run.sh [perf]=perf.sh [serving]=bench_serving.sh [attention]=bench_attention.sh [moe]=bench_moe.sh [pd]=bench_pd.sh [engine]=engine.sh
                  [kvfp8]=bench_kv_fp8.sh [moeserving]=bench_moe_serving.sh
                  [dense]=dense_decode.sh [kernels]=kernels_ab.sh [selftestonly]=selftest_only.sh [mla]=bench_mla.sh [moegemv2]=bench_moe_gemv2.sh)
for stage in ${STAGES:-selftest}; do
  script=scripts/gpu/${SCRIPT[$stage]}
  limit_var=LIMIT_$stage; limit=${!limit_var:-180}
  # TOTAL_LIMIT (seconds for the whole run): no stage may eat the time the archive needs at the end.
  if [ -n "$TOTAL_LIMIT" ]; then
    left=$(( TOTAL_LIMIT - SECONDS - 15 ))
    [ $left -lt 10 ] && { echo "===== stage $stage skipped: no time left"; continue; }
    [ $limit -gt $left ] && limit=$left
  fi
  mkdir -p $LOGS/$stage
  start=$(date +%s)
  echo "===== stage $stage ($script, limit ${limit}s)"
  if [ ! -f "$script" ]; then echo "missing $script"; continue; fi
  OUT=$LOGS/$stage timeout --kill-after=10 $limit bash $script > $LOGS/$stage/stdout.log 2>&1
  rc=$?
  # A stage must leave the GPU empty for the next one: stop any server it left behind.
  pkill -f "$BIN_DIR/tern " 2>/dev/null; sleep 1; pkill -9 -f "$BIN_DIR/tern " 2>/dev/null
  for _ in $(seq 1 30); do
    used=$(nvidia-smi $GPU_QUERY --query-gpu=memory.used --format=csv,noheader,nounits | sort -n | tail -1)
    [ "${used:-0}" -lt 2000 ] && break; sleep 1
  done
  echo "----- stage $stage rc=$rc in $(( $(date +%s) - start ))s (GPU memory after: ${used:-?} MiB); last lines:"
  tail -n ${TAIL_LINES:-40} $LOGS/$stage/stdout.log
done
nvidia-smi --query-gpu=memory.used --format=csv,noheader
tar -C /tmp -czf $FINAL_OUT/logs$LANE.tgz tern-logs$LANE
