// Paged attention over the KV cache, for prefill chunks (causal, with a cached prefix, sliding
// window) and decode alike. First correct version: one block per (token, query head); each warp
// walks a strided share of the keys with an online softmax, then the warps' partial results merge.
#include "common.cuh"

#define MAX_VALUES_PER_LANE 16  // value width ≤ 512 (MLA's latent)

extern "C" __global__ void tern_paged_attention(
    const void *q, int qType, long long qStride,
    const void *keys, const void *values, int kvType, long long keyStride, long long keyHeadStride,
    long long valueStride, long long valueHeadStride,
    void *out, int outType, long long outStride,
    int heads, int group, int headDim, int valueDim, float scale, int window,
    const int *tokenPositions, const int *tokenPageStarts, const int *pageTable, int pageSize) {
    extern __shared__ float shared[];
    int warps = blockDim.x >> 5;
    float *qs = shared;                        // [headDim]
    float *warpMax = qs + headDim;             // [warps]
    float *warpSum = warpMax + warps;          // [warps]
    float *warpAcc = warpSum + warps;          // [warps][valueDim]

    int token = blockIdx.x, head = blockIdx.y, kvHead = head / group;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int d = threadIdx.x; d < headDim; d += blockDim.x)
        qs[d] = load_as_float(q, qType, (long long)token * qStride + (long long)head * headDim + d) * scale;
    __syncthreads();

    int position = tokenPositions[token];
    const int *pages = pageTable + tokenPageStarts[token];
    int end = position + 1;
    int begin = window > 0 ? max(0, end - window) : 0;

    float m = -INFINITY, l = 0.0f;
    float acc[MAX_VALUES_PER_LANE];
#pragma unroll
    for (int i = 0; i < MAX_VALUES_PER_LANE; i++) acc[i] = 0.0f;

    for (int j = begin + warp; j < end; j += warps) {
        long long slot = (long long)pages[j / pageSize] * pageSize + j % pageSize;
        long long keyBase = slot * keyStride + (long long)kvHead * keyHeadStride;
        float dot = 0.0f;
        for (int d = lane; d < headDim; d += 32) dot += qs[d] * load_as_float(keys, kvType, keyBase + d);
        float s = warp_sum(dot);
        float mNew = fmaxf(m, s);
        float correction = __expf(m - mNew), p = __expf(s - mNew);
        l = l * correction + p;
        long long valueBase = slot * valueStride + (long long)kvHead * valueHeadStride;
#pragma unroll
        for (int i = 0; i < MAX_VALUES_PER_LANE; i++) {
            int d = i * 32 + lane;
            if (d < valueDim) acc[i] = acc[i] * correction + p * load_as_float(values, kvType, valueBase + d);
        }
        m = mNew;
    }
    if (lane == 0) { warpMax[warp] = m; warpSum[warp] = l; }
#pragma unroll
    for (int i = 0; i < MAX_VALUES_PER_LANE; i++) {
        int d = i * 32 + lane;
        if (d < valueDim) warpAcc[warp * valueDim + d] = acc[i];
    }
    __syncthreads();
    float total = -INFINITY;
    for (int w = 0; w < warps; w++) total = fmaxf(total, warpMax[w]);
    float denominator = 0.0f;
    for (int w = 0; w < warps; w++) denominator += warpSum[w] * __expf(warpMax[w] - total);
    for (int d = threadIdx.x; d < valueDim; d += blockDim.x) {
        float v = 0.0f;
        for (int w = 0; w < warps; w++) v += warpAcc[w * valueDim + d] * __expf(warpMax[w] - total);
        store_from_float(out, outType, (long long)token * outStride + (long long)head * valueDim + d, v / denominator);
    }
}
