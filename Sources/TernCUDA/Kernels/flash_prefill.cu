// Prefill / extend attention, FlashAttention-2 style, on tensor cores (bf16 mma.sync m16n8k16, fp32
// accumulation) for bf16 q/out and a bf16 or FP8 (e4m3) paged K/V cache, head width 64 or 128.
//
// A block serves 128 query rows of one sequence and one KV head; rows are (token, query head of the
// GQA group) pairs, so each K/V tile is read once for the whole group. 8 warps, 16 rows each. Q
// fragments are loaded once (ldmatrix) and stay in registers. K/V tiles of 64 keys are double
// buffered in shared memory: bf16 with cp.async (the next tile is in flight while this one is
// computed), FP8 through registers (the next tile's codes are loaded before this tile's math and
// decoded to bf16 into the other buffer after it). Rows are padded by 16 bytes (row stride
// HD·2 + 16 bytes = 4 banks mod 32), so the 8 row addresses of every ldmatrix phase hit distinct
// banks. S = Q·Kᵀ with ldmatrix on K, O += P·V with ldmatrix.trans on V, P converted to bf16 in
// registers (its accumulator layout is the A operand's). Online softmax in the log2 domain.
// Causal by position: key tiles past the block's last position are never loaded, a warp skips the
// tiles past its own last row, and only tiles that straddle a row's position (or the sliding
// window's lower edge) are masked. Optional split-KV (grid.z) with tern_flash_prefill_combine.
// Grid (KV heads, tiles, splits): the host orders tiles longest first.
#include "mma.cuh"

#define FP_ROWS 128
#define FP_KEYS 64
#define FP_THREADS 256

struct __align__(16) fp_u4 { u32 x, y, z, w; };

// Eight adjacent e4m3 codes → eight bf16 (one 16-byte chunk), exactly.
__device__ __forceinline__ fp_u4 fp_e4m3x8(uint2 v) {
    fp_u4 r;
    r.x = e4m3x4_lo_to_bf16x2(v.x);
    r.y = e4m3x4_hi_to_bf16x2(v.x);
    r.z = e4m3x4_lo_to_bf16x2(v.y);
    r.w = e4m3x4_hi_to_bf16x2(v.y);
    return r;
}

