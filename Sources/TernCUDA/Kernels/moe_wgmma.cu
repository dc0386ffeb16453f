// Hopper grouped GEMM for MoE prefill: warpgroup MMA (wgmma) from 128B-swizzled shared memory,
// the successor of tern_moe_gemm_tc / tern_moe_gemm_tc_fp8 (moe_gemm.cu) with the same arguments,
// tile table and output conventions, selected by CUDABackend+MoE.swift (TERN_MOE_GEMM_KERNEL=tc
// or old selects the older kernels).
//
// CTA = 256 threads = 2 consumer warpgroups; tile 128 rows × BN columns, warpgroup w computes rows
// [64w, 64w + 64) × all BN columns with m64nBNk16 (bf16) or m64n128k32 (e4m3) wgmma. Every thread
// also loads: each k-step is 128 bytes of K per row (64 bf16 or 128 e4m3 values), A rows gathered
// through rowToken (the permutation of tern_moe_permute) and weight rows, both with cp.async into a
// STAGES-deep ring of 128B-swizzled tiles (see wgmma.cuh); quantized weights (FP8 block-scaled or
// NVFP4 dequantized to bf16) are loaded to registers one step ahead and stored dequantized into
// the stage. Loads run STAGES − 2 steps ahead of the MMA and one wgmma group stays in flight:
// at step s the ring slot of step s − 2 is refilled, which every warpgroup has finished reading
// (wgmma.wait_group 1 after issuing step s − 1) before the barrier of step s.
// A warpgroup whose 64 rows are all past the tile's end issues no MMA (tiles of ≤ 64 rows cost
// half the tensor time). FP8 w8a8: each step is one 128-deep scale block: the MMA result of the
// step goes to a second register set and is added to the accumulators × weight block scale ×
// the row's activation scale (per token and 128 columns) after wgmma.wait_group 0.
//
// Tiles: blockIdx.y is a tile of the tile table (tileSlot[y] = slot or −1, rows
// [tileStart[y], tileEnd[y]) ≤ 128 rows), or with tileSlot == null rows [128y, min(128y + 128,
// rows)) of matrix 0 (a dense linear). blockIdx.x: columns [BN·x, BN·x + BN) of n. blockIdx.z
// selects matrix which + z and writes columns [z·n, (z+1)·n) of out (gate and up side by side).
// Requires k % 8 == 0 (chunks past k are zero-filled), 16-byte aligned activation rows and bf16
// weight rows; w8a8: k % 128 == 0, weight blocks 128 × 128, 16-byte aligned code rows.
// Dynamic shared memory: STAGES × (128 + BN) × 128 bytes + 1024 (alignment of the ring).
#include "wgmma.cuh"

#define WGQ_BF16 0
#define WGQ_FP8 1
#define WGQ_NVFP4 2

// Same layout as moe_gemm.cu's MatDesc (one weight matrix of one expert).
struct WgMatDesc {
    u64 weight;         // bf16 [n, k] | e4m3 [n, k] | packed e2m1 u8 [n, k/2]
    u64 scales;         // fp8: f32 [ceil(n/br), ceil(k/bc)]; nvfp4: e4m3 [n, k/16]
    long long wStride;  // elements (bf16, fp8) or bytes (nvfp4) per weight row
    long long sStride;  // scale elements per scale row
    float global;       // nvfp4 global scale
    int blockRows, blockColumns;
    int pad;
};

#define WG_M 128
#define WG_ROW_BYTES 128

__device__ __forceinline__ void wg_cp_async16(u32 dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0) : "memory");
}
__device__ __forceinline__ void wg_cp_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_cp_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory"); }

