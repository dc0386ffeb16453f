// Hopper grouped GEMM for MoE prefill: warpgroup MMA (wgmma) from 128B-swizzled shared memory,
// the successor of tern_moe_gemm_tc / tern_moe_gemm_tc_fp8 (moe_gemm_tc.cu) with the same arguments,
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
#include "moe_common.cuh"
#include "wgmma.cuh"

#define WG_M 128
#define WG_ROW_BYTES 128

// A weight chunk of MODE 1 (FP8 / NVFP4 dequantized through registers): zero past the matrix.
// Any wq other than WQ_FP8 reads NVFP4 (no bf16 branch in the kernel).
__device__ __forceinline__ RawChunk wg_load_chunk(const MatDesc &d, int wq, long long n, int k0, bool valid) {
    if (!valid) return RawChunk{make_uint4(0u, 0u, 0u, 0u), 0.0f};
    return load_weight_raw(d, wq == WQ_FP8 ? WQ_FP8 : WQ_NVFP4, n, k0);
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
__device__ __forceinline__ uint4 wg_e2m1x8_scaled(u32 w, u32 scale2) {
    u32 p04 = mul_bf16x2(wg_e2m1_pair<0>(w), scale2), p15 = mul_bf16x2(wg_e2m1_pair<1>(w), scale2);
    u32 p26 = mul_bf16x2(wg_e2m1_pair<0>(w >> 8), scale2), p37 = mul_bf16x2(wg_e2m1_pair<1>(w >> 8), scale2);
    return make_uint4(__byte_perm(p04, p15, 0x5410), __byte_perm(p26, p37, 0x5410), __byte_perm(p04, p15, 0x7632),
                      __byte_perm(p26, p37, 0x7632));
}
// e4m3 block-scale code (bits 0–7; higher bits ignored) → bf16x2 (scale · 2^106 twice); exact through f16.
__device__ __forceinline__ u32 wg_scale_bf16x2(u32 code) {
    float f, unused;
    f16x2_to_float2(e4m3x2_to_f16x2(code), f, unused);
    f *= 0x1p106f;
    return pack_bf16x2(f, f);
}
// The 4 block-scale codes at sp (one weight row, one 64-deep step) into shared memory at dst: one
// 4-byte cp.async when the scale rows are 4-byte aligned (`words`), else byte loads (zero when !valid).
__device__ __forceinline__ void wg_copy_scales4(u32 dst, const u8 *sp, bool valid, bool words) {
    if (words) {
        cp_async4(dst, sp, valid);
    } else {
        u32 v = valid ? (u32)sp[0] | ((u32)sp[1] << 8) | ((u32)sp[2] << 16) | ((u32)sp[3] << 24) : 0u;
        asm volatile("st.shared.u32 [%0], %1;" ::"r"(dst), "r"(v) : "memory");
    }
}

// FP8 w8a8: the partial sums of one 128-deep step × (weight block scale × activation scale) of
// this thread's two rows (s0: fragment rows g, s1: g + 8) added to the accumulators.
template <int R>
__device__ __forceinline__ void wg_promote(float (&acc)[R], const float (&part)[R], float s0, float s1) {
#pragma unroll
    for (int j = 0; j < R / 4; j++) {
        acc[4 * j + 0] += part[4 * j + 0] * s0;
        acc[4 * j + 1] += part[4 * j + 1] * s0;
        acc[4 * j + 2] += part[4 * j + 2] * s1;
        acc[4 * j + 3] += part[4 * j + 3] * s1;
    }
}

// A warpgroup's m64nN accumulators → out rows [row0 + g, row0 + g + 8] (rows ≥ end skipped),
// columns n0 + … < n, at column offset colOffset; bf16 pairs stored as one word when aligned.
template <int R>
__device__ __forceinline__ void wg_store_acc(const float (&acc)[R], int row0, int end, int n0, int n, long long colOffset, void *out,
                                             int outType, long long outStride, int lane) {
    int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        int r = row0 + g + 8 * h;
        if (r >= end) continue;
        long long rowBase = (long long)r * outStride + colOffset;
#pragma unroll
        for (int j = 0; j < R / 4; j++) {
            int c = n0 + 8 * j + 2 * t;
            float v0 = acc[4 * j + 2 * h], v1 = acc[4 * j + 2 * h + 1];
            long long idx = rowBase + c;
            if (outType == DT_BF16 && c + 1 < n && (idx & 1) == 0) {
                *(u32 *)((u16 *)out + idx) = pack_bf16x2(v0, v1);
            } else {
                if (c < n) store_from_float(out, outType, idx, v0);
                if (c + 1 < n) store_from_float(out, outType, idx + 1, v1);
            }
        }
    }
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

// After a warpgroup's last step: the MMAs still in flight retired (bf16 MMAs; w8a8 waits every
// step), NVFP4's global scale · 2^20 applied (MODE 3), rows [row0, row0 + 16) of the accumulators
// stored into columns blockIdx.z · n + [n0, …) of out.
template <int MODE, int R>
__device__ __forceinline__ void wg_finish(float (&acc)[R], float global, int row0, int end, int n0, int n, void *out, int outType,
                                          long long outStride, int lane) {
    if constexpr (MODE != 2) {
        wg_wait<0>();
        wg_fence_regs(acc);
    }
    if constexpr (MODE == 3) {
        float g = global * 0x1p20f;
#pragma unroll
        for (int i = 0; i < R; i++) acc[i] *= g;
    }
    wg_store_acc(acc, row0, end, n0, n, (long long)blockIdx.z * n, out, outType, outStride, lane);
}

// One 128-byte K step of a warpgroup's MMAs, issued as one wgmma group (not waited for): bf16
// (acc += A·Bᵀ, 4 × k16) or e4m3 (part = A·Bᵀ, 4 × k32, the first overwriting part).
template <int BN>
__device__ __forceinline__ void wg_issue_bf16(float (&acc)[BN / 2], u64 descA, u64 descB) {
    wg_fence_regs(acc);
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < 4; kk++) wg_mma_step<BN>(acc, descA, descB, kk, 1);
    wg_commit();
}
__device__ __forceinline__ void wg_issue_e4m3(float (&part)[64], u64 descA, u64 descB) {
    wg_fence_regs(part);
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < 4; kk++) wg_mma_e4m3_n128(part, wg_desc_advance(descA, 32 * kk), wg_desc_advance(descB, 32 * kk), kk > 0);
    wg_commit();
}