// tiles[i] = {first token, token count, position of the first token, page-table start}; a tile
// holds at most 128 / group tokens. FP8: keys/values are e4m3 codes (strides in bytes); the key
// scale is folded into `scale` by the caller, `valueScale` multiplies the output (1 for bf16).
// MT: 16-row m-tiles per warp. MT = 1: 8 warps, Q fragments in registers. MT = 2: 4 warps of 32
// rows, Q in shared memory (its fragments re-read per tile), every K/V fragment feeds two mmas, so
// shared-memory reads per mma drop from 1/2 to 5/16 of an ldmatrix.x4 (2 blocks per SM).
template <int HD, bool FP8, int MT>
__device__ __forceinline__ void flash_prefill(
    const u16 *q, long long qStride, const void *keys, const void *values,
    long long keyStride, long long keyHeadStride, long long valueStride, long long valueHeadStride,
    u16 *out, long long outStride, int group, float scale, int window,
    const int *tiles, const int *pageTable, int pageSize, float *partialO, float *partialML, float valueScale) {
    constexpr int THREADS = FP_THREADS / MT;
    constexpr int WROWS = 16 * MT;                    // rows per warp
    constexpr int LD = HD + 8;                        // padded row, in elements
    constexpr int CHUNKS = HD / 8;                    // 16-byte chunks per bf16 row
    constexpr int TILE = FP_KEYS * LD;                // elements of one K (or V) tile
    constexpr int PER_THREAD = FP_KEYS * CHUNKS / THREADS;  // chunks of K (and of V) per thread per tile
    constexpr int ROW_THREADS = CHUNKS / PER_THREAD;  // threads per K/V row (4 for w8, 2 for w4)
    static_assert(PER_THREAD * THREADS == FP_KEYS * CHUNKS && ROW_THREADS * FP_KEYS == THREADS, "tile chunks must divide over the block");
    extern __shared__ __align__(16) u16 fp_shared[];
    // Stage s: K at fp_shared + 2·s·TILE, V right after. MT = 1: Q first goes through stage 1
    // (128 rows = 2 tiles of 64) before any K/V tile is written there; MT = 2: Q after the stages.
    constexpr int Q_AT = MT == 1 ? 2 * TILE : 4 * TILE;
    const u32 sbase = smem_u32(fp_shared);

    const int kvHead = blockIdx.x;
    const int *tile = tiles + blockIdx.y * 4;
    const int tokenStart = tile[0], tokenCount = tile[1], firstPosition = tile[2];
    const int *pages = pageTable + tile[3];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;

    // ---- Q → shared.
    {
        u16 *qs = fp_shared + Q_AT;
        for (int i = tid; i < FP_ROWS * CHUNKS; i += THREADS) {
            int r = i / CHUNKS, c = i % CHUNKS;
            int tok = r / group, h = kvHead * group + r % group;
            const u16 *src = q + (long long)(tokenStart + (tok < tokenCount ? tok : 0)) * qStride + (long long)h * HD + c * 8;
            cp_async16(smem_u32(qs + r * LD + c * 8), src, tok < tokenCount);
        }
        cp_async_commit();
    }

    // Row r of the block is token r / group (position firstPosition + token; -1 past the tile).
    auto rowPos = [&](int r) { int k = r / group; return k < tokenCount ? firstPosition + k : -1; };
    // The warp's first / last valid row positions (last -1: no valid row; the warp skips all math).
    const int warpLastTok = min(tokenCount - 1, (warp * WROWS + WROWS - 1) / group);
    const int warpFirstTok = (warp * WROWS) / group;
    const int warpLastPos = warpFirstTok < tokenCount ? firstPosition + warpLastTok : -1;
    const int warpFirstPos = firstPosition + warpFirstTok;

    const int kvEnd = firstPosition + tokenCount;  // keys [0, last position]
    int kvBegin = window > 0 ? max(0, firstPosition + 1 - window) : 0;
    kvBegin = kvBegin / FP_KEYS * FP_KEYS;
    const int splits = gridDim.z, split = blockIdx.z;
    const int keyTiles = (kvEnd - kvBegin + FP_KEYS - 1) / FP_KEYS, perSplit = (keyTiles + splits - 1) / splits;
    const int myBegin = kvBegin + split * perSplit * FP_KEYS;
    const int myEnd = min(kvEnd, myBegin + perSplit * FP_KEYS);
    const float log2Scale = scale * 1.4426950408889634f;

    // This thread's chunks of a K/V tile: row kr, chunks c0 … c0 + PER_THREAD − 1 (one page-table
    // lookup per thread per tile; per copy instruction a warp writes 8 rows × 4 threads (w8) or
    // 16 rows × 2 (w4), 512 bytes spread evenly over the 8 16-byte bank groups by the 4-bank row
    // skew: 4 wavefronts, the minimum).
    const int kr = tid / ROW_THREADS, c0 = (tid % ROW_THREADS) * PER_THREAD;

    // Issues (bf16) or loads into registers (FP8) the K/V tile starting at key kt.
    uint2 kraw[FP8 ? PER_THREAD : 1], vraw[FP8 ? PER_THREAD : 1];
    auto issue = [&](int kt, int stage) {
        const int j = kt + kr;
        const bool valid = j < kvEnd;
        const long long slot = valid ? (long long)pages[j / pageSize] * pageSize + j % pageSize : 0;
        const long long keyAt = slot * keyStride + kvHead * keyHeadStride + c0 * 8;
        const long long valueAt = slot * valueStride + kvHead * valueHeadStride + c0 * 8;
        const u32 ks = sbase + (u32)((2 * stage * TILE + kr * LD + c0 * 8) * 2);
#pragma unroll
        for (int i = 0; i < PER_THREAD; i++) {
            if constexpr (FP8) {
                kraw[i] = valid ? *(const uint2 *)((const u8 *)keys + keyAt + i * 8) : make_uint2(0, 0);
                vraw[i] = valid ? *(const uint2 *)((const u8 *)values + valueAt + i * 8) : make_uint2(0, 0);
            } else {
                cp_async16(ks + i * 16, (const u16 *)keys + keyAt + i * 8, valid);
                cp_async16(ks + TILE * 2 + i * 16, (const u16 *)values + valueAt + i * 8, valid);
            }
        }
    };
    // FP8: decoded codes of the last `issue` → shared stage.
    auto store = [&](int stage) {
        if constexpr (FP8) {
#pragma unroll
            for (int i = 0; i < PER_THREAD; i++) {
                u16 *ks = fp_shared + 2 * stage * TILE + kr * LD + (c0 + i) * 8;
                *(fp_u4 *)ks = fp_e4m3x8(kraw[i]);
                *(fp_u4 *)(ks + TILE) = fp_e4m3x8(vraw[i]);
            }
        }
    };

    // Prologue: first K/V tile into stage 0 while Q lands.
    if (myBegin < myEnd) {
        issue(myBegin, 0);
        store(0);
    }
    cp_async_commit();
    cp_async_wait<1>();  // Q is in
    __syncthreads();
    // A fragments: matrices (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15).
    const u32 qLane = sbase + (u32)((Q_AT + (warp * WROWS + (lane & 7) + ((lane >> 3) & 1) * 8) * LD + (lane >> 4) * 8) * 2);
    u32 qa[MT == 1 ? HD / 16 : 1][4];
    if constexpr (MT == 1) {
#pragma unroll
        for (int kc = 0; kc < HD / 16; kc++) ldsm_x4(qLane + kc * 32, qa[kc][0], qa[kc][1], qa[kc][2], qa[kc][3]);
    }

    float o[MT][HD / 8][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int i = 0; i < HD / 8; i++) o[mt][i][0] = o[mt][i][1] = o[mt][i][2] = o[mt][i][3] = 0.0f;
    float m[MT][2], l[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) { m[mt][0] = m[mt][1] = -INFINITY; l[mt][0] = l[mt][1] = 0.0f; }

    // ldmatrix lane offsets (bytes within a stage's K or V tile).
    // K (B of Q·Kᵀ, non-trans): matrices (keys n..n+7, d k..k+7), (…, d k+8..), (…, d k+16..), (…, d k+24..).
    const u32 kLane = (u32)(((lane & 7) * LD + (lane >> 3) * 8) * 2);
    // K for MT = 2, one k-step for two key groups: (keys n.., d k..), (keys n.., d k+8..), (keys n+8.., d k..), (keys n+8.., d k+8..).
    const u32 kLane2 = (u32)((((lane & 7) + (lane >> 4) * 8) * LD + ((lane >> 3) & 1) * 8) * 2);
    // V (B of P·V, trans): matrices (keys k..k+7, d n..), (keys k+8.., d n..), (keys k.., d n+8..), (keys k+8.., d n+8..).
    const u32 vLane = (u32)((((lane & 7) + ((lane >> 3) & 1) * 8) * LD + (lane >> 4) * 8) * 2);

    int stage = 0;
    for (int kt = myBegin; kt < myEnd; kt += FP_KEYS, stage ^= 1) {
        const bool more = kt + FP_KEYS < myEnd;
        __syncthreads();  // every warp is done with stage^1 (previous tile; Q the first time for MT = 1)
        if (more) issue(kt + FP_KEYS, stage ^ 1);
        cp_async_commit();
        cp_async_wait<1>();  // this tile's copies are done
        __syncthreads();

        if (kt <= warpLastPos && (window <= 0 || kt + FP_KEYS - 1 > warpFirstPos - window)) {
            const u32 kBase = sbase + (u32)(2 * stage * TILE * 2) + kLane;
            const u32 vBase = sbase + (u32)((2 * stage + 1) * TILE * 2) + vLane;
            const u32 kBase2 = sbase + (u32)(2 * stage * TILE * 2) + kLane2;
            float s[MT][FP_KEYS / 8][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int nt = 0; nt < FP_KEYS / 8; nt++) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.0f;
            if constexpr (MT == 1) {
#pragma unroll
                for (int nt = 0; nt < FP_KEYS / 8; nt++) {
#pragma unroll
                    for (int kc = 0; kc < HD / 16; kc += 2) {
                        u32 b0, b1, b2, b3;
                        ldsm_x4(kBase + (u32)((nt * 8 * LD + kc * 16) * 2), b0, b1, b2, b3);
                        mma_bf16_16816(s[0][nt], qa[kc], b0, b1);
                        mma_bf16_16816(s[0][nt], qa[kc + 1], b2, b3);
                    }
                }
            } else {
#pragma unroll
                for (int kc = 0; kc < HD / 16; kc++) {
                    u32 qf[MT][4];
#pragma unroll
                    for (int mt = 0; mt < MT; mt++)
                        ldsm_x4(qLane + (u32)((mt * 16 * LD + kc * 16) * 2), qf[mt][0], qf[mt][1], qf[mt][2], qf[mt][3]);
#pragma unroll
                    for (int nt = 0; nt < FP_KEYS / 8; nt += 2) {
                        u32 b0, b1, b2, b3;
                        ldsm_x4(kBase2 + (u32)((nt * 8 * LD + kc * 16) * 2), b0, b1, b2, b3);
#pragma unroll
                        for (int mt = 0; mt < MT; mt++) {
                            mma_bf16_16816(s[mt][nt], qf[mt], b0, b1);
                            mma_bf16_16816(s[mt][nt + 1], qf[mt], b2, b3);
                        }
                    }
                }
            }
            // Mask only where some row of the warp can see a masked key in this tile.
            const bool needMask = kt + FP_KEYS - 1 > warpFirstPos || kt + FP_KEYS - 1 >= kvEnd
                || (window > 0 && kt <= warpLastPos - window);
            if (needMask) {
#pragma unroll
                for (int mt = 0; mt < MT; mt++)
#pragma unroll
                    for (int nt = 0; nt < FP_KEYS / 8; nt++) {
#pragma unroll
                        for (int e = 0; e < 4; e++) {
                            int key = kt + nt * 8 + 2 * t + (e & 1);
                            int p = rowPos(warp * WROWS + mt * 16 + g + 8 * (e >> 1));
                            bool ok = key <= p && (window <= 0 || key > p - window);
                            if (!ok) s[mt][nt][e] = -INFINITY;
                        }
                    }
            }
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
                for (int nt = 0; nt < FP_KEYS / 8; nt++) {
                    mx0 = fmaxf(mx0, fmaxf(s[mt][nt][0], s[mt][nt][1]));
                    mx1 = fmaxf(mx1, fmaxf(s[mt][nt][2], s[mt][nt][3]));
                }
                mx0 = quad_max(mx0);
                mx1 = quad_max(mx1);
                // Maxima in raw score units; exponents as exp2(s·log2Scale − m·log2Scale).
                float n0 = fmaxf(m[mt][0], mx0), n1 = fmaxf(m[mt][1], mx1);
                float b0 = n0 == -INFINITY ? 0.0f : n0 * log2Scale, b1 = n1 == -INFINITY ? 0.0f : n1 * log2Scale;
                float c0 = exp2f(m[mt][0] * log2Scale - b0), c1 = exp2f(m[mt][1] * log2Scale - b1);
                m[mt][0] = n0; m[mt][1] = n1;
                l[mt][0] *= c0; l[mt][1] *= c1;
#pragma unroll
                for (int i = 0; i < HD / 8; i++) { o[mt][i][0] *= c0; o[mt][i][1] *= c0; o[mt][i][2] *= c1; o[mt][i][3] *= c1; }
#pragma unroll
                for (int nt = 0; nt < FP_KEYS / 8; nt++) {
                    s[mt][nt][0] = exp2f(fmaf(s[mt][nt][0], log2Scale, -b0)); s[mt][nt][1] = exp2f(fmaf(s[mt][nt][1], log2Scale, -b0));
                    s[mt][nt][2] = exp2f(fmaf(s[mt][nt][2], log2Scale, -b1)); s[mt][nt][3] = exp2f(fmaf(s[mt][nt][3], log2Scale, -b1));
                    l[mt][0] += s[mt][nt][0] + s[mt][nt][1];
                    l[mt][1] += s[mt][nt][2] + s[mt][nt][3];
                }
            }
            // O += P · V.
#pragma unroll
            for (int kc = 0; kc < FP_KEYS / 16; kc++) {
                u32 a[MT][4];
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    a[mt][0] = pack_bf16x2(s[mt][2 * kc][0], s[mt][2 * kc][1]);
                    a[mt][1] = pack_bf16x2(s[mt][2 * kc][2], s[mt][2 * kc][3]);
                    a[mt][2] = pack_bf16x2(s[mt][2 * kc + 1][0], s[mt][2 * kc + 1][1]);
                    a[mt][3] = pack_bf16x2(s[mt][2 * kc + 1][2], s[mt][2 * kc + 1][3]);
                }
#pragma unroll
                for (int dn = 0; dn < HD / 8; dn += 2) {
                    u32 b0, b1, b2, b3;
                    ldsm_x4_trans(vBase + (u32)((kc * 16 * LD + dn * 8) * 2), b0, b1, b2, b3);
#pragma unroll
                    for (int mt = 0; mt < MT; mt++) {
                        mma_bf16_16816(o[mt][dn], a[mt], b0, b1);
                        mma_bf16_16816(o[mt][dn + 1], a[mt], b2, b3);
                    }
                }
            }
        }
        if constexpr (FP8) {
            if (more) store(stage ^ 1);  // nobody reads stage^1 until the next iteration's barrier
        }
    }
    cp_async_wait<0>();

