// Memory-bound row operations: embedding, RMSNorm (fused residual add, per-head groups), RoPE,
// SiLU-and-mul, add, bias, row copies/gathers/scatters, argmax.
#include "common.cuh"

// out[t] = table[ids[t]]; grid (tokens, blocks per row). Ids outside the table give a zero row.
extern "C" __global__ void tern_embedding(const int *ids, const void *table, int tableType, long long tableStride, int vocab,
                                          void *out, int outType, long long outStride, int width) {
    int t = blockIdx.x;
    int id = ids[t];
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < width; i += gridDim.y * blockDim.x) {
        float v = (id >= 0 && id < vocab) ? load_as_float(table, tableType, (long long)id * tableStride + i) : 0.0f;
        store_from_float(out, outType, (long long)t * outStride + i, v);
    }
}

// One block per (row, group): optionally residual += x (stored, then re-read so the norm sees the
// stored precision), then out = weight · v / sqrt(mean(v²) + eps) over the group. `out` may alias x.
extern "C" __global__ void tern_rms_norm(const void *x, int xType, long long xStride,
                                         void *residual, int residualType, long long residualStride,
                                         const void *weight, int weightType, void *out, int outType, long long outStride,
                                         int group, float eps) {
    long long row = blockIdx.x;
    int start = blockIdx.y * group;
    float sumSquares = 0.0f;
    for (int i = threadIdx.x; i < group; i += blockDim.x) {
        float v = load_as_float(x, xType, row * xStride + start + i);
        if (residual) {
            long long r = row * residualStride + start + i;
            store_from_float(residual, residualType, r, load_as_float(residual, residualType, r) + v);
            v = load_as_float(residual, residualType, r);
        }
        sumSquares += v * v;
    }
    float inv = rsqrtf(block_sum(sumSquares) / (float)group + eps);
    for (int i = threadIdx.x; i < group; i += blockDim.x) {
        float v = residual ? load_as_float(residual, residualType, row * residualStride + start + i)
                           : load_as_float(x, xType, row * xStride + start + i);
        store_from_float(out, outType, row * outStride + start + i, load_as_float(weight, weightType, i) * (v * inv));
    }
}

// In-place rotation of elements [offset, offset + 2·half) of every head of every row; grid (rows,
// blocks per row), one thread per rotated pair.
extern "C" __global__ void tern_rope(void *x, int xType, long long xStride, int heads, int headDim, int offset, int half,
                                     int interleaved, const int *positions, const float *cosTable, const float *sinTable) {
    long long row = blockIdx.x;
    int position = positions[row];
    for (int p = blockIdx.y * blockDim.x + threadIdx.x; p < heads * half; p += gridDim.y * blockDim.x) {
        int head = p / half, i = p % half;
        long long base = row * xStride + (long long)head * headDim + offset;
        long long a = base + (interleaved ? 2 * i : i), b = base + (interleaved ? 2 * i + 1 : i + half);
        float c = cosTable[(long long)position * half + i], s = sinTable[(long long)position * half + i];
        float x1 = load_as_float(x, xType, a), x2 = load_as_float(x, xType, b);
        store_from_float(x, xType, a, x1 * c - x2 * s);
        store_from_float(x, xType, b, x2 * c + x1 * s);
    }
}

extern "C" __global__ void tern_silu_and_mul(const void *gateUp, int gType, long long gStride, void *out, int outType,
                                             long long outStride, int n) {
    long long row = blockIdx.x;  // rows on x: up to 2^31 of them
    int i = blockIdx.y * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float g = load_as_float(gateUp, gType, row * gStride + i);
    float u = load_as_float(gateUp, gType, row * gStride + n + i);
    store_from_float(out, outType, row * outStride + i, g / (1.0f + __expf(-g)) * u);
}

extern "C" __global__ void tern_add(const void *a, int aType, long long aStride, const void *b, int bType, long long bStride,
                                    void *out, int outType, long long outStride, int width) {
    long long row = blockIdx.x;  // rows on x: up to 2^31 of them
    int i = blockIdx.y * blockDim.x + threadIdx.x;
    if (i >= width) return;
    float v = load_as_float(a, aType, row * aStride + i) + load_as_float(b, bType, row * bStride + i);
    store_from_float(out, outType, row * outStride + i, v);
}

