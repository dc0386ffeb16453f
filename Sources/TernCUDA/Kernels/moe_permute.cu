// MoE token permutation and combine, on the device with no host round trip (so a decode layer can
// live inside a CUDA graph): (token, k) assignments grouped into expert-contiguous rows with a tile
// table for the grouped GEMM / GEMV kernels, and the weighted combine back to token order.
#include "moe_common.cuh"

// ---------------------------------------------------------------------------------------------
// Permutation. One block of 1024 threads. Assignment a = t * topK + k of expert ids[t, k] goes to
// local slot s = slotOfExpert[e] (remote experts: s < 0, dropped). Rows are grouped by slot:
// rowToken[row] = t, assignRow[a] = row (-1 when dropped). The tile table lists, for every slot,
// its rows in tiles of tileRows: tileSlot[i], tileStart[i], tileEnd[i]; unused entries up to
// maxTiles get tileSlot = -1. Order of rows inside one slot is not fixed (atomics); every row of a
// GEMM is computed on its own, so the results do not depend on it.
#define PERMUTE_MAX_SLOTS 1024
extern "C" __global__ void __launch_bounds__(1024) tern_moe_permute(const int *ids, long long idStride, int tokens, int topK,
                                                                   const int *slotOfExpert, int experts, int slots, int tileRows,
                                                                   int maxTiles, int *rowToken, int *assignRow, int *tileSlot,
                                                                   int *tileStart, int *tileEnd) {
    __shared__ int count[PERMUTE_MAX_SLOTS], offset[PERMUTE_MAX_SLOTS + 1], tileOffset[PERMUTE_MAX_SLOTS + 1];
    int assignments = tokens * topK;
    for (int s = threadIdx.x; s < slots; s += blockDim.x) count[s] = 0;
    __syncthreads();
    for (int a = threadIdx.x; a < assignments; a += blockDim.x) {
        int e = ids[(long long)(a / topK) * idStride + a % topK];
        int s = (e >= 0 && e < experts) ? slotOfExpert[e] : -1;
        if (s >= 0 && s < slots) atomicAdd(&count[s], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int rows = 0, tiles = 0;
        for (int s = 0; s < slots; s++) {
            offset[s] = rows;
            tileOffset[s] = tiles;
            rows += count[s];
            tiles += (count[s] + tileRows - 1) / tileRows;
        }
        offset[slots] = rows;
        tileOffset[slots] = tiles;
    }
    __syncthreads();
    for (int s = threadIdx.x; s < slots; s += blockDim.x) {
        int begin = offset[s], end = offset[s + 1];
        for (int i = tileOffset[s], start = begin; start < end; i++, start += tileRows) {
            if (i >= maxTiles) break;  // cannot happen when maxTiles is the host's bound
            tileSlot[i] = s;
            tileStart[i] = start;
            tileEnd[i] = min(start + tileRows, end);
        }
        count[s] = begin;  // becomes the slot's cursor
    }
    for (int i = tileOffset[slots] + threadIdx.x; i < maxTiles; i += blockDim.x) {
        tileSlot[i] = -1;
        tileStart[i] = 0;
        tileEnd[i] = 0;
    }
    __syncthreads();
    for (int a = threadIdx.x; a < assignments; a += blockDim.x) {
        int t = a / topK;
        int e = ids[(long long)t * idStride + a % topK];
        int s = (e >= 0 && e < experts) ? slotOfExpert[e] : -1;
        int row = -1;
        if (s >= 0 && s < slots) {
            row = atomicAdd(&count[s], 1);
            rowToken[row] = t;
        }
        assignRow[a] = row;
    }
}

// ---------------------------------------------------------------------------------------------
// Combine: out[t, c] = Σ_k weight[t, k] · expertOut[assignRow[t, k], c] over the assignments this
// rank computed (assignRow ≥ 0), in k order; out is written, not accumulated (no zeroing needed).
extern "C" __global__ void tern_moe_combine(const u16 *expertOut, long long expertStride, const int *assignRow,
                                            const float *weights, long long weightStride, int topK, void *out, int outType,
                                            long long outStride, int width) {
    long long t = blockIdx.x;
    int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= width) return;
    float sum = 0.0f;
    for (int j = 0; j < topK; j++) {
        int row = assignRow[t * topK + j];
        if (row >= 0) sum += weights[t * weightStride + j] * bf16_to_float(expertOut[(long long)row * expertStride + c]);
    }
    store_from_float(out, outType, t * outStride + c, sum);
}