#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        float l0 = l[mt][0], l1 = l[mt][1];
        l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
        l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
        l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
        l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
        if (FP8) {
#pragma unroll
            for (int i = 0; i < HD / 8; i++) {
                o[mt][i][0] *= valueScale; o[mt][i][1] *= valueScale; o[mt][i][2] *= valueScale; o[mt][i][3] *= valueScale;
            }
        }
        const int r0 = warp * WROWS + mt * 16 + g, r1 = r0 + 8;
        const int tok0 = r0 / group, tok1 = r1 / group;
        if (splits > 1) {
            // Partials in the log2 domain (m·log2Scale), as tern_flash_prefill_combine expects.
            long long base = ((long long)blockIdx.y * gridDim.x + kvHead) * FP_ROWS;
            long long i0 = (base + r0) * splits + split, i1 = (base + r1) * splits + split;
            float lm0 = m[mt][0] == -INFINITY ? -INFINITY : m[mt][0] * log2Scale;
            float lm1 = m[mt][1] == -INFINITY ? -INFINITY : m[mt][1] * log2Scale;
            if (tok0 < tokenCount) {
#pragma unroll
                for (int dn = 0; dn < HD / 8; dn++)
                    *(float2 *)(partialO + i0 * HD + dn * 8 + 2 * t) = make_float2(o[mt][dn][0], o[mt][dn][1]);
                if (t == 0) { partialML[i0 * 2] = lm0; partialML[i0 * 2 + 1] = l0; }
            }
            if (tok1 < tokenCount) {
#pragma unroll
                for (int dn = 0; dn < HD / 8; dn++)
                    *(float2 *)(partialO + i1 * HD + dn * 8 + 2 * t) = make_float2(o[mt][dn][2], o[mt][dn][3]);
                if (t == 0) { partialML[i1 * 2] = lm1; partialML[i1 * 2 + 1] = l1; }
            }
            continue;
        }
        float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
        if (tok0 < tokenCount) {
            u16 *row = out + (long long)(tokenStart + tok0) * outStride + (long long)(kvHead * group + r0 % group) * HD + 2 * t;
#pragma unroll
            for (int dn = 0; dn < HD / 8; dn++) *(u32 *)(row + dn * 8) = pack_bf16x2(o[mt][dn][0] * inv0, o[mt][dn][1] * inv0);
        }
        if (tok1 < tokenCount) {
            u16 *row = out + (long long)(tokenStart + tok1) * outStride + (long long)(kvHead * group + r1 % group) * HD + 2 * t;
#pragma unroll
            for (int dn = 0; dn < HD / 8; dn++) *(u32 *)(row + dn * 8) = pack_bf16x2(o[mt][dn][2] * inv1, o[mt][dn][3] * inv1);
        }
    }
}