// out[r, :] += bias (a linear layer's bias, after the GEMM).
extern "C" __global__ void tern_add_bias(void *out, int outType, long long outStride, const void *bias, int biasType, int width) {
    long long row = blockIdx.x;  // rows on x: up to 2^31 of them
    int i = blockIdx.y * blockDim.x + threadIdx.x;
    if (i >= width) return;
    long long o = row * outStride + i;
    store_from_float(out, outType, o, load_as_float(out, outType, o) + load_as_float(bias, biasType, i));
}

// dst[dstIndex ? dstIndex[r] : r] = src[srcIndex ? srcIndex[r] : r], rowUnits units of `unit` bytes
// per row; strides in units. Covers copy, gatherRows, storeKV and gathering cached keys.
template <typename U>
__device__ void copy_rows(const U *src, long long srcStride, const int *srcIndex, U *dst, long long dstStride,
                          const int *dstIndex, int rowUnits) {
    long long r = blockIdx.x;
    long long s = srcIndex ? srcIndex[r] : r, d = dstIndex ? dstIndex[r] : r;
    if (s < 0 || d < 0) return;
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < rowUnits; i += gridDim.y * blockDim.x)
        dst[d * dstStride + i] = src[s * srcStride + i];
}

typedef uint4 Vec16;  // 16 bytes: 8 bf16 or 4 words

extern "C" __global__ void tern_copy_rows_1(const u8 *src, long long ss, const int *si, u8 *dst, long long ds, const int *di, int n) { copy_rows(src, ss, si, dst, ds, di, n); }
extern "C" __global__ void tern_copy_rows_2(const u16 *src, long long ss, const int *si, u16 *dst, long long ds, const int *di, int n) { copy_rows(src, ss, si, dst, ds, di, n); }
extern "C" __global__ void tern_copy_rows_4(const u32 *src, long long ss, const int *si, u32 *dst, long long ds, const int *di, int n) { copy_rows(src, ss, si, dst, ds, di, n); }
extern "C" __global__ void tern_copy_rows_16(const Vec16 *src, long long ss, const int *si, Vec16 *dst, long long ds, const int *di, int n) { copy_rows(src, ss, si, dst, ds, di, n); }

// Index of each row's maximum (first on ties); one block per row.
extern "C" __global__ void tern_argmax(const void *x, int xType, long long xStride, int width, int *out) {
    __shared__ float bestValue[1024];
    __shared__ int bestIndex[1024];
    long long row = blockIdx.x;
    float best = -INFINITY;
    int index = -1;
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        float v = load_as_float(x, xType, row * xStride + i);
        if (index < 0 || v > best) { best = v; index = i; }
    }
    bestValue[threadIdx.x] = best;
    bestIndex[threadIdx.x] = index;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            float ov = bestValue[threadIdx.x + s], mv = bestValue[threadIdx.x];
            int oi = bestIndex[threadIdx.x + s], mi = bestIndex[threadIdx.x];
            if (oi >= 0 && (mi < 0 || ov > mv || (ov == mv && oi < mi))) {
                bestValue[threadIdx.x] = ov;
                bestIndex[threadIdx.x] = oi;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) out[row] = bestIndex[0] < 0 ? 0 : bestIndex[0];
}

// out (f32 or bf16) = in (f32, bf16 or f16), element-wise over rows (dtype conversion).
extern "C" __global__ void tern_convert(const void *src, int srcType, long long srcStride, void *dst, int dstType,
                                        long long dstStride, int width) {
    long long row = blockIdx.x;  // rows on x: up to 2^31 of them
    int i = blockIdx.y * blockDim.x + threadIdx.x;
    if (i >= width) return;
    store_from_float(dst, dstType, row * dstStride + i, load_as_float(src, srcType, row * srcStride + i));
}