__device__ __forceinline__ u32 wg_pack_bf16(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

// Raw quantized weight chunk: 8 values of one row (FP8: 8 codes; NVFP4: 4 bytes) and its scale.
struct WgRaw {
    uint2 bits;
    float scale;
};

__device__ __forceinline__ WgRaw wg_load_raw(const WgMatDesc &d, int wq, long long n, int k0, bool valid) {
    WgRaw r;
    r.bits = make_uint2(0u, 0u);
    r.scale = 0.0f;
    if (!valid) return r;
    if (wq == WGQ_FP8) {
        r.bits = *(const uint2 *)((const u8 *)d.weight + n * d.wStride + k0);
        r.scale = ((const float *)d.scales)[(n / d.blockRows) * d.sStride + k0 / d.blockColumns];
    } else {
        r.bits.x = *(const u32 *)((const u8 *)d.weight + n * d.wStride + k0 / 2);
        r.scale = e4m3_to_float(((const u8 *)d.scales)[n * d.sStride + k0 / 16]) * d.global;
    }
    return r;
}

// e4m3 codes → f16x2 pairs (exact), as moe_gemm.cu's chunk_to_bf16_fast.
__device__ __forceinline__ void wg_e4m3x4_to_f16x2(u32 w, u32 &p01, u32 &p23) {
    asm("{\n\t.reg .b16 l, h;\n\tmov.b32 {l, h}, %2;\n\tcvt.rn.f16x2.e4m3x2 %0, l;\n\tcvt.rn.f16x2.e4m3x2 %1, h;\n\t}"
        : "=r"(p01), "=r"(p23)
        : "r"(w));
}
__device__ __forceinline__ void wg_f16x2_to_float2(u32 h, float &lo, float &hi) {
    asm("{\n\t.reg .b16 l, h;\n\tmov.b32 {l, h}, %2;\n\tcvt.f32.f16 %0, l;\n\tcvt.f32.f16 %1, h;\n\t}" : "=f"(lo), "=f"(hi) : "r"(h));
}
// Four e2m1 codes (16 bits, value 0 in the low nibble) → bf16x2 (values 0, 1) and (values 2, 3), exact.
__device__ __forceinline__ void wg_e2m1x4_to_bf16x2(u32 h, u32 &p01, u32 &p23) {
    // bf16 of 0, 0.5, 1, 1.5, 2, 3, 4, 6: low bytes 00 00 80 C0 00 40 80 C0, high 00 3F 3F 3F 40 40 40 40.
    u32 sel = h & 0x7777u;
    u32 lo = __byte_perm(0xC0800000u, 0xC0804000u, sel);
    u32 hi = __byte_perm(0x3F3F3F00u, 0x40404040u, sel);
    p01 = __byte_perm(lo, hi, 0x5140u);
    p23 = __byte_perm(lo, hi, 0x7362u);
    p01 |= ((h & 0x88u) * 0x01001000u) & 0x80008000u;
    p23 |= (((h >> 8) & 0x88u) * 0x01001000u) & 0x80008000u;
}

// Dequantized bf16 chunk: value · scale in fp32, rounded once to bf16 (the CPU reference's order).
__device__ __forceinline__ uint4 wg_dequant(const WgRaw &r, int wq) {
    u32 out[4];
    if (wq == WGQ_FP8) {
        u32 w[2] = {r.bits.x, r.bits.y};
#pragma unroll
        for (int i = 0; i < 2; i++) {
            u32 p01, p23;
            wg_e4m3x4_to_f16x2(w[i], p01, p23);
            float v0, v1, v2, v3;
            wg_f16x2_to_float2(p01, v0, v1);
            wg_f16x2_to_float2(p23, v2, v3);
            out[2 * i] = wg_pack_bf16(v0 * r.scale, v1 * r.scale);
            out[2 * i + 1] = wg_pack_bf16(v2 * r.scale, v3 * r.scale);
        }
    } else {
#pragma unroll
        for (int i = 0; i < 2; i++) {
            u32 p01, p23;
            wg_e2m1x4_to_bf16x2(i == 0 ? (r.bits.x & 0xFFFFu) : (r.bits.x >> 16), p01, p23);
            out[2 * i] = wg_pack_bf16(__uint_as_float(p01 << 16) * r.scale, __uint_as_float(p01 & 0xFFFF0000u) * r.scale);
            out[2 * i + 1] = wg_pack_bf16(__uint_as_float(p23 << 16) * r.scale, __uint_as_float(p23 & 0xFFFF0000u) * r.scale);
        }
    }
    return make_uint4(out[0], out[1], out[2], out[3]);
}

// NVFP4 fast path (MODE 3): 8 e2m1 codes of one word (value i in bits 4i..4i+3) × a bf16x2 block
// scale (e4m3 value × 2^106 in both halves) → 8 bf16 in K order, each exactly e2m1 × e4m3 × 2^-20
// (the idea of moe_gemv2.cu: pairs (i, i + 4) 16 bits apart are moved to the magnitude (bits 6–8)
// and sign (bit 15) positions of a bf16x2 by AND / integer multiply / AND, giving value × 2^-126,
// one bf16x2 multiply applies the scale exactly (≤ 6 significant bits, normal), and byte permutes
// put the pairs back in K order). 2^20 × the global scale is applied to the accumulators.
template <int J>
__device__ __forceinline__ u32 wg_e2m1_pair(u32 w) {
    constexpr u32 MASK = 0x000F000Fu << (4 * J);
    constexpr u32 MUL = J == 0 ? (64u + 4096u) : (4u + 256u);
    return ((w & MASK) * MUL) & 0x81C081C0u;
}
__device__ __forceinline__ u32 wg_mul_bf16x2(u32 a, u32 b) {
    u32 r;
    asm("mul.rn.bf16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
__device__ __forceinline__ uint4 wg_e2m1x8_scaled(u32 w, u32 scale2) {
    u32 p04 = wg_mul_bf16x2(wg_e2m1_pair<0>(w), scale2), p15 = wg_mul_bf16x2(wg_e2m1_pair<1>(w), scale2);
    u32 p26 = wg_mul_bf16x2(wg_e2m1_pair<0>(w >> 8), scale2), p37 = wg_mul_bf16x2(wg_e2m1_pair<1>(w >> 8), scale2);
    return make_uint4(__byte_perm(p04, p15, 0x5410), __byte_perm(p26, p37, 0x5410), __byte_perm(p04, p15, 0x7632),
                      __byte_perm(p26, p37, 0x7632));
}
// e4m3 block-scale code (bits 0–7) → bf16x2 (scale · 2^106 twice); exact through f16.
__device__ __forceinline__ u32 wg_scale_bf16x2(u32 code) {
    u32 h2;
    asm("{\n\t.reg .b16 l;\n\tcvt.u16.u32 l, %1;\n\tcvt.rn.f16x2.e4m3x2 %0, l;\n\t}" : "=r"(h2) : "r"(code & 0xFFu));
    float f, unused;
    wg_f16x2_to_float2(h2, f, unused);
    f *= 0x1p106f;
    return wg_pack_bf16(f, f);
}
__device__ __forceinline__ void wg_cp_async4(u32 dst, const void *src, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(dst), "l"(src), "r"(valid ? 4 : 0) : "memory");
}

template <int BN>
__device__ __forceinline__ void wg_mma_step(float (&acc)[BN / 2], u64 descA, u64 descB, int kk, int scaleD);
template <>
__device__ __forceinline__ void wg_mma_step<256>(float (&acc)[128], u64 descA, u64 descB, int kk, int scaleD) {
    wg_mma_bf16_n256(acc, wg_desc_advance(descA, 32 * kk), wg_desc_advance(descB, 32 * kk), scaleD);
}
template <>
__device__ __forceinline__ void wg_mma_step<128>(float (&acc)[64], u64 descA, u64 descB, int kk, int scaleD) {
    wg_mma_bf16_n128(acc, wg_desc_advance(descA, 32 * kk), wg_desc_advance(descB, 32 * kk), scaleD);
}

// MODE 0: bf16 activations, bf16 weights by cp.async. MODE 1: bf16 activations, FP8 / NVFP4
// weights dequantized through registers. MODE 2: e4m3 activations and weights (w8a8); X2: two
// partial-sum register sets, the MMA of step s + 1 runs while step s's partials are scaled into
// the accumulators. MODE 3: bf16 activations, NVFP4 weights: packed codes and block scales come
// by cp.async into a raw area of the stage (each thread copies, then dequantizes, its own 16
// bytes of one weight row: 32 values), dequantized one step ahead of the MMA into the stage's
// bf16 tile (wg_e2m1x8_scaled: values × 2^-20), accumulators × global · 2^20 at the end.
// Requires k % 64 == 0 and 16-byte aligned weight rows; block scales 4-byte aligned per row step
// take cp.async, others (checked in the kernel) plain byte loads.
template <int BN, int STAGES, int MODE, bool X2 = false>
__device__ __forceinline__ void moe_wgmma_body(const u8 *a, long long aRowBytes, const float *aScales, long long aScaleStride,
                                               const int *rowToken, const int *tileSlot, const int *tileStart, const int *tileEnd,
                                               int rows, const WgMatDesc *descs, int which, int wq, int n, int k, void *out,
                                               int outType, long long outStride) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    constexpr int A_BYTES = WG_M * WG_ROW_BYTES, B_BYTES = BN * WG_ROW_BYTES;
    // MODE 3 raw area: 256 threads × 16 bytes of codes, then 256 × 4 bytes of scale codes.
    constexpr int RAW_BYTES = MODE == 3 ? 256 * 16 + 256 * 4 : 0, STAGE_BYTES = A_BYTES + B_BYTES + RAW_BYTES;
    static_assert(STAGE_BYTES % 1024 == 0, "stages must keep the 1024-byte alignment of the swizzled tiles");
    static_assert(MODE != 3 || BN == 128, "MODE 3 maps 256 threads onto 128 weight rows × 2 halves");
    constexpr int B_CHUNKS = BN / 32;  // 16-byte chunks of B per thread and step
    constexpr int KSTEP = MODE == 2 ? 128 : 64;  // values of K per step (128 bytes)
    extern __shared__ __align__(16) u8 wgShared[];
    int tile = blockIdx.y;
    int slot = 0, begin, end;
    if (tileSlot) {
        slot = tileSlot[tile];
        if (slot < 0) return;
        begin = tileStart[tile];
        end = tileEnd[tile];
    } else {
        begin = tile * WG_M;
        end = min(begin + WG_M, rows);
    }
    if (begin >= end) return;
    int n0 = blockIdx.x * BN;
    const WgMatDesc d = descs[(tileSlot ? 3 * slot : 0) + which + blockIdx.z];
    u32 ring = ((u32)__cvta_generic_to_shared(wgShared) + 1023u) & ~1023u;
    int tid = threadIdx.x, wg = tid >> 7, lane = tid & 31, warp = (tid >> 5) & 3;
    bool active = begin + 64 * wg < end;

    // Loader mapping: thread tid moves chunk (tid & 7) of rows (tid >> 3) + 32i.
    int chunk = tid & 7, row0 = tid >> 3;
    const u8 *aRow[4];
    bool aValid[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int r = begin + row0 + 32 * i;
        aValid[i] = r < end;
        int rr = aValid[i] ? r : begin;
        aRow[i] = a + (long long)(rowToken ? rowToken[rr] : rr) * aRowBytes + chunk * 16;
    }
    long long wRowBytes = MODE == 0 ? d.wStride * 2 : d.wStride;  // MODE 3: packed bytes  // bytes per weight row (MODE 1 reads through wg_load_raw)
    const u8 *bRow0 = (const u8 *)d.weight + chunk * 16;
    int steps = (k + KSTEP - 1) / KSTEP;

    auto issueA = [&](int stage, int step) {
        u32 base = ring + stage * STAGE_BYTES;
        int kv = step * KSTEP + chunk * (KSTEP / 8);
        bool kIn = kv < k;
#pragma unroll
        for (int i = 0; i < 4; i++)
            wg_cp_async16(base + wg_swizzle128(row0 + 32 * i, chunk), aRow[i] + (kIn ? (long long)step * WG_ROW_BYTES : 0), aValid[i] && kIn);
    };
    auto issueB = [&](int stage, int step) {
        u32 base = ring + stage * STAGE_BYTES + A_BYTES;
        int kv = step * KSTEP + chunk * (KSTEP / 8);
        bool kIn = kv < k;
#pragma unroll
        for (int i = 0; i < B_CHUNKS; i++) {
            int nn = n0 + row0 + 32 * i;
            bool ok = nn < n && kIn;
            const u8 *src = bRow0 + (long long)(ok ? nn : 0) * wRowBytes + (ok ? (long long)step * WG_ROW_BYTES : 0);
            wg_cp_async16(base + wg_swizzle128(row0 + 32 * i, chunk), src, ok);
        }
    };
    WgRaw raw[MODE == 1 ? B_CHUNKS : 1];
    auto loadRaw = [&](int step) {
        int kv = step * KSTEP + chunk * 8;
#pragma unroll
        for (int i = 0; i < (MODE == 1 ? B_CHUNKS : 1); i++) {
            int nn = n0 + row0 + 32 * i;
            raw[i] = wg_load_raw(d, wq, nn, kv, nn < n && kv < k);
        }
    };
    auto storeRaw = [&](int stage) {
        u32 base = ring + stage * STAGE_BYTES + A_BYTES;
#pragma unroll
        for (int i = 0; i < (MODE == 1 ? B_CHUNKS : 1); i++) {
            uint4 v = wg_dequant(raw[i], wq);
            asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(base + wg_swizzle128(row0 + 32 * i, chunk)), "r"(v.x), "r"(v.y),
                         "r"(v.z), "r"(v.w)
                         : "memory");
        }
    };

    // MODE 3: thread tid owns weight row n0 + (tid >> 1), values [32·(tid & 1), +32) of each step.
    int qRow = tid >> 1, qHalf = tid & 1;
    long long qN = n0 + qRow;
    bool qValid = qN < n;
    const u8 *qCodes = (const u8 *)d.weight + (qValid ? qN : 0) * d.wStride + 16 * qHalf;
    const u8 *qScales = (const u8 *)d.scales + (qValid ? qN : 0) * d.sStride;
    bool qScaleWords = ((d.scales | (u64)d.sStride) & 3u) == 0;
    auto issueRaw = [&](int stage, int step) {
        u32 base = ring + stage * STAGE_BYTES + A_BYTES + B_BYTES;
        wg_cp_async16(base + 16 * tid, qCodes + (long long)step * 32, qValid);
        const u8 *sp = qScales + (long long)step * 4;
        if (qScaleWords) {
            wg_cp_async4(base + 4096 + 4 * tid, sp, qValid);
        } else {
            u32 v = qValid ? (u32)sp[0] | ((u32)sp[1] << 8) | ((u32)sp[2] << 16) | ((u32)sp[3] << 24) : 0u;
            asm volatile("st.shared.u32 [%0], %1;" ::"r"(base + 4096 + 4 * tid), "r"(v) : "memory");
        }
    };
    auto dequantRaw = [&](int stage) {
        u32 base = ring + stage * STAGE_BYTES;
        uint4 w;
        u32 sc;
        asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(w.x), "=r"(w.y), "=r"(w.z), "=r"(w.w) : "r"(base + A_BYTES + B_BYTES + 16 * tid) : "memory");
        asm volatile("ld.shared.u32 %0, [%1];" : "=r"(sc) : "r"(base + A_BYTES + B_BYTES + 4096 + 4 * tid) : "memory");
        sc >>= 16 * qHalf;
        u32 s0 = wg_scale_bf16x2(sc), s1 = wg_scale_bf16x2(sc >> 8);
        u32 ww[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            uint4 v = wg_e2m1x8_scaled(ww[i], i < 2 ? s0 : s1);
            asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(base + A_BYTES + wg_swizzle128(qRow, 4 * qHalf + i)), "r"(v.x),
                         "r"(v.y), "r"(v.z), "r"(v.w)
                         : "memory");
        }
    };

