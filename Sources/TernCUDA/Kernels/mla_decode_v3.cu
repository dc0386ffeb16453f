// MLA attention v3 in the absorbed (latent) form with Hopper warpgroup MMA (wgmma, sm_90a):
// DeepSeek-V3's query heads over one shared latent KV head of width 576 = 512 latent + 64 rope,
// values = the latent's first 512 elements. TERN_CUDA_MLA_ATTN=v3 (the default) selects it; same
// tiles, rows, split-KV plan, partial layout and combine (tern_mla_combine) as tern_mla_decode_v2.
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
// Shared layout (all operand tiles in the 128-byte swizzle, 1024-byte aligned): a [rows][576] bf16
// tile is 9 column blocks of 64 elements; block b is [rows][128 bytes] at b·rows·128, the 16-byte
// chunk c of row r at chunk position c ^ (r & 7). Descriptors: K-major (Q, K rows, P): stride
// byte offset 1024 (8 rows), the k-th 16-element step +32 bytes inside the block, blocks 8 KB apart;
// N-major (V): leading byte offset 8192 (next 64 columns), stride byte offset 1024 (next 8 keys),
// a 16-key step = +2048 bytes.
// Shared memory: Q 73,728 B + 2 stages × 73,728 B (bf16) + P [64][64] bf16 8,192 B + row maxima and
// sums [2][2][64] f32 1,024 B = 230,400 B, + up to 1,008 B to align the base to 1024. FP8 cache: the
// stages hold the raw e4m3 rows ([64][576] bytes, 36,864 B each) and each tile is decoded once into
// one swizzled bf16 tile (73,728 B): the same 230,400 B. The key scale is folded into `scale` by the
// caller; the value scale multiplies O once at the end.
#include "common.cuh"

// wgmma exists on sm_90a only: elsewhere the entry points are empty (the host never selects them).
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

#define M3_D 576
#define M3_V 512
#define M3_ROWS 64
#define M3_KEYS 64
#define M3_TILE_BYTES (M3_KEYS * M3_D * 2)  // one swizzled bf16 [64][576] tile (73,728 B)
#define M3_STAGES 2

struct __align__(16) m3_u4 { u32 x, y, z, w; };

__device__ __forceinline__ u32 m3_smem(const void *p) { return (u32)__cvta_generic_to_shared(p); }
// Byte offset of element chunk (row r, 16-byte chunk c of the 72 in a 576-wide bf16 row) in a swizzled
// [64][576] tile.
__device__ __forceinline__ u32 m3_chunk_offset(int r, int c) {
    return (u32)((c >> 3) * (M3_KEYS * 128) + r * 128 + (((c & 7) ^ (r & 7)) << 4));
}
__device__ __forceinline__ void m3_copy16(u32 dst, const void *gmem, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(gmem), "r"(valid ? 16 : 0) : "memory");
}
__device__ __forceinline__ void m3_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void m3_cp_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory"); }
__device__ __forceinline__ void m3_fence_proxy() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }
__device__ __forceinline__ void m3_wg_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void m3_wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N> __device__ __forceinline__ void m3_wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory"); }
template <int R> __device__ __forceinline__ void m3_fence_regs(float (&d)[R]) {
#pragma unroll
    for (int i = 0; i < R; i++) asm volatile("" : "+f"(d[i])::"memory");
}

// Matrix descriptor (128-byte swizzle): start address, leading and stride byte offsets.
__device__ __forceinline__ u64 m3_desc(u32 addr, u32 lbo, u32 sbo) {
    return (u64)((addr & 0x3FFFFu) >> 4) | ((u64)((lbo & 0x3FFFFu) >> 4) << 16) | ((u64)((sbo & 0x3FFFFu) >> 4) << 32) | ((u64)1 << 62);
}

__device__ __forceinline__ void m3_mma_n32(float (&d)[16], u64 descA, u64 descB, int scaleD) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15"
        "}, %16, %17, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
        : "l"(descA), "l"(descB), "r"(scaleD));
}

__device__ __forceinline__ void m3_mma_n256_tb(float (&d)[128], u64 descA, u64 descB, int scaleD) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
        "}, %128, %129, p, 1, 1, 0, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
          "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
          "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
          "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
          "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
          "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
          "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
          "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
          "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
        : "l"(descA), "l"(descB), "r"(scaleD));
}

