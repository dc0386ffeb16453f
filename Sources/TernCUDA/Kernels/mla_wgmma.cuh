// The parts the two wgmma MLA decode kernels share (tern_mla_decode_v4 in mla_decode_v4.cu, the
// default, and tern_mla_decode_v3 in mla_decode_v3.cu, its fallback): the tile geometry, the
// block's rows / tokens / split of the key tiles, the cp.async loads of Q and of a latent tile into
// the swizzled shared layout, the fp8 tile decode, the masked online-softmax steps, the epilogue
// (split partials for tern_mla_combine, or the normalised bf16 rows) and the entry points.
//
// Shared layout (all operand tiles in the 128-byte swizzle, 1024-byte aligned): a [rows][576] bf16
// tile is 9 column blocks of 64 elements; block b is [rows][128 bytes] at b·rows·128, the 16-byte
// chunk c of row r at chunk position c ^ (r & 7). K-major descriptors (Q, K rows): wg_desc_k128, the
// k-th 16-element step +32 bytes inside the block, blocks 8 KB apart; V read N-major out of the same
// tile: wg_desc_mn128(·, 8192) (leading byte offset: next 64 value columns, stride: next 8
// keys), a 16-key step = +2048 bytes.
// Accumulator rows of a thread: both warpgroups hold all 64 rows; thread (warp wq of its
// warpgroup, lane) holds rows r0 = 16wq + lane / 4 and r1 = r0 + 8, columns 8j + 2(lane % 4) + {0, 1}.
#pragma once
#include "mma.cuh"
#include "wgmma.cuh"

#define MLW_D 576
#define MLW_V 512
#define MLW_ROWS 64
#define MLW_KEYS 64
#define MLW_BLOCK_BYTES (MLW_KEYS * 128)     // one 64-element column block of a tile (8,192 B)
#define MLW_TILE_BYTES (MLW_KEYS * MLW_D * 2)  // one swizzled bf16 [64][576] tile (73,728 B)
#define MLW_STAGES 2

// Byte offset of 16-byte chunk c (0..71) of row r in a swizzled [64][576] bf16 tile.
__device__ __forceinline__ u32 mlw_chunk_offset(int r, int c) { return (u32)((c >> 3) * MLW_BLOCK_BYTES) + wg_swizzle128(r, c & 7); }

// The swizzle pattern repeats every 1024 bytes of address: the dynamic shared base aligned up.
__device__ __forceinline__ u8 *mlw_align1024(u8 *raw) { return raw + ((1024u - (smem_u32(raw) & 1023u)) & 1023u); }

// The dynamic shared memory both kernels start with (1024-aligned): Q as a swizzled [64][576] bf16
// tile, MLW_STAGES latent stages (bf16: swizzled tiles; fp8: raw [64][576] e4m3 rows), for fp8 the
// decoded swizzled bf16 tile; `rest` is where each kernel's own buffers start.
template <bool FP8>
struct MlwShared {
    enum : int { STAGE_BYTES = FP8 ? MLW_KEYS * MLW_D : MLW_TILE_BYTES };
    u8 *qs, *stages, *decoded, *rest;
    __device__ __forceinline__ explicit MlwShared(u8 *raw) {
        qs = mlw_align1024(raw);
        stages = qs + MLW_TILE_BYTES;
        decoded = stages + MLW_STAGES * STAGE_BYTES;
        rest = decoded + (FP8 ? MLW_TILE_BYTES : 0);
    }
    __device__ __forceinline__ u8 *stage(int i) const { return stages + (i % MLW_STAGES) * STAGE_BYTES; }
};

// What a block works on: its token tile (blockIdx.y), its key tiles (split blockIdx.z of gridDim.z).
struct MlwBlock {
    int tokenStart, tokenCount, firstPosition, kvEnd;
    const int *pages;
    int pageShift;  // log2(pageSize) for power-of-two pages (1 / 16 / 64), else -1
    int tileBegin, myTiles;
};

__device__ __forceinline__ MlwBlock mlw_block(const int *tiles, const int *pageTable, int pageSize) {
    MlwBlock b;
    const int *tile = tiles + blockIdx.y * 4;
    b.tokenStart = tile[0], b.tokenCount = tile[1], b.firstPosition = tile[2];
    b.pages = pageTable + tile[3];
    b.kvEnd = b.firstPosition + b.tokenCount;
    b.pageShift = (pageSize & (pageSize - 1)) == 0 ? __ffs(pageSize) - 1 : -1;
    int splits = gridDim.z, split = blockIdx.z;
    int keyTiles = (b.kvEnd + MLW_KEYS - 1) / MLW_KEYS, perSplit = (keyTiles + splits - 1) / splits;
    b.tileBegin = min(keyTiles, split * perSplit);
    b.myTiles = min(keyTiles, b.tileBegin + perSplit) - b.tileBegin;
    return b;
}