// A consumer warpgroup's accumulators zeroed; for w8a8 (MODE 2) the offsets of the activation-scale
// rows of this thread's two fragment rows (row0 + g and row0 + g + 8, clamped to the tile's last
// row, gathered through rowToken) and the returned weight block-scale row of columns n0…n0 + 127.
template <int MODE, int R>
__device__ __forceinline__ const float *wg_consumer_init(float (&acc)[R], long long (&scaleRow)[2], const MatDesc &d, int row0, int end,
                                                         int n0, const int *rowToken, long long aScaleStride, int lane) {
#pragma unroll
    for (int i = 0; i < R; i++) acc[i] = 0.0f;
    scaleRow[0] = scaleRow[1] = 0;
    if constexpr (MODE == 2) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int r = min(row0 + (lane >> 2) + 8 * h, end - 1);
            scaleRow[h] = (long long)(rowToken ? rowToken[r] : r) * aScaleStride;
        }
        return (const float *)d.scales + (long long)(n0 / 128) * d.sStride;
    }
    return nullptr;
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
                                               int rows, const MatDesc *descs, int which, int wq, int n, int k, void *out,
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
    int slot, begin, end;
    if (!moe_tile_rows(tileSlot, tileStart, tileEnd, rows, WG_M, slot, begin, end)) return;
    int n0 = blockIdx.x * BN;
    const MatDesc d = descs[(tileSlot ? 3 * slot : 0) + which + blockIdx.z];
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
    long long wRowBytes = MODE == 0 ? d.wStride * 2 : d.wStride;  // bytes per weight row (MODE 3: packed codes; MODE 1 reads through wg_load_chunk)
    const u8 *bRow0 = (const u8 *)d.weight + chunk * 16;
    int steps = (k + KSTEP - 1) / KSTEP;

    auto issueA = [&](int stage, int step) {
        u32 base = ring + stage * STAGE_BYTES;
        int kv = step * KSTEP + chunk * (KSTEP / 8);
        bool kIn = kv < k;
#pragma unroll
        for (int i = 0; i < 4; i++)
            cp_async16(base + wg_swizzle128(row0 + 32 * i, chunk), aRow[i] + (kIn ? (long long)step * WG_ROW_BYTES : 0), aValid[i] && kIn);
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
            cp_async16(base + wg_swizzle128(row0 + 32 * i, chunk), src, ok);
        }
    };
    RawChunk raw[MODE == 1 ? B_CHUNKS : 1];
    auto loadRaw = [&](int step) {
        int kv = step * KSTEP + chunk * 8;
#pragma unroll
        for (int i = 0; i < (MODE == 1 ? B_CHUNKS : 1); i++) {
            int nn = n0 + row0 + 32 * i;
            raw[i] = wg_load_chunk(d, wq, nn, kv, nn < n && kv < k);
        }
    };
    auto storeRaw = [&](int stage) {
        u32 base = ring + stage * STAGE_BYTES + A_BYTES;
#pragma unroll
        for (int i = 0; i < (MODE == 1 ? B_CHUNKS : 1); i++) {
            uint4 v = chunk_to_bf16_fast(raw[i], wq == WQ_FP8 ? WQ_FP8 : WQ_NVFP4);
            st_shared16(base + wg_swizzle128(row0 + 32 * i, chunk), v);
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
        cp_async16(base + 16 * tid, qCodes + (long long)step * 32, qValid);
        wg_copy_scales4(base + 4096 + 4 * tid, qScales + (long long)step * 4, qValid, qScaleWords);
    };
    auto dequantRaw = [&](int stage) {
        u32 base = ring + stage * STAGE_BYTES;
        uint4 w = ld_shared16(base + A_BYTES + B_BYTES + 16 * tid);
        u32 sc = ld_shared4(base + A_BYTES + B_BYTES + 4096 + 4 * tid);
        sc >>= 16 * qHalf;
        u32 s0 = wg_scale_bf16x2(sc), s1 = wg_scale_bf16x2(sc >> 8);
        u32 ww[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            uint4 v = wg_e2m1x8_scaled(ww[i], i < 2 ? s0 : s1);
            st_shared16(base + A_BYTES + wg_swizzle128(qRow, 4 * qHalf + i), v);
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
        cp_async_commit();
    }
    if (MODE == 1 && STAGES - 2 < steps) loadRaw(STAGES - 2);
    if constexpr (MODE == 3) {
        cp_async_wait<STAGES - 3>();  // step 0 landed (this thread's copies)
        dequantRaw(0);
    }

    constexpr int R = BN / 2;
    float acc[R], part[MODE == 2 ? R : 1];
    long long scaleRow[2];
    const float *wScales = wg_consumer_init<MODE>(acc, scaleRow, d, begin + 64 * wg + 16 * warp, end, n0, rowToken, aScaleStride, lane);

    u32 aOffset = 64 * wg * WG_ROW_BYTES;  // this warpgroup's 64 rows (8 KB: a multiple of 1024)
    // Step s's loads: wait for step s, refill the slot of step s − 2 with step s + STAGES − 2.
    auto loads = [&](int s) {
        if constexpr (MODE == 3) {
            // Step s + 1's raw codes landed (this thread's own copies): dequantize them into their
            // stage; the barrier then publishes step s (dequantized last iteration) and s + 1.
            cp_async_wait<STAGES - 4>();
            if (s + 1 < steps) dequantRaw((s + 1) % STAGES);
            wg_fence_proxy_async();
            __syncthreads();
            int ns = s + STAGES - 2;
            if (ns < steps) {
                issueA(ns % STAGES, ns);
                issueRaw(ns % STAGES, ns);
            }
            cp_async_commit();
            return;
        }
        cp_async_wait<STAGES - 3>();
        wg_fence_proxy_async();
        __syncthreads();  // step s landed everywhere; step s − 2's slot is no longer read
        int ns = s + STAGES - 2;
        if (ns < steps) {
            issueA(ns % STAGES, ns);
            if constexpr (MODE == 1) storeRaw(ns % STAGES);
            else issueB(ns % STAGES, ns);
        }
        cp_async_commit();
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
            wg_issue_e4m3(p, descA, descB);
        };
        auto promote = [&](float (&p)[R], float2 sc) {
            wg_fence_regs(p);
            wg_promote(acc, p, sc.x, sc.y);
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
            wg_issue_e4m3(part, descA, descB);
            wg_wait<0>();
            wg_fence_regs(part);
            wg_promote(acc, part, s0, s1);
        } else {
            wg_issue_bf16<BN>(acc, descA, descB);
            wg_wait<1>();
            wg_fence_regs(acc);
        }
    }
    wg_finish<MODE>(acc, d.global, begin + 64 * wg + 16 * warp, end, n0, n, out, outType, outStride, lane);
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
                                                                   int rows, const MatDesc *descs, int which, int wq, int n, int k,
                                                                   void *out, int outType, long long outStride) {
    moe_wgmma_body<WG_BF16_BN, WG_BF16_STAGES, 0>((const u8 *)a, aStride * 2, nullptr, 0, rowToken, tileSlot, tileStart, tileEnd, rows,
                                                  descs, which, wq, n, k, out, outType, outStride);
}