__device__ __forceinline__ u32 m3_pack(float lo, float hi) { return (u32)float_to_bf16(lo) | ((u32)float_to_bf16(hi) << 16); }
// e4m3fn code → bf16 bits, exactly (normal codes rebias the exponent, subnormals go through float).
__device__ __forceinline__ u32 m3_e4m3_to_bf16(u32 b) {
    u32 em = b & 0x7Fu;
    u32 magnitude = em >= 8u ? (em + 960u) << 4 : (__float_as_uint((float)em * 0.001953125f) >> 16);
    return ((b & 0x80u) << 8) | magnitude;
}
__device__ __forceinline__ u32 m3_e4m3x2_to_bf16x2(u32 two) {
    return m3_e4m3_to_bf16(two & 0xFFu) | (m3_e4m3_to_bf16((two >> 8) & 0xFFu) << 16);
}

template <bool FP8>
__device__ void mla_decode_v3(const u16 *q, long long qStride, const void *cache, long long cacheStride, u16 *out,
                              long long outStride, int heads, int group, float scale, const int *tiles, const int *pageTable,
                              int pageSize, float *partialO, float *partialML, float valueScale) {
    extern __shared__ __align__(1024) u8 m3_shared_raw[];
    // The swizzle pattern repeats every 1024 bytes of address: align the base.
    u32 rawBase = m3_smem(m3_shared_raw);
    u8 *smem = m3_shared_raw + ((1024u - (rawBase & 1023u)) & 1023u);
    u8 *qs = smem;                                                  // swizzled [64][576] bf16
    u8 *stages = qs + M3_TILE_BYTES;                                // bf16: 2 swizzled tiles; fp8: 2 × [64][576] raw
    constexpr int STAGE_BYTES = FP8 ? M3_KEYS * M3_D : M3_TILE_BYTES;
    u8 *decoded = stages + M3_STAGES * STAGE_BYTES;                 // fp8 only: swizzled [64][576] bf16
    u8 *ps = decoded + (FP8 ? M3_TILE_BYTES : 0);                   // swizzled [64][64] bf16
    float *rowMax = (float *)(ps + M3_ROWS * M3_KEYS * 2);          // [2][64]
    float *rowSum = rowMax + 2 * M3_ROWS;                           // [2][64]
    const u32 qsAddr = m3_smem(qs), psAddr = m3_smem(ps);

    const int *tile = tiles + blockIdx.y * 4;
    int tokenStart = tile[0], tokenCount = tile[1], firstPosition = tile[2];
    const int *pages = pageTable + tile[3];
    int headBlocks = heads / group, headBlock = blockIdx.x;
    int tid = threadIdx.x, lane = tid & 31, g = lane >> 2, t = lane & 3;
    int wg = tid >> 7, wq = (tid >> 5) & 3;  // warpgroup, warp within it

    int kvEnd = firstPosition + tokenCount;
    int splits = gridDim.z, split = blockIdx.z;
    int keyTiles = (kvEnd + M3_KEYS - 1) / M3_KEYS, perSplit = (keyTiles + splits - 1) / splits;
    int tileBegin = min(keyTiles, split * perSplit), tileEnd = min(keyTiles, tileBegin + perSplit);
    int myTiles = tileEnd - tileBegin;

    // Loads latent tile `i` (of this split) into its stage; rows past kvEnd are zero-filled.
    auto load = [&](int i) {
        int kt = (tileBegin + i) * M3_KEYS;
        u8 *dst = stages + (i % M3_STAGES) * STAGE_BYTES;
        u32 dstAddr = m3_smem(dst);
        constexpr int CHUNKS = FP8 ? M3_D / 16 : M3_D / 8;  // 16-byte chunks per row
        for (int c = tid; c < M3_KEYS * CHUNKS; c += blockDim.x) {
            int r = c / CHUNKS, k = c % CHUNKS, j = kt + r;
            bool valid = j < kvEnd;
            long long slot = valid ? (long long)pages[j / pageSize] * pageSize + j % pageSize : 0;
            if constexpr (FP8)
                m3_copy16(dstAddr + r * M3_D + k * 16, (const u8 *)cache + slot * cacheStride + k * 16, valid);
            else
                m3_copy16(dstAddr + m3_chunk_offset(r, k), (const u16 *)cache + slot * cacheStride + k * 8, valid);
        }
    };

    // Q rows → swizzled shared tile through cp.async in the first group (zeros past the tile's tokens).
    for (int c = tid; c < M3_ROWS * (M3_D / 8); c += blockDim.x) {
        int r = c / (M3_D / 8), k = c % (M3_D / 8);
        int tok = r / group, h = headBlock * group + r % group;
        bool valid = tok < tokenCount;
        const u16 *src = q + (valid ? (long long)(tokenStart + tok) * qStride + (long long)h * M3_D + k * 8 : 0);
        m3_copy16(qsAddr + m3_chunk_offset(r, k), src, valid);
    }
    if (myTiles > 0) load(0);
    m3_commit();

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
        if (i + 1 < myTiles) load(i + 1);
        m3_commit();
        m3_cp_wait<1>();   // tile i (and Q) landed for this thread
        m3_fence_proxy();  // ... and is visible to wgmma (async proxy) after the barrier
        __syncthreads();
        u32 kvAddr;
        if constexpr (FP8) {
            // Decode the tile to swizzled bf16 once: 8 codes → one 16-byte chunk per step.
            const u8 *raw = stages + (i % M3_STAGES) * STAGE_BYTES;
            for (int c = tid; c < M3_KEYS * (M3_D / 8); c += blockDim.x) {
                int r = c / (M3_D / 8), k = c % (M3_D / 8);
                uint2 b = *(const uint2 *)(raw + r * M3_D + k * 8);
                m3_u4 v;
                v.x = m3_e4m3x2_to_bf16x2(b.x & 0xFFFFu);
                v.y = m3_e4m3x2_to_bf16x2(b.x >> 16);
                v.z = m3_e4m3x2_to_bf16x2(b.y & 0xFFFFu);
                v.w = m3_e4m3x2_to_bf16x2(b.y >> 16);
                *(m3_u4 *)(decoded + m3_chunk_offset(r, k)) = v;
            }
            m3_fence_proxy();
            __syncthreads();
            kvAddr = m3_smem(decoded);
        } else {
            kvAddr = m3_smem(stages + (i % M3_STAGES) * STAGE_BYTES);
        }
        int kt = (tileBegin + i) * M3_KEYS;

        // S[64 rows, keys 32wg..32wg+31] = Q · Kᵀ over the 576 width: 9 column blocks × 4 k-steps.
        float s[16];
#pragma unroll
        for (int e = 0; e < 16; e++) s[e] = 0.0f;
        m3_fence_regs(s);
        m3_wg_fence();
#pragma unroll
        for (int kc = 0; kc < M3_D / 16; kc++) {
            u32 blockOff = (u32)(kc >> 2) * (M3_KEYS * 128) + (u32)(kc & 3) * 32;
            m3_mma_n32(s, m3_desc(qsAddr + blockOff, 16, 1024), m3_desc(kvAddr + blockOff + wg * 32 * 128, 16, 1024), kc > 0);
        }
        m3_wg_commit();
        m3_wg_wait<0>();
        m3_fence_regs(s);

        // s[4j + 2h + e]: row r0 (h = 0) or r1 (h = 1), key kt + 32wg + 8j + 2t + e.
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int j = 0; j < 4; j++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = kt + wg * 32 + j * 8 + 2 * t + (e & 1);
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
        if (t == 0) { rowMax[wg * M3_ROWS + r0] = mx0; rowMax[wg * M3_ROWS + r1] = mx1; }
        __syncthreads();
        mx0 = fmaxf(mx0, rowMax[(1 - wg) * M3_ROWS + r0]);
        mx1 = fmaxf(mx1, rowMax[(1 - wg) * M3_ROWS + r1]);
        float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
        float b0 = n0 == -INFINITY ? 0.0f : n0, b1 = n1 == -INFINITY ? 0.0f : n1;
        float c0 = exp2f(m0 - b0), c1 = exp2f(m1 - b1);
        m0 = n0; m1 = n1;
        l0 *= c0; l1 *= c1;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            float p0 = exp2f(s[4 * j] - b0), p1 = exp2f(s[4 * j + 1] - b0);
            float p2 = exp2f(s[4 * j + 2] - b1), p3 = exp2f(s[4 * j + 3] - b1);
            l0 += p0 + p1;
            l1 += p2 + p3;
            // P [64 rows][64 keys] bf16, swizzled K-major: key column 32wg + 8j + 2t is chunk 4wg + j.
            int chunk = wg * 4 + j;
            *(u32 *)(ps + r0 * 128 + ((chunk ^ (r0 & 7)) << 4) + 4 * t) = m3_pack(p0, p1);
            *(u32 *)(ps + r1 * 128 + ((chunk ^ (r1 & 7)) << 4) + 4 * t) = m3_pack(p2, p3);
        }