#pragma unroll
    for (int st = 0; st < STAGES - 2; st++) {
        if (st < steps) {
            issueA(st, st);
            if constexpr (MODE == 1) {
                loadRaw(st);
                storeRaw(st);
            } else if constexpr (MODE == 3) {
                issueRaw(st, st);
            } else {
                issueB(st, st);
            }
        }
        wg_cp_commit();
    }
    if (MODE == 1 && STAGES - 2 < steps) loadRaw(STAGES - 2);
    if constexpr (MODE == 3) {
        wg_cp_wait<STAGES - 3>();  // step 0 landed (this thread's copies)
        dequantRaw(0);
    }

    constexpr int R = BN / 2;
    float acc[R];
#pragma unroll
    for (int i = 0; i < R; i++) acc[i] = 0.0f;
    float part[MODE == 2 ? R : 1];
    // FP8: this thread's two rows (h = 0, 1) → activation-scale row offsets; weight block scales.
    long long scaleRow[2] = {0, 0};
    const float *wScales = nullptr;
    if constexpr (MODE == 2) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int r = min(begin + 64 * wg + 16 * warp + (lane >> 2) + 8 * h, end - 1);
            scaleRow[h] = (long long)(rowToken ? rowToken[r] : r) * aScaleStride;
        }
        wScales = (const float *)d.scales + (long long)(n0 / 128) * d.sStride;
    }

    u32 aOffset = 64 * wg * WG_ROW_BYTES;  // this warpgroup's 64 rows (8 KB: a multiple of 1024)
    // Step s's loads: wait for step s, refill the slot of step s − 2 with step s + STAGES − 2.
    auto loads = [&](int s) {
        if constexpr (MODE == 3) {
            // Step s + 1's raw codes landed (this thread's own copies): dequantize them into their
            // stage; the barrier then publishes step s (dequantized last iteration) and s + 1.
            wg_cp_wait<STAGES - 4>();
            if (s + 1 < steps) dequantRaw((s + 1) % STAGES);
            wg_fence_proxy_async();
            __syncthreads();
            int ns = s + STAGES - 2;
            if (ns < steps) {
                issueA(ns % STAGES, ns);
                issueRaw(ns % STAGES, ns);
            }
            wg_cp_commit();
            return;
        }
        wg_cp_wait<STAGES - 3>();
        wg_fence_proxy_async();
        __syncthreads();  // step s landed everywhere; step s − 2's slot is no longer read
        int ns = s + STAGES - 2;
        if (ns < steps) {
            issueA(ns % STAGES, ns);
            if constexpr (MODE == 1) storeRaw(ns % STAGES);
            else issueB(ns % STAGES, ns);
        }
        wg_cp_commit();
        if (MODE == 1 && ns + 1 < steps) loadRaw(ns + 1);
    };
    if (!active) {
        // Every 64 rows of this warpgroup are past the tile's end: loads and barriers only (the
        // MMA loop sits in its own branch so the compiler keeps the wgmma pipeline asynchronous).
        for (int s = 0; s < steps; s++) loads(s);
        return;
    }
    if constexpr (MODE == 2 && X2) {
        // Two partial sets: step s's MMA is issued into p[s & 1] (loop unrolled by two so the sets
        // stay in registers), then wait_group 1 retires step s − 1, whose partials are scaled into
        // acc while step s runs. Step s's refill (in loads(s + 1)) waits for step s − 1 only.
        float pA[R], pB[R];
        float2 scA, scB;
        auto issue = [&](float (&p)[R], float2 &sc, int s) {
            loads(s);
            u32 stage = ring + (s % STAGES) * STAGE_BYTES;
            u64 descA = wg_desc_k128(stage + aOffset), descB = wg_desc_k128(stage + A_BYTES);
            float ws = __ldg(wScales + s);
            sc = make_float2(ws * __ldg(aScales + scaleRow[0] + s), ws * __ldg(aScales + scaleRow[1] + s));
            wg_fence_regs(p);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < 4; kk++) wg_mma_e4m3_n128(p, wg_desc_advance(descA, 32 * kk), wg_desc_advance(descB, 32 * kk), kk > 0);
            wg_commit();
        };
        auto promote = [&](float (&p)[R], float2 sc) {
            wg_fence_regs(p);
#pragma unroll
            for (int j = 0; j < R / 4; j++) {
                acc[4 * j + 0] += p[4 * j + 0] * sc.x;
                acc[4 * j + 1] += p[4 * j + 1] * sc.x;
                acc[4 * j + 2] += p[4 * j + 2] * sc.y;
                acc[4 * j + 3] += p[4 * j + 3] * sc.y;
            }
        };
        // Loop invariant: step s is in flight in pA, nothing else.
        issue(pA, scA, 0);
        int s = 0;
        for (; s + 2 < steps; s += 2) {
            issue(pB, scB, s + 1);
            wg_wait<1>();
            promote(pA, scA);  // step s
            issue(pA, scA, s + 2);
            wg_wait<1>();
            promote(pB, scB);  // step s + 1
        }
        if (s + 1 < steps) {
            issue(pB, scB, s + 1);
            wg_wait<1>();
            promote(pA, scA);
            wg_wait<0>();
            promote(pB, scB);
        } else {
            wg_wait<0>();
            promote(pA, scA);
        }
    } else
    for (int s = 0; s < steps; s++) {
        loads(s);
        u32 stage = ring + (s % STAGES) * STAGE_BYTES;
        u64 descA = wg_desc_k128(stage + aOffset), descB = wg_desc_k128(stage + A_BYTES);
        if constexpr (MODE == 2) {
            float ws = __ldg(wScales + s);
            float s0 = ws * __ldg(aScales + scaleRow[0] + s), s1 = ws * __ldg(aScales + scaleRow[1] + s);
            wg_fence_regs(part);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < 4; kk++)
                wg_mma_e4m3_n128(part, wg_desc_advance(descA, 32 * kk), wg_desc_advance(descB, 32 * kk), kk > 0);
            wg_commit();
            wg_wait<0>();
            wg_fence_regs(part);
#pragma unroll
            for (int j = 0; j < R / 4; j++) {
                acc[4 * j + 0] += part[4 * j + 0] * s0;
                acc[4 * j + 1] += part[4 * j + 1] * s0;
                acc[4 * j + 2] += part[4 * j + 2] * s1;
                acc[4 * j + 3] += part[4 * j + 3] * s1;
            }
        } else {
            wg_fence_regs(acc);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < 4; kk++) wg_mma_step<BN>(acc, descA, descB, kk, 1);
            wg_commit();
            wg_wait<1>();
            wg_fence_regs(acc);
        }
    }
    if constexpr (MODE != 2) {
        wg_wait<0>();
        wg_fence_regs(acc);
    }

    if constexpr (MODE == 3) {
        float g = d.global * 0x1p20f;
#pragma unroll
        for (int i = 0; i < R; i++) acc[i] *= g;
    }
    long long colOffset = (long long)blockIdx.z * n;
    int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        int r = begin + 64 * wg + 16 * warp + g + 8 * h;
        if (r >= end) continue;
        long long rowBase = (long long)r * outStride + colOffset;