// FP8 block-scaled or NVFP4 weights dequantized to bf16 in the producer path (wq = WQ_FP8 /
// WQ_NVFP4): tile 128 × 128, 6 stages, 197632 bytes. Same parameters as tern_moe_gemm_tc.
extern "C" __global__ void __launch_bounds__(256) tern_moe_wgmma_dq(const u16 *a, long long aStride, const int *rowToken,
                                                                   const int *tileSlot, const int *tileStart, const int *tileEnd,
                                                                   int rows, const MatDesc *descs, int which, int wq, int n, int k,
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
                                                                       const MatDesc *descs, int which, int n, int k, void *out,
                                                                       int outType, long long outStride) {
    moe_wgmma_body<WG_FP8_BN, WG_FP8_STAGES, 2>(a, aStride, aScales, aScaleStride, rowToken, tileSlot, tileStart, tileEnd, rows, descs,
                                                which, WQ_FP8, n, k, out, outType, outStride);
}

// NVFP4 weights (wq = WQ_NVFP4), codes and scales by cp.async, dequantized one step ahead of the
// MMA (wg_e2m1x8_scaled): tile 128 × 128, 6 stages of 128 + 128 rows × 128 bytes + 5 KiB raw,
// 228352 bytes of dynamic shared memory. Requires k % 64 == 0, 16-byte aligned weight rows.
// Same parameters as tern_moe_gemm_tc.
extern "C" __global__ void __launch_bounds__(256, 1) tern_moe_wgmma_nvfp4(const u16 *a, long long aStride, const int *rowToken,
                                                                         const int *tileSlot, const int *tileStart, const int *tileEnd,
                                                                         int rows, const MatDesc *descs, int which, int wq, int n, int k,
                                                                         void *out, int outType, long long outStride) {
    moe_wgmma_body<128, 6, 3>((const u8 *)a, aStride * 2, nullptr, 0, rowToken, tileSlot, tileStart, tileEnd, rows, descs, which, wq, n, k,
                              out, outType, outStride);
}

