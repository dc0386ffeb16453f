// Flash-style paged attention on tensor cores (bf16 mma.sync m16n8k16, fp32 accumulation) for
// bf16 q/K/V with head width 64 or 128. A block serves one tile of query rows of one sequence and
// one KV head: its 64 rows are (token, query head of the GQA group) pairs, so each K/V tile is read
// once for the whole group. K/V tiles of 64 keys go through shared memory; an online softmax per
// row keeps the running max and sum in registers. Causal by position, optional sliding window.
#include "mma.cuh"

#define FA_ROWS 64
#define FA_KEYS 64

// tiles[i] = {first token, token count, position of the first token, page-table start}.
// FP8: keys/values are e4m3 codes (strides in bytes), decoded to bf16 on the way into shared
// memory; the key scale is folded into `scale` by the caller and the value scale (`valueScale`)
// multiplies the output (1 for bf16 caches).
template <int HD, bool FP8>
__device__ void flash_attention(
    const u16 *q, long long qStride, const void *keys, const void *values,
    long long keyStride, long long keyHeadStride, long long valueStride, long long valueHeadStride,
    u16 *out, long long outStride, int group, float scale, int window,
    const int *tiles, const int *pageTable, int pageSize, float *partialO, float *partialML, float valueScale) {
    constexpr int LD = HD + 8;  // padded row (16 bytes) against bank conflicts
    extern __shared__ __align__(16) u16 fa_shared[];
    u16 *qs = fa_shared;             // [FA_ROWS][LD]
    u16 *ks = qs + FA_ROWS * LD;     // [FA_KEYS][LD]
    u16 *vs = ks + FA_KEYS * LD;     // [FA_KEYS][LD]

    const int *tile = tiles + blockIdx.x * 4;
    int tokenStart = tile[0], tokenCount = tile[1], firstPosition = tile[2];
    const int *pages = pageTable + tile[3];
    int kvHead = blockIdx.y;
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    constexpr int CHUNKS = HD / 8;  // 16-byte chunks per row

    // Query rows → shared (zeros past the tile's tokens).
    for (int i = tid; i < FA_ROWS * CHUNKS; i += blockDim.x) {
        int r = i / CHUNKS, c = i % CHUNKS;
        int tok = r / group, h = kvHead * group + r % group;
        uint4 v = {0, 0, 0, 0};
        if (tok < tokenCount)
            v = *(const uint4 *)(q + (long long)(tokenStart + tok) * qStride + (long long)h * HD + c * 8);
        *(uint4 *)(qs + r * LD + c * 8) = v;
    }
    __syncthreads();
    u32 qa[HD / 16][4];
    int r0 = warp * 16 + g, r1 = r0 + 8;
#pragma unroll
    for (int kc = 0; kc < HD / 16; kc++) {
        qa[kc][0] = *(const u32 *)(qs + r0 * LD + kc * 16 + 2 * t);
        qa[kc][1] = *(const u32 *)(qs + r1 * LD + kc * 16 + 2 * t);
        qa[kc][2] = *(const u32 *)(qs + r0 * LD + kc * 16 + 2 * t + 8);
        qa[kc][3] = *(const u32 *)(qs + r1 * LD + kc * 16 + 2 * t + 8);
    }
    int tok0 = r0 / group, tok1 = r1 / group;
    int pos0 = tok0 < tokenCount ? firstPosition + tok0 : -1;
    int pos1 = tok1 < tokenCount ? firstPosition + tok1 : -1;

    int kvEnd = firstPosition + tokenCount;  // keys [0, last position]
    int kvBegin = window > 0 ? max(0, firstPosition + 1 - window) : 0;
    kvBegin = kvBegin / FA_KEYS * FA_KEYS;
    // Split-KV (grid.z > 1): this block takes a contiguous share of the key tiles and leaves an
    // unnormalised partial result for tern_flash_combine.
    int splits = gridDim.z, split = blockIdx.z;
    int keyTiles = (kvEnd - kvBegin + FA_KEYS - 1) / FA_KEYS, perSplit = (keyTiles + splits - 1) / splits;
    int myBegin = kvBegin + split * perSplit * FA_KEYS;
    int myEnd = min(kvEnd, myBegin + perSplit * FA_KEYS);
    const float log2Scale = scale * 1.4426950408889634f;

    float o[HD / 8][4];
#pragma unroll
    for (int i = 0; i < HD / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;

    for (int kt = myBegin; kt < myEnd; kt += FA_KEYS) {
        __syncthreads();
        for (int i = tid; i < FA_KEYS * CHUNKS; i += blockDim.x) {
            int r = i / CHUNKS, c = i % CHUNKS, j = kt + r;
            bool valid = j < kvEnd;
            long long slot = valid ? (long long)pages[j / pageSize] * pageSize + j % pageSize : 0;
            long long keyAt = slot * keyStride + kvHead * keyHeadStride + c * 8;
            long long valueAt = slot * valueStride + kvHead * valueHeadStride + c * 8;
            if constexpr (FP8) {
                uint2 kb = make_uint2(0, 0), vb = make_uint2(0, 0);
                if (valid) {
                    kb = *(const uint2 *)((const u8 *)keys + keyAt);
                    vb = *(const uint2 *)((const u8 *)values + valueAt);
                }
                *(uint4 *)(ks + r * LD + c * 8) = e4m3x8_to_bf16x8(kb);
                *(uint4 *)(vs + r * LD + c * 8) = e4m3x8_to_bf16x8(vb);
            } else {
                cp_async16(ks + r * LD + c * 8, (const u16 *)keys + keyAt, valid);
                cp_async16(vs + r * LD + c * 8, (const u16 *)values + valueAt, valid);
            }
        }
        asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;" ::: "memory");
        __syncthreads();

        float s[FA_KEYS / 8][4];
#pragma unroll
        for (int nt = 0; nt < FA_KEYS / 8; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
            const u16 *krow = ks + (nt * 8 + g) * LD + 2 * t;
#pragma unroll
            for (int kc = 0; kc < HD / 16; kc++)
                mma_bf16_16816(s[nt], qa[kc][0], qa[kc][1], qa[kc][2], qa[kc][3],
                       *(const u32 *)(krow + kc * 16), *(const u32 *)(krow + kc * 16 + 8));
        }
        // Scale (log2 domain), mask, row maxima over the quad.
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < FA_KEYS / 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = kt + nt * 8 + 2 * t + (e & 1);
                int pos = e < 2 ? pos0 : pos1;
                bool ok = key <= pos && (window <= 0 || key > pos - window);
                float v = ok ? s[nt][e] * log2Scale : -INFINITY;
                s[nt][e] = v;
                if (e < 2) mx0 = fmaxf(mx0, v); else mx1 = fmaxf(mx1, v);
            }
        }
        online_softmax_step(s, o, mx0, mx1, m0, m1, l0, l1);
        // O += P · V, P's accumulator layout reused as the A operand.
#pragma unroll
        for (int kc = 0; kc < FA_KEYS / 16; kc++) {
            u32 a0 = pack_bf16x2(s[2 * kc][0], s[2 * kc][1]), a1 = pack_bf16x2(s[2 * kc][2], s[2 * kc][3]);
            u32 a2 = pack_bf16x2(s[2 * kc + 1][0], s[2 * kc + 1][1]), a3 = pack_bf16x2(s[2 * kc + 1][2], s[2 * kc + 1][3]);
            const u16 *v0 = vs + (kc * 16 + 2 * t) * LD + g;
#pragma unroll
            for (int dn = 0; dn < HD / 8; dn++) {
                const u16 *v = v0 + dn * 8;
                u32 bb0 = (u32)v[0] | ((u32)v[LD] << 16);
                u32 bb1 = (u32)v[8 * LD] | ((u32)v[9 * LD] << 16);
                mma_bf16_16816(o[dn], a0, a1, a2, a3, bb0, bb1);
            }
        }
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    if (FP8) {
#pragma unroll
        for (int i = 0; i < HD / 8; i++) { o[i][0] *= valueScale; o[i][1] *= valueScale; o[i][2] *= valueScale; o[i][3] *= valueScale; }
    }
    if (splits > 1) {
        long long base = ((long long)blockIdx.x * gridDim.y + kvHead) * FA_ROWS;
        long long i0 = (base + r0) * splits + split, i1 = (base + r1) * splits + split;
        if (tok0 < tokenCount) {
#pragma unroll
            for (int dn = 0; dn < HD / 8; dn++) *(float2 *)(partialO + i0 * HD + dn * 8 + 2 * t) = make_float2(o[dn][0], o[dn][1]);
            if (t == 0) { partialML[i0 * 2] = m0; partialML[i0 * 2 + 1] = l0; }
        }
        if (tok1 < tokenCount) {
#pragma unroll
            for (int dn = 0; dn < HD / 8; dn++) *(float2 *)(partialO + i1 * HD + dn * 8 + 2 * t) = make_float2(o[dn][2], o[dn][3]);
            if (t == 0) { partialML[i1 * 2] = m1; partialML[i1 * 2 + 1] = l1; }
        }
        return;
    }
    float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    if (tok0 < tokenCount) {
        u16 *row = out + (long long)(tokenStart + tok0) * outStride + (long long)(kvHead * group + r0 % group) * HD + 2 * t;
#pragma unroll
        for (int dn = 0; dn < HD / 8; dn++) *(u32 *)(row + dn * 8) = pack_bf16x2(o[dn][0] * inv0, o[dn][1] * inv0);
    }
    if (tok1 < tokenCount) {
        u16 *row = out + (long long)(tokenStart + tok1) * outStride + (long long)(kvHead * group + r1 % group) * HD + 2 * t;
#pragma unroll
        for (int dn = 0; dn < HD / 8; dn++) *(u32 *)(row + dn * 8) = pack_bf16x2(o[dn][2] * inv1, o[dn][3] * inv1);
    }
}

