// Shared pieces of the MoE kernels (moe_permute.cu, moe_gemm_small_tiles.cu, moe_gemv_tc.cu, moe_wgmma.cu,
// moe_gemm_tc.cu): the weight formats (bf16, FP8 block-scaled, NVFP4), the per-expert matrix
// descriptor the host uploads, and the loads and exact conversions of weight chunks to bf16.
#pragma once
#include "mma.cuh"

#define WQ_BF16 0
#define WQ_FP8 1
#define WQ_NVFP4 2

// Rows per tile of the decode GEMVs (the tile table the permutation builds for them).
#define GV_ROWS 8

// One weight matrix [n, k] of one expert (uploaded by the host once per expert set).
struct MatDesc {
    u64 weight;         // bf16 [n, k] | e4m3 [n, k] | packed e2m1 u8 [n, k/2]
    u64 scales;         // fp8: f32 [ceil(n/br), ceil(k/bc)]; nvfp4: e4m3 [n, k/16]
    long long wStride;  // elements (bf16, fp8) or bytes (nvfp4) per weight row
    long long sStride;  // scale elements per scale row
    float global;       // nvfp4 global scale
    int blockRows, blockColumns;
    int pad;
};

// ---------------------------------------------------------------------------------------------
// Weight chunk loads: 8 consecutive values of row n, columns k0..k0+7 (k0 % 8 == 0), as four
// packed bf16 pairs. Raw load and conversion are split so the loads of the next k-step can be
// issued before the current one is computed.
struct RawChunk {
    uint4 bits;
    float scale;
};

__device__ __forceinline__ RawChunk load_weight_raw(const MatDesc &d, int wq, long long n, int k0) {
    RawChunk r;
    r.scale = 1.0f;
    if (wq == WQ_BF16) {
        r.bits = *(const uint4 *)((const u16 *)d.weight + n * d.wStride + k0);
    } else if (wq == WQ_FP8) {
        uint2 v = *(const uint2 *)((const u8 *)d.weight + n * d.wStride + k0);
        r.bits = make_uint4(v.x, v.y, 0u, 0u);
        r.scale = ((const float *)d.scales)[(n / d.blockRows) * d.sStride + k0 / d.blockColumns];
    } else {
        u32 v = *(const u32 *)((const u8 *)d.weight + n * d.wStride + k0 / 2);
        r.bits = make_uint4(v, 0u, 0u, 0u);
        r.scale = e4m3_to_float(((const u8 *)d.scales)[n * d.sStride + k0 / 16]) * d.global;
    }
    return r;
}

__device__ __forceinline__ float e2m1_to_float(u32 code) {
    // 0, 0.5, 1, 1.5, 2, 3, 4, 6 and negatives.
    u32 m = code & 7u;
    float v = m < 2u ? 0.5f * (float)m : (m < 4u ? 1.0f + 0.5f * (float)(m - 2u) : (m < 6u ? 2.0f + (float)(m - 4u) * 1.0f : (m == 6u ? 4.0f : 6.0f)));
    return (code & 8u) ? -v : v;
}

// Dequantized values of a chunk as floats.
__device__ __forceinline__ void chunk_to_floats(const RawChunk &r, int wq, float *v) {
    if (wq == WQ_BF16) {
        u32 w[4] = {r.bits.x, r.bits.y, r.bits.z, r.bits.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            v[2 * i] = __uint_as_float(w[i] << 16);
            v[2 * i + 1] = __uint_as_float(w[i] & 0xFFFF0000u);
        }
    } else if (wq == WQ_FP8) {
        u32 w[2] = {r.bits.x, r.bits.y};
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = e4m3_to_float((u8)(w[i / 4] >> (8 * (i % 4)))) * r.scale;
    } else {
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = e2m1_to_float((r.bits.x >> (4 * i)) & 0xFu) * r.scale;
    }
}

__device__ __forceinline__ uint4 chunk_to_bf16(const RawChunk &r, int wq) {
    if (wq == WQ_BF16) return r.bits;
    float v[8];
    chunk_to_floats(r, wq, v);
    return make_uint4(pack_bf16x2(v[0], v[1]), pack_bf16x2(v[2], v[3]), pack_bf16x2(v[4], v[5]), pack_bf16x2(v[6], v[7]));
}
__device__ __forceinline__ float silu(float g) { return g / (1.0f + __expf(-g)); }

// The fast exact conversions (the tensor-core GEMV and the pipelined GEMM); the 16-byte loads
// ld_stream16 / ld_cached16 are in common.cuh.
__device__ __forceinline__ u32 word_of(const uint4 &v, int i) { return i == 0 ? v.x : (i == 1 ? v.y : (i == 2 ? v.z : v.w)); }