#pragma unroll
        for (int j = 0; j < R / 4; j++) {
            int c = n0 + 8 * j + 2 * t;
            float v0 = acc[4 * j + 2 * h], v1 = acc[4 * j + 2 * h + 1];
            long long idx = rowBase + c;
            if (outType == DT_BF16 && c + 1 < n && (idx & 1) == 0) {
                *(u32 *)((u16 *)out + idx) = wg_pack_bf16(v0, v1);
            } else {
                if (c < n) store_from_float(out, outType, idx, v0);
                if (c + 1 < n) store_from_float(out, outType, idx + 1, v1);
            }
        }
    }
#endif
}

#define WG_BF16_BN 256
#define WG_BF16_STAGES 4
#define WG_DQ_BN 128
#define WG_DQ_STAGES 6
#define WG_FP8_BN 128
#define WG_FP8_STAGES 6

// bf16 weights (wq must be WQ_BF16): tile 128 × 256, 4 stages, 197632 bytes of dynamic shared memory.
// aStride in bf16 elements. Same parameters as tern_moe_gemm_tc.
extern "C" __global__ void __launch_bounds__(256, 1) tern_moe_wgmma(const u16 *a, long long aStride, const int *rowToken,
                                                                   const int *tileSlot, const int *tileStart, const int *tileEnd,
                                                                   int rows, const WgMatDesc *descs, int which, int wq, int n, int k,
                                                                   void *out, int outType, long long outStride) {
    moe_wgmma_body<WG_BF16_BN, WG_BF16_STAGES, 0>((const u8 *)a, aStride * 2, nullptr, 0, rowToken, tileSlot, tileStart, tileEnd, rows,
                                                  descs, which, wq, n, k, out, outType, outStride);
}

