// MLA attention v2 in the absorbed (latent) form (DeepSeek-V3: query heads over one shared latent
// KV head of width 576 = 512 latent + 64 rope; values = the latent's first 512 elements).
// The default off sm_90 (there tern_mla_decode_v4), TERN_CUDA_MLA_ATTN=v2 selects it; same rows, tiles,
// split-KV partial layout and combine (CUDABackend.mlaCombine) as tern_mla_attention.
//
// A block = 64 query rows ((token, head) pairs of one tile of tokens, G = min(heads, 64) heads per
// token) × one KV split, 256 threads = 8 warps as 4 row groups (16 rows) × 2 halves:
//   S = Q·Kᵀ once per 32-key tile: warp (rg, h) computes S[16 rows of rg, keys 16h..16h+15] over
//     the full 576 width (Q and K fragments through ldmatrix from shared memory);
//   the two halves of a row group exchange their row maxima through shared memory (so both keep
//     the same running max), write P = exp2(S - m) as bf16 to shared memory and each keeps the
//     partial row sum of its own keys (added together at the end);
//   O += P·V: warp (rg, h) owns O[16 rows, value columns 256h..256h+255] for all 32 keys; V is the
//     first 512 columns of the same latent tile in shared memory (no second load).
// Register budget: O is 64 rows × 512 fp32 = 128 KB per block = 128 fp32 per thread at 256 threads
// (32 m16n8 accumulator tiles × 4); S is 8, P fragments 8, the rest addressing and softmax state:
// __launch_bounds__(256, 1) allows 255 registers. One block per SM (shared memory ≈ 189 KB bf16),
// so latency is hidden by the 3-stage cp.async pipeline of latent tiles instead of by other blocks.
// Shared memory: Q [64][584] bf16 (74,752 B) + 3 stages × [32][584] bf16 (112,128 B) + P [64][40]
// bf16 (5,120 B) + row maxima and sums [2][64] fp32 × 2 (1,024 B) = 193,024 B. FP8 cache: the
// stages hold the raw e4m3 rows ([32][576] bytes, 55,296 B) and each tile is decoded once into
// one bf16 tile buffer (37,376 B): 173,568 B; the key scale is folded into `scale` by the caller,
// the value scale multiplies O once at the end.
#include "mma.cuh"

#define MD_D 576
#define MD_V 512
#define MD_ROWS 64
#define MD_KEYS 32
#define MD_LD (MD_D + 8)   // 1168-byte rows: each 8-row ldmatrix phase is conflict-free
#define MD_PLD (MD_KEYS + 8)
#define MD_STAGES 3