#pragma unroll
        for (int j = 0; j < 32; j++) { o[4 * j] *= c0; o[4 * j + 1] *= c0; o[4 * j + 2] *= c1; o[4 * j + 3] *= c1; }
        m3_fence_proxy();  // P writes → visible to wgmma after the barrier
        __syncthreads();   // P of both warpgroups stored

        // O[64 rows, columns 256wg..256wg+255] += P[64 rows, 64 keys] · V[64 keys, 256 columns].
        m3_fence_regs(o);
        m3_wg_fence();
#pragma unroll
        for (int kk = 0; kk < M3_KEYS / 16; kk++)
            m3_mma_n256_tb(o, m3_desc(psAddr + kk * 32, 16, 1024), m3_desc(kvAddr + wg * 4 * (M3_KEYS * 128) + kk * 2048, 8192, 1024), 1);
        m3_wg_commit();
        m3_wg_wait<0>();
        m3_fence_regs(o);
        __syncthreads();  // this stage, the decoded tile, P and the maxima are free for the next tile
    }
    m3_cp_wait<0>();  // no copy may still target shared memory at exit (splits without tiles)

    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    if (t == 0) { rowSum[wg * M3_ROWS + r0] = l0; rowSum[wg * M3_ROWS + r1] = l1; }
    __syncthreads();
    l0 += rowSum[(1 - wg) * M3_ROWS + r0];
    l1 += rowSum[(1 - wg) * M3_ROWS + r1];
