// Head-batched ops of MLA (Backend.headLinear / copyHeads): all of a layer's heads in one launch
// instead of one GEMV or copy per head.
//
// tern_head_gemv_t{TB}_g{G}: for every head h (blockIdx.y), every token t < T ≤ TB and every output
// row n < N:  out[t, h·oHead + n] = Σ_k x[t, h·xHead + k] · W[h, n, k]  (bf16 in, fp32 sums, bf16 out).
// W is [H, N, K] contiguous. A group of G lanes owns R consecutive weight rows and walks K in steps
// of G·8 elements (one 16-byte load per lane per row), so narrow heads (K = 128: G = 16) keep all
// lanes busy; the R weight loads are issued before they are used. The group's partial sums meet by
// xor-shuffles inside the group; lane 0 of the group stores. Rows past N re-read row N − 1 and
// store nothing. A block is 8 warps = 8·(32/G)·R rows of one head.
// Needs K % 8 == 0, 16-byte aligned x/W head starts (x address, ldx, xHead multiples of 8 elements).
#include "common.cuh"

__device__ __forceinline__ float heads_dot8(uint4 a, uint4 b) {
    u32 p[4] = {a.x, a.y, a.z, a.w}, q[4] = {b.x, b.y, b.z, b.w};
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        s += __uint_as_float(p[i] << 16) * __uint_as_float(q[i] << 16);
        s += __uint_as_float(p[i] & 0xFFFF0000u) * __uint_as_float(q[i] & 0xFFFF0000u);
    }
    return s;
}

template <int TB, int G, int R>
__device__ __forceinline__ void head_gemv(const u16 *__restrict__ x, long long ldx, long long xHead,
                                          const u16 *__restrict__ w, u16 *__restrict__ out, long long ldo, long long oHead,
                                          int n, int k, int t) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int group = lane / G, gl = lane % G;
    const long long head = blockIdx.y;
    const int rowsPerWarp = (32 / G) * R;
    const int row0 = blockIdx.x * (8 * rowsPerWarp) + warp * rowsPerWarp + group * R;
    const u16 *xh = x + head * xHead;
    const u16 *wh = w + head * (long long)n * k;
    const uint4 *rows[R];
#pragma unroll
    for (int i = 0; i < R; i++) rows[i] = (const uint4 *)(wh + (long long)min(row0 + i, n - 1) * k);
    float acc[TB][R];
#pragma unroll
    for (int tt = 0; tt < TB; tt++)
#pragma unroll
        for (int i = 0; i < R; i++) acc[tt][i] = 0.0f;
    for (int c = gl; c < k / 8; c += G) {
        uint4 wv[R];
#pragma unroll
        for (int i = 0; i < R; i++) wv[i] = ld_stream16(rows[i] + c);
#pragma unroll
        for (int tt = 0; tt < TB; tt++) {
            if (tt < t) {
                uint4 xv = *((const uint4 *)(xh + tt * ldx) + c);
#pragma unroll
                for (int i = 0; i < R; i++) acc[tt][i] += heads_dot8(wv[i], xv);
            }
        }
    }
#pragma unroll
    for (int tt = 0; tt < TB; tt++)
#pragma unroll
        for (int i = 0; i < R; i++)
#pragma unroll
            for (int o = G / 2; o > 0; o >>= 1) acc[tt][i] += __shfl_xor_sync(0xffffffffu, acc[tt][i], o);
    if (gl == 0) {
        u16 *oh = out + head * oHead;
#pragma unroll
        for (int tt = 0; tt < TB; tt++) {
            if (tt < t) {
#pragma unroll
                for (int i = 0; i < R; i++)
                    if (row0 + i < n) oh[tt * ldo + row0 + i] = float_to_bf16(acc[tt][i]);
            }
        }
    }
}