template <bool FP8>
__device__ void mla_decode_v2(const u16 *q, long long qStride, const void *cache, long long cacheStride, u16 *out,
                              long long outStride, int heads, int group, float scale, const int *tiles, const int *pageTable,
                              int pageSize, float *partialO, float *partialML, float valueScale) {
    extern __shared__ __align__(16) u16 md_shared[];
    u16 *qs = md_shared;                                  // [MD_ROWS][MD_LD]
    u16 *stages = qs + MD_ROWS * MD_LD;                   // bf16: [STAGES][MD_KEYS][MD_LD]; fp8: [STAGES][MD_KEYS][MD_D] bytes
    constexpr int STAGE_U16 = FP8 ? MD_KEYS * MD_D / 2 : MD_KEYS * MD_LD;
    u16 *decoded = stages + MD_STAGES * STAGE_U16;        // fp8 only: [MD_KEYS][MD_LD]
    u16 *ps = decoded + (FP8 ? MD_KEYS * MD_LD : 0);      // [MD_ROWS][MD_PLD]
    float *rowMax = (float *)(ps + MD_ROWS * MD_PLD);    // [2][MD_ROWS]
    float *rowSum = rowMax + 2 * MD_ROWS;                 // [2][MD_ROWS]

    const int *tile = tiles + blockIdx.y * 4;
    int tokenStart = tile[0], tokenCount = tile[1], firstPosition = tile[2];
    const int *pages = pageTable + tile[3];
    int headBlocks = heads / group, headBlock = blockIdx.x;
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    int rg = warp & 3, half = warp >> 2;

    int kvEnd = firstPosition + tokenCount;
    int splits = gridDim.z, split = blockIdx.z;
    int keyTiles = (kvEnd + MD_KEYS - 1) / MD_KEYS, perSplit = (keyTiles + splits - 1) / splits;
    int tileBegin = min(keyTiles, split * perSplit), tileEnd = min(keyTiles, tileBegin + perSplit);
    int myTiles = tileEnd - tileBegin;

    // Loads latent tile `i` (of this split) into its stage; rows past kvEnd are zero-filled.
    auto load = [&](int i) {
        int kt = (tileBegin + i) * MD_KEYS;
        u16 *dst = stages + (i % MD_STAGES) * STAGE_U16;
        constexpr int CHUNKS = FP8 ? MD_D / 16 : MD_D / 8;  // 16-byte chunks per row
        for (int c = tid; c < MD_KEYS * CHUNKS; c += blockDim.x) {
            int r = c / CHUNKS, k = c % CHUNKS, j = kt + r;
            bool valid = j < kvEnd;
            long long slot = valid ? (long long)pages[j / pageSize] * pageSize + j % pageSize : 0;
            if constexpr (FP8)
                cp_async16((u8 *)dst + r * MD_D + k * 16, (const u8 *)cache + slot * cacheStride + k * 16, valid);
            else
                cp_async16(dst + r * MD_LD + k * 8, (const u16 *)cache + slot * cacheStride + k * 8, valid);
        }
    };

    // Q rows → shared through cp.async in the first group (zeros past the tile's tokens).
    for (int c = tid; c < MD_ROWS * (MD_D / 8); c += blockDim.x) {
        int r = c / (MD_D / 8), k = c % (MD_D / 8);
        int tok = r / group, h = headBlock * group + r % group;
        bool valid = tok < tokenCount;
        const u16 *src = q + (valid ? (long long)(tokenStart + tok) * qStride + (long long)h * MD_D + k * 8 : 0);
        cp_async16(qs + r * MD_LD + k * 8, src, valid);
    }
#pragma unroll
    for (int i = 0; i < MD_STAGES - 1; i++) {
        if (i < myTiles) load(i);
        cp_async_commit();
    }

    int r0 = rg * 16 + g, r1 = r0 + 8;
    int tok0 = r0 / group, tok1 = r1 / group;
    int pos0 = tok0 < tokenCount ? firstPosition + tok0 : -1;
    int pos1 = tok1 < tokenCount ? firstPosition + tok1 : -1;
    const float log2Scale = scale * 1.4426950408889634f;

    float o[MD_V / 2 / 8][4];
#pragma unroll
    for (int i = 0; i < MD_V / 2 / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
    // ldmatrix lane rows: A (Q, P) m0..m3 = rows +0/+8 × cols +0/+8; B (K) = keys +0/+8 × cols +0/+8.
    const u16 *qa = qs + (rg * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * MD_LD + (lane >> 4) * 8;
    const u16 *pa = ps + (rg * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * MD_PLD + (lane >> 4) * 8;
    const int kbOff = (half * 16 + (lane >> 4) * 8 + (lane & 7)) * MD_LD + ((lane >> 3) & 1) * 8;
    const int vbOff = ((lane & 7) + ((lane >> 3) & 1) * 8) * MD_LD + half * (MD_V / 2) + (lane >> 4) * 8;

    for (int i = 0; i < myTiles; i++) {
        if (i + MD_STAGES - 1 < myTiles) load(i + MD_STAGES - 1);
        cp_async_commit();
        cp_async_wait<MD_STAGES - 1>();  // tile i (and Q) landed for this thread
        __syncthreads();           // ... and for every thread
        const u16 *kv;
        if constexpr (FP8) {
            // Decode the tile to bf16 once: 8 codes → 8 bf16 per step.
            const u8 *raw = (const u8 *)(stages + (i % MD_STAGES) * STAGE_U16);
            for (int c = tid; c < MD_KEYS * (MD_D / 8); c += blockDim.x) {
                int r = c / (MD_D / 8), k = c % (MD_D / 8);
                *(uint4 *)(decoded + r * MD_LD + k * 8) = e4m3x8_to_bf16x8(*(const uint2 *)(raw + r * MD_D + k * 8));
            }
            __syncthreads();
            kv = decoded;
        } else {
            kv = stages + (i % MD_STAGES) * STAGE_U16;
        }
        int kt = (tileBegin + i) * MD_KEYS;

        // S[16 rows, 16 keys of this half] over the 576 width.
        float s[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
        const u16 *kb = kv + kbOff;
#pragma unroll 6
        for (int kc = 0; kc < MD_D / 16; kc++) {
            u32 a[4], b[4];
            ldsm_x4(a, qa + kc * 16);
            ldsm_x4(b, kb + kc * 16);
            mma_bf16_16816(s[0], a, b[0], b[1]);
            mma_bf16_16816(s[1], a, b[2], b[3]);
        }
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < 2; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = kt + half * 16 + nt * 8 + 2 * t + (e & 1);
                int pos = e < 2 ? pos0 : pos1;
                float v = key <= pos ? s[nt][e] * log2Scale : -INFINITY;
                s[nt][e] = v;
                if (e < 2) mx0 = fmaxf(mx0, v); else mx1 = fmaxf(mx1, v);
            }
        }
        mx0 = quad_max(mx0);
        mx1 = quad_max(mx1);
        if (t == 0) { rowMax[half * MD_ROWS + r0] = mx0; rowMax[half * MD_ROWS + r1] = mx1; }
        __syncthreads();
        mx0 = fmaxf(mx0, rowMax[(1 - half) * MD_ROWS + r0]);
        mx1 = fmaxf(mx1, rowMax[(1 - half) * MD_ROWS + r1]);
        float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
        float b0 = n0 == -INFINITY ? 0.0f : n0, b1 = n1 == -INFINITY ? 0.0f : n1;
        float c0 = exp2f(m0 - b0), c1 = exp2f(m1 - b1);
        m0 = n0; m1 = n1;
        l0 *= c0; l1 *= c1;
#pragma unroll
        for (int nt = 0; nt < 2; nt++) {
            s[nt][0] = exp2f(s[nt][0] - b0); s[nt][1] = exp2f(s[nt][1] - b0);
            s[nt][2] = exp2f(s[nt][2] - b1); s[nt][3] = exp2f(s[nt][3] - b1);
            l0 += s[nt][0] + s[nt][1];
            l1 += s[nt][2] + s[nt][3];
            int col = half * 16 + nt * 8 + 2 * t;
            *(u32 *)(ps + r0 * MD_PLD + col) = pack_bf16x2(s[nt][0], s[nt][1]);
            *(u32 *)(ps + r1 * MD_PLD + col) = pack_bf16x2(s[nt][2], s[nt][3]);
        }
#pragma unroll
        for (int d = 0; d < MD_V / 2 / 8; d++) { o[d][0] *= c0; o[d][1] *= c0; o[d][2] *= c1; o[d][3] *= c1; }
        __syncthreads();  // P of both halves stored

        // O[16 rows, this half's 256 value columns] += P[16 rows, 32 keys] · V[32 keys, 256].
#pragma unroll
        for (int kc = 0; kc < MD_KEYS / 16; kc++) {
            u32 a[4];
            ldsm_x4(a, pa + kc * 16);
            const u16 *vb = kv + kc * 16 * MD_LD + vbOff;
#pragma unroll
            for (int dp = 0; dp < MD_V / 2 / 16; dp++) {
                u32 b[4];
                ldsm_x4_trans(b, vb + dp * 16);
                mma_bf16_16816(o[2 * dp], a, b[0], b[1]);
                mma_bf16_16816(o[2 * dp + 1], a, b[2], b[3]);
            }
        }
        __syncthreads();  // this stage, the decoded tile, P and the maxima are free for the next tile
    }
    cp_async_wait<0>();  // no copy may still target shared memory at exit (splits without tiles)

    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    if (t == 0) { rowSum[half * MD_ROWS + r0] = l0; rowSum[half * MD_ROWS + r1] = l1; }
    __syncthreads();
    l0 += rowSum[(1 - half) * MD_ROWS + r0];
    l1 += rowSum[(1 - half) * MD_ROWS + r1];
#pragma unroll
    for (int d = 0; d < MD_V / 2 / 8; d++) { o[d][0] *= valueScale; o[d][1] *= valueScale; o[d][2] *= valueScale; o[d][3] *= valueScale; }
    int col0 = half * (MD_V / 2) + 2 * t;
    if (splits > 1) {
        // Partials as tern_mla_attention leaves them: row (tile, head block, r), split-minor.
        long long base = ((long long)blockIdx.y * headBlocks + headBlock) * MD_ROWS;
        long long i0 = (base + r0) * splits + split, i1 = (base + r1) * splits + split;
        if (tok0 < tokenCount) {
#pragma unroll
            for (int d = 0; d < MD_V / 2 / 8; d++) *(float2 *)(partialO + i0 * MD_V + col0 + d * 8) = make_float2(o[d][0], o[d][1]);
            if (t == 0 && half == 0) { partialML[i0 * 2] = m0; partialML[i0 * 2 + 1] = l0; }
        }
        if (tok1 < tokenCount) {
#pragma unroll
            for (int d = 0; d < MD_V / 2 / 8; d++) *(float2 *)(partialO + i1 * MD_V + col0 + d * 8) = make_float2(o[d][2], o[d][3]);
            if (t == 0 && half == 0) { partialML[i1 * 2] = m1; partialML[i1 * 2 + 1] = l1; }
        }
        return;
    }
    float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    int h0 = headBlock * group + r0 % group, h1 = headBlock * group + r1 % group;
    if (tok0 < tokenCount) {
        u16 *row = out + (long long)(tokenStart + tok0) * outStride + (long long)h0 * MD_V + col0;
#pragma unroll
        for (int d = 0; d < MD_V / 2 / 8; d++) *(u32 *)(row + d * 8) = pack_bf16x2(o[d][0] * inv0, o[d][1] * inv0);
    }
    if (tok1 < tokenCount) {
        u16 *row = out + (long long)(tokenStart + tok1) * outStride + (long long)h1 * MD_V + col0;
#pragma unroll
        for (int d = 0; d < MD_V / 2 / 8; d++) *(u32 *)(row + d * 8) = pack_bf16x2(o[d][2] * inv1, o[d][3] * inv1);
    }
}

#define MD_ENTRY(NAME, FP8)                                                                                          \
    extern "C" __global__ void __launch_bounds__(256, 1) NAME(                                                      \
        const u16 *q, long long qStride, const void *cache, long long cacheStride, u16 *out, long long outStride,   \
        int heads, int group, float scale, const int *tiles, const int *pageTable, int pageSize, float *partialO,    \
        float *partialML, float valueScale) {                                                                       \
        mla_decode_v2<FP8>(q, qStride, cache, cacheStride, out, outStride, heads, group, scale, tiles, pageTable,    \
                           pageSize, partialO, partialML, valueScale);                                              \
    }
MD_ENTRY(tern_mla_decode_v2, false)
MD_ENTRY(tern_mla_decode_v2_fp8, true)

// Merges MLA split-KV partials with one block per query row (tern_mla_combine walks a head block's 64
// rows one after another in one block, so a batch-1 decode ran 2 blocks). Rows as in the attention
// kernels: row = (tile · headBlocks + headBlock) · 64 + r, r's token r / group, its head
// headBlock · group + r % group; partial ML at row · splits · 2, partial O at row · splits · 512.
// Grid (rows); block 128 · SG threads: thread x + 128 y owns value columns 4x..4x+3 of the splits y, y + SG, ...
// and the SG partial sums are added through shared memory. The split weights exp2(m_s - M) / Σ are
// computed once per row by warp 0 (splits ≤ 64, the host's cap); empty splits (m = -inf, partial O never
// written) and weights that underflow to 0 load nothing. Nothing depends on host data: graph safe.
#define MC_MAX_SPLITS 64
#define MC_MAX_SG 8
extern "C" __global__ void __launch_bounds__(128 * MC_MAX_SG) tern_mla_combine_rows(
    const float *partialO, const float *partialML, int splits, int heads, int group, const int *tiles, u16 *out,
    long long outStride) {
    __shared__ float weights[MC_MAX_SPLITS];
    __shared__ __align__(16) float sums[MC_MAX_SG - 1][MD_V];
    const int tx = threadIdx.x & 127, ty = threadIdx.x >> 7, groups = blockDim.x >> 7;
    const int row = blockIdx.x, headBlocks = heads / group;
    const int r = row & (MD_ROWS - 1), headBlock = (row / MD_ROWS) % headBlocks, tileIndex = row / (MD_ROWS * headBlocks);
    const int tok = r / group;
    const int *tile = tiles + tileIndex * 4;
    if (tok >= tile[1]) return;  // uniform over the block
    const float *ml = partialML + (long long)row * splits * 2;
    if (threadIdx.x < 32) {
        const int lane = threadIdx.x, s0 = lane, s1 = lane + 32;
        const float m0 = s0 < splits ? ml[2 * s0] : -INFINITY, m1 = s1 < splits ? ml[2 * s1] : -INFINITY;
        float M = fmaxf(m0, m1);
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, off));
        const float e0 = m0 != -INFINITY ? exp2f(m0 - M) : 0.0f, e1 = m1 != -INFINITY ? exp2f(m1 - M) : 0.0f;
        float sum = (e0 != 0.0f ? ml[2 * s0 + 1] * e0 : 0.0f) + (e1 != 0.0f ? ml[2 * s1 + 1] * e1 : 0.0f);
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
        const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
        weights[s0] = e0 * inv;
        weights[s1] = e1 * inv;
    }
    __syncthreads();
    const float *o = partialO + (long long)row * splits * MD_V + tx * 4;
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll 4
    for (int s = ty; s < splits; s += groups) {
        const float w = weights[s];
        if (w != 0.0f) {
            const float4 v = *(const float4 *)(o + (long long)s * MD_V);
            acc.x += w * v.x, acc.y += w * v.y, acc.z += w * v.z, acc.w += w * v.w;
        }
    }
    if (groups > 1) {
        if (ty > 0) *(float4 *)&sums[ty - 1][tx * 4] = acc;
        __syncthreads();
        if (ty > 0) return;
        for (int y = 1; y < groups; y++) {
            const float4 v = *(const float4 *)&sums[y - 1][tx * 4];
            acc.x += v.x, acc.y += v.y, acc.z += v.z, acc.w += v.w;
        }
    }
    u16 *dst = out + (long long)(tile[0] + tok) * outStride + (long long)(headBlock * group + r % group) * MD_V + tx * 4;
    *(uint2 *)dst = make_uint2(pack_bf16x2(acc.x, acc.y), pack_bf16x2(acc.z, acc.w));
}