// Issues the copies of latent tile `tileIndex` (absolute) to `dst`: bf16 into the swizzled tile,
// fp8 as raw [64][576] bytes; rows past kvEnd are zero-filled. No commit.
template <bool FP8>
__device__ __forceinline__ void mlw_load_tile(u32 dst, const void *cache, long long cacheStride, const MlwBlock &b,
                                              int pageSize, int tileIndex) {
    int kt = tileIndex * MLW_KEYS;
    constexpr int CHUNKS = FP8 ? MLW_D / 16 : MLW_D / 8;  // 16-byte chunks per row
    for (int c = threadIdx.x; c < MLW_KEYS * CHUNKS; c += blockDim.x) {
        int r = c / CHUNKS, k = c % CHUNKS, j = kt + r;
        bool valid = j < b.kvEnd;
        long long slot = 0;
        if (valid) {
            if (b.pageShift >= 0) slot = (long long)b.pages[j >> b.pageShift] * pageSize + (j & (pageSize - 1));
            else slot = (long long)b.pages[j / pageSize] * pageSize + j % pageSize;
        }
        if constexpr (FP8)
            cp_async16(dst + r * MLW_D + k * 16, (const u8 *)cache + slot * cacheStride + k * 16, valid);
        else
            cp_async16(dst + mlw_chunk_offset(r, k), (const u16 *)cache + slot * cacheStride + k * 8, valid);
    }
}

// Issues the copies of the block's 64 query rows (token r / group, head headBlock·group + r % group)
// into the swizzled tile at `qs` (zeros past the tile's tokens). No commit.
__device__ __forceinline__ void mlw_load_q(u32 qs, const u16 *q, long long qStride, const MlwBlock &b, int headBlock, int group) {
    for (int c = threadIdx.x; c < MLW_ROWS * (MLW_D / 8); c += blockDim.x) {
        int r = c / (MLW_D / 8), k = c % (MLW_D / 8);
        int tok = r / group, h = headBlock * group + r % group;
        bool valid = tok < b.tokenCount;
        const u16 *src = q + (valid ? (long long)(b.tokenStart + tok) * qStride + (long long)h * MLW_D + k * 8 : 0);
        cp_async16(qs + mlw_chunk_offset(r, k), src, valid);
    }
}

// Decodes a raw e4m3 [64][576] tile to the swizzled bf16 tile once: 8 codes → one 16-byte chunk per step.
__device__ __forceinline__ void mlw_decode_fp8(const u8 *raw, u8 *decoded) {
    for (int c = threadIdx.x; c < MLW_KEYS * (MLW_D / 8); c += blockDim.x) {
        int r = c / (MLW_D / 8), k = c % (MLW_D / 8);
        *(uint4 *)(decoded + mlw_chunk_offset(r, k)) = e4m3x8_to_bf16x8(*(const uint2 *)(raw + r * MLW_D + k * 8));
    }
}

// The bf16 operand tile of this split's tile i once it has landed (after the barrier that follows
// the wait for its copies): the stage itself, or for fp8 the stage decoded into `decoded` (with the
// proxy fence and barrier that publish it to wgmma).
template <bool FP8>
__device__ __forceinline__ u8 *mlw_operand_tile(const MlwShared<FP8> &sh, int i) {
    if constexpr (FP8) {
        mlw_decode_fp8(sh.stage(i), sh.decoded);
        wg_fence_proxy_async();
        __syncthreads();
        return sh.decoded;
    } else {
        return sh.stage(i);
    }
}

// The rows r0 / r1 of this thread, their tokens and positions (−1: no token, every key masked).
struct MlwRows {
    int r0, r1, tok0, tok1, pos0, pos1;
};

__device__ __forceinline__ MlwRows mlw_rows(const MlwBlock &b, int group) {
    MlwRows w;
    int lane = threadIdx.x & 31, wq = (threadIdx.x >> 5) & 3;
    w.r0 = wq * 16 + (lane >> 2), w.r1 = w.r0 + 8;
    w.tok0 = w.r0 / group, w.tok1 = w.r1 / group;
    w.pos0 = w.tok0 < b.tokenCount ? b.firstPosition + w.tok0 : -1;
    w.pos1 = w.tok1 < b.tokenCount ? b.firstPosition + w.tok1 : -1;
    return w;
}

__device__ __forceinline__ float mlw_quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float mlw_quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// S accumulator s[4j + 2h + e] (row r0 / r1 by h, key keyBase + 8j + 2t + e) → log2-domain scores,
// keys after the row's position masked to −∞; the rows' maxima over the quad (the thread's keys of
// this accumulator) in mx0 / mx1.
template <int J>
__device__ __forceinline__ void mlw_mask_scale(float (&s)[4 * J], int keyBase, const MlwRows &w, float log2Scale, float &mx0,
                                               float &mx1) {
    int t = threadIdx.x & 3;
    mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int j = 0; j < J; j++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int key = keyBase + j * 8 + 2 * t + (e & 1);
            int pos = e < 2 ? w.pos0 : w.pos1;
            float v = key <= pos ? s[4 * j + e] * log2Scale : -INFINITY;
            s[4 * j + e] = v;
            if (e < 2) mx0 = fmaxf(mx0, v); else mx1 = fmaxf(mx1, v);
        }
    }
    mx0 = mlw_quad_max(mx0);
    mx1 = mlw_quad_max(mx1);
}