// out[t, j] = Σ_k x[t, k] · w[j, k], bf16 operands, fp32 sums: one warp per output element.
// The fallback for shapes cuBLASLt declines, not a fast path.
extern "C" __global__ void tern_gemm_simple(const u16 *x, long long xStride, const u16 *w, long long wStride,
                                            void *out, int outType, long long outStride, int n, int k) {
    long long t = blockIdx.x;
    int j = blockIdx.y * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (j >= n) return;
    float sum = 0.0f;
    for (int i = lane; i < k; i += 32) sum += bf16_to_float(x[t * xStride + i]) * bf16_to_float(w[(long long)j * wStride + i]);
    sum = warp_sum(sum);
    if (lane == 0) store_from_float(out, outType, t * outStride + j, sum);
}

// ---- 16-byte (8 × bf16) fast paths of the decode step's small ops (unpack_bf16x8 / pack_bf16x8: common.cuh) ----

#define NORM_MAX_CHUNKS 4

// tern_rms_norm for bf16 x / residual / out and an f32 weight, every row and group 16-byte aligned,
// group % 8 == 0: each thread keeps its ≤ 4 chunks of 8 values in registers between the sum of
// squares and the scaling (one read of x and residual, one write of each). Same arithmetic as
// tern_rms_norm: the residual sum is rounded to bf16 before the norm reads it.
// Grid (rows, groups per row); block a multiple of 32 with blockDim · 4 · 8 ≥ group.
// Under TERN_CUDA_PDL it is launched as a programmatic dependent: the weight (never written by a
// kernel) is fetched before griddepcontrol.wait — the first chunk into registers, the rest into L2 —
// so its DRAM round trip overlaps the previous kernel's end; x and residual are touched only after.
extern "C" __global__ void __launch_bounds__(1024) tern_rms_norm_bf16x8(const u16 *x, long long xStride, u16 *residual,
                                                                        long long residualStride, const float *weight, u16 *out,
                                                                        long long outStride, int group, float eps) {
    // Lets a GEMV launched after this kernel as a programmatic dependent start its blocks now (it
    // waits for this grid to finish before reading what this kernel writes); no-op otherwise.
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
#endif
    long long row = blockIdx.x;
    int start = blockIdx.y * group;
    int chunks = group >> 3;
    float w0[8];
    if ((int)threadIdx.x < chunks) {
#pragma unroll
        for (int e = 0; e < 8; e++) w0[e] = weight[threadIdx.x * 8 + e];
    }
#pragma unroll
    for (int j = 1; j < NORM_MAX_CHUNKS; j++) {
        int c = threadIdx.x + j * blockDim.x;
        if (c < chunks) asm volatile("prefetch.global.L2 [%0];" :: "l"(weight + c * 8));
    }
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
    const Vec16 *xs = (const Vec16 *)(x + row * xStride + start);
    Vec16 *rs = residual ? (Vec16 *)(residual + row * residualStride + start) : 0;
    float v[NORM_MAX_CHUNKS][8];
    float sumSquares = 0.0f;
#pragma unroll
    for (int j = 0; j < NORM_MAX_CHUNKS; j++) {
        int c = threadIdx.x + j * blockDim.x;
        if (c < chunks) {
            unpack_bf16x8(xs[c], v[j]);
            if (rs) {
                float r[8];
                unpack_bf16x8(rs[c], r);
#pragma unroll
                for (int e = 0; e < 8; e++) v[j][e] = bf16_to_float(float_to_bf16(r[e] + v[j][e]));
                rs[c] = pack_bf16x8(v[j]);
            }
#pragma unroll
            for (int e = 0; e < 8; e++) sumSquares += v[j][e] * v[j][e];
        }
    }
    float inv = rsqrtf(block_sum(sumSquares) / (float)group + eps);
    Vec16 *os = (Vec16 *)(out + row * outStride + start);
#pragma unroll
    for (int j = 0; j < NORM_MAX_CHUNKS; j++) {
        int c = threadIdx.x + j * blockDim.x;
        if (c < chunks) {
            float o[8];
#pragma unroll
            for (int e = 0; e < 8; e++) o[e] = (j == 0 ? w0[e] : weight[c * 8 + e]) * (v[j][e] * inv);
            os[c] = pack_bf16x8(o);
        }
    }
}