#define TERN_HEAD_GEMV(TB, G, R)                                                                                       \
    extern "C" __global__ void __launch_bounds__(256) tern_head_gemv_t##TB##_g##G(                                   \
        const u16 *x, long long ldx, long long xHead, const u16 *w, u16 *out, long long ldo, long long oHead, int n, int k, \
        int t) {                                                                                                        \
        head_gemv<TB, G, R>(x, ldx, xHead, w, out, ldo, oHead, n, k, t);                                               \
    }

// R (rows per group) is part of the launch geometry: Swift's CUDABackend.headGEMVRows mirrors it.
TERN_HEAD_GEMV(1, 8, 4)
TERN_HEAD_GEMV(1, 16, 4)
TERN_HEAD_GEMV(1, 32, 4)
TERN_HEAD_GEMV(2, 8, 4)
TERN_HEAD_GEMV(2, 16, 4)
TERN_HEAD_GEMV(2, 32, 4)
TERN_HEAD_GEMV(4, 8, 4)
TERN_HEAD_GEMV(4, 16, 4)
TERN_HEAD_GEMV(4, 32, 4)
TERN_HEAD_GEMV(8, 8, 2)
TERN_HEAD_GEMV(8, 16, 2)
TERN_HEAD_GEMV(8, 32, 2)
TERN_HEAD_GEMV(16, 8, 2)
TERN_HEAD_GEMV(16, 16, 2)
TERN_HEAD_GEMV(16, 32, 2)

// Any shape, any token count (fallback when cuBLASLt declines): one warp per (token, row, head);
// grid (T, ceil(N / 8), H), 8 warps per block.
extern "C" __global__ void __launch_bounds__(256) tern_head_gemm_simple(const u16 *x, long long ldx, long long xHead,
                                                                        const u16 *w, u16 *out, long long ldo,
                                                                        long long oHead, int n, int k) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const long long t = blockIdx.x, head = blockIdx.z;
    const int row = blockIdx.y * 8 + warp;
    if (row >= n) return;
    const u16 *xr = x + t * ldx + head * xHead;
    const u16 *wr = w + (head * n + row) * (long long)k;
    float s = 0.0f;
    for (int i = lane; i < k; i += 32) s += bf16_to_float(xr[i]) * bf16_to_float(wr[i]);
    s = warp_sum(s);
    if (lane == 0) out[t * ldo + head * oHead + row] = float_to_bf16(s);
}

// tern_copy_heads_{2,4,16}: dst[r, h·dHead + i] = src[r, h·sHead + i] for i < width, h < heads,
// r < rows, in units of 2, 4 or 16 bytes (all strides and the width in units; sHead 0 broadcasts).
// grid (ceil(heads·width / 256), min(rows, 65535)); blocks step over rows by gridDim.y.
template <typename U>
__device__ __forceinline__ void copy_heads(const U *__restrict__ src, long long ss, long long sHead, U *__restrict__ dst,
                                           long long ds, long long dHead, int heads, int width, int rows) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= heads * width) return;
    const int h = i / width, e = i - h * width;
    for (long long r = blockIdx.y; r < rows; r += gridDim.y) dst[r * ds + h * dHead + e] = src[r * ss + h * sHead + e];
}

extern "C" __global__ void tern_copy_heads_2(const u16 *src, long long ss, long long sh, u16 *dst, long long ds, long long dh,
                                             int heads, int width, int rows) {
    copy_heads(src, ss, sh, dst, ds, dh, heads, width, rows);
}
extern "C" __global__ void tern_copy_heads_4(const u32 *src, long long ss, long long sh, u32 *dst, long long ds, long long dh,
                                             int heads, int width, int rows) {
    copy_heads(src, ss, sh, dst, ds, dh, heads, width, rows);
}
extern "C" __global__ void tern_copy_heads_16(const uint4 *src, long long ss, long long sh, uint4 *dst, long long ds,
                                              long long dh, int heads, int width, int rows) {
    copy_heads(src, ss, sh, dst, ds, dh, heads, width, rows);
}