#define FA_ENTRY(NAME, HD, FP8)                                                                                      \
    extern "C" __global__ void __launch_bounds__(128) NAME(                                                          \
        const u16 *q, long long qStride, const void *keys, const void *values, long long keyStride,                 \
        long long keyHeadStride, long long valueStride, long long valueHeadStride, u16 *out, long long outStride,   \
        int group, float scale, int window, const int *tiles, const int *pageTable, int pageSize, float *partialO,   \
        float *partialML, float valueScale) {                                                                       \
        flash_attention<HD, FP8>(q, qStride, keys, values, keyStride, keyHeadStride, valueStride, valueHeadStride,  \
                                 out, outStride, group, scale, window, tiles, pageTable, pageSize, partialO,        \
                                 partialML, valueScale);                                                            \
    }
FA_ENTRY(tern_flash_attention_d64, 64, false)
FA_ENTRY(tern_flash_attention_d128, 128, false)
FA_ENTRY(tern_flash_attention_fp8_d64, 64, true)
FA_ENTRY(tern_flash_attention_fp8_d128, 128, true)

// Merges split-KV partials: per row, out = Σ_s 2^(m_s − M) O_s / Σ_s 2^(m_s − M) l_s. Grid (tiles,
// KV heads), rows as in the attention kernel.
extern "C" __global__ void tern_flash_combine(const float *partialO, const float *partialML, int splits, int headDim,
                                              int group, const int *tiles, u16 *out, long long outStride) {
    const int kvHead = blockIdx.y;
    merge_tile_partials(partialO, partialML, splits, headDim, group, FA_ROWS, ((long long)blockIdx.x * gridDim.y + kvHead) * FA_ROWS,
                        tiles + blockIdx.x * 4, kvHead, out, outStride);
}