#define FP_ENTRY(NAME, HD, FP8, MT, MIN_BLOCKS)                                                                      \
    extern "C" __global__ void __launch_bounds__(FP_THREADS / MT, MIN_BLOCKS) NAME(                                  \
        const u16 *q, long long qStride, const void *keys, const void *values, long long keyStride,                 \
        long long keyHeadStride, long long valueStride, long long valueHeadStride, u16 *out, long long outStride,   \
        int group, float scale, int window, const int *tiles, const int *pageTable, int pageSize, float *partialO,   \
        float *partialML, float valueScale) {                                                                       \
        flash_prefill<HD, FP8, MT>(q, qStride, keys, values, keyStride, keyHeadStride, valueStride, valueHeadStride,\
                                   out, outStride, group, scale, window, tiles, pageTable, pageSize, partialO,      \
                                   partialML, valueScale);                                                          \
    }
// 8 warps × 16 rows (Q in registers), 1 block per SM.
FP_ENTRY(tern_flash_prefill_d64, 64, false, 1, 1)
FP_ENTRY(tern_flash_prefill_d128, 128, false, 1, 1)
FP_ENTRY(tern_flash_prefill_fp8_d64, 64, true, 1, 1)
FP_ENTRY(tern_flash_prefill_fp8_d128, 128, true, 1, 1)
// 4 warps × 32 rows (Q in shared memory), 2 blocks per SM.
FP_ENTRY(tern_flash_prefill_w4_d64, 64, false, 2, 2)
FP_ENTRY(tern_flash_prefill_w4_d128, 128, false, 2, 2)

// Merges split-KV partials (m in the log2 domain): out = Σ_s 2^(m_s − M) O_s / Σ_s 2^(m_s − M) l_s.
// Grid (KV heads, tiles), rows as in tern_flash_prefill; block = head width threads.
extern "C" __global__ void tern_flash_prefill_combine(const float *partialO, const float *partialML, int splits, int headDim,
                                                      int group, const int *tiles, u16 *out, long long outStride) {
    const int kvHead = blockIdx.x;
    merge_tile_partials(partialO, partialML, splits, headDim, group, FP_ROWS, ((long long)blockIdx.y * gridDim.x + kvHead) * FP_ROWS,
                        tiles + blockIdx.y * 4, kvHead, out, outStride);
}
