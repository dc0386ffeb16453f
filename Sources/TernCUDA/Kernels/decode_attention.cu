// Paged decode attention: one query token per sequence, bf16 or FP8 (e4m3) K/V, head width 64 or
// 128, GQA groups of 1–16 query heads per KV head. A block serves one (token, KV head, KV split):
// the group's query rows (padded to the 16 rows of an mma tile) against K/V tiles of 64 keys that
// stream through a 3-stage cp.async pipeline (16-byte copies, zero-filled past the split's end).
// Each of the 4 warps takes 16 keys of every tile with its own online softmax; the warps' states
// are merged through shared memory at the end, and splits by the launch's last block per (token, KV
// head) (one pass, default) or by tern_decode_combine_w / tern_decode_combine.
//
// Fragment layouts. Scores S = Q·Kᵀ and O = P·V on mma.sync m16n8k16 (bf16, or f16 for FP8 caches:
// e4m3 → f16 is exact and cvt.rn.f16x2.e4m3x2 converts two codes per instruction). Because a dot
// product does not care about the order of its terms, the head dimension is permuted so every
// thread reads 8 consecutive elements of a K row per two k-chunks (one 16- or 8-byte shared load
// instead of four 4-byte ones): for chunk pair c, fragment k-indices {2t, 2t+1} / {2t+8, 2t+9} of
// chunk 2c are elements 32c + 8t + {0,1} / {2,3}, of chunk 2c+1 elements {4,5} / {6,7}; the query
// fragments are read with the same permutation. The output columns are permuted too: in V column
// block j (64 wide), mma column n of n-tile 8j + e is element 64j + 8n + e, so a thread reads 8
// consecutive V elements per key row and holds 16 consecutive output elements per row.
// Shared rows are padded so these reads are free of bank conflicts (K rows: 16 mod 32 words for
// bf16, 8 mod 32 for FP8; V rows: 4 mod 32 words).
#include "mma.cuh"

#define DA_KEYS 64    // keys per pipeline stage (16 per warp)
#define DA_STAGES 3
#define DA_THREADS 128
#define DA_COMBINE_MAX_SPLITS 128  // splits a one-pass launch or tern_decode_combine_w merges

struct __align__(16) da_u4 { u32 x, y, z, w; };

// mma.sync m16n8k16 with f16 (FP8 caches) or bf16 operands (mma.cuh).
template <bool F16> __device__ __forceinline__ void da_mma(float *c, const u32 *a, u32 b0, u32 b1) {
    if constexpr (F16) mma_f16_16816(c, a, b0, b1); else mma_bf16_16816(c, a, b0, b1);
}

// Two floats → a packed pair (lo in the low half), f16 or bf16, round to nearest (mma.cuh).
template <bool F16> __device__ __forceinline__ u32 da_pack(float lo, float hi) {
    if constexpr (F16) return pack_f16x2(lo, hi); else return pack_bf16x2(lo, hi);
}

// A bf16 pair → an f16 pair (FP8 path's query), saturated to ±65504 instead of overflowing.
__device__ __forceinline__ u32 da_bf16x2_to_f16x2(u32 x) {
    float lo = __uint_as_float(x << 16), hi = __uint_as_float(x & 0xFFFF0000u);
    lo = fminf(fmaxf(lo, -65504.0f), 65504.0f);
    hi = fminf(fmaxf(hi, -65504.0f), 65504.0f);
    return da_pack<true>(lo, hi);
}

// Two e4m3 codes (low 16 bits; the low byte becomes the low half) → an exact f16 pair.
__device__ __forceinline__ u32 da_e4m3x2_to_f16x2(u32 two) {
#if __CUDA_ARCH__ >= 890
    u32 r;
    asm("{ .reg .b16 a;\n cvt.u16.u32 a, %1;\n cvt.rn.f16x2.e4m3x2 %0, a;\n}" : "=r"(r) : "r"(two));
    return r;
#else
    u32 r = 0;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        u32 b = (two >> (8 * i)) & 0xFFu, em = b & 0x7Fu, h;
        if (em >= 8u) {
            h = (em << 7) + 0x2000u;  // exponent 7-bias → 15-bias, mantissa widened
        } else {
            u32 f = __float_as_uint((float)em * 0.001953125f);  // subnormal m · 2^-9, a normal f16
            h = em == 0u ? 0u : ((((f >> 23) & 0xFFu) - 112u) << 10) | ((f >> 13) & 0x3FFu);
        }
        r |= (((b & 0x80u) << 8) | h) << (16 * i);
    }
    return r;
