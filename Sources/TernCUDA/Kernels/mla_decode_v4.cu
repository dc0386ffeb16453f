// MLA attention v4 in the absorbed (latent) form with Hopper warpgroup MMA (wgmma, sm_90a): same
// arguments, rows, split-KV plan, partial layout and combine as tern_mla_decode_v3 / v2.
// TERN_CUDA_MLA_ATTN=v4 (the default on sm_90) selects it; =v3 the previous wgmma kernel. The tile
// geometry, loads, fp8 decode, softmax steps, epilogue and entry points are shared with v3 (mla_wgmma.cuh).
//
// What changes against v3 (where S = Q·Kᵀ ran as 36 m64n32k16 per warpgroup, each warpgroup reading
// all of Q from shared memory for its 32 keys, and P went through shared memory):
//   S is split over the depth instead of the keys: warpgroup w computes the partial S over the 576
//     width's 16-element steps 18w..18w+17 for all 64 keys of the tile with 18 m64n64k16 (Q and the
//     latent tile are each read once per tile, N = 64 instead of 32);
//   the two partial S are exchanged through 16 KB of shared memory (WG 1 stores, barrier, WG 0 loads
//     it, stores its own in the same places and adds, barrier, WG 1 loads and adds): both warpgroups
//     then hold the same full S (a + b == b + a exactly), compute the same running max, P and row
//     sums without exchanging maxima or sums;
//   P stays in registers: O[64 rows, columns 256w..256w+255] += P · V runs as 4 m64n256k16 with A
//     from registers (the S accumulator layout is the A fragment layout) and V the same swizzled
//     latent tile read N-major, so no P tile in shared memory and no barrier for it;
//   the next tile's copy is issued after the barrier that follows the wait for this tile (both stages
//     are then free of readers, which drops v3's end-of-tile barrier), right after the S steps are
//     issued (the copy loop's address arithmetic runs while they execute); power-of-two page sizes
//     index the page table by shift and mask.
// The exchange buffer is the rope column block of the current latent tile (8 KB: read only by WG 1's
// own S steps, which have finished when it stores, and never by P·V) plus 8 KB of its own.
// Shared memory: Q 73,728 B + 2 stages × 73,728 B (bf16; fp8: 2 × 36,864 B raw + one decoded 73,728 B
// tile) + 8,192 B exchange = 229,376 B, + up to 1,008 B to align the base to 1024.
#include "mla_wgmma.cuh"

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