// FP8 block-scaled or NVFP4 weights dequantized to bf16 in the producer path (wq = WQ_FP8 /
// WQ_NVFP4): tile 128 × 128, 6 stages, 197632 bytes. Same parameters as tern_moe_gemm_tc.
extern "C" __global__ void __launch_bounds__(256) tern_moe_wgmma_dq(const u16 *a, long long aStride, const int *rowToken,
                                                                   const int *tileSlot, const int *tileStart, const int *tileEnd,
                                                                   int rows, const WgMatDesc *descs, int which, int wq, int n, int k,
                                                                   void *out, int outType, long long outStride) {
    moe_wgmma_body<WG_DQ_BN, WG_DQ_STAGES, 1>((const u8 *)a, aStride * 2, nullptr, 0, rowToken, tileSlot, tileStart, tileEnd, rows,
                                              descs, which, wq, n, k, out, outType, outStride);
}

// w8a8: e4m3 activation codes (aStride bytes per row) with fp32 scales per token and 128 columns,
// e4m3 weights with 128 × 128 fp32 block scales: tile 128 × 128, 6 stages, 197632 bytes.
// Same parameters as tern_moe_gemm_tc_fp8.
extern "C" __global__ void __launch_bounds__(256, 1) tern_moe_wgmma_fp8(const u8 *a, long long aStride, const float *aScales,
                                                                       long long aScaleStride, const int *rowToken, const int *tileSlot,
                                                                       const int *tileStart, const int *tileEnd, int rows,
                                                                       const WgMatDesc *descs, int which, int n, int k, void *out,
                                                                       int outType, long long outStride) {
    moe_wgmma_body<WG_FP8_BN, WG_FP8_STAGES, 2>(a, aStride, aScales, aScaleStride, rowToken, tileSlot, tileStart, tileEnd, rows, descs,
                                                which, WGQ_FP8, n, k, out, outType, outStride);
}