#endif
}

// Merging split-KV partials with the per-split weights in shared memory (the one-pass decode
// launch and tern_decode_combine_w; merge_split_partials in common.cuh is the sequential form).
// da_split_weights, one warp: w[s] = 2^(m_s − M) for the row's splits s < splits ≤
// DA_COMBINE_MAX_SPLITS (0 for a split that saw no key), 4 splits' (m, l) per lane loaded together;
// returns 1 / Σ_s w_s l_s (0 when no split saw a key) to every lane. Loads go past L1 (__ldcg): the
// one-pass launch reads partials that other blocks of the same grid wrote.
__device__ __forceinline__ float da_split_weights(const float *ml, int splits, float *w) {
    const int lane = threadIdx.x & 31;
    float m[DA_COMBINE_MAX_SPLITS / 32], l[DA_COMBINE_MAX_SPLITS / 32];
    float M = -INFINITY;
#pragma unroll
    for (int i = 0; i < DA_COMBINE_MAX_SPLITS / 32; i++) {
        const int s = lane + 32 * i;
        m[i] = -INFINITY;
        l[i] = 0.0f;
        if (s < splits) {
            m[i] = __ldcg(ml + 2 * s);
            l[i] = __ldcg(ml + 2 * s + 1);
        }
        M = fmaxf(M, m[i]);
    }
    M = warp_max(M);
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < DA_COMBINE_MAX_SPLITS / 32; i++) {
        const int s = lane + 32 * i;
        const float f = m[i] == -INFINITY ? 0.0f : exp2f(m[i] - M);
        sum += l[i] * f;
        if (s < splits) w[s] = f;
    }
    sum = warp_sum(sum);
    return sum > 0.0f ? 1.0f / sum : 0.0f;
}

// Σ_s w[s] · o[s · width + d] over the splits of nonzero weight, in split order; unrolled so that
// 8 splits' loads are in flight together (none waits on a global (m, l) load any more).
__device__ __forceinline__ float da_weighted_sum(const float *o, const float *w, int splits, int width, int d) {
    float acc = 0.0f;
#pragma unroll 8
    for (int s = 0; s < splits; s++) {
        const float f = w[s];
        if (f != 0.0f) acc += __ldcg(o + (long long)s * width + d) * f;
    }
    return acc;
}

template <int HD, bool FP8> struct DecodeLayout {
    static constexpr int ES = FP8 ? 1 : 2;                 // bytes per element
    static constexpr int ROW = HD * ES;                     // bytes of a K/V head row
    static constexpr int KLD = FP8 ? HD + 32 : 2 * HD + 64; // padded shared K row (bytes)
    static constexpr int VLD = ROW + 16;                    // padded shared V row (bytes)
    static constexpr int STAGE = DA_KEYS * (KLD + VLD);
    static constexpr int SHARED = DA_STAGES * STAGE;
    static constexpr int CHUNKS = ROW / 16;                 // 16-byte copies per row
};