template <bool FP8>
__device__ void mla_decode_v4(const u16 *q, long long qStride, const void *cache, long long cacheStride, u16 *out,
                              long long outStride, int heads, int group, float scale, const int *tiles, const int *pageTable,
                              int pageSize, float *partialO, float *partialML, float valueScale) {
    extern __shared__ __align__(1024) u8 m4_shared_raw[];
    const MlwShared<FP8> sh(m4_shared_raw);
    u8 *exchange1 = sh.rest;                                        // 8 KB: S elements 16..31 of each thread
    const u32 qsAddr = smem_u32(sh.qs);

    const MlwBlock b = mlw_block(tiles, pageTable, pageSize);
    const int tid = threadIdx.x, wg = tid >> 7, wt = tid & 127;  // warpgroup, thread within it
    auto load = [&](int i) { mlw_load_tile<FP8>(smem_u32(sh.stage(i)), cache, cacheStride, b, pageSize, b.tileBegin + i); };

    mlw_load_q(qsAddr, q, qStride, b, blockIdx.x, group);
    if (b.myTiles > 0) load(0);
    cp_async_commit();

    const MlwRows w = mlw_rows(b, group);
    const float log2Scale = scale * 1.4426950408889634f;

    float o[128];
#pragma unroll
    for (int i = 0; i < 128; i++) o[i] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;

    for (int i = 0; i < b.myTiles; i++) {
        cp_async_wait<0>();      // tile i (and Q) landed for this thread
        wg_fence_proxy_async();  // ... and is visible to wgmma (async proxy) after the barrier
        __syncthreads();         // also: every reader of tile i - 1's stage and of the exchange is done
        u8 *kv = mlw_operand_tile(sh, i);
        const u32 kvAddr = smem_u32(kv);
        int kt = (b.tileBegin + i) * MLW_KEYS;

        // Partial S[64 rows, 64 keys] over the 16-element steps 18wg..18wg+17 of the 576 width.
        float s[32];
#pragma unroll
        for (int e = 0; e < 32; e++) s[e] = 0.0f;
        wg_fence_regs(s);
        wg_fence();
#pragma unroll
        for (int kc = 0; kc < 18; kc++) {
            int k = wg * 18 + kc;
            u32 blockOff = (u32)(k >> 2) * MLW_BLOCK_BYTES + (u32)(k & 3) * 32;
            wg_mma_bf16_n64(s, wg_desc_k128(qsAddr + blockOff), wg_desc_k128(kvAddr + blockOff), kc > 0);
        }
        wg_commit();
        // The next tile's copy (into the other stage, or raw buffer, free since the barrier above) is
        // issued while the S steps run.
        if (i + 1 < b.myTiles) load(i + 1);
        cp_async_commit();
        wg_wait<0>();
        wg_fence_regs(s);

        // Exchange: thread wt's element e lives at float4 (e / 4) of its 16-byte column: elements 0..15 in
        // the tile's rope block (8 KB), 16..31 in exchange1 (8 KB).
        float4 *x0 = (float4 *)(kv + 8 * MLW_BLOCK_BYTES) + wt, *x1 = (float4 *)exchange1 + wt;
        if (wg == 1) {
#pragma unroll
            for (int e = 0; e < 16; e += 4) {
                x0[(e / 4) * 128] = make_float4(s[e], s[e + 1], s[e + 2], s[e + 3]);
                x1[(e / 4) * 128] = make_float4(s[16 + e], s[17 + e], s[18 + e], s[19 + e]);
            }
        }
        __syncthreads();
        if (wg == 0) {
#pragma unroll
            for (int e = 0; e < 16; e += 4) {
                float4 a = x0[(e / 4) * 128], c = x1[(e / 4) * 128];
                x0[(e / 4) * 128] = make_float4(s[e], s[e + 1], s[e + 2], s[e + 3]);
                x1[(e / 4) * 128] = make_float4(s[16 + e], s[17 + e], s[18 + e], s[19 + e]);
                s[e] += a.x, s[e + 1] += a.y, s[e + 2] += a.z, s[e + 3] += a.w;
                s[16 + e] += c.x, s[17 + e] += c.y, s[18 + e] += c.z, s[19 + e] += c.w;
            }
        }
        __syncthreads();
        if (wg == 1) {
#pragma unroll
            for (int e = 0; e < 16; e += 4) {
                float4 a = x0[(e / 4) * 128], c = x1[(e / 4) * 128];
                // a + b == b + a: both warpgroups now hold the same S.
                s[e] = a.x + s[e], s[e + 1] = a.y + s[e + 1], s[e + 2] = a.z + s[e + 2], s[e + 3] = a.w + s[e + 3];
                s[16 + e] = c.x + s[16 + e], s[17 + e] = c.y + s[17 + e], s[18 + e] = c.z + s[18 + e], s[19 + e] = c.w + s[19 + e];
            }
        }

        // s[4j + 2h + e]: row r0 (h = 0) or r1 (h = 1), key kt + 8j + 2t + e.
        float mx0, mx1;
        mlw_mask_scale<8>(s, kt, w, log2Scale, mx0, mx1);
        float b0, b1;
        float c0 = mlw_rescale(m0, l0, mx0, b0), c1 = mlw_rescale(m1, l1, mx1, b1);
        // P as the A fragments of the four 16-key steps: step kk holds keys 16kk..16kk+15, i.e. the
        // accumulator columns of j = 2kk (registers 0, 1) and j = 2kk + 1 (registers 2, 3).
        u32 pa[4][4];
#pragma unroll
        for (int j = 0; j < 8; j++) {
            float p0 = exp2f(s[4 * j] - b0), p1 = exp2f(s[4 * j + 1] - b0);
            float p2 = exp2f(s[4 * j + 2] - b1), p3 = exp2f(s[4 * j + 3] - b1);
            l0 += p0 + p1;
            l1 += p2 + p3;
            pa[j >> 1][(j & 1) * 2] = pack_bf16x2(p0, p1);
            pa[j >> 1][(j & 1) * 2 + 1] = pack_bf16x2(p2, p3);
        }
        mlw_scale_o(o, c0, c1);

        // O[64 rows, columns 256wg..256wg+255] += P[64 rows, 64 keys] · V[64 keys, 256 columns].
        wg_fence_regs(o);
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < MLW_KEYS / 16; kk++)
            wg_mma_bf16_n256_rs_mn(o, pa[kk], wg_desc_mn128(kvAddr + wg * 4 * MLW_BLOCK_BYTES + kk * 2048, 8192), 1);
        wg_commit();
        wg_wait<0>();
        wg_fence_regs(o);
    }
    cp_async_wait<0>();  // no copy may still target shared memory at exit (splits without tiles)

    // Both warpgroups hold the same full row sums (per thread over its columns).
    l0 = mlw_quad_sum(l0);
    l1 = mlw_quad_sum(l1);
    mlw_store(o, m0, m1, l0, l1, b, w, heads, group, valueScale, out, outStride, partialO, partialML);
}

#endif

MLW_ENTRY(tern_mla_decode_v4, mla_decode_v4, false)
MLW_ENTRY(tern_mla_decode_v4_fp8, mla_decode_v4, true)