// ---------------------------------------------------------------------------------------------
// MLA in the absorbed (latent) form: every query head attends over one shared latent KV head of
// width 576 (kv_lora_rank 512 + rope 64) whose first 512 elements are the values. A block serves
// 64 rows = (token, head) pairs of one tile of tokens: G = min(heads, 64) heads of each token
// (grid.x picks the head block and the value half, so a tile's blocks are scheduled together and
// share the latent tiles through L2; grid.y is the tile), each latent row read once per 64 heads.
// Scores on tensor cores over the full 576 width; each block accumulates one 256-wide half of the
// 512-wide output (two halves keep the accumulators in registers). Q tile and 32-key latent tiles
// in shared memory; online softmax; split-KV over grid.z with tern_mla_combine. bf16 or FP8 cache
// (decoded to bf16 on the way into shared memory; key scale folded into `scale`, value scale on O).
#define MLA_D 576
#define MLA_V 512
#define MLA_VH 256  // value columns per block
#define MLA_ROWS 64
#define MLA_KEYS 32
#define MLA_LD (MLA_D + 8)

// LDSM: operand fragments through ldmatrix (one instruction per 4 registers: Q and K non-transposed,
// V transposed) instead of 32-bit/16-bit shared loads; MLA_LD rows (1168 bytes ≡ 4 words mod 32)
// keep each 8-row phase conflict-free. TERN_CUDA_MLA_ATTN=old runs the variant without.
template <bool FP8, bool LDSM>
__device__ void mla_attention(const u16 *q, long long qStride, const void *cache, long long cacheStride, u16 *out,
                              long long outStride, int heads, int group, float scale, const int *tiles, const int *pageTable,
                              int pageSize, float *partialO, float *partialML, float valueScale) {
    extern __shared__ __align__(16) u16 mla_shared[];
    u16 *qs = mla_shared;                // [MLA_ROWS][MLA_LD]
    u16 *ks = qs + MLA_ROWS * MLA_LD;    // [MLA_KEYS][MLA_LD]

    const int *tile = tiles + blockIdx.y * 4;  // grid (roles, tiles, splits): a tile's blocks run side by side
    int tokenStart = tile[0], tokenCount = tile[1], firstPosition = tile[2];
    const int *pages = pageTable + tile[3];
    int headBlocks = heads / group;
    int headBlock = blockIdx.x % headBlocks, half = blockIdx.x / headBlocks;
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    constexpr int CHUNKS = MLA_D / 8;

    for (int i = tid; i < MLA_ROWS * CHUNKS; i += blockDim.x) {
        int r = i / CHUNKS, c = i % CHUNKS;
        int tok = r / group, h = headBlock * group + r % group;
        uint4 v = {0, 0, 0, 0};
        if (tok < tokenCount)
            v = *(const uint4 *)(q + (long long)(tokenStart + tok) * qStride + (long long)h * MLA_D + c * 8);
        *(uint4 *)(qs + r * MLA_LD + c * 8) = v;
    }
    int r0 = warp * 16 + g, r1 = r0 + 8;
    int tok0 = r0 / group, tok1 = r1 / group;
    int pos0 = tok0 < tokenCount ? firstPosition + tok0 : -1;
    int pos1 = tok1 < tokenCount ? firstPosition + tok1 : -1;

    int kvEnd = firstPosition + tokenCount;
    int splits = gridDim.z, split = blockIdx.z;
    int keyTiles = (kvEnd + MLA_KEYS - 1) / MLA_KEYS, perSplit = (keyTiles + splits - 1) / splits;
    int myBegin = split * perSplit * MLA_KEYS;
    int myEnd = min(kvEnd, myBegin + perSplit * MLA_KEYS);
    const float log2Scale = scale * 1.4426950408889634f;

    float o[MLA_VH / 8][4];
#pragma unroll
    for (int i = 0; i < MLA_VH / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
    const u16 *qa0 = qs + r0 * MLA_LD + 2 * t, *qa1 = qs + r1 * MLA_LD + 2 * t;

    for (int kt = myBegin; kt < myEnd; kt += MLA_KEYS) {
        __syncthreads();  // previous tile's readers are done (and, the first time, Q is stored)
        for (int i = tid; i < MLA_KEYS * CHUNKS; i += blockDim.x) {
            int r = i / CHUNKS, c = i % CHUNKS, j = kt + r;
            bool valid = j < kvEnd;
            long long slot = valid ? (long long)pages[j / pageSize] * pageSize + j % pageSize : 0;
            long long at = slot * cacheStride + c * 8;
            if constexpr (FP8) {
                uint2 b = make_uint2(0, 0);
                if (valid) b = *(const uint2 *)((const u8 *)cache + at);
                *(uint4 *)(ks + r * MLA_LD + c * 8) = e4m3x8_to_bf16x8(b);
            } else {
                cp_async16(ks + r * MLA_LD + c * 8, (const u16 *)cache + at, valid);
            }
        }
        if constexpr (!FP8) asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;" ::: "memory");
        __syncthreads();

        float s[MLA_KEYS / 8][4];
#pragma unroll
        for (int nt = 0; nt < MLA_KEYS / 8; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
        if constexpr (LDSM) {
            // Lane address rows: A (Q) m0..m3 = rows +0/+8, cols +0/+8; K pairs of key n-tiles.
            const u16 *qa = qs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * MLA_LD + (lane >> 4) * 8;
            const u16 *kb = ks + ((lane >> 4) * 8 + (lane & 7)) * MLA_LD + ((lane >> 3) & 1) * 8;
#pragma unroll 4
            for (int kc = 0; kc < MLA_D / 16; kc++) {
                u32 a[4], b[4];
                ldsm_x4(a, qa + kc * 16);
#pragma unroll
                for (int np = 0; np < MLA_KEYS / 16; np++) {
                    ldsm_x4(b, kb + np * 16 * MLA_LD + kc * 16);
                    mma_bf16_16816(s[2 * np], a[0], a[1], a[2], a[3], b[0], b[1]);
                    mma_bf16_16816(s[2 * np + 1], a[0], a[1], a[2], a[3], b[2], b[3]);
                }
            }
        } else
#pragma unroll 4
        for (int kc = 0; kc < MLA_D / 16; kc++) {
            u32 a0 = *(const u32 *)(qa0 + kc * 16), a1 = *(const u32 *)(qa1 + kc * 16);
            u32 a2 = *(const u32 *)(qa0 + kc * 16 + 8), a3 = *(const u32 *)(qa1 + kc * 16 + 8);
#pragma unroll
            for (int nt = 0; nt < MLA_KEYS / 8; nt++) {
                const u16 *krow = ks + (nt * 8 + g) * MLA_LD + kc * 16 + 2 * t;
                mma_bf16_16816(s[nt], a0, a1, a2, a3, *(const u32 *)krow, *(const u32 *)(krow + 8));
            }
        }
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < MLA_KEYS / 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = kt + nt * 8 + 2 * t + (e & 1);
                int pos = e < 2 ? pos0 : pos1;
                float v = key <= pos ? s[nt][e] * log2Scale : -INFINITY;
                s[nt][e] = v;
                if (e < 2) mx0 = fmaxf(mx0, v); else mx1 = fmaxf(mx1, v);
            }
        }
        online_softmax_step(s, o, mx0, mx1, m0, m1, l0, l1);
        // O += P · V over this block's value half (the latent's columns half·256 ..< half·256 + 256).
#pragma unroll
        for (int kc = 0; kc < MLA_KEYS / 16; kc++) {
            u32 a0 = pack_bf16x2(s[2 * kc][0], s[2 * kc][1]), a1 = pack_bf16x2(s[2 * kc][2], s[2 * kc][3]);
            u32 a2 = pack_bf16x2(s[2 * kc + 1][0], s[2 * kc + 1][1]), a3 = pack_bf16x2(s[2 * kc + 1][2], s[2 * kc + 1][3]);
            if constexpr (LDSM) {
                // Transposed: m0/m1 = keys +0/+8 of column block dn, m2/m3 the same of dn + 1.
                const u16 *vb = ks + (kc * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * MLA_LD + half * MLA_VH + (lane >> 4) * 8;
#pragma unroll
                for (int dp = 0; dp < MLA_VH / 16; dp++) {
                    u32 b[4];
                    ldsm_x4_trans(b, vb + dp * 16);
                    mma_bf16_16816(o[2 * dp], a0, a1, a2, a3, b[0], b[1]);
                    mma_bf16_16816(o[2 * dp + 1], a0, a1, a2, a3, b[2], b[3]);
                }
            } else {
            const u16 *v0 = ks + (kc * 16 + 2 * t) * MLA_LD + half * MLA_VH + g;
#pragma unroll
            for (int dn = 0; dn < MLA_VH / 8; dn++) {
                const u16 *v = v0 + dn * 8;
                u32 bb0 = (u32)v[0] | ((u32)v[MLA_LD] << 16);
                u32 bb1 = (u32)v[8 * MLA_LD] | ((u32)v[9 * MLA_LD] << 16);
                mma_bf16_16816(o[dn], a0, a1, a2, a3, bb0, bb1);
            }
            }
        }
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
#pragma unroll
    for (int i = 0; i < MLA_VH / 8; i++) { o[i][0] *= valueScale; o[i][1] *= valueScale; o[i][2] *= valueScale; o[i][3] *= valueScale; }
    int h0 = headBlock * group + r0 % group, h1 = headBlock * group + r1 % group;
    if (splits > 1) {
        long long base = ((long long)blockIdx.y * headBlocks + headBlock) * MLA_ROWS;
        long long i0 = (base + r0) * splits + split, i1 = (base + r1) * splits + split;
        if (tok0 < tokenCount) {
#pragma unroll
            for (int dn = 0; dn < MLA_VH / 8; dn++)
                *(float2 *)(partialO + i0 * MLA_V + half * MLA_VH + dn * 8 + 2 * t) = make_float2(o[dn][0], o[dn][1]);
            if (t == 0 && half == 0) { partialML[i0 * 2] = m0; partialML[i0 * 2 + 1] = l0; }
        }
        if (tok1 < tokenCount) {
#pragma unroll
            for (int dn = 0; dn < MLA_VH / 8; dn++)
                *(float2 *)(partialO + i1 * MLA_V + half * MLA_VH + dn * 8 + 2 * t) = make_float2(o[dn][2], o[dn][3]);
            if (t == 0 && half == 0) { partialML[i1 * 2] = m1; partialML[i1 * 2 + 1] = l1; }
        }
        return;
    }
    float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    if (tok0 < tokenCount) {
        u16 *row = out + (long long)(tokenStart + tok0) * outStride + (long long)h0 * MLA_V + half * MLA_VH + 2 * t;
#pragma unroll
        for (int dn = 0; dn < MLA_VH / 8; dn++) *(u32 *)(row + dn * 8) = pack_bf16x2(o[dn][0] * inv0, o[dn][1] * inv0);
    }
    if (tok1 < tokenCount) {
        u16 *row = out + (long long)(tokenStart + tok1) * outStride + (long long)h1 * MLA_V + half * MLA_VH + 2 * t;
#pragma unroll
        for (int dn = 0; dn < MLA_VH / 8; dn++) *(u32 *)(row + dn * 8) = pack_bf16x2(o[dn][2] * inv1, o[dn][3] * inv1);
    }
}

#define MLA_ENTRY(NAME, FP8, LDSM)                                                                                         \
    extern "C" __global__ void __launch_bounds__(128) NAME(                                                          \
        const u16 *q, long long qStride, const void *cache, long long cacheStride, u16 *out, long long outStride,   \
        int heads, int group, float scale, const int *tiles, const int *pageTable, int pageSize, float *partialO,    \
        float *partialML, float valueScale) {                                                                       \
        mla_attention<FP8, LDSM>(q, qStride, cache, cacheStride, out, outStride, heads, group, scale, tiles, pageTable,   \
                           pageSize, partialO, partialML, valueScale);                                              \
    }
MLA_ENTRY(tern_mla_attention, false, false)
MLA_ENTRY(tern_mla_attention_fp8, true, false)
MLA_ENTRY(tern_mla_attention_ldsm, false, true)
MLA_ENTRY(tern_mla_attention_fp8_ldsm, true, true)

// Merges MLA split-KV partials (rows as in tern_mla_attention). Grid (tiles, head blocks).
extern "C" __global__ void tern_mla_combine(const float *partialO, const float *partialML, int splits, int heads, int group,
                                            const int *tiles, u16 *out, long long outStride) {
    const int headBlock = blockIdx.y;
    merge_tile_partials(partialO, partialML, splits, MLA_V, group, MLA_ROWS, ((long long)blockIdx.x * gridDim.y + headBlock) * MLA_ROWS,
                        tiles + blockIdx.x * 4, headBlock, out, outStride);
}