// Grid (KV heads, tokens, splits): a token's heads are neighbours in launch order and read
// neighbouring parts of the same cache rows. 128 threads, DecodeLayout::SHARED bytes of dynamic shared
// memory. Token i attends keys [max(0, pos+1-window), pos] of its sequence (pos = positions[i], its
// page list at pageTable + pageStarts[i]); split z takes keys [lo + z·chunk, lo + (z+1)·chunk).
// Strides are in elements (bytes for FP8). FP8: the key scale is folded into `scale` by the
// caller, `valueScale` multiplies the output. splits == 1: bf16 output; else partial results
// (unnormalised O · valueScale, and (max, sum) in the log2 domain) for tern_decode_combine.
template <int HD, bool FP8>
__device__ void decode_attention(const u16 *q, long long qStride, const u8 *keys, const u8 *values, long long keyStride,
                                 long long keyHeadStride, long long valueStride, long long valueHeadStride, u16 *out,
                                 long long outStride, int group, float scale, float valueScale, int window,
                                 const int *positions, const int *pageStarts, const int *pageTable, int pageSize, int chunk,
                                 float *partialO, float *partialML, int *counters) {
    using L = DecodeLayout<HD, FP8>;
    extern __shared__ __align__(16) u8 da_shared[];
    __shared__ int da_last;
    const int kvHead = blockIdx.x, token = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
    const int heads = gridDim.x * group;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;

#if __CUDA_ARCH__ >= 900
    // Launched as a programmatic dependent (TERN_CUDA_DECODE_PDL, after tern_rope_store_kv): the
    // combine (or o_proj GEMV) after this one may start its blocks now; they wait for this grid.
    asm volatile("griddepcontrol.launch_dependents;");
#endif
    // Before griddepcontrol.wait only what no kernel writes is read (positions, page starts and the
    // page table come from host uploads), and nothing is written; q and K/V (tern_rope_store_kv's
    // output) and the partials (read by an earlier combine) only after it.
    const int kvLen = positions[token] + 1;
    const int lo = window > 0 ? max(0, kvLen - window) : 0;
    const int kBegin = lo + split * chunk, kEnd = min(kvLen, kBegin + chunk);
    const int tiles = kBegin < kEnd ? (kEnd - kBegin + DA_KEYS - 1) / DA_KEYS : 0;
    const int *pages = pageTable + pageStarts[token];
    const bool pow2 = (pageSize & (pageSize - 1)) == 0;
    const int shift = __ffs(pageSize) - 1;

    // A tile's copies: this thread's rows' cache slots (page-table reads, independent loads in
    // flight together), then the 16-byte copies.
    constexpr int PER = DA_KEYS * L::CHUNKS / DA_THREADS;
    static_assert(PER * DA_THREADS == DA_KEYS * L::CHUNKS, "copies per thread");
    auto slotsOf = [&](int tile, long long *slot) {
        const int first = kBegin + tile * DA_KEYS;
#pragma unroll
        for (int k = 0; k < PER; k++) {
            const int j = first + (tid + k * DA_THREADS) / L::CHUNKS;
            slot[k] = -1;
            if (j < kEnd) {
                const int page = pow2 ? j >> shift : j / pageSize;
                slot[k] = (long long)pages[page] * pageSize + (j - page * pageSize);
            }
        }
    };
    // The first DA_STAGES − 1 tiles' slots before the wait.
    long long pre[DA_STAGES - 1][PER];
#pragma unroll
    for (int s = 0; s < DA_STAGES - 1; s++)
        if (s < tiles) slotsOf(s, pre[s]);
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
    // One pass (counters non-null, splits > 1, splits ≤ DA_COMBINE_MAX_SPLITS): every block of a
    // (token, KV head) counts itself done in counters[token · KV heads + KV head] once its partials
    // are written and fenced; the block that counts last merges the group's splits as
    // tern_decode_combine_w does (weights 2^(m_s − M) in shared memory, O read past L1) and puts the
    // counter back to 0 for the next launch. No tern_decode_combine launch then.
    auto finish = [&]() {
        if (counters == nullptr || splits == 1) return;
        int *counter = counters + ((long long)token * gridDim.x + kvHead);
        __threadfence();  // this thread's partial writes, visible device-wide before the count
        __syncthreads();
        if (tid == 0) da_last = atomicAdd(counter, 1) == splits - 1;
        __syncthreads();
        if (!da_last) return;
        __threadfence();  // the other blocks' partials, counted before, are read after this
        float *wgt = (float *)da_shared;                     // [16 rows][DA_COMBINE_MAX_SPLITS]
        float *rowInv = wgt + 16 * DA_COMBINE_MAX_SPLITS;    // [16 rows]
        const long long row0 = ((long long)token * heads + kvHead * group) * splits;  // the group's first row
        for (int r = warp; r < group; r += DA_THREADS / 32) {
            const float inv = da_split_weights(partialML + (row0 + (long long)r * splits) * 2, splits, wgt + r * DA_COMBINE_MAX_SPLITS);
            if (lane == 0) rowInv[r] = inv;
        }
        __syncthreads();
        for (int i = tid; i < group * HD; i += DA_THREADS) {
            const int r = i / HD, d = i % HD;
            const float acc = da_weighted_sum(partialO + (row0 + (long long)r * splits) * HD, wgt + r * DA_COMBINE_MAX_SPLITS, splits, HD, d);
            out[(long long)token * outStride + (long long)(kvHead * group + r) * HD + d] = float_to_bf16(acc * rowInv[r]);
        }
        if (tid == 0) *counter = 0;
    };
    if (tiles == 0 && splits > 1) {
        // An empty split (a decode graph plans for the longest sequence): (−inf, 0) tells the
        // combine to skip it without reading its O.
        for (int r = tid; r < group; r += DA_THREADS) {
            const long long at = ((long long)token * heads + kvHead * group + r) * splits + split;
            partialML[at * 2] = -INFINITY;
            partialML[at * 2 + 1] = 0.0f;
        }
        finish();
        return;
    }
    const u8 *kBase = keys + (long long)kvHead * keyHeadStride * L::ES;
    const u8 *vBase = values + (long long)kvHead * valueHeadStride * L::ES;

    auto issue = [&](const long long *slot, int stage) {
        u8 *ks = da_shared + stage * L::STAGE, *vs = ks + DA_KEYS * L::KLD;
#pragma unroll
        for (int k = 0; k < PER; k++) {
            const int i = tid + k * DA_THREADS, r = i / L::CHUNKS, c = i % L::CHUNKS;
            const bool valid = slot[k] >= 0;
            const long long at = valid ? slot[k] : 0;
            cp_async16(ks + r * L::KLD + c * 16, kBase + at * keyStride * L::ES + c * 16, valid);
            cp_async16(vs + r * L::VLD + c * 16, vBase + at * valueStride * L::ES + c * 16, valid);
        }
    };
    auto load = [&](int tile, int stage) {
        long long slot[PER];
        slotsOf(tile, slot);
        issue(slot, stage);
    };

    // Start the pipeline before the query loads so their latencies overlap.
#pragma unroll
    for (int s = 0; s < DA_STAGES - 1; s++) {
        if (s < tiles) issue(pre[s], s);
        cp_async_commit();
    }

    // Query fragments (rows g and g + 8 = heads of the group; zero past the group), permuted.
    u32 qa[HD / 16][4];
    {
        const u16 *qRow = q + (long long)token * qStride + (long long)kvHead * group * HD;
#pragma unroll
        for (int c = 0; c < HD / 32; c++) {
            da_u4 r0 = {0, 0, 0, 0}, r1 = {0, 0, 0, 0};
            if (g < group) r0 = *(const da_u4 *)(qRow + g * HD + c * 32 + t * 8);
            if (g + 8 < group) r1 = *(const da_u4 *)(qRow + (g + 8) * HD + c * 32 + t * 8);
            if constexpr (FP8) {
                r0.x = da_bf16x2_to_f16x2(r0.x); r0.y = da_bf16x2_to_f16x2(r0.y);
                r0.z = da_bf16x2_to_f16x2(r0.z); r0.w = da_bf16x2_to_f16x2(r0.w);
                r1.x = da_bf16x2_to_f16x2(r1.x); r1.y = da_bf16x2_to_f16x2(r1.y);
                r1.z = da_bf16x2_to_f16x2(r1.z); r1.w = da_bf16x2_to_f16x2(r1.w);
            }
            qa[2 * c][0] = r0.x; qa[2 * c][2] = r0.y; qa[2 * c + 1][0] = r0.z; qa[2 * c + 1][2] = r0.w;
            qa[2 * c][1] = r1.x; qa[2 * c][3] = r1.y; qa[2 * c + 1][1] = r1.z; qa[2 * c + 1][3] = r1.w;
        }
    }

    const float log2Scale = scale * 1.4426950408889634f;
    float o[HD / 8][4];
#pragma unroll
    for (int i = 0; i < HD / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;

    for (int tile = 0; tile < tiles; tile++) {
        cp_async_wait<DA_STAGES - 2>();
        __syncthreads();  // tile's copies visible to all; every warp is done with tile - 1's stage
        if (tile + DA_STAGES - 1 < tiles) load(tile + DA_STAGES - 1, (tile + DA_STAGES - 1) % DA_STAGES);
        cp_async_commit();

        const u8 *ks = da_shared + (tile % DA_STAGES) * L::STAGE, *vs = ks + DA_KEYS * L::KLD;
        // S = Q · Kᵀ over this warp's 16 keys (two n-tiles of 8).
        float s[2][4];
#pragma unroll
        for (int nt = 0; nt < 2; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
            const u8 *krow = ks + (warp * 16 + nt * 8 + g) * L::KLD;
#pragma unroll
            for (int c = 0; c < HD / 32; c++) {
                if constexpr (FP8) {
                    uint2 kb = *(const uint2 *)(krow + c * 32 + t * 8);
                    da_mma<true>(s[nt], qa[2 * c], da_e4m3x2_to_f16x2(kb.x & 0xFFFFu), da_e4m3x2_to_f16x2(kb.x >> 16));
                    da_mma<true>(s[nt], qa[2 * c + 1], da_e4m3x2_to_f16x2(kb.y & 0xFFFFu), da_e4m3x2_to_f16x2(kb.y >> 16));
                } else {
                    da_u4 kb = *(const da_u4 *)(krow + (c * 32 + t * 8) * 2);
                    da_mma<false>(s[nt], qa[2 * c], kb.x, kb.y);
                    da_mma<false>(s[nt], qa[2 * c + 1], kb.z, kb.w);
                }
            }
        }
        // Scale (log2 domain), mask keys past the split, online softmax per row.
        const int keyBase = kBegin + tile * DA_KEYS + warp * 16 + 2 * t;
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < 2; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const bool ok = keyBase + nt * 8 + (e & 1) < kEnd;
                const float v = ok ? s[nt][e] * log2Scale : -INFINITY;
                s[nt][e] = v;
                if (e < 2) mx0 = fmaxf(mx0, v); else mx1 = fmaxf(mx1, v);
            }
        }
        online_softmax_step(s, o, mx0, mx1, m0, m1, l0, l1);
        // O += P · V: P's accumulator layout is the A operand; V rows 2t, 2t+1, 2t+8, 2t+9 of the
        // warp's 16 keys give the B operand of 8 n-tiles per 8-element read.
        u32 pa[4] = {da_pack<FP8>(s[0][0], s[0][1]), da_pack<FP8>(s[0][2], s[0][3]),
                     da_pack<FP8>(s[1][0], s[1][1]), da_pack<FP8>(s[1][2], s[1][3])};
        const u8 *vrow = vs + (warp * 16 + 2 * t) * L::VLD;
#pragma unroll
        for (int j = 0; j < HD / 64; j++) {
            if constexpr (FP8) {
                const u8 *at = vrow + j * 64 + g * 8;
                uint2 v0 = *(const uint2 *)at, v1 = *(const uint2 *)(at + L::VLD);
                uint2 v8 = *(const uint2 *)(at + 8 * L::VLD), v9 = *(const uint2 *)(at + 9 * L::VLD);
#pragma unroll
                for (int e = 0; e < 8; e++) {
                    const u32 sel = (u32)(e & 3) | ((u32)(4 + (e & 3)) << 4);
                    const u32 w0 = e < 4 ? v0.x : v0.y, w1 = e < 4 ? v1.x : v1.y;
                    const u32 w8 = e < 4 ? v8.x : v8.y, w9 = e < 4 ? v9.x : v9.y;
                    da_mma<true>(o[8 * j + e], pa, da_e4m3x2_to_f16x2(__byte_perm(w0, w1, sel) & 0xFFFFu),
                                 da_e4m3x2_to_f16x2(__byte_perm(w8, w9, sel) & 0xFFFFu));
                }
            } else {
                const u8 *at = vrow + (j * 64 + g * 8) * 2;
                da_u4 v0 = *(const da_u4 *)at, v1 = *(const da_u4 *)(at + L::VLD);
                da_u4 v8 = *(const da_u4 *)(at + 8 * L::VLD), v9 = *(const da_u4 *)(at + 9 * L::VLD);
                const u32 a0[4] = {v0.x, v0.y, v0.z, v0.w}, a1[4] = {v1.x, v1.y, v1.z, v1.w};
                const u32 a8[4] = {v8.x, v8.y, v8.z, v8.w}, a9[4] = {v9.x, v9.y, v9.z, v9.w};
#pragma unroll
                for (int e = 0; e < 8; e++) {
                    const u32 sel = (e & 1) ? 0x7632u : 0x5410u;
                    da_mma<false>(o[8 * j + e], pa, __byte_perm(a0[e >> 1], a1[e >> 1], sel), __byte_perm(a8[e >> 1], a9[e >> 1], sel));
                }
            }
        }
    }
    cp_async_wait<0>();
    __syncthreads();  // pipeline buffers are free: reuse them for the warps' merge

    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    float *ml = (float *)da_shared;            // [4 warps][16 rows][2]
    float *os = ml + 4 * 16 * 2;               // [4 warps][16 rows][HD]
    if (t == 0) {
        ml[(warp * 16 + g) * 2] = m0; ml[(warp * 16 + g) * 2 + 1] = l0;
        ml[(warp * 16 + g + 8) * 2] = m1; ml[(warp * 16 + g + 8) * 2 + 1] = l1;
    }
    {
        float *r0 = os + (warp * 16 + g) * HD, *r1 = os + (warp * 16 + g + 8) * HD;
#pragma unroll
        for (int j = 0; j < HD / 64; j++) {
#pragma unroll
            for (int e = 0; e < 8; e++) {
                const int d = j * 64 + 16 * t + e;
                r0[d] = o[8 * j + e][0]; r0[d + 8] = o[8 * j + e][1];
                r1[d] = o[8 * j + e][2]; r1[d + 8] = o[8 * j + e][3];
            }
        }
    }
    __syncthreads();
    for (int i = tid; i < group * HD; i += DA_THREADS) {
        const int r = i / HD, d = i % HD;
        float M = -INFINITY;
#pragma unroll
        for (int w = 0; w < 4; w++) M = fmaxf(M, ml[(w * 16 + r) * 2]);
        float acc = 0.0f, sum = 0.0f;
#pragma unroll
        for (int w = 0; w < 4; w++) {
            const float mw = ml[(w * 16 + r) * 2];
            const float f = mw == -INFINITY ? 0.0f : exp2f(mw - M);
            acc += os[(w * 16 + r) * HD + d] * f;
            sum += ml[(w * 16 + r) * 2 + 1] * f;
        }
        const int head = kvHead * group + r;
        if (splits == 1) {
            const float inv = sum > 0.0f ? valueScale / sum : 0.0f;
            out[(long long)token * outStride + (long long)head * HD + d] = float_to_bf16(acc * inv);
        } else {
            const long long at = ((long long)token * heads + head) * splits + split;
            partialO[at * HD + d] = acc * valueScale;
            if (d == 0) { partialML[at * 2] = M; partialML[at * 2 + 1] = sum; }
        }
    }
    __syncthreads();  // every thread is done with the shared merge buffers before finish() reuses them
    finish();
}