// tern_silu_and_mul for bf16 in and out, n % 8 == 0, 16-byte aligned rows: one chunk per thread.
// Grid (rows, ceil(n / 8 / blockDim)).
extern "C" __global__ void tern_silu_and_mul_bf16x8(const u16 *gateUp, long long gStride, u16 *out, long long outStride, int n) {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");  // as in tern_rms_norm_bf16x8
    asm volatile("griddepcontrol.wait;" ::: "memory");  // launched as a programmatic dependent under TERN_CUDA_PDL
#endif
    long long row = blockIdx.x;
    int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= (n >> 3)) return;
    const Vec16 *g = (const Vec16 *)(gateUp + row * gStride);
    float gf[8], uf[8], o[8];
    unpack_bf16x8(g[c], gf);
    unpack_bf16x8(g[(n >> 3) + c], uf);
#pragma unroll
    for (int e = 0; e < 8; e++) o[e] = gf[e] / (1.0f + __expf(-gf[e])) * uf[e];
    ((Vec16 *)(out + row * outStride))[c] = pack_bf16x8(o);
}

// storeKV in one launch: blockIdx.y 0 copies key rows, 1 value rows, each to row slots[r] of its
// cache (16-byte units; strides in units). Negative slots are skipped, as in copy_rows.
extern "C" __global__ void tern_store_kv_16(const Vec16 *key, long long keyStride, const Vec16 *value, long long valueStride,
                                            Vec16 *keyCache, long long keyCacheStride, Vec16 *valueCache, long long valueCacheStride,
                                            const int *slots, int keyUnits, int valueUnits) {
    long long r = blockIdx.x;
    long long d = slots[r];
    if (d < 0) return;
    bool isValue = blockIdx.y == 1;
    const Vec16 *src = isValue ? value + r * valueStride : key + r * keyStride;
    Vec16 *dst = isValue ? valueCache + d * valueCacheStride : keyCache + d * keyCacheStride;
    int units = isValue ? valueUnits : keyUnits;
    for (int i = threadIdx.x; i < units; i += blockDim.x) dst[i] = src[i];
}

// A GQA layer's rope + storeKV in one launch (NeoX pairs over the whole head, bf16 q/k/v and
// cache): q heads rotated in place; k heads rotated in place and written to the key cache at the
// token's slot; v copied to the value cache. Same arithmetic as tern_rope (the cached key is the
// stored bf16 of the rotated value). Grid (rows, blocks per row); negative slots skip the cache.
extern "C" __global__ void tern_rope_store_kv(u16 *q, long long qStride, int qHeads, u16 *k, long long kStride, int kHeads,
                                              const u16 *v, long long vStride, int vWidth, int headDim,
                                              const int *positions, const float *cosTable, const float *sinTable,
                                              u16 *keyCache, long long keyCacheStride, u16 *valueCache, long long valueCacheStride,
                                              const int *slots) {
    // Under TERN_CUDA_PDL: launched as a programmatic dependent of the qkv GEMV (waits for it before
    // reading anything), and lets the kernel after it start early (as in tern_rms_norm_bf16x8).
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
    long long row = blockIdx.x;
    int position = positions[row];
    long long slot = slots[row];
    int half = headDim >> 1;
    int qPairs = qHeads * half, kPairs = kHeads * half;
    int total = qPairs + kPairs + vWidth;
    for (int p = blockIdx.y * blockDim.x + threadIdx.x; p < total; p += gridDim.y * blockDim.x) {
        if (p < qPairs + kPairs) {
            bool isKey = p >= qPairs;
            int pp = isKey ? p - qPairs : p;
            int head = pp / half, i = pp % half;
            u16 *base = isKey ? k + row * kStride + (long long)head * headDim : q + row * qStride + (long long)head * headDim;
            float c = cosTable[(long long)position * half + i], s = sinTable[(long long)position * half + i];
            float x1 = bf16_to_float(base[i]), x2 = bf16_to_float(base[i + half]);
            u16 a = float_to_bf16(x1 * c - x2 * s), b = float_to_bf16(x2 * c + x1 * s);
            base[i] = a;
            base[i + half] = b;
            if (isKey && slot >= 0) {
                u16 *dst = keyCache + slot * keyCacheStride + (long long)head * headDim;
                dst[i] = a;
                dst[i + half] = b;
            }
        } else if (slot >= 0) {
            int e = p - qPairs - kPairs;
            valueCache[slot * valueCacheStride + e] = v[row * vStride + e];
        }
    }
}