// NVFP4 weights (wq = WQ_NVFP4), codes and scales by cp.async, dequantized one step ahead of the
// MMA (wg_e2m1x8_scaled): tile 128 × 128, 6 stages of 128 + 128 rows × 128 bytes + 5 KiB raw,
// 228352 bytes of dynamic shared memory. Requires k % 64 == 0, 16-byte aligned weight rows.
// Same parameters as tern_moe_gemm_tc.
extern "C" __global__ void __launch_bounds__(256, 1) tern_moe_wgmma_nvfp4(const u16 *a, long long aStride, const int *rowToken,
                                                                         const int *tileSlot, const int *tileStart, const int *tileEnd,
                                                                         int rows, const WgMatDesc *descs, int which, int wq, int n, int k,
                                                                         void *out, int outType, long long outStride) {
    moe_wgmma_body<128, 6, 3>((const u8 *)a, aStride * 2, nullptr, 0, rowToken, tileSlot, tileStart, tileEnd, rows, descs, which, wq, n, k,
                              out, outType, outStride);
}

// w8a8 as tern_moe_wgmma_fp8 with two partial-sum register sets (the scale promotion of one step
// overlaps the next step's MMA): tile 128 × 128, 6 stages, 197632 bytes. Same parameters.
extern "C" __global__ void __launch_bounds__(256, 1) tern_moe_wgmma_fp8x2(const u8 *a, long long aStride, const float *aScales,
                                                                         long long aScaleStride, const int *rowToken, const int *tileSlot,
                                                                         const int *tileStart, const int *tileEnd, int rows,
                                                                         const WgMatDesc *descs, int which, int n, int k, void *out,
                                                                         int outType, long long outStride) {
    moe_wgmma_body<WG_FP8_BN, WG_FP8_STAGES, 2, true>(a, aStride, aScales, aScaleStride, rowToken, tileSlot, tileStart, tileEnd, rows, descs,
                                                      which, WGQ_FP8, n, k, out, outType, outStride);
}