#define DA_ENTRY(NAME, HD, FP8, MINB)                                                                                    \
    extern "C" __global__ void __launch_bounds__(DA_THREADS, MINB) NAME(                                              \
        const u16 *q, long long qStride, const u8 *keys, const u8 *values, long long keyStride, long long keyHeadStride, \
        long long valueStride, long long valueHeadStride, u16 *out, long long outStride, int group, float scale,       \
        float valueScale, int window, const int *positions, const int *pageStarts, const int *pageTable, int pageSize, \
        int chunk, float *partialO, float *partialML, int *counters) {                                                \
        decode_attention<HD, FP8>(q, qStride, keys, values, keyStride, keyHeadStride, valueStride, valueHeadStride,    \
                                  out, outStride, group, scale, valueScale, window, positions, pageStarts, pageTable, \
                                  pageSize, chunk, partialO, partialML, counters);                                    \
    }
// Resident blocks per SM the register budget must allow (shared memory allows 2 for bf16 d128, 3
// or more for the others).
DA_ENTRY(tern_decode_attention_d64, 64, false, 3)
DA_ENTRY(tern_decode_attention_d128, 128, false, 2)
DA_ENTRY(tern_decode_attention_fp8_d64, 64, true, 3)
DA_ENTRY(tern_decode_attention_fp8_d128, 128, true, 3)

