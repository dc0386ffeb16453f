// MLA attention v4 in the absorbed (latent) form with Hopper warpgroup MMA (wgmma, sm_90a): same
// arguments, rows, split-KV plan, partial layout and combine as tern_mla_decode_v3 / v2.
// TERN_CUDA_MLA_ATTN=v4 (the default on sm_90) selects it; =v3 the previous wgmma kernel.
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
// Helpers (descriptor swizzle, fences, commit / wait) come from wgmma.cuh.
#include "wgmma.cuh"

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

#define M4_D 576
#define M4_V 512
#define M4_ROWS 64
#define M4_KEYS 64
#define M4_TILE_BYTES (M4_KEYS * M4_D * 2)  // one swizzled bf16 [64][576] tile (73,728 B)
#define M4_STAGES 2
#define M4_BLOCK_BYTES (M4_KEYS * 128)      // one 64-element column block of a tile (8,192 B)

struct __align__(16) m4_u4 { u32 x, y, z, w; };

__device__ __forceinline__ u32 m4_smem(const void *p) { return (u32)__cvta_generic_to_shared(p); }
// Byte offset of 16-byte chunk c (0..71) of row r in a swizzled [64][576] bf16 tile: 9 column blocks of
// [64][128 bytes], the chunk at position (c & 7) ^ (r & 7) of its 128-byte row.
__device__ __forceinline__ u32 m4_chunk_offset(int r, int c) { return (u32)((c >> 3) * M4_BLOCK_BYTES) + wg_swizzle128(r, c & 7); }
__device__ __forceinline__ void m4_copy16(u32 dst, const void *gmem, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(gmem), "r"(valid ? 16 : 0) : "memory");
}
__device__ __forceinline__ void m4_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
__device__ __forceinline__ void m4_cp_wait_all() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }

// Descriptor with explicit leading / stride byte offsets (128-byte swizzle): V read N-major needs
// leading byte offset 8192 (next 64 value columns) and stride 1024 (next 8 keys).
__device__ __forceinline__ u64 m4_desc(u32 addr, u32 lbo, u32 sbo) {
    return (u64)((addr & 0x3FFFFu) >> 4) | ((u64)((lbo & 0x3FFFFu) >> 4) << 16) | ((u64)((sbo & 0x3FFFFu) >> 4) << 32) | ((u64)1 << 62);
}

// d (+)= A · Bᵀ, A [64 × 16] and B [64 × 16] K-major in shared memory.
__device__ __forceinline__ void m4_mma_n64(float (&d)[32], u64 descA, u64 descB, int scaleD) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
        "}, %32, %33, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "l"(descA), "l"(descB), "r"(scaleD));
}

// d += A · B with A [64 × 16] bf16 from registers (4 per thread, the accumulator-to-A layout) and B
// [16 × 256] N-major ("transposed") in shared memory.
__device__ __forceinline__ void m4_mma_n256_rs(float (&d)[128], u32 a0, u32 a1, u32 a2, u32 a3, u64 descB) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
        "}, {%128, %129, %130, %131}, %132, p, 1, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "l"(descB));
}

__device__ __forceinline__ u32 m4_pack(float lo, float hi) { return (u32)float_to_bf16(lo) | ((u32)float_to_bf16(hi) << 16); }
// e4m3fn code → bf16 bits, exactly (normal codes rebias the exponent, subnormals go through float).
__device__ __forceinline__ u32 m4_e4m3_to_bf16(u32 b) {
    u32 em = b & 0x7Fu;
    u32 magnitude = em >= 8u ? (em + 960u) << 4 : (__float_as_uint((float)em * 0.001953125f) >> 16);
    return ((b & 0x80u) << 8) | magnitude;
}
__device__ __forceinline__ u32 m4_e4m3x2_to_bf16x2(u32 two) {
    return m4_e4m3_to_bf16(two & 0xFFu) | (m4_e4m3_to_bf16((two >> 8) & 0xFFu) << 16);
}