#pragma unroll
    for (int i = 0; i < 128; i++) o[i] *= valueScale;
    // o[4j + 2h + e]: row r0/r1 (h), value column 256wg + 8j + 2t + e.
    int col0 = wg * (M3_V / 2) + 2 * t;
    if (splits > 1) {
        // Partials as tern_mla_attention leaves them: row (tile, head block, r), split-minor.
        long long base = ((long long)blockIdx.y * headBlocks + headBlock) * M3_ROWS;
        long long i0 = (base + r0) * splits + split, i1 = (base + r1) * splits + split;
        if (tok0 < tokenCount) {
#pragma unroll
            for (int j = 0; j < 32; j++) *(float2 *)(partialO + i0 * M3_V + col0 + j * 8) = make_float2(o[4 * j], o[4 * j + 1]);
            if (t == 0 && wg == 0) { partialML[i0 * 2] = m0; partialML[i0 * 2 + 1] = l0; }
        }
        if (tok1 < tokenCount) {
#pragma unroll
            for (int j = 0; j < 32; j++) *(float2 *)(partialO + i1 * M3_V + col0 + j * 8) = make_float2(o[4 * j + 2], o[4 * j + 3]);
            if (t == 0 && wg == 0) { partialML[i1 * 2] = m1; partialML[i1 * 2 + 1] = l1; }
        }
        return;
    }
    float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    int h0 = headBlock * group + r0 % group, h1 = headBlock * group + r1 % group;
    if (tok0 < tokenCount) {
        u16 *row = out + (long long)(tokenStart + tok0) * outStride + (long long)h0 * M3_V + col0;
#pragma unroll
        for (int j = 0; j < 32; j++) *(u32 *)(row + j * 8) = m3_pack(o[4 * j] * inv0, o[4 * j + 1] * inv0);
    }
    if (tok1 < tokenCount) {
        u16 *row = out + (long long)(tokenStart + tok1) * outStride + (long long)h1 * M3_V + col0;
#pragma unroll
        for (int j = 0; j < 32; j++) *(u32 *)(row + j * 8) = m3_pack(o[4 * j + 2] * inv1, o[4 * j + 3] * inv1);
    }
}

#define M3_BODY(FP8) mla_decode_v3<FP8>(q, qStride, cache, cacheStride, out, outStride, heads, group, scale, tiles, pageTable, pageSize, partialO, partialML, valueScale);
#else
#define M3_BODY(FP8) __trap();
#endif

#define M3_ENTRY(NAME, FP8)                                                                                          \
    extern "C" __global__ void __launch_bounds__(256, 1) NAME(                                                      \
        const u16 *q, long long qStride, const void *cache, long long cacheStride, u16 *out, long long outStride,   \
        int heads, int group, float scale, const int *tiles, const int *pageTable, int pageSize, float *partialO,    \
        float *partialML, float valueScale) {                                                                       \
        M3_BODY(FP8)                                                                                                 \
    }
M3_ENTRY(tern_mla_decode_v3, false)
M3_ENTRY(tern_mla_decode_v3_fp8, true)