// Merges split partials: out = Σ_s 2^(m_s − M) O_s / Σ_s 2^(m_s − M) l_s. Grid (tokens, heads),
// block ≥ 32 threads; partials laid out [token][head][split].
extern "C" __global__ void tern_decode_combine(const float *partialO, const float *partialML, int splits, int headDim,
                                               u16 *out, long long outStride) {
#if __CUDA_ARCH__ >= 900
    // The o_proj GEMV after it is a programmatic dependent (TERN_CUDA_PDL): its blocks may start now
    // and load their weights; it waits for this grid before it reads `out`. No-op otherwise.
    asm volatile("griddepcontrol.launch_dependents;");
#endif
    const int token = blockIdx.x, head = blockIdx.y, heads = gridDim.y;
    const long long base = ((long long)token * heads + head) * splits;
    merge_split_partials(partialML + base * 2, partialO + base * headDim, splits, headDim,
                         out + (long long)token * outStride + (long long)head * headDim);
}

// tern_decode_combine with the split loop made short (TERN_CUDA_DECODE_COMBINE=wide; the default
// merges inside the attention launch with the same helpers): merge_split_partials walks the splits
// three times one after another per thread (max, sum, output), each step a dependent global load.
// Here warp 0 reads 4 splits' (max, sum) per lane at once, reduces with shuffles and parks the
// weights 2^(m_s − M) in shared memory (da_split_weights), so the output loop's loads of O_s no
// longer wait on a global (max, sum) load (da_weighted_sum: 8 in flight). Same formula and output
// summation order; only the denominator's order differs (tree instead of sequential).
// Grid (tokens, heads), block a multiple of 32 threads (≥ headDim is best), splits ≤ 128;
// partials laid out [token][head][split]. Launched as a programmatic dependent (TERN_CUDA_DECODE_PDL)
// after the attention kernel: nothing is read before griddepcontrol.wait.
extern "C" __global__ void tern_decode_combine_w(const float *partialO, const float *partialML, int splits, int headDim,
                                                 u16 *out, long long outStride) {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
    __shared__ float weight[DA_COMBINE_MAX_SPLITS];
    __shared__ float inv;
    const int token = blockIdx.x, head = blockIdx.y, heads = gridDim.y;
    const long long base = ((long long)token * heads + head) * splits;
    if (threadIdx.x < 32) {
        const float v = da_split_weights(partialML + base * 2, splits, weight);
        if (threadIdx.x == 0) inv = v;
    }
    __syncthreads();
    u16 *row = out + (long long)token * outStride + (long long)head * headDim;
    for (int d = threadIdx.x; d < headDim; d += blockDim.x)
        row[d] = float_to_bf16(da_weighted_sum(partialO + base * headDim, weight, splits, headDim, d) * inv);
}