template <bool FP8>
__device__ void mla_decode_v4(const u16 *q, long long qStride, const void *cache, long long cacheStride, u16 *out,
                              long long outStride, int heads, int group, float scale, const int *tiles, const int *pageTable,
                              int pageSize, float *partialO, float *partialML, float valueScale) {
    extern __shared__ __align__(1024) u8 m4_shared_raw[];
    // The swizzle pattern repeats every 1024 bytes of address: align the base.
    u32 rawBase = m4_smem(m4_shared_raw);
    u8 *smem = m4_shared_raw + ((1024u - (rawBase & 1023u)) & 1023u);
    u8 *qs = smem;                                                  // swizzled [64][576] bf16
    u8 *stages = qs + M4_TILE_BYTES;                                // bf16: 2 swizzled tiles; fp8: 2 × [64][576] raw
    constexpr int STAGE_BYTES = FP8 ? M4_KEYS * M4_D : M4_TILE_BYTES;
    u8 *decoded = stages + M4_STAGES * STAGE_BYTES;                 // fp8 only: swizzled [64][576] bf16
    u8 *exchange1 = decoded + (FP8 ? M4_TILE_BYTES : 0);            // 8 KB: S elements 16..31 of each thread
    const u32 qsAddr = m4_smem(qs);

    const int *tile = tiles + blockIdx.y * 4;
    int tokenStart = tile[0], tokenCount = tile[1], firstPosition = tile[2];
    const int *pages = pageTable + tile[3];
    int headBlocks = heads / group, headBlock = blockIdx.x;
    int tid = threadIdx.x, lane = tid & 31, g = lane >> 2, t = lane & 3;
    int wg = tid >> 7, wq = (tid >> 5) & 3, wt = tid & 127;  // warpgroup, warp within it, thread within it

    int kvEnd = firstPosition + tokenCount;
    // Pages of 1 / 16 / 64 tokens: shifts and masks instead of divisions in the copy loop.
    const int pageShift = (pageSize & (pageSize - 1)) == 0 ? __ffs(pageSize) - 1 : -1;
    int splits = gridDim.z, split = blockIdx.z;
    int keyTiles = (kvEnd + M4_KEYS - 1) / M4_KEYS, perSplit = (keyTiles + splits - 1) / splits;
    int tileBegin = min(keyTiles, split * perSplit), tileEnd = min(keyTiles, tileBegin + perSplit);
    int myTiles = tileEnd - tileBegin;

    // Loads latent tile `i` (of this split) into its stage; rows past kvEnd are zero-filled.
    auto load = [&](int i) {
        int kt = (tileBegin + i) * M4_KEYS;
        u8 *dst = stages + (i % M4_STAGES) * STAGE_BYTES;
        u32 dstAddr = m4_smem(dst);
        constexpr int CHUNKS = FP8 ? M4_D / 16 : M4_D / 8;  // 16-byte chunks per row
        for (int c = tid; c < M4_KEYS * CHUNKS; c += blockDim.x) {
            int r = c / CHUNKS, k = c % CHUNKS, j = kt + r;
            bool valid = j < kvEnd;
            long long slot = 0;
            if (valid) {
                if (pageShift >= 0) slot = (long long)pages[j >> pageShift] * pageSize + (j & (pageSize - 1));
                else slot = (long long)pages[j / pageSize] * pageSize + j % pageSize;
            }
            if constexpr (FP8)
                m4_copy16(dstAddr + r * M4_D + k * 16, (const u8 *)cache + slot * cacheStride + k * 16, valid);
            else
                m4_copy16(dstAddr + m4_chunk_offset(r, k), (const u16 *)cache + slot * cacheStride + k * 8, valid);
        }
    };

    // Q rows → swizzled shared tile through cp.async in the first group (zeros past the tile's tokens).
    for (int c = tid; c < M4_ROWS * (M4_D / 8); c += blockDim.x) {
        int r = c / (M4_D / 8), k = c % (M4_D / 8);
        int tok = r / group, h = headBlock * group + r % group;
        bool valid = tok < tokenCount;
        const u16 *src = q + (valid ? (long long)(tokenStart + tok) * qStride + (long long)h * M4_D + k * 8 : 0);
        m4_copy16(qsAddr + m4_chunk_offset(r, k), src, valid);
    }
    if (myTiles > 0) load(0);
    m4_commit();

    // Accumulator rows of this thread (both warpgroups hold all 64 rows).
    int r0 = wq * 16 + g, r1 = r0 + 8;
    int tok0 = r0 / group, tok1 = r1 / group;
    int pos0 = tok0 < tokenCount ? firstPosition + tok0 : -1;
    int pos1 = tok1 < tokenCount ? firstPosition + tok1 : -1;
    const float log2Scale = scale * 1.4426950408889634f;

    float o[128];
#pragma unroll
    for (int i = 0; i < 128; i++) o[i] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;

    for (int i = 0; i < myTiles; i++) {
        m4_cp_wait_all();       // tile i (and Q) landed for this thread
        wg_fence_proxy_async(); // ... and is visible to wgmma (async proxy) after the barrier
        __syncthreads();        // also: every reader of tile i - 1's stage and of the exchange is done
        u8 *kv;
        if constexpr (FP8) {
            // Decode the tile to swizzled bf16 once: 8 codes → one 16-byte chunk per step.
            const u8 *raw = stages + (i % M4_STAGES) * STAGE_BYTES;
            for (int c = tid; c < M4_KEYS * (M4_D / 8); c += blockDim.x) {
                int r = c / (M4_D / 8), k = c % (M4_D / 8);
                uint2 b = *(const uint2 *)(raw + r * M4_D + k * 8);
                m4_u4 v;
                v.x = m4_e4m3x2_to_bf16x2(b.x & 0xFFFFu);
                v.y = m4_e4m3x2_to_bf16x2(b.x >> 16);
                v.z = m4_e4m3x2_to_bf16x2(b.y & 0xFFFFu);
                v.w = m4_e4m3x2_to_bf16x2(b.y >> 16);
                *(m4_u4 *)(decoded + m4_chunk_offset(r, k)) = v;
            }
            wg_fence_proxy_async();
            __syncthreads();
            kv = decoded;
        } else {
            kv = stages + (i % M4_STAGES) * STAGE_BYTES;
        }
        const u32 kvAddr = m4_smem(kv);
        int kt = (tileBegin + i) * M4_KEYS;

        // Partial S[64 rows, 64 keys] over the 16-element steps 18wg..18wg+17 of the 576 width.
        float s[32];
#pragma unroll
        for (int e = 0; e < 32; e++) s[e] = 0.0f;
        wg_fence_regs(s);
        wg_fence();
#pragma unroll
        for (int kc = 0; kc < 18; kc++) {
            int k = wg * 18 + kc;
            u32 blockOff = (u32)(k >> 2) * M4_BLOCK_BYTES + (u32)(k & 3) * 32;
            m4_mma_n64(s, wg_desc_k128(qsAddr + blockOff), wg_desc_k128(kvAddr + blockOff), kc > 0);
        }
        wg_commit();
        // The next tile's copy (into the other stage, or raw buffer, free since the barrier above) is
        // issued while the S steps run.
        if (i + 1 < myTiles) load(i + 1);
        m4_commit();
        wg_wait<0>();
        wg_fence_regs(s);

        // Exchange: thread wt's element e lives at float4 (e / 4) of its 16-byte column: elements 0..15 in
        // the tile's rope block (8 KB), 16..31 in exchange1 (8 KB).
        float4 *x0 = (float4 *)(kv + 8 * M4_BLOCK_BYTES) + wt, *x1 = (float4 *)exchange1 + wt;
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
                float4 a = x0[(e / 4) * 128], b = x1[(e / 4) * 128];
                x0[(e / 4) * 128] = make_float4(s[e], s[e + 1], s[e + 2], s[e + 3]);
                x1[(e / 4) * 128] = make_float4(s[16 + e], s[17 + e], s[18 + e], s[19 + e]);
                s[e] += a.x, s[e + 1] += a.y, s[e + 2] += a.z, s[e + 3] += a.w;
                s[16 + e] += b.x, s[17 + e] += b.y, s[18 + e] += b.z, s[19 + e] += b.w;
            }
        }
        __syncthreads();
        if (wg == 1) {
#pragma unroll
            for (int e = 0; e < 16; e += 4) {
                float4 a = x0[(e / 4) * 128], b = x1[(e / 4) * 128];
                // a + b == b + a: both warpgroups now hold the same S.
                s[e] = a.x + s[e], s[e + 1] = a.y + s[e + 1], s[e + 2] = a.z + s[e + 2], s[e + 3] = a.w + s[e + 3];
                s[16 + e] = b.x + s[16 + e], s[17 + e] = b.y + s[17 + e], s[18 + e] = b.z + s[18 + e], s[19 + e] = b.w + s[19 + e];
            }
        }

        // s[4j + 2h + e]: row r0 (h = 0) or r1 (h = 1), key kt + 8j + 2t + e.
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int j = 0; j < 8; j++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = kt + j * 8 + 2 * t + (e & 1);
                int pos = e < 2 ? pos0 : pos1;
                float v = key <= pos ? s[4 * j + e] * log2Scale : -INFINITY;
                s[4 * j + e] = v;
                if (e < 2) mx0 = fmaxf(mx0, v); else mx1 = fmaxf(mx1, v);
            }
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
        float b0 = n0 == -INFINITY ? 0.0f : n0, b1 = n1 == -INFINITY ? 0.0f : n1;
        float c0 = exp2f(m0 - b0), c1 = exp2f(m1 - b1);
        m0 = n0; m1 = n1;
        l0 *= c0; l1 *= c1;
        // P as the A fragments of the four 16-key steps: step kk holds keys 16kk..16kk+15, i.e. the
        // accumulator columns of j = 2kk (registers 0, 1) and j = 2kk + 1 (registers 2, 3).
        u32 pa[16];