// ---------------------------------------------------------------------------------------------
// Warp-specialized variant (TERN_MOE_GEMM_KERNEL=ws): CTA = 384 threads, warpgroup 0 the producer
// (cp.async of step s into ring slot s % STAGES as soon as both consumers released the slot's
// previous step, completion tracked by the slot's "full" mbarrier through
// cp.async.mbarrier.arrive.noinc), warpgroups 1 and 2 the consumers (rows 0–63 / 64–127 of the
// tile): wait on "full", wgmma, and after wgmma.wait_group 1 release the previous step's slot on
// its "empty" mbarrier (one arrival per consumer warp). No CTA-wide barrier in the main loop, so a
// consumer's scale promotion (FP8) or epilogue overlaps the other's MMAs, and the whole ring is
// in flight. (Consumers fit the 168 registers of 384 threads: no setmaxnreg.)
// Same tiles, arguments and results as moe_wgmma_body's MODE 0 (bf16) and MODE 2 (w8a8).
__device__ __forceinline__ void wg_mbar_init(u32 bar, u32 count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void wg_mbar_wait(u32 bar, u32 parity) {
    asm volatile(
        "{\n\t.reg .pred p;\n"
        "WG_MBAR_WAIT:\n\t"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n\t"
        "@!p bra WG_MBAR_WAIT;\n}" ::"r"(bar),
        "r"(parity)
        : "memory");
}
__device__ __forceinline__ void wg_mbar_arrive(u32 bar) {
    asm volatile("{\n\t.reg .b64 st;\n\tmbarrier.arrive.shared::cta.b64 st, [%0];\n}" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void wg_cp_arrive(u32 bar) { asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(bar) : "memory"); }

template <int BN, int STAGES, int MODE>
__device__ __forceinline__ void moe_wgmma_ws_body(const u8 *a, long long aRowBytes, const float *aScales, long long aScaleStride,
                                                  const int *rowToken, const int *tileSlot, const int *tileStart, const int *tileEnd, int rows,
                                                  const WgMatDesc *descs, int which, int n, int k, void *out, int outType,
                                                  long long outStride) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    static_assert(MODE == 0 || MODE == 2 || MODE == 3, "bf16, w8a8 or NVFP4");
    static_assert(MODE != 3 || BN == 128, "MODE 3: one producer thread per weight row");
    // MODE 3 raw area: 128 rows × 32 bytes of codes, then 128 × 4 bytes of scale codes (padded).
    constexpr int A_BYTES = WG_M * WG_ROW_BYTES, B_BYTES = BN * WG_ROW_BYTES, RAW_BYTES = MODE == 3 ? 5120 : 0;
    constexpr int STAGE_BYTES = A_BYTES + B_BYTES + RAW_BYTES;
    static_assert(STAGE_BYTES % 1024 == 0, "1024-byte aligned stages");
    constexpr int KSTEP = MODE == 2 ? 128 : 64;
    extern __shared__ __align__(16) u8 wgShared[];
    int tile = blockIdx.y;
    int slot = 0, begin, end;
    if (tileSlot) {
        slot = tileSlot[tile];
        if (slot < 0) return;
        begin = tileStart[tile];
        end = tileEnd[tile];
    } else {
        begin = tile * WG_M;
        end = min(begin + WG_M, rows);
    }
    if (begin >= end) return;
    int n0 = blockIdx.x * BN;
    const WgMatDesc d = descs[(tileSlot ? 3 * slot : 0) + which + blockIdx.z];
    u32 ring = ((u32)__cvta_generic_to_shared(wgShared) + 1023u) & ~1023u;
    u32 bars = ring + STAGES * STAGE_BYTES;  // full[STAGES], then empty[STAGES]
    int tid = threadIdx.x, wg = tid >> 7;
    int consumers = begin + 64 < end ? 2 : 1;  // warpgroup 2 has rows only past 64
    int steps = (k + KSTEP - 1) / KSTEP;
    if (tid == 0) {
        for (int i = 0; i < STAGES; i++) {
            wg_mbar_init(bars + 8 * i, 128);
            wg_mbar_init(bars + 8 * (STAGES + i), 4 * consumers);
        }
    }
    __syncthreads();

    if (MODE == 3 && wg == 0) {
        // NVFP4 producer: step s's activations and raw codes / scales by cp.async (one commit group
        // per step; thread t copies weight row n0 + t), then step s − D (D = STAGES − 2: its group
        // complete) dequantized by the same thread into the slot's bf16 tile, published by a plain
        // arrival on "full" after the proxy fence. D ≤ STAGES − 2 keeps the slot waits satisfiable
        // (bf16 consumers release a step one step late).
        constexpr int D = STAGES - 2;
        int chunk = tid & 7, row0 = tid >> 3;
        long long qN = n0 + tid;
        bool qValid = qN < n;
        const u8 *qCodes = (const u8 *)d.weight + (qValid ? qN : 0) * d.wStride;
        const u8 *qScales = (const u8 *)d.scales + (qValid ? qN : 0) * d.sStride;
        bool qScaleWords = ((d.scales | (u64)d.sStride) & 3u) == 0;
        auto dequant = [&](int s) {
            int st = s % STAGES;
            u32 base = ring + st * STAGE_BYTES, raw = base + A_BYTES + B_BYTES;
            uint4 w0, w1;
            u32 sc;
            asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(w0.x), "=r"(w0.y), "=r"(w0.z), "=r"(w0.w) : "r"(raw + 32 * tid) : "memory");
            asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(w1.x), "=r"(w1.y), "=r"(w1.z), "=r"(w1.w) : "r"(raw + 32 * tid + 16) : "memory");
            asm volatile("ld.shared.u32 %0, [%1];" : "=r"(sc) : "r"(raw + 4096 + 4 * tid) : "memory");
            u32 ww[8] = {w0.x, w0.y, w0.z, w0.w, w1.x, w1.y, w1.z, w1.w};
#pragma unroll
            for (int i = 0; i < 8; i += 2) {
                u32 sb = wg_scale_bf16x2(sc >> (4 * i));  // code i / 2: values [16·(i/2), +16)
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    uint4 v = wg_e2m1x8_scaled(ww[i + h], sb);
                    asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(base + A_BYTES + wg_swizzle128(tid, i + h)), "r"(v.x),
                                 "r"(v.y), "r"(v.z), "r"(v.w)
                                 : "memory");
                }
            }
            wg_fence_proxy_async();
            wg_mbar_arrive(bars + 8 * st);
        };
        for (int s = 0; s < steps; s++) {
            int st = s % STAGES;
            if (s >= STAGES) wg_mbar_wait(bars + 8 * (STAGES + st), ((s / STAGES) - 1) & 1);
            u32 base = ring + st * STAGE_BYTES, raw = base + A_BYTES + B_BYTES;
            long long kOff = (long long)s * WG_ROW_BYTES;  // k % 64 == 0: every chunk in range
#pragma unroll 4
            for (int i = 0; i < WG_M / 16; i++) {
                int r = begin + row0 + 16 * i;
                int rr = r < end ? r : begin;
                const u8 *src = a + (long long)(rowToken ? rowToken[rr] : rr) * aRowBytes + chunk * 16 + kOff;
                wg_cp_async16(base + wg_swizzle128(row0 + 16 * i, chunk), src, r < end);
            }
            wg_cp_async16(raw + 32 * tid, qCodes + (long long)s * 32, qValid);
            wg_cp_async16(raw + 32 * tid + 16, qCodes + (long long)s * 32 + 16, qValid);
            const u8 *sp = qScales + (long long)s * 4;
            if (qScaleWords) {
                wg_cp_async4(raw + 4096 + 4 * tid, sp, qValid);
            } else {
                u32 v = qValid ? (u32)sp[0] | ((u32)sp[1] << 8) | ((u32)sp[2] << 16) | ((u32)sp[3] << 24) : 0u;
                asm volatile("st.shared.u32 [%0], %1;" ::"r"(raw + 4096 + 4 * tid), "r"(v) : "memory");
            }
            wg_cp_commit();
            if (s >= D) {
                wg_cp_wait<D>();  // step s − D's group complete
                dequant(s - D);
            }
        }
        wg_cp_wait<0>();
        for (int s = max(steps - D, 0); s < steps; s++) dequant(s);
        return;
    }
    if (wg == 0) {
        // Producer: thread t moves chunk (t & 7) of rows (t >> 3) + 16i.
        int chunk = tid & 7, row0 = tid >> 3;
        long long wRowBytes = MODE == 0 ? d.wStride * 2 : d.wStride;
        const u8 *bRow0 = (const u8 *)d.weight + chunk * 16;
        for (int s = 0; s < steps; s++) {
            int st = s % STAGES;
            if (s >= STAGES) wg_mbar_wait(bars + 8 * (STAGES + st), ((s / STAGES) - 1) & 1);
            u32 base = ring + st * STAGE_BYTES;
            int kv = s * KSTEP + chunk * (KSTEP / 8);
            bool kIn = kv < k;
            long long kOff = kIn ? (long long)s * WG_ROW_BYTES : 0;
#pragma unroll 4
            for (int i = 0; i < WG_M / 16; i++) {
                int r = begin + row0 + 16 * i;
                bool ok = r < end && kIn;
                int rr = r < end ? r : begin;
                const u8 *src = a + (long long)(rowToken ? rowToken[rr] : rr) * aRowBytes + chunk * 16 + kOff;
                wg_cp_async16(base + wg_swizzle128(row0 + 16 * i, chunk), src, ok);
            }
#pragma unroll 4
            for (int i = 0; i < BN / 16; i++) {
                int nn = n0 + row0 + 16 * i;
                bool ok = nn < n && kIn;
                const u8 *src = bRow0 + (long long)(nn < n ? nn : 0) * wRowBytes + kOff;
                wg_cp_async16(base + A_BYTES + wg_swizzle128(row0 + 16 * i, chunk), src, ok);
            }
            wg_cp_arrive(bars + 8 * st);
        }
        asm volatile("cp.async.wait_all;" ::: "memory");  // (the copies were never committed)
        return;
    }
    int cw = wg - 1;  // consumer warpgroup: rows [64·cw, 64·cw + 64) of the tile
    if (cw >= consumers) return;
    int lane = tid & 31, warp = (tid >> 5) & 3;
    constexpr int R = BN / 2;
    float acc[R];