// w8a8 as tern_moe_wgmma_fp8 with two partial-sum register sets (the scale promotion of one step
// overlaps the next step's MMA): tile 128 × 128, 6 stages, 197632 bytes. Same parameters.
extern "C" __global__ void __launch_bounds__(256, 1) tern_moe_wgmma_fp8x2(const u8 *a, long long aStride, const float *aScales,
                                                                         long long aScaleStride, const int *rowToken, const int *tileSlot,
                                                                         const int *tileStart, const int *tileEnd, int rows,
                                                                         const MatDesc *descs, int which, int n, int k, void *out,
                                                                         int outType, long long outStride) {
    moe_wgmma_body<WG_FP8_BN, WG_FP8_STAGES, 2, true>(a, aStride, aScales, aScaleStride, rowToken, tileSlot, tileStart, tileEnd, rows, descs,
                                                      which, WQ_FP8, n, k, out, outType, outStride);
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
template <int BN, int STAGES, int MODE>
__device__ __forceinline__ void moe_wgmma_ws_body(const u8 *a, long long aRowBytes, const float *aScales, long long aScaleStride,
                                                  const int *rowToken, const int *tileSlot, const int *tileStart, const int *tileEnd, int rows,
                                                  const MatDesc *descs, int which, int n, int k, void *out, int outType,
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
    int slot, begin, end;
    if (!moe_tile_rows(tileSlot, tileStart, tileEnd, rows, WG_M, slot, begin, end)) return;
    int n0 = blockIdx.x * BN;
    const MatDesc d = descs[(tileSlot ? 3 * slot : 0) + which + blockIdx.z];
    u32 ring = ((u32)__cvta_generic_to_shared(wgShared) + 1023u) & ~1023u;
    u32 bars = ring + STAGES * STAGE_BYTES;  // full[STAGES], then empty[STAGES]
    int tid = threadIdx.x, wg = tid >> 7;
    int consumers = begin + 64 < end ? 2 : 1;  // warpgroup 2 has rows only past 64
    int steps = (k + KSTEP - 1) / KSTEP;
    if (tid == 0) {
        for (int i = 0; i < STAGES; i++) {
            mbar_init(bars + 8 * i, 128);
            mbar_init(bars + 8 * (STAGES + i), 4 * consumers);
        }
    }
    __syncthreads();

    // Producer (warpgroup 0): thread t moves chunk (t & 7) of tile rows (t >> 3) + 16i; copyA: the
    // tile's activation rows (gathered through rowToken) of step s into the slot at base, zero past
    // the tile's rows or (kIn false) past k.
    int chunk = tid & 7, row0 = tid >> 3;
    auto copyA = [&](u32 base, int s, bool kIn) {
        long long kOff = kIn ? (long long)s * WG_ROW_BYTES : 0;
#pragma unroll 4
        for (int i = 0; i < WG_M / 16; i++) {
            int r = begin + row0 + 16 * i;
            bool ok = r < end && kIn;
            int rr = r < end ? r : begin;
            const u8 *src = a + (long long)(rowToken ? rowToken[rr] : rr) * aRowBytes + chunk * 16 + kOff;
            cp_async16(base + wg_swizzle128(row0 + 16 * i, chunk), src, ok);
        }
    };
    if (MODE == 3 && wg == 0) {
        // NVFP4 producer: step s's activations and raw codes / scales by cp.async (one commit group
        // per step; thread t copies weight row n0 + t), then step s − D (D = STAGES − 2: its group
        // complete) dequantized by the same thread into the slot's bf16 tile, published by a plain
        // arrival on "full" after the proxy fence. D ≤ STAGES − 2 keeps the slot waits satisfiable
        // (bf16 consumers release a step one step late).
        constexpr int D = STAGES - 2;
        long long qN = n0 + tid;
        bool qValid = qN < n;
        const u8 *qCodes = (const u8 *)d.weight + (qValid ? qN : 0) * d.wStride;
        const u8 *qScales = (const u8 *)d.scales + (qValid ? qN : 0) * d.sStride;
        bool qScaleWords = ((d.scales | (u64)d.sStride) & 3u) == 0;
        auto dequant = [&](int s) {
            int st = s % STAGES;
            u32 base = ring + st * STAGE_BYTES, raw = base + A_BYTES + B_BYTES;
            uint4 w0 = ld_shared16(raw + 32 * tid), w1 = ld_shared16(raw + 32 * tid + 16);
            u32 sc = ld_shared4(raw + 4096 + 4 * tid);
            u32 ww[8] = {w0.x, w0.y, w0.z, w0.w, w1.x, w1.y, w1.z, w1.w};
#pragma unroll
            for (int i = 0; i < 8; i += 2) {
                u32 sb = wg_scale_bf16x2(sc >> (4 * i));  // code i / 2: values [16·(i/2), +16)
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    uint4 v = wg_e2m1x8_scaled(ww[i + h], sb);
                    st_shared16(base + A_BYTES + wg_swizzle128(tid, i + h), v);
                }
            }
            wg_fence_proxy_async();
            mbar_arrive(bars + 8 * st);
        };
        for (int s = 0; s < steps; s++) {
            int st = s % STAGES;
            if (s >= STAGES) mbar_wait(bars + 8 * (STAGES + st), ((s / STAGES) - 1) & 1);
            u32 base = ring + st * STAGE_BYTES, raw = base + A_BYTES + B_BYTES;
            copyA(base, s, true);  // k % 64 == 0: every chunk in range
            cp_async16(raw + 32 * tid, qCodes + (long long)s * 32, qValid);
            cp_async16(raw + 32 * tid + 16, qCodes + (long long)s * 32 + 16, qValid);
            wg_copy_scales4(raw + 4096 + 4 * tid, qScales + (long long)s * 4, qValid, qScaleWords);
            cp_async_commit();
            if (s >= D) {
                cp_async_wait<D>();  // step s − D's group complete
                dequant(s - D);
            }
        }
        cp_async_wait<0>();
        for (int s = max(steps - D, 0); s < steps; s++) dequant(s);
        return;
    }
    if (wg == 0) {
        long long wRowBytes = MODE == 0 ? d.wStride * 2 : d.wStride;
        const u8 *bRow0 = (const u8 *)d.weight + chunk * 16;
        for (int s = 0; s < steps; s++) {
            int st = s % STAGES;
            if (s >= STAGES) mbar_wait(bars + 8 * (STAGES + st), ((s / STAGES) - 1) & 1);
            u32 base = ring + st * STAGE_BYTES;
            int kv = s * KSTEP + chunk * (KSTEP / 8);
            bool kIn = kv < k;
            copyA(base, s, kIn);
            long long kOff = kIn ? (long long)s * WG_ROW_BYTES : 0;
#pragma unroll 4
            for (int i = 0; i < BN / 16; i++) {
                int nn = n0 + row0 + 16 * i;
                bool ok = nn < n && kIn;
                const u8 *src = bRow0 + (long long)(nn < n ? nn : 0) * wRowBytes + kOff;
                cp_async16(base + A_BYTES + wg_swizzle128(row0 + 16 * i, chunk), src, ok);
            }
            mbar_cp_async_arrive(bars + 8 * st);
        }
        cp_async_wait_all();  // (the copies were never committed)
        return;
    }
    int cw = wg - 1;  // consumer warpgroup: rows [64·cw, 64·cw + 64) of the tile
    if (cw >= consumers) return;
    int lane = tid & 31, warp = (tid >> 5) & 3;
    constexpr int R = BN / 2;
    float acc[R], part[MODE == 2 ? R : 1];
    long long scaleRow[2];
    const float *wScales = wg_consumer_init<MODE>(acc, scaleRow, d, begin + 64 * cw + 16 * warp, end, n0, rowToken, aScaleStride, lane);
    u32 aOffset = 64 * cw * WG_ROW_BYTES;
    for (int s = 0; s < steps; s++) {
        int st = s % STAGES;
        float s0 = 0.0f, s1 = 0.0f;
        if constexpr (MODE == 2) {
            float ws = __ldg(wScales + s);
            s0 = ws * __ldg(aScales + scaleRow[0] + s);
            s1 = ws * __ldg(aScales + scaleRow[1] + s);
        }
        mbar_wait(bars + 8 * st, (s / STAGES) & 1);
        wg_fence_proxy_async();
        u32 stage = ring + st * STAGE_BYTES;
        u64 descA = wg_desc_k128(stage + aOffset), descB = wg_desc_k128(stage + A_BYTES);
        if constexpr (MODE == 2) {
            wg_issue_e4m3(part, descA, descB);
            wg_wait<0>();
            wg_fence_regs(part);
            if (lane == 0) mbar_arrive(bars + 8 * (STAGES + st));
            wg_promote(acc, part, s0, s1);
        } else {
            wg_issue_bf16<BN>(acc, descA, descB);
            wg_wait<1>();
            wg_fence_regs(acc);
            if (s > 0 && lane == 0) mbar_arrive(bars + 8 * (STAGES + (s - 1) % STAGES));
        }
    }
    wg_finish<MODE>(acc, d.global, begin + 64 * cw + 16 * warp, end, n0, n, out, outType, outStride, lane);
#endif
}