#pragma unroll
        for (int j = 0; j < 8; j++) {
            float p0 = exp2f(s[4 * j] - b0), p1 = exp2f(s[4 * j + 1] - b0);
            float p2 = exp2f(s[4 * j + 2] - b1), p3 = exp2f(s[4 * j + 3] - b1);
            l0 += p0 + p1;
            l1 += p2 + p3;
            pa[(j >> 1) * 4 + (j & 1) * 2] = m4_pack(p0, p1);
            pa[(j >> 1) * 4 + (j & 1) * 2 + 1] = m4_pack(p2, p3);
        }
#pragma unroll
        for (int j = 0; j < 32; j++) { o[4 * j] *= c0; o[4 * j + 1] *= c0; o[4 * j + 2] *= c1; o[4 * j + 3] *= c1; }

        // O[64 rows, columns 256wg..256wg+255] += P[64 rows, 64 keys] · V[64 keys, 256 columns].
        wg_fence_regs(o);
        wg_fence();
#pragma unroll
        for (int kk = 0; kk < M4_KEYS / 16; kk++)
            m4_mma_n256_rs(o, pa[4 * kk], pa[4 * kk + 1], pa[4 * kk + 2], pa[4 * kk + 3],
                           m4_desc(kvAddr + wg * 4 * M4_BLOCK_BYTES + kk * 2048, 8192, 1024));
        wg_commit();
        wg_wait<0>();
        wg_fence_regs(o);
    }
    m4_cp_wait_all();  // no copy may still target shared memory at exit (splits without tiles)

    // Both warpgroups hold the same full row sums (per thread over its columns).
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
#pragma unroll
    for (int i = 0; i < 128; i++) o[i] *= valueScale;
    // o[4j + 2h + e]: row r0/r1 (h), value column 256wg + 8j + 2t + e.
    int col0 = wg * (M4_V / 2) + 2 * t;
    if (splits > 1) {
        // Partials as tern_mla_attention leaves them: row (tile, head block, r), split-minor.
        long long base = ((long long)blockIdx.y * headBlocks + headBlock) * M4_ROWS;
        long long i0 = (base + r0) * splits + split, i1 = (base + r1) * splits + split;
        if (tok0 < tokenCount) {
#pragma unroll
            for (int j = 0; j < 32; j++) *(float2 *)(partialO + i0 * M4_V + col0 + j * 8) = make_float2(o[4 * j], o[4 * j + 1]);
            if (t == 0 && wg == 0) { partialML[i0 * 2] = m0; partialML[i0 * 2 + 1] = l0; }
        }
        if (tok1 < tokenCount) {
#pragma unroll
            for (int j = 0; j < 32; j++) *(float2 *)(partialO + i1 * M4_V + col0 + j * 8) = make_float2(o[4 * j + 2], o[4 * j + 3]);
            if (t == 0 && wg == 0) { partialML[i1 * 2] = m1; partialML[i1 * 2 + 1] = l1; }
        }
        return;
    }
    float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    int h0 = headBlock * group + r0 % group, h1 = headBlock * group + r1 % group;
    if (tok0 < tokenCount) {
        u16 *row = out + (long long)(tokenStart + tok0) * outStride + (long long)h0 * M4_V + col0;
#pragma unroll
        for (int j = 0; j < 32; j++) *(u32 *)(row + j * 8) = m4_pack(o[4 * j] * inv0, o[4 * j + 1] * inv0);
    }
    if (tok1 < tokenCount) {
        u16 *row = out + (long long)(tokenStart + tok1) * outStride + (long long)h1 * M4_V + col0;
#pragma unroll
        for (int j = 0; j < 32; j++) *(u32 *)(row + j * 8) = m4_pack(o[4 * j + 2] * inv1, o[4 * j + 3] * inv1);
    }
}

#define M4_BODY(FP8) mla_decode_v4<FP8>(q, qStride, cache, cacheStride, out, outStride, heads, group, scale, tiles, pageTable, pageSize, partialO, partialML, valueScale);
#else
#define M4_BODY(FP8) __trap();
#endif

#define M4_ENTRY(NAME, FP8)                                                                                          \
    extern "C" __global__ void __launch_bounds__(256, 1) NAME(                                                      \
        const u16 *q, long long qStride, const void *cache, long long cacheStride, u16 *out, long long outStride,   \
        int heads, int group, float scale, const int *tiles, const int *pageTable, int pageSize, float *partialO,    \
        float *partialML, float valueScale) {                                                                       \
        M4_BODY(FP8)                                                                                                 \
    }
M4_ENTRY(tern_mla_decode_v4, false)
M4_ENTRY(tern_mla_decode_v4_fp8, true)
