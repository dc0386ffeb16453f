// Paged attention over the KV cache, for prefill chunks (causal, with a cached prefix, sliding
// window) and decode alike. First correct version: one block per (token, query head); each warp
// walks a strided share of the keys with an online softmax, then the warps' partial results merge.
#include "common.cuh"

#define MAX_VALUES_PER_LANE 16  // value width ≤ 512 (MLA's latent)
#define KV_E4M3 3                // kvType code of an FP8 (e4m3) cache; 0..2 as DT_*

// One cache element as float: FP8 caches decode the code and apply the layer's scale.
__device__ __forceinline__ float kv_load(const void *base, int kvType, long long i, float scale) {
    if (kvType == KV_E4M3) return e4m3_to_float(((const u8 *)base)[i]) * scale;
    return load_as_float(base, kvType, i);
}

extern "C" __global__ void tern_paged_attention(
    const void *q, int qType, long long qStride,
    const void *keys, const void *values, int kvType, long long keyStride, long long keyHeadStride,
    long long valueStride, long long valueHeadStride, float keyScale, float valueScale,
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
        for (int d = lane; d < headDim; d += 32) dot += qs[d] * kv_load(keys, kvType, keyBase + d, keyScale);
        float s = warp_sum(dot);
        float mNew = fmaxf(m, s);
        float correction = __expf(m - mNew), p = __expf(s - mNew);
        l = l * correction + p;
        long long valueBase = slot * valueStride + (long long)kvHead * valueHeadStride;
#pragma unroll
        for (int i = 0; i < MAX_VALUES_PER_LANE; i++) {
            int d = i * 32 + lane;
            if (d < valueDim) acc[i] = acc[i] * correction + p * kv_load(values, kvType, valueBase + d, valueScale);
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

// storeKV into an FP8 cache: dst[slot[t]] = e4m3(src[t] · inverseScale) (nearest, saturating).
// Grid (tokens, column blocks).
extern "C" __global__ void tern_store_kv_e4m3(const void *src, int srcType, long long srcStride, const int *slots,
                                              u8 *dst, long long dstStride, int width, float inverseScale) {
    long long t = blockIdx.x, slot = slots[t];
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < width; i += gridDim.y * blockDim.x)
        dst[slot * dstStride + i] = float_to_e4m3(load_as_float(src, srcType, t * srcStride + i) * inverseScale);
}

// Cached FP8 rows back to floats: dst[r] = decode(src[index[r]]) · scale (MLA's expanded form
// gathers the latents this way). Grid (rows, column blocks).
extern "C" __global__ void tern_gather_kv_e4m3(const u8 *src, long long srcStride, const int *index, void *dst, int dstType,
                                               long long dstStride, int width, float scale) {
    long long r = blockIdx.x, slot = index[r];
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < width; i += gridDim.y * blockDim.x)
        store_from_float(dst, dstType, r * dstStride + i, e4m3_to_float(src[slot * srcStride + i]) * scale);
}