// bf16 weights, warp-specialized: tile 128 × 256, 4 stages, 384 threads, 197760 bytes of dynamic
// shared memory (ring + 1024 alignment + 128 for the mbarriers). Same parameters as tern_moe_wgmma.
extern "C" __global__ void __launch_bounds__(384, 1) tern_moe_wgmma_ws(const u16 *a, long long aStride, const int *rowToken,
                                                                      const int *tileSlot, const int *tileStart, const int *tileEnd,
                                                                      int rows, const MatDesc *descs, int which, int wq, int n, int k,
                                                                      void *out, int outType, long long outStride) {
    moe_wgmma_ws_body<256, 4, 0>((const u8 *)a, aStride * 2, nullptr, 0, rowToken, tileSlot, tileStart, tileEnd, rows, descs, which, n, k,
                                 out, outType, outStride);
}

// w8a8, warp-specialized: tile 128 × 128, 6 stages, 384 threads, 197760 bytes. Same parameters as
// tern_moe_wgmma_fp8.
extern "C" __global__ void __launch_bounds__(384, 1) tern_moe_wgmma_ws_fp8(const u8 *a, long long aStride, const float *aScales,
                                                                          long long aScaleStride, const int *rowToken, const int *tileSlot,
                                                                          const int *tileStart, const int *tileEnd, int rows,
                                                                          const MatDesc *descs, int which, int n, int k, void *out,
                                                                          int outType, long long outStride) {
    moe_wgmma_ws_body<128, 6, 2>(a, aStride, aScales, aScaleStride, rowToken, tileSlot, tileStart, tileEnd, rows, descs, which, n, k, out,
                                 outType, outStride);
}

// NVFP4 weights, warp-specialized (the producer warpgroup copies codes and dequantizes them):
// tile 128 × 128, 6 slots of 37 KiB, 384 threads, 228480 bytes of dynamic shared memory.
// Requires k % 64 == 0 and 16-byte aligned weight rows. Same parameters as tern_moe_wgmma_nvfp4.
extern "C" __global__ void __launch_bounds__(384, 1) tern_moe_wgmma_ws_nvfp4(const u16 *a, long long aStride, const int *rowToken,
                                                                            const int *tileSlot, const int *tileStart, const int *tileEnd,
                                                                            int rows, const MatDesc *descs, int which, int wq, int n,
                                                                            int k, void *out, int outType, long long outStride) {
    moe_wgmma_ws_body<128, 6, 3>((const u8 *)a, aStride * 2, nullptr, 0, rowToken, tileSlot, tileStart, tileEnd, rows, descs, which, n, k,
                                 out, outType, outStride);
}