#pragma unroll
    for (int i = 0; i < R; i++) acc[i] = 0.0f;
    float part[MODE == 2 ? R : 1];
    long long scaleRow[2] = {0, 0};
    const float *wScales = nullptr;
    if constexpr (MODE == 2) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int r = min(begin + 64 * cw + 16 * warp + (lane >> 2) + 8 * h, end - 1);
            scaleRow[h] = (long long)(rowToken ? rowToken[r] : r) * aScaleStride;
        }
        wScales = (const float *)d.scales + (long long)(n0 / 128) * d.sStride;
    }
    u32 aOffset = 64 * cw * WG_ROW_BYTES;
    for (int s = 0; s < steps; s++) {
        int st = s % STAGES;
        float s0 = 0.0f, s1 = 0.0f;
        if constexpr (MODE == 2) {
            float ws = __ldg(wScales + s);
            s0 = ws * __ldg(aScales + scaleRow[0] + s);
            s1 = ws * __ldg(aScales + scaleRow[1] + s);
        }
        wg_mbar_wait(bars + 8 * st, (s / STAGES) & 1);
        wg_fence_proxy_async();
        u32 stage = ring + st * STAGE_BYTES;
        u64 descA = wg_desc_k128(stage + aOffset), descB = wg_desc_k128(stage + A_BYTES);
        if constexpr (MODE == 2) {
            wg_fence_regs(part);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < 4; kk++)
                wg_mma_e4m3_n128(part, wg_desc_advance(descA, 32 * kk), wg_desc_advance(descB, 32 * kk), kk > 0);
            wg_commit();
            wg_wait<0>();
            wg_fence_regs(part);
            if (lane == 0) wg_mbar_arrive(bars + 8 * (STAGES + st));
#pragma unroll
            for (int j = 0; j < R / 4; j++) {
                acc[4 * j + 0] += part[4 * j + 0] * s0;
                acc[4 * j + 1] += part[4 * j + 1] * s0;
                acc[4 * j + 2] += part[4 * j + 2] * s1;
                acc[4 * j + 3] += part[4 * j + 3] * s1;
            }
        } else {
            wg_fence_regs(acc);
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < 4; kk++) wg_mma_step<BN>(acc, descA, descB, kk, 1);
            wg_commit();
            wg_wait<1>();
            wg_fence_regs(acc);
            if (s > 0 && lane == 0) wg_mbar_arrive(bars + 8 * (STAGES + (s - 1) % STAGES));
        }
    }
    if constexpr (MODE != 2) {
        wg_wait<0>();
        wg_fence_regs(acc);
    }
    if constexpr (MODE == 3) {
        float gs = d.global * 0x1p20f;
#pragma unroll
        for (int i = 0; i < R; i++) acc[i] *= gs;
    }

    long long colOffset = (long long)blockIdx.z * n;
    int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        int r = begin + 64 * cw + 16 * warp + g + 8 * h;
        if (r >= end) continue;
        long long rowBase = (long long)r * outStride + colOffset;
#pragma unroll
        for (int j = 0; j < R / 4; j++) {
            int c = n0 + 8 * j + 2 * t;
            float v0 = acc[4 * j + 2 * h], v1 = acc[4 * j + 2 * h + 1];
            long long idx = rowBase + c;
            if (outType == DT_BF16 && c + 1 < n && (idx & 1) == 0) {
                *(u32 *)((u16 *)out + idx) = wg_pack_bf16(v0, v1);
            } else {
                if (c < n) store_from_float(out, outType, idx, v0);
                if (c + 1 < n) store_from_float(out, outType, idx + 1, v1);
            }
        }
    }
#endif
}

// bf16 weights, warp-specialized: tile 128 × 256, 4 stages, 384 threads, 197760 bytes of dynamic
// shared memory (ring + 1024 alignment + 128 for the mbarriers). Same parameters as tern_moe_wgmma.
extern "C" __global__ void __launch_bounds__(384, 1) tern_moe_wgmma_ws(const u16 *a, long long aStride, const int *rowToken,
                                                                      const int *tileSlot, const int *tileStart, const int *tileEnd,
                                                                      int rows, const WgMatDesc *descs, int which, int wq, int n, int k,
                                                                      void *out, int outType, long long outStride) {
    moe_wgmma_ws_body<256, 4, 0>((const u8 *)a, aStride * 2, nullptr, 0, rowToken, tileSlot, tileStart, tileEnd, rows, descs, which, n, k,
                                 out, outType, outStride);
}

// w8a8, warp-specialized: tile 128 × 128, 6 stages, 384 threads, 197760 bytes. Same parameters as
// tern_moe_wgmma_fp8.
extern "C" __global__ void __launch_bounds__(384, 1) tern_moe_wgmma_ws_fp8(const u8 *a, long long aStride, const float *aScales,
                                                                          long long aScaleStride, const int *rowToken, const int *tileSlot,
                                                                          const int *tileStart, const int *tileEnd, int rows,
                                                                          const WgMatDesc *descs, int which, int n, int k, void *out,
                                                                          int outType, long long outStride) {
    moe_wgmma_ws_body<128, 6, 2>(a, aStride, aScales, aScaleStride, rowToken, tileSlot, tileStart, tileEnd, rows, descs, which, n, k, out,
                                 outType, outStride);
}

// NVFP4 weights, warp-specialized (the producer warpgroup copies codes and dequantizes them):
// tile 128 × 128, 6 slots of 37 KiB, 384 threads, 228480 bytes of dynamic shared memory.
// Requires k % 64 == 0 and 16-byte aligned weight rows. Same parameters as tern_moe_wgmma_nvfp4.
extern "C" __global__ void __launch_bounds__(384, 1) tern_moe_wgmma_ws_nvfp4(const u16 *a, long long aStride, const int *rowToken,
                                                                            const int *tileSlot, const int *tileStart, const int *tileEnd,
                                                                            int rows, const WgMatDesc *descs, int which, int wq, int n,
                                                                            int k, void *out, int outType, long long outStride) {
    moe_wgmma_ws_body<128, 6, 3>((const u8 *)a, aStride * 2, nullptr, 0, rowToken, tileSlot, tileStart, tileEnd, rows, descs, which, n, k,
                                 out, outType, outStride);
}
