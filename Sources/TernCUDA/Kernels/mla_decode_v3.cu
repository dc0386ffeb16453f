// MLA attention v3 in the absorbed (latent) form with Hopper warpgroup MMA (wgmma, sm_90a):
// DeepSeek-V3's query heads over one shared latent KV head of width 576 = 512 latent + 64 rope,
// values = the latent's first 512 elements. The fallback of tern_mla_decode_v4 (the default on
// sm_90), selected by TERN_CUDA_MLA_ATTN=v3; same tiles, rows, split-KV plan, partial layout and
// combine (CUDABackend.mlaCombine) as tern_mla_decode_v2 / v4, and every piece but the main loop shared
// with v4 (mla_wgmma.cuh).
//
// A block = 64 query rows ((token, head) pairs of one tile of tokens, G = min(heads, 64) heads per
// token) × one KV split, 256 threads = two consumer warpgroups (WG 0, WG 1); every thread also
// issues the cp.async copies of the next latent tile (no producer warps: the 2-stage pipeline
// overlaps tile i+1's copy with tile i's math). Per 64-key latent tile:
//   S = Q·Kᵀ: WG w computes S[64 rows, keys 32w..32w+31] over the 576 width with 36 wgmma
//     m64n32k16 (A = Q, B = the latent rows, both K-major from shared memory);
//   the two warpgroups exchange their row maxima through shared memory (both keep the same running
//     max, log2 domain), each writes its P = exp2(S - m) as bf16 into the shared P tile and keeps the
//     partial row sum of its keys (summed at the end);
//   O += P·V: WG w owns O[64 rows, value columns 256w..256w+255] (128 fp32 registers per thread) and
//     runs 4 wgmma m64n256k16 over the 64 keys (A = P K-major, B = the same latent tile read
//     N-major: V needs no second copy).
// Shared memory: Q 73,728 B + 2 stages × 73,728 B (bf16) + P [64][64] bf16 8,192 B + row maxima and
// sums [2][2][64] f32 1,024 B = 230,400 B, + up to 1,008 B to align the base to 1024. FP8 cache: the
// stages hold the raw e4m3 rows ([64][576] bytes, 36,864 B each) and each tile is decoded once into
// one swizzled bf16 tile (73,728 B): the same 230,400 B. The key scale is folded into `scale` by the
// caller; the value scale multiplies O once at the end.
#include "mla_wgmma.cuh"

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