// Online-softmax step of one row with this tile's maximum mx: the new running max goes to m, the
// sum l is rescaled; returns the factor c of the old sums / outputs, `base` is the exponent base of
// this tile's P (0 while the row has seen no key).
__device__ __forceinline__ float mlw_rescale(float &m, float &l, float mx, float &base) {
    float n = fmaxf(m, mx);
    base = n == -INFINITY ? 0.0f : n;
    float c = exp2f(m - base);
    m = n;
    l *= c;
    return c;
}

__device__ __forceinline__ void mlw_scale_o(float (&o)[128], float c0, float c1) {
#pragma unroll
    for (int j = 0; j < 32; j++) { o[4 * j] *= c0; o[4 * j + 1] *= c0; o[4 * j + 2] *= c1; o[4 * j + 3] *= c1; }
}

// Epilogue: warpgroup wg's O[64 rows, value columns 256wg..256wg+255] (o[4j + 2h + e]: row r0 / r1 by
// h, column 256wg + 8j + 2t + e), with the full row sums l0 / l1 and running maxima m0 / m1 (the same
// in every thread of a quad and in both warpgroups). With splits, the partials as tern_mla_attention
// leaves them (row (tile, head block, r), split-minor); else the normalised bf16 rows of `out`.
__device__ __forceinline__ void mlw_store(float (&o)[128], float m0, float m1, float l0, float l1, const MlwBlock &b,
                                          const MlwRows &w, int heads, int group, float valueScale, u16 *out,
                                          long long outStride, float *partialO, float *partialML) {
    int wg = threadIdx.x >> 7, t = threadIdx.x & 3;
    int headBlocks = heads / group, headBlock = blockIdx.x, splits = gridDim.z, split = blockIdx.z;
#pragma unroll
    for (int i = 0; i < 128; i++) o[i] *= valueScale;
    int col0 = wg * (MLW_V / 2) + 2 * t;
    if (splits > 1) {
        long long base = ((long long)blockIdx.y * headBlocks + headBlock) * MLW_ROWS;
        long long i0 = (base + w.r0) * splits + split, i1 = (base + w.r1) * splits + split;
        if (w.tok0 < b.tokenCount) {
#pragma unroll
            for (int j = 0; j < 32; j++) *(float2 *)(partialO + i0 * MLW_V + col0 + j * 8) = make_float2(o[4 * j], o[4 * j + 1]);
            if (t == 0 && wg == 0) { partialML[i0 * 2] = m0; partialML[i0 * 2 + 1] = l0; }
        }
        if (w.tok1 < b.tokenCount) {
#pragma unroll
            for (int j = 0; j < 32; j++) *(float2 *)(partialO + i1 * MLW_V + col0 + j * 8) = make_float2(o[4 * j + 2], o[4 * j + 3]);
            if (t == 0 && wg == 0) { partialML[i1 * 2] = m1; partialML[i1 * 2 + 1] = l1; }
        }
        return;
    }
    float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    int h0 = headBlock * group + w.r0 % group, h1 = headBlock * group + w.r1 % group;
    if (w.tok0 < b.tokenCount) {
        u16 *row = out + (long long)(b.tokenStart + w.tok0) * outStride + (long long)h0 * MLW_V + col0;
#pragma unroll
        for (int j = 0; j < 32; j++) *(u32 *)(row + j * 8) = pack_bf16x2(o[4 * j] * inv0, o[4 * j + 1] * inv0);
    }
    if (w.tok1 < b.tokenCount) {
        u16 *row = out + (long long)(b.tokenStart + w.tok1) * outStride + (long long)h1 * MLW_V + col0;
#pragma unroll
        for (int j = 0; j < 32; j++) *(u32 *)(row + j * 8) = pack_bf16x2(o[4 * j + 2] * inv1, o[4 * j + 3] * inv1);
    }
}

// The entry points of a kernel body `mla_decode_vN<FP8>` (256 threads, one block per SM): the
// arguments of tern_mla_attention. wgmma exists on sm_90a only: elsewhere they trap (the host never
// selects them there).
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define MLW_BODY(BODY, FP8) BODY<FP8>(q, qStride, cache, cacheStride, out, outStride, heads, group, scale, tiles, pageTable, pageSize, partialO, partialML, valueScale);
#else
#define MLW_BODY(BODY, FP8) __trap();
#endif
#define MLW_ENTRY(NAME, BODY, FP8)                                                                                   \
    extern "C" __global__ void __launch_bounds__(256, 1) NAME(                                                      \
        const u16 *q, long long qStride, const void *cache, long long cacheStride, u16 *out, long long outStride,   \
        int heads, int group, float scale, const int *tiles, const int *pageTable, int pageSize, float *partialO,    \
        float *partialML, float valueScale) {                                                                       \
        MLW_BODY(BODY, FP8)                                                                                          \
    }
