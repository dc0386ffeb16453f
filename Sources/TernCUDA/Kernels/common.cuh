// Shared helpers of Tern's CUDA kernels. No CUDA headers are included: bf16/f16/e4m3 conversions
// are written here (PTX cvt where the chip has it), so NVRTC needs no include path.
#pragma once

typedef unsigned short u16;
typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;

// Element type codes passed from Swift (TernCUDA.ElementCode).
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

#define DT_F32 0
#define DT_BF16 1
#define DT_F16 2

__device__ __forceinline__ float bf16_to_float(u16 h) { return __uint_as_float(((u32)h) << 16); }

__device__ __forceinline__ u16 float_to_bf16(float f) {
    u16 r;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(f));
    return r;
}

__device__ __forceinline__ float f16_to_float(u16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ u16 float_to_f16(float f) {
    u16 r;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r) : "f"(f));
    return r;
}

__device__ __forceinline__ float load_as_float(const void *base, int dtype, long long i) {
    if (dtype == DT_BF16) return bf16_to_float(((const u16 *)base)[i]);
    if (dtype == DT_F32) return ((const float *)base)[i];
    return f16_to_float(((const u16 *)base)[i]);
}

__device__ __forceinline__ void store_from_float(void *base, int dtype, long long i, float v) {
    if (dtype == DT_BF16) ((u16 *)base)[i] = float_to_bf16(v);
    else if (dtype == DT_F32) ((float *)base)[i] = v;
    else ((u16 *)base)[i] = float_to_f16(v);
}

__device__ __forceinline__ int element_bytes(int dtype) { return dtype == DT_F32 ? 4 : 2; }

/// e4m3fn code → float (no infinities; 0x7F/0xFF are NaN).
__device__ __forceinline__ float e4m3_to_float(u8 b) {
    u32 sign = (b & 0x80u) << 24;
    u32 exponent = (b >> 3) & 0xFu, mantissa = b & 7u;
    float v;
    if (exponent == 0xF && mantissa == 7) return __uint_as_float(0x7FC00000u);
    if (exponent == 0) v = (float)mantissa * 0.001953125f;  // m/8 · 2^-6
    else v = __uint_as_float(((exponent + 120u) << 23) | (mantissa << 20));
    return __uint_as_float(__float_as_uint(v) | sign);
}

/// Nearest e4m3fn code, saturating at ±448.
__device__ __forceinline__ u8 float_to_e4m3(float f) {
    u16 pair;
    asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(pair) : "f"(0.0f), "f"(f));
    return (u8)(pair & 0xFF);
}

// 16-byte global loads through the non-coherent path: streamed past L1 (weights read once per
// launch) or cached in L1 (activation rows re-read by many warps). Neither may read data that the
// same launch writes.
__device__ __forceinline__ uint4 ld_stream16(const void *p) {
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}

__device__ __forceinline__ uint4 ld_cached16(const void *p) {
    uint4 r;
    asm("ld.global.nc.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}

// A 16-byte chunk of 8 bf16 ↔ 8 floats (element 0 in the low half of x), rounding to nearest even.
__device__ __forceinline__ void unpack_bf16x8(uint4 v, float f[8]) {
    u32 a[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        f[2 * i] = __uint_as_float(a[i] << 16);
        f[2 * i + 1] = __uint_as_float(a[i] & 0xFFFF0000u);
    }
}

__device__ __forceinline__ uint4 pack_bf16x8(const float f[8]) {
    uint4 r;
    r.x = (u32)float_to_bf16(f[0]) | ((u32)float_to_bf16(f[1]) << 16);
    r.y = (u32)float_to_bf16(f[2]) | ((u32)float_to_bf16(f[3]) << 16);
    r.z = (u32)float_to_bf16(f[4]) | ((u32)float_to_bf16(f[5]) << 16);
    r.w = (u32)float_to_bf16(f[6]) | ((u32)float_to_bf16(f[7]) << 16);
    return r;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/// Sum over the block (blockDim.x a multiple of 32, ≤ 1024); every thread gets the result.
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float partial[32];
    __shared__ float total;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < (int)(blockDim.x >> 5) ? partial[lane] : 0.0f;
        s = warp_sum(s);
        if (lane == 0) total = s;
    }
    __syncthreads();
    return total;
}

__device__ __forceinline__ float block_max(float v) {
    __shared__ float partial[32];
    __shared__ float total;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < (int)(blockDim.x >> 5) ? partial[lane] : -INFINITY;
        s = warp_max(s);
        if (lane == 0) total = s;
    }
    __syncthreads();
    return total;
}

/// Merges one output row's split-KV partials (running max m in the log2 domain, l the row sum):
/// out = Σ_s 2^(m_s − M) O_s / Σ_s 2^(m_s − M) l_s; splits that saw no key (m = −∞) weigh nothing and
/// a row with no key at all becomes zeros. `ml` is the row's [splits][2] (m, l), `o` its [splits][width]
/// partial outputs; the block's threads stride over the width. Shared by every split-KV combine kernel.
__device__ inline void merge_split_partials(const float *ml, const float *o, int splits, int width, u16 *out) {
    float M = -INFINITY;
    for (int s = 0; s < splits; s++) M = fmaxf(M, ml[2 * s]);
    float sum = 0.0f;
    for (int s = 0; s < splits; s++)
        if (ml[2 * s] != -INFINITY) sum += ml[2 * s + 1] * exp2f(ml[2 * s] - M);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int d = threadIdx.x; d < width; d += blockDim.x) {
        float acc = 0.0f;
        for (int s = 0; s < splits; s++) {
            const float m = ml[2 * s];
            if (m != -INFINITY) acc += o[(long long)s * width + d] * exp2f(m - M);
        }
        out[d] = float_to_bf16(acc * inv);
    }
}

/// Merges the split-KV partials of one block of a flash-style kernel: its `rows` rows are (token r / group,
/// head headBlock · group + r % group) of the query tile `tile` ({first token, token count, …}); `base` is the
/// block's first partial row. Shared by the flash, flash-prefill and MLA combine kernels.
__device__ inline void merge_tile_partials(const float *partialO, const float *partialML, int splits, int width, int group, int rows,
                                           long long base, const int *tile, int headBlock, u16 *out, long long outStride) {
    const int tokenStart = tile[0], tokenCount = tile[1];
    for (int r = 0; r < rows; r++) {
        const int tok = r / group;
        if (tok >= tokenCount) break;
        merge_split_partials(partialML + (base + r) * splits * 2, partialO + (base + r) * splits * width, splits, width,
                             out + (long long)(tokenStart + tok) * outStride + (long long)(headBlock * group + r % group) * width);
    }
}
