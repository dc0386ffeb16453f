// out[t, n] = x[t, k] · W[n, k]ᵀ for a handful of rows t (decode at batch ≤ GEMV_MAX_T): pure
// weight streaming, so one warp per output column walks its weight row in 16-byte loads, four in
// flight per lane, and dots them with every x row (x stays in L1/L2). bf16 in, fp32 accumulation.
#include "common.cuh"

#define GEMV_MAX_T 4
#define GEMV_UNROLL 4

struct __align__(16) gemv_u4 { u32 x, y, z, w; };

__device__ __forceinline__ float gemv_dot8(gemv_u4 a, gemv_u4 b) {
    u32 av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        s += __uint_as_float(av[i] << 16) * __uint_as_float(bv[i] << 16);
        s += __uint_as_float(av[i] & 0xFFFF0000u) * __uint_as_float(bv[i] & 0xFFFF0000u);
    }
    return s;
}

// Grid: ceil(n / warps per block); k % 8 == 0, rows 16-byte aligned (checked by the caller).
extern "C" __global__ void __launch_bounds__(256) tern_gemv_bf16(
    const u16 *x, long long ldx, const u16 *w, long long ldw, void *out, int outType, long long ldo, int n, int k, int t) {
    int lane = threadIdx.x & 31;
    int col = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (col >= n) return;
    const gemv_u4 *wrow = (const gemv_u4 *)(w + (long long)col * ldw);
    int chunks = k >> 3;
    float acc[GEMV_MAX_T];
#pragma unroll
    for (int r = 0; r < GEMV_MAX_T; r++) acc[r] = 0.0f;
    int c = lane;
    for (; c + 32 * (GEMV_UNROLL - 1) < chunks; c += 32 * GEMV_UNROLL) {
        gemv_u4 wv[GEMV_UNROLL];
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; u++) wv[u] = wrow[c + 32 * u];
#pragma unroll
        for (int r = 0; r < GEMV_MAX_T; r++) {
            if (r < t) {
                const gemv_u4 *xrow = (const gemv_u4 *)(x + (long long)r * ldx);
#pragma unroll
                for (int u = 0; u < GEMV_UNROLL; u++) acc[r] += gemv_dot8(wv[u], xrow[c + 32 * u]);
            }
        }
    }
    for (; c < chunks; c += 32) {
        gemv_u4 wv = wrow[c];
#pragma unroll
        for (int r = 0; r < GEMV_MAX_T; r++)
            if (r < t) acc[r] += gemv_dot8(wv, ((const gemv_u4 *)(x + (long long)r * ldx))[c]);
    }
#pragma unroll
    for (int r = 0; r < GEMV_MAX_T; r++) {
        if (r < t) {
            float s = warp_sum(acc[r]);
            if (lane == 0) store_from_float(out, outType, (long long)r * ldo + col, s);
        }
    }
}