// Four e2m1 codes (16 bits, value 0 in the low nibble) → bf16x2 (values 0, 1) and (values 2, 3).
__device__ __forceinline__ void e2m1x4_to_bf16x2(u32 h, u32 &p01, u32 &p23) {
    // bf16 of 0, 0.5, 1, 1.5, 2, 3, 4, 6: low bytes 00 00 80 C0 00 40 80 C0, high 00 3F 3F 3F 40 40 40 40.
    u32 sel = h & 0x7777u;
    u32 lo = __byte_perm(0xC0800000u, 0xC0804000u, sel);
    u32 hi = __byte_perm(0x3F3F3F00u, 0x40404040u, sel);
    p01 = __byte_perm(lo, hi, 0x5140u);
    p23 = __byte_perm(lo, hi, 0x7362u);
    // Sign bits 3 and 7 (11 and 15) → bits 15 and 31: ×2^12 and ×2^24 (the cross terms land on 19 and 27).
    p01 |= ((h & 0x88u) * 0x01001000u) & 0x80008000u;
    p23 |= (((h >> 8) & 0x88u) * 0x01001000u) & 0x80008000u;
}

__device__ __forceinline__ u32 mul_bf16x2(u32 a, u32 b) {
    u32 r;
    asm("mul.rn.bf16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

// chunk_to_bf16 with the same results (the conversions are exact, the fp32 product and the
// rounding to bf16 are the same) in fewer instructions: FP8 through cvt.rn.f16x2.e4m3x2, NVFP4
// through e2m1x4_to_bf16x2; for the pipelined GEMM's once-per-block dequantization.
__device__ __forceinline__ float bf16_lo(u32 w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf16_hi(u32 w) { return __uint_as_float(w & 0xFFFF0000u); }

__device__ __forceinline__ void f16x2_to_float2(u32 h, float &lo, float &hi) {
    asm("{\n\t.reg .b16 l, h;\n\tmov.b32 {l, h}, %2;\n\tcvt.f32.f16 %0, l;\n\tcvt.f32.f16 %1, h;\n\t}" : "=f"(lo), "=f"(hi) : "r"(h));
}

__device__ __forceinline__ void e4m3x4_to_f16x2(u32 w, u32 &p01, u32 &p23) {
    asm("{\n\t.reg .b16 l, h;\n\tmov.b32 {l, h}, %2;\n\tcvt.rn.f16x2.e4m3x2 %0, l;\n\tcvt.rn.f16x2.e4m3x2 %1, h;\n\t}"
        : "=r"(p01), "=r"(p23)
        : "r"(w));
}

// Two e4m3 codes (bits 0–7, 8–15 of two; the upper half is ignored) → f16x2, exactly.
__device__ __forceinline__ u32 e4m3x2_to_f16x2(u32 two) {
    u32 r;
    asm("{\n\t.reg .b16 l;\n\tcvt.u16.u32 l, %1;\n\tcvt.rn.f16x2.e4m3x2 %0, l;\n\t}" : "=r"(r) : "r"(two));
    return r;
}

__device__ __forceinline__ uint4 chunk_to_bf16_fast(const RawChunk &r, int wq) {
    if (wq == WQ_BF16) return r.bits;
    u32 out[4];
    if (wq == WQ_FP8) {
        u32 w[2] = {r.bits.x, r.bits.y};
#pragma unroll
        for (int i = 0; i < 2; i++) {
            u32 p01, p23;
            e4m3x4_to_f16x2(w[i], p01, p23);
            float v0, v1, v2, v3;
            f16x2_to_float2(p01, v0, v1);
            f16x2_to_float2(p23, v2, v3);
            out[2 * i] = pack_bf16x2(v0 * r.scale, v1 * r.scale);
            out[2 * i + 1] = pack_bf16x2(v2 * r.scale, v3 * r.scale);
        }
    } else {
#pragma unroll
        for (int i = 0; i < 2; i++) {
            u32 p01, p23;
            e2m1x4_to_bf16x2(i == 0 ? (r.bits.x & 0xFFFFu) : (r.bits.x >> 16), p01, p23);
            out[2 * i] = pack_bf16x2(bf16_lo(p01) * r.scale, bf16_hi(p01) * r.scale);
            out[2 * i + 1] = pack_bf16x2(bf16_lo(p23) * r.scale, bf16_hi(p23) * r.scale);
        }
    }
    return make_uint4(out[0], out[1], out[2], out[3]);
}

// The rows [begin, end) and expert slot of grid row blockIdx.y of a grouped MoE kernel: from the
// tile table (tileSlot[y] < 0: nothing), or rows [y·tileRows, (y + 1)·tileRows) of slot 0 when
// tileSlot is null. False when the block has no rows.
__device__ __forceinline__ bool moe_tile_rows(const int *tileSlot, const int *tileStart, const int *tileEnd, int rows, int tileRows,
                                              int &slot, int &begin, int &end) {
    int tile = blockIdx.y;
    slot = 0;
    if (tileSlot) {
        slot = tileSlot[tile];
        if (slot < 0) return false;
        begin = tileStart[tile];
        end = tileEnd[tile];
    } else {
        begin = tile * tileRows;
        end = min(begin + tileRows, rows);
    }
    return begin < end;
}