template <bool FP8>
__device__ void mla_decode_v3(const u16 *q, long long qStride, const void *cache, long long cacheStride, u16 *out,
                              long long outStride, int heads, int group, float scale, const int *tiles, const int *pageTable,
                              int pageSize, float *partialO, float *partialML, float valueScale) {
    extern __shared__ __align__(1024) u8 m3_shared_raw[];
    const MlwShared<FP8> sh(m3_shared_raw);
    u8 *ps = sh.rest;                                               // swizzled [64][64] bf16
    float *rowMax = (float *)(ps + MLW_ROWS * MLW_KEYS * 2);        // [2][64]
    float *rowSum = rowMax + 2 * MLW_ROWS;                          // [2][64]
    const u32 qsAddr = smem_u32(sh.qs), psAddr = smem_u32(ps);

    const MlwBlock b = mlw_block(tiles, pageTable, pageSize);
    const int tid = threadIdx.x, t = tid & 3, wg = tid >> 7;  // warpgroup
    auto load = [&](int i) { mlw_load_tile<FP8>(smem_u32(sh.stage(i)), cache, cacheStride, b, pageSize, b.tileBegin + i); };

    mlw_load_q(qsAddr, q, qStride, b, blockIdx.x, group);
    if (b.myTiles > 0) load(0);
    cp_async_commit();

    const MlwRows w = mlw_rows(b, group);
    const int r0 = w.r0, r1 = w.r1;
    const float log2Scale = scale * 1.4426950408889634f;

    float o[128];
#pragma unroll
    for (int i = 0; i < 128; i++) o[i] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;

    for (int i = 0; i < b.myTiles; i++) {
        if (i + 1 < b.myTiles) load(i + 1);
        cp_async_commit();
        cp_async_wait<1>();      // tile i (and Q) landed for this thread
        wg_fence_proxy_async();  // ... and is visible to wgmma (async proxy) after the barrier
        __syncthreads();
        const u32 kvAddr = smem_u32(mlw_operand_tile(sh, i));
        int kt = (b.tileBegin + i) * MLW_KEYS;

        // S[64 rows, keys 32wg..32wg+31] = Q · Kᵀ over the 576 width: 9 column blocks × 4 k-steps.
        float s[16];
#pragma unroll
        for (int e = 0; e < 16; e++) s[e] = 0.0f;
        wg_fence_regs(s);
        wg_fence();
#pragma unroll
        for (int kc = 0; kc < MLW_D / 16; kc++) {
            u32 blockOff = (u32)(kc >> 2) * MLW_BLOCK_BYTES + (u32)(kc & 3) * 32;
            wg_mma_bf16_n32(s, wg_desc_k128(qsAddr + blockOff), wg_desc_k128(kvAddr + blockOff + wg * 32 * 128), kc > 0);
        }
        wg_commit();
        wg_wait<0>();
        wg_fence_regs(s);

        // s[4j + 2h + e]: row r0 (h = 0) or r1 (h = 1), key kt + 32wg + 8j + 2t + e.
        float mx0, mx1;
        mlw_mask_scale<4>(s, kt + wg * 32, w, log2Scale, mx0, mx1);
        if (t == 0) { rowMax[wg * MLW_ROWS + r0] = mx0; rowMax[wg * MLW_ROWS + r1] = mx1; }
        __syncthreads();
        mx0 = fmaxf(mx0, rowMax[(1 - wg) * MLW_ROWS + r0]);
        mx1 = fmaxf(mx1, rowMax[(1 - wg) * MLW_ROWS + r1]);
        float b0, b1;
        float c0 = mlw_rescale(m0, l0, mx0, b0), c1 = mlw_rescale(m1, l1, mx1, b1);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            float p0 = exp2f(s[4 * j] - b0), p1 = exp2f(s[4 * j + 1] - b0);
            float p2 = exp2f(s[4 * j + 2] - b1), p3 = exp2f(s[4 * j + 3] - b1);
            l0 += p0 + p1;
            l1 += p2 + p3;
            // P [64 rows][64 keys] bf16, swizzled K-major: key column 32wg + 8j + 2t is chunk 4wg + j.
            int chunk = wg * 4 + j;
            *(u32 *)(ps + wg_swizzle128(r0, chunk) + 4 * t) = pack_bf16x2(p0, p1);
            *(u32 *)(ps + wg_swizzle128(r1, chunk) + 4 * t) = pack_bf16x2(p2, p3);
        }
        mlw_scale_o(o, c0, c1);
        wg_fence_proxy_async();  // P writes → visible to wgmma after the barrier
        __syncthreads();         // P of both warpgroups stored

        // O[64 rows, columns 256wg..256wg+255] += P[64 rows, 64 keys] · V[64 keys, 256 columns].
        wg_fence_regs(o);
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < MLW_KEYS / 16; kk++)
            wg_mma_bf16_n256<1>(o, wg_desc_k128(psAddr + kk * 32), wg_desc_mn128(kvAddr + wg * 4 * MLW_BLOCK_BYTES + kk * 2048, 8192), 1);
        wg_commit();
        wg_wait<0>();
        wg_fence_regs(o);
        __syncthreads();  // this stage, the decoded tile, P and the maxima are free for the next tile
    }
    cp_async_wait<0>();  // no copy may still target shared memory at exit (splits without tiles)

    // Each warpgroup summed P over its own 32 keys of every tile: add the other's.
    l0 = mlw_quad_sum(l0);
    l1 = mlw_quad_sum(l1);
    if (t == 0) { rowSum[wg * MLW_ROWS + r0] = l0; rowSum[wg * MLW_ROWS + r1] = l1; }
    __syncthreads();
    l0 += rowSum[(1 - wg) * MLW_ROWS + r0];
    l1 += rowSum[(1 - wg) * MLW_ROWS + r1];
    mlw_store(o, m0, m1, l0, l1, b, w, heads, group, valueScale, out, outStride, partialO, partialML);
}

#endif

MLW_ENTRY(tern_mla_decode_v3, mla_decode_v3, false)
MLW_ENTRY(tern_mla_decode_v3_fp8, mla_decode_v3, true)
