// Prefill / extend attention on Hopper warpgroup MMA (wgmma), bf16 q/out and a bf16 paged K/V cache,
// head width 128 (FlashAttention-3 style math without warp specialisation).
//
// A block serves 128 query rows of one sequence and one KV head (rows are (token, query head of the
// GQA group) pairs, as in tern_flash_prefill, and the same tiles / split-KV partials / combine) with
// two warpgroups of 64 rows. Q, K and V live in shared memory in the 128-byte-swizzled layout that
// wgmma descriptors read: an operand of R rows × 128 columns is two column halves of R rows × 128
// bytes, 16-byte chunk c of row r stored at chunk c ^ (r & 7) (every half 1024-byte aligned).
// S = Q·Kᵀ: m64n128k16 with A = Q (K-major) and B = K tile (128 keys, K-major), 8 k-steps over the
// head. O += P·V: m64n128k16 with A = P from registers (the S accumulator converted to bf16 in place:
// its layout is the A fragment's) and B = V tile read N-major (imm-trans-b), 8 k-steps of 16 keys.
// K/V tiles of 128 keys are loaded by all 256 threads with cp.async into a STAGES-deep ring (one
// page-table lookup per thread per tile), so STAGES − 1 tiles are in flight while one is computed.
// OVERLAP: a warpgroup does not wait for its P·V MMAs of tile i before the next tile's barrier, load
// issue and S = Q·Kᵀ (one wait covers both), so they run under that; the ring then prefetches
// STAGES − 2 tiles ahead (the slot of tile i may still be read by those MMAs).
// Online softmax in the log2 domain (exp2 of the score pre-scaled by scale·log2 e). Causal by
// position: key tiles past the block's last position are never loaded, a warpgroup skips tiles past
// its own last row, and only tiles that straddle a row's position (or the window's lower edge) are
// masked.
#include "mma.cuh"
#include "wgmma.cuh"

// wgmma exists only on sm_90a; elsewhere the entry points are empty and the host never picks them.
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define F3_ENABLED 1
#else
#define F3_ENABLED 0
#endif

#define F3_ROWS 128
#define F3_KEYS 128
#define F3_THREADS 256
#define F3_HD 128
// Bytes of one swizzled operand of 128 rows × 128 bf16 (Q, one K tile, one V tile).
#define F3_OPERAND (128 * 256)

// Byte offset of 16-byte chunk c (0…15) of row r in a swizzled operand of `rows` rows (two column
// halves of rows × 128 bytes).
__device__ __forceinline__ u32 f3_swizzle(int r, int c, int rows) { return (u32)((c >> 3) * rows * 128) + wg_swizzle128(r, c & 7); }

#if F3_ENABLED
// One key tile of the online softmax for this thread's two rows (p0, p1: their positions, −1 past the
// tile) of a warpgroup's 64 × 128 score tile sc (keys kt …): masks keys past a row's position or below
// its window when needMask, updates the running maxima m (raw score units) and sums l, rescales o, and
// writes P = exp2(s·log2Scale − m·log2Scale) as bf16 A fragments of the P·V MMAs into pa (k-step
// nb / 2: (row g, keys 2t..) (row g+8, 2t..) (row g, 2t+8..) (row g+8, 2t+8..)).
__device__ __forceinline__ void f3_softmax_tile(float (&sc)[64], float (&o)[64], u32 (&pa)[32], float &m0, float &m1,
                                                float &l0, float &l1, int kt, int p0, int p1, int t, int window,
                                                float log2Scale, bool needMask) {
    if (needMask) {
#pragma unroll
        for (int nb = 0; nb < F3_KEYS / 8; nb++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int key = kt + nb * 8 + 2 * t + (e & 1);
                const int p = e < 2 ? p0 : p1;
                const bool ok = key <= p && (window <= 0 || key > p - window);
                if (!ok) sc[nb * 4 + e] = -INFINITY;
            }
        }
    }
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int nb = 0; nb < F3_KEYS / 8; nb++) {
        mx0 = fmaxf(mx0, fmaxf(sc[nb * 4], sc[nb * 4 + 1]));
        mx1 = fmaxf(mx1, fmaxf(sc[nb * 4 + 2], sc[nb * 4 + 3]));
    }
    mx0 = quad_max(mx0);
    mx1 = quad_max(mx1);
    const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
    const float b0 = n0 == -INFINITY ? 0.0f : n0 * log2Scale, b1 = n1 == -INFINITY ? 0.0f : n1 * log2Scale;
    const float c0 = exp2f(m0 * log2Scale - b0), c1 = exp2f(m1 * log2Scale - b1);
    m0 = n0; m1 = n1;
    l0 *= c0; l1 *= c1;
#pragma unroll
    for (int i = 0; i < 16; i++) { o[4 * i] *= c0; o[4 * i + 1] *= c0; o[4 * i + 2] *= c1; o[4 * i + 3] *= c1; }
#pragma unroll
    for (int nb = 0; nb < F3_KEYS / 8; nb++) {
        const float e0 = exp2f(fmaf(sc[nb * 4], log2Scale, -b0)), e1 = exp2f(fmaf(sc[nb * 4 + 1], log2Scale, -b0));
        const float e2 = exp2f(fmaf(sc[nb * 4 + 2], log2Scale, -b1)), e3 = exp2f(fmaf(sc[nb * 4 + 3], log2Scale, -b1));
        l0 += e0 + e1;
        l1 += e2 + e3;
        pa[(nb >> 1) * 4 + (nb & 1) * 2] = pack_bf16x2(e0, e1);
        pa[(nb >> 1) * 4 + (nb & 1) * 2 + 1] = pack_bf16x2(e2, e3);
    }
}
#endif

#if F3_ENABLED
// A block's share of the work: its tile (tiles[i] = {first token, token count, position of the first
// token, page-table start}) of one KV head, the valid row positions of warpgroup `wg` (last −1: no
// valid row, no math at all), and this split's range of key tiles of F3_KEYS keys (causal: keys up to
// the tile's last position; a sliding window starts at the tile holding the first row's lowest key).
struct F3Tile {
    int kvHead, tokenStart, tokenCount, firstPosition;
    const int *pages;
    int wgFirstPos, wgLastPos;
    int kvEnd, myBegin, nTiles;
    // Row r of the block is token r / group (position firstPosition + token; −1 past the tile).
    __device__ __forceinline__ int rowPos(int r, int group) const { int k = r / group; return k < tokenCount ? firstPosition + k : -1; }
};

__device__ __forceinline__ F3Tile f3_tile(const int *tiles, const int *pageTable) {
    F3Tile b;
    b.kvHead = blockIdx.x;
    const int *tile = tiles + blockIdx.y * 4;
    b.tokenStart = tile[0]; b.tokenCount = tile[1]; b.firstPosition = tile[2];
    b.pages = pageTable + tile[3];
    return b;
}

// The warpgroup's positions and the split's key tiles of a tile from f3_tile (after the Q copies are
// issued, so they start first).
__device__ __forceinline__ void f3_plan(F3Tile &b, int group, int window, int wg) {
    const int wgFirstTok = (wg * 64) / group;
    const int wgLastTok = min(b.tokenCount - 1, (wg * 64 + 63) / group);
    b.wgLastPos = wgFirstTok < b.tokenCount ? b.firstPosition + wgLastTok : -1;
    b.wgFirstPos = b.firstPosition + wgFirstTok;
    b.kvEnd = b.firstPosition + b.tokenCount;
    int kvBegin = window > 0 ? max(0, b.firstPosition + 1 - window) : 0;
    kvBegin = kvBegin / F3_KEYS * F3_KEYS;
    const int splits = gridDim.z, split = blockIdx.z;
    const int keyTiles = (b.kvEnd - kvBegin + F3_KEYS - 1) / F3_KEYS, perSplit = (keyTiles + splits - 1) / splits;
    b.myBegin = kvBegin + split * perSplit * F3_KEYS;
    const int myEnd = min(b.kvEnd, b.myBegin + perSplit * F3_KEYS);
    b.nTiles = b.myBegin < myEnd ? (myEnd - b.myBegin + F3_KEYS - 1) / F3_KEYS : 0;
}

// Q rows of the tile → swizzled shared memory at sQ (row lr, 16-byte chunks 2i + lc; zeros past the
// tile), as their own cp.async group.
__device__ __forceinline__ void f3_load_q(u32 sQ, const u16 *q, long long qStride, const F3Tile &b, int group, int lr, int lc) {
    const int tok = lr / group, h = b.kvHead * group + lr % group;
    const bool valid = tok < b.tokenCount;
    const u16 *src = q + (long long)(b.tokenStart + (valid ? tok : 0)) * qStride + (long long)h * F3_HD;
#pragma unroll
    for (int i = 0; i < 8; i++) cp_async16(sQ + f3_swizzle(lr, 2 * i + lc, F3_ROWS), src + (2 * i + lc) * 8, valid);
    cp_async_commit();
}

// The end of a block: row sums over the quad, then this thread's two rows r0, r1 either as split-KV
// partials (grid.z > 1; m in the log2 domain, m·log2Scale, as tern_flash_prefill_combine expects; o
// times valueScale, l unscaled) or normalized into `out` (o · valueScale / l; rows with no key → 0).
__device__ __forceinline__ void f3_finish(const float (&o)[64], float m0, float m1, float l0, float l1, int r0, int r1,
                                          int group, int tokenCount, int tokenStart, int kvHead, int t, float log2Scale,
                                          u16 *out, long long outStride, float *partialO, float *partialML, float valueScale) {
    const int splits = gridDim.z, split = blockIdx.z;
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const int tok0 = r0 / group, tok1 = r1 / group;
    if (splits > 1) {
        const long long base = ((long long)blockIdx.y * gridDim.x + kvHead) * F3_ROWS;
        const long long i0 = (base + r0) * splits + split, i1 = (base + r1) * splits + split;
        const float lm0 = m0 == -INFINITY ? -INFINITY : m0 * log2Scale;
        const float lm1 = m1 == -INFINITY ? -INFINITY : m1 * log2Scale;
        if (tok0 < tokenCount) {
#pragma unroll
            for (int dn = 0; dn < 16; dn++)
                *(float2 *)(partialO + i0 * F3_HD + dn * 8 + 2 * t) = make_float2(o[4 * dn] * valueScale, o[4 * dn + 1] * valueScale);
            if (t == 0) { partialML[i0 * 2] = lm0; partialML[i0 * 2 + 1] = l0; }
        }
        if (tok1 < tokenCount) {
#pragma unroll
            for (int dn = 0; dn < 16; dn++)
                *(float2 *)(partialO + i1 * F3_HD + dn * 8 + 2 * t) = make_float2(o[4 * dn + 2] * valueScale, o[4 * dn + 3] * valueScale);
            if (t == 0) { partialML[i1 * 2] = lm1; partialML[i1 * 2 + 1] = l1; }
        }
        return;
    }
    const float inv0 = l0 > 0.0f ? valueScale * (1.0f / l0) : 0.0f, inv1 = l1 > 0.0f ? valueScale * (1.0f / l1) : 0.0f;
    if (tok0 < tokenCount) {
        u16 *row = out + (long long)(tokenStart + tok0) * outStride + (long long)(kvHead * group + r0 % group) * F3_HD + 2 * t;
#pragma unroll
        for (int dn = 0; dn < 16; dn++) *(u32 *)(row + dn * 8) = pack_bf16x2(o[4 * dn] * inv0, o[4 * dn + 1] * inv0);
    }
    if (tok1 < tokenCount) {
        u16 *row = out + (long long)(tokenStart + tok1) * outStride + (long long)(kvHead * group + r1 % group) * F3_HD + 2 * t;
#pragma unroll
        for (int dn = 0; dn < 16; dn++) *(u32 *)(row + dn * 8) = pack_bf16x2(o[4 * dn + 2] * inv1, o[4 * dn + 3] * inv1);
    }
}

// Arguments as tern_flash_prefill (bf16 caches; keyStride / valueStride / head strides in elements).
template <int STAGES, bool OVERLAP, bool PP = false>
__device__ __forceinline__ void flash_prefill_wgmma(
    const u16 *q, long long qStride, const u16 *keys, const u16 *values,
    long long keyStride, long long keyHeadStride, long long valueStride, long long valueHeadStride,
    u16 *out, long long outStride, int group, float scale, int window,
    const int *tiles, const int *pageTable, int pageSize, float *partialO, float *partialML) {
    extern __shared__ __align__(16) unsigned char f3_shared[];
    // 1024-byte aligned base (the swizzle pattern repeats every 1024 bytes): Q, then STAGES × (K, V).
    const u32 raw = smem_u32(f3_shared);
    const u32 sQ = (raw + 1023u) & ~1023u;
    auto sK = [&](int stage) { return sQ + (u32)F3_OPERAND * (1 + 2 * stage); };

    const int tid = threadIdx.x, lane = tid & 31, g = lane >> 2, t = lane & 3;
    const int wg = tid >> 7, wq = (tid >> 5) & 3;  // warpgroup, warp within it
    // Loader mapping (Q, K and V alike): row tid / 2, 16-byte chunks 2i + (tid & 1), i = 0…7 (a thread
    // pair reads whole 32-byte sectors per copy instruction; one page-table lookup per thread per tile).
    const int lr = tid >> 1, lc = tid & 1;
    F3Tile b = f3_tile(tiles, pageTable);
    f3_load_q(sQ, q, qStride, b, group, lr, lc);
    f3_plan(b, group, window, wg);
    const int kvHead = b.kvHead, kvEnd = b.kvEnd, myBegin = b.myBegin, nTiles = b.nTiles;
    const int wgFirstPos = b.wgFirstPos, wgLastPos = b.wgLastPos;
    const int *pages = b.pages;
    const float log2Scale = scale * 1.4426950408889634f;

    // Issues the cp.async copies of the K and V rows of key tile `index` into ring slot `stage`.
    auto issue = [&](int index, int stage) {
        const int j = myBegin + index * F3_KEYS + lr;
        const bool valid = j < kvEnd;
        const long long slot = valid ? (long long)pages[j / pageSize] * pageSize + j % pageSize : 0;
        const u16 *k = keys + slot * keyStride + kvHead * keyHeadStride;
        const u16 *v = values + slot * valueStride + kvHead * valueHeadStride;
        const u32 ks = sK(stage), vs = ks + F3_OPERAND;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const u32 off = f3_swizzle(lr, 2 * i + lc, F3_KEYS);
            cp_async16(ks + off, k + (2 * i + lc) * 8, valid);
            cp_async16(vs + off, v + (2 * i + lc) * 8, valid);
        }
    };
    constexpr int AHEAD = OVERLAP ? STAGES - 2 : STAGES - 1;  // tiles in flight ahead of the computed one
    static_assert(AHEAD >= 1, "the ring needs a tile in flight");
#pragma unroll
    for (int s = 0; s < AHEAD; s++) {
        if (s < nTiles) issue(s, s);
        cp_async_commit();
    }

    float o[64], sc[64];
#pragma unroll
    for (int i = 0; i < 64; i++) o[i] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
    // Rows of this thread's accumulator fragments (block rows).
    const int r0 = wg * 64 + wq * 16 + g, r1 = r0 + 8;
    const int p0 = b.rowPos(r0, group), p1 = b.rowPos(r1, group);
    const u32 qBase = sQ + (u32)(wg * 64 * 128);  // this warpgroup's 64 rows of both halves

    static_assert(!PP || (OVERLAP && STAGES == 3), "ping-pong runs on the overlapped 3-slot ring");
    // PP: warpgroup 1 runs half a tile out of phase (its S = Q·Kᵀ of tile it is issued at the end of
    // interval it, its softmax and P·V of tile it in interval it + 1, while warpgroup 0 issues its
    // MMAs), so one warpgroup's softmax runs under the other's MMAs; one extra interval drains it.
    // A slot is still free two barriers after its tile: warpgroup 1 waits for its S(t) early in
    // interval t + 1 and for its P·V(t) before the barrier ending it.
    for (int it = 0; it < nTiles + (PP ? 1 : 0); it++) {
        // Tile `it` (and Q) landed for this thread's copies; make them visible to the async proxy
        // (wgmma reads shared memory through it) and to every thread. The barrier also means every
        // warpgroup is done with the slot of tile it − 1, which the next issue overwrites.
        cp_async_wait<AHEAD - 1>();
        wg_fence_proxy_async();
        __syncthreads();
        if (it + AHEAD < nTiles) issue(it + AHEAD, (it + AHEAD) % STAGES);
        cp_async_commit();

        if constexpr (PP) {
            auto tileActive = [&](int i) {
                const int k = myBegin + i * F3_KEYS;
                return !(k > wgLastPos || (window > 0 && k + F3_KEYS - 1 <= wgFirstPos - window));
            };
            if (wg == 1) {
                const bool prevActive = it > 0 && tileActive(it - 1);
                const bool curActive = it < nTiles && tileActive(it);
                u32 pa[32];
                if (prevActive) {
                    const int kp = myBegin + (it - 1) * F3_KEYS;
                    wg_wait<0>();  // S(it − 1)
                    wg_fence_regs(sc);
                    f3_softmax_tile(sc, o, pa, m0, m1, l0, l1, kp, p0, p1, t, window, log2Scale,
                                    kp + F3_KEYS - 1 > wgFirstPos || kp + F3_KEYS - 1 >= kvEnd || (window > 0 && kp <= wgLastPos - window));
                    const u32 vPrev = sK((it - 1) % STAGES) + F3_OPERAND;
                    wg_fence_regs(o);
                    wg_fence();
#pragma unroll
                    for (int kc = 0; kc < F3_KEYS / 16; kc++) wg_mma_bf16_n128_rs_mn(o, pa + 4 * kc, wg_desc_mn128(vPrev + kc * 2048, F3_OPERAND / 2), 1);
                    wg_commit();
                }
                if (curActive) {  // S(it), left running into the next interval
                    const u32 kCur = sK(it % STAGES);
                    wg_fence();
#pragma unroll
                    for (int kc = 0; kc < F3_HD / 16; kc++) {
                        const u32 off = (u32)((kc >> 2) * (F3_OPERAND / 2) + (kc & 3) * 32);
                        wg_mma_bf16_n128(sc, wg_desc_k128(qBase + off), wg_desc_k128(kCur + off), kc > 0);
                    }
                    wg_commit();
                }
                if (prevActive) {  // P·V(it − 1) done before the barrier (its slot is refilled after the next one)
                    if (curActive) wg_wait<1>();
                    else wg_wait<0>();
                    wg_fence_regs(o);
                    wg_fence_regs(pa);
                }
                continue;
            }
            if (it >= nTiles) continue;  // warpgroup 0: nothing in the drain interval
        }

        const int kt = myBegin + it * F3_KEYS;
        if (kt > wgLastPos || (window > 0 && kt + F3_KEYS - 1 <= wgFirstPos - window)) {  // warpgroup-uniform
            if (OVERLAP) {  // the previous tile's P·V must be done before its slot is refilled
                wg_wait<0>();
                wg_fence_regs(o);
            }
            continue;
        }
        const u32 kBase = sK(it % STAGES), vBase = kBase + F3_OPERAND;

        // ---- S = Q · Kᵀ (64 rows × 128 keys per warpgroup).
        wg_fence();
#pragma unroll
        for (int kc = 0; kc < F3_HD / 16; kc++) {
            const u32 off = (u32)((kc >> 2) * (F3_OPERAND / 2) + (kc & 3) * 32);
            wg_mma_bf16_n128(sc, wg_desc_k128(qBase + off), wg_desc_k128(kBase + off), kc > 0);
        }
        wg_commit();
        wg_wait<0>();  // OVERLAP: also the previous tile's P·V
        wg_fence_regs(sc);
        if (OVERLAP) wg_fence_regs(o);

        u32 pa[32];
        f3_softmax_tile(sc, o, pa, m0, m1, l0, l1, kt, p0, p1, t, window, log2Scale,
                        kt + F3_KEYS - 1 > wgFirstPos || kt + F3_KEYS - 1 >= kvEnd || (window > 0 && kt <= wgLastPos - window));

        // ---- O += P · V (V tile read N-major: 16 keys × 128 columns per k-step).
        wg_fence_regs(o);
        wg_fence();
#pragma unroll
        for (int kc = 0; kc < F3_KEYS / 16; kc++) wg_mma_bf16_n128_rs_mn(o, pa + 4 * kc, wg_desc_mn128(vBase + kc * 2048, F3_OPERAND / 2), 1);
        wg_commit();
        if (!OVERLAP) {
            wg_wait<0>();
            wg_fence_regs(o);
        }
    }
    if (OVERLAP) {
        wg_wait<0>();
        wg_fence_regs(o);
    }
    cp_async_wait<0>();

    f3_finish(o, m0, m1, l0, l1, r0, r1, group, b.tokenCount, b.tokenStart, kvHead, t, log2Scale, out, outStride, partialO, partialML, 1.0f);
}

#define F3_CALL(STAGES, OVERLAP, PP)                                                                           \
    flash_prefill_wgmma<STAGES, OVERLAP, PP>(q, qStride, keys, values, keyStride, keyHeadStride, valueStride, valueHeadStride, \
                                out, outStride, group, scale, window, tiles, pageTable, pageSize, partialO, partialML)
#else
#define F3_CALL(STAGES, OVERLAP, PP) ((void)0)
#endif  // F3_ENABLED

// ---- FP8 (e4m3) cache: the same math on bf16 K/V tiles decoded in shared memory.
// Raw e4m3 tiles (128 keys × 128 bytes of K and of V) arrive by cp.async in a RAW-deep ring private to
// each thread (a thread decodes exactly the 16-byte chunks it copied, so the ring needs no barrier);
// the thread then writes them as bf16 into one of two swizzled K/V slots. Tile i + 1 is decoded while
// the P·V MMAs of tile i run; slot (i + 1) & 1 last held tile i − 1, which every warpgroup finished
// before the barrier of iteration i. The key scale is folded into `scale` by the caller; `valueScale`
// multiplies the output (the partials of a split too; their sums l stay unscaled).
// 16 e4m3 codes at raw shared address `from` → 16 bf16 at `lo` (codes 0-7) and `hi` (codes 8-15).
__device__ __forceinline__ void f3_decode16(u32 from, u32 lo, u32 hi) {
    u32 a, b, c, d;
    asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(a), "=r"(b), "=r"(c), "=r"(d) : "r"(from) : "memory");
    asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(lo), "r"(e4m3x4_lo_to_bf16x2(a)),
                 "r"(e4m3x4_hi_to_bf16x2(a)), "r"(e4m3x4_lo_to_bf16x2(b)),
                 "r"(e4m3x4_hi_to_bf16x2(b)) : "memory");
    asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(hi), "r"(e4m3x4_lo_to_bf16x2(c)),
                 "r"(e4m3x4_hi_to_bf16x2(c)), "r"(e4m3x4_lo_to_bf16x2(d)),
                 "r"(e4m3x4_hi_to_bf16x2(d)) : "memory");
}

#if F3_ENABLED
// Shared memory: 1024 (alignment) + Q (32 KiB) + 2 bf16 K/V slots (128 KiB) + RAW × 32 KiB e4m3 tiles.
template <int RAW>
__device__ __forceinline__ void flash_prefill_wgmma_fp8(
    const u16 *q, long long qStride, const u8 *keys, const u8 *values,
    long long keyStride, long long keyHeadStride, long long valueStride, long long valueHeadStride,
    u16 *out, long long outStride, int group, float scale, int window,
    const int *tiles, const int *pageTable, int pageSize, float *partialO, float *partialML, float valueScale) {
    extern __shared__ __align__(16) unsigned char f3_shared[];
    const u32 raw = smem_u32(f3_shared);
    const u32 sQ = (raw + 1023u) & ~1023u;
    auto sK = [&](int slot) { return sQ + (u32)F3_OPERAND * (1 + 2 * slot); };
    const u32 sRaw = sQ + 5u * F3_OPERAND;  // RAW slots of 32 KiB: K codes, then V codes (16 KiB each)

    const int tid = threadIdx.x, lane = tid & 31, g = lane >> 2, t = lane & 3;
    const int wg = tid >> 7, wq = (tid >> 5) & 3;
    // Q loader: row tid / 2, bf16 chunks 2i + (tid & 1), i = 0…7. K/V loader: key tid / 2, e4m3 chunks
    // (16 codes) 2i + (tid & 1), i = 0…3; chunk i of this thread at raw offset i·4096 + tid·16 (a warp's
    // 16-byte reads and writes of the raw ring are contiguous).
    const int lr = tid >> 1, lc = tid & 1;
    F3Tile b = f3_tile(tiles, pageTable);
    f3_load_q(sQ, q, qStride, b, group, lr, lc);
    f3_plan(b, group, window, wg);
    const int kvHead = b.kvHead, kvEnd = b.kvEnd, myBegin = b.myBegin, nTiles = b.nTiles;
    const int wgFirstPos = b.wgFirstPos, wgLastPos = b.wgLastPos;
    const int *pages = b.pages;
    const float log2Scale = scale * 1.4426950408889634f;

    // cp.async of this thread's e4m3 chunks of key tile `index` into raw slot `slot` (zeros past kvEnd).
    auto issue = [&](int index, int slot) {
        const int j = myBegin + index * F3_KEYS + lr;
        const bool valid = j < kvEnd;
        const long long at = valid ? (long long)pages[j / pageSize] * pageSize + j % pageSize : 0;
        const u8 *k = keys + at * keyStride + kvHead * keyHeadStride;
        const u8 *v = values + at * valueStride + kvHead * valueHeadStride;
        const u32 rs = sRaw + (u32)slot * 32768u + (u32)tid * 16u;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            cp_async16(rs + i * 4096, k + (2 * i + lc) * 16, valid);
            cp_async16(rs + 16384 + i * 4096, v + (2 * i + lc) * 16, valid);
        }
    };
    // This thread's chunks of raw slot `slot` → bf16 K/V slot `to` (chunk c = 16 codes = bf16 chunks 2c, 2c + 1).
    auto decode = [&](int slot, int to) {
        const u32 rs = sRaw + (u32)slot * 32768u + (u32)tid * 16u;
        const u32 ks = sK(to), vs = ks + F3_OPERAND;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int c = 2 * i + lc;
            const u32 lo = f3_swizzle(lr, 2 * c, F3_KEYS), hi = f3_swizzle(lr, 2 * c + 1, F3_KEYS);
            f3_decode16(rs + i * 4096, ks + lo, ks + hi);
            f3_decode16(rs + 16384 + i * 4096, vs + lo, vs + hi);
        }
    };
    // Tile it + 1 → slot (it + 1) & 1 (it held tile it − 1, finished by every warpgroup before the
    // barrier of iteration it). Unconditional (no branch between a warpgroup's MMAs and their wait):
    // past the last tile it decodes a stale raw slot into a slot nobody reads.
    auto decodeNext = [&](int it) {
        cp_async_wait<RAW - 1>();
        decode((it + 1) % RAW, (it + 1) & 1);
        wg_fence_proxy_async();
    };
#pragma unroll
    for (int s = 0; s < RAW; s++) {
        if (s < nTiles) issue(s, s);
        cp_async_commit();
    }
    // Q and raw tile 0 (RAW − 1 later groups may still be in flight).
    cp_async_wait<RAW - 1>();
    if (nTiles > 0) decode(0, 0);
    wg_fence_proxy_async();

    float o[64], sc[64];
    u32 pa[32];
#pragma unroll
    for (int i = 0; i < 64; i++) o[i] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
    const int r0 = wg * 64 + wq * 16 + g, r1 = r0 + 8;
    const int p0 = b.rowPos(r0, group), p1 = b.rowPos(r1, group);
    const u32 qBase = sQ + (u32)(wg * 64 * 128);

    for (int it = 0; it < nTiles; it++) {
        // Every thread decoded tile `it` into slot it & 1 (and fenced it for the async proxy); every
        // warpgroup finished its MMAs of tile it − 1.
        __syncthreads();
        // Raw slot it % RAW held tile it, decoded by this thread before the barrier.
        if (it + RAW < nTiles) issue(it + RAW, it % RAW);
        cp_async_commit();

        const int kt = myBegin + it * F3_KEYS;
        const bool active = !(kt > wgLastPos || (window > 0 && kt + F3_KEYS - 1 <= wgFirstPos - window));  // warpgroup-uniform
        if (active) {
            const u32 kBase = sK(it & 1), vBase = kBase + F3_OPERAND;
            wg_fence();
#pragma unroll
            for (int kc = 0; kc < F3_HD / 16; kc++) {
                const u32 off = (u32)((kc >> 2) * (F3_OPERAND / 2) + (kc & 3) * 32);
                wg_mma_bf16_n128(sc, wg_desc_k128(qBase + off), wg_desc_k128(kBase + off), kc > 0);
            }
            wg_commit();
            wg_wait<0>();
            wg_fence_regs(sc);

            f3_softmax_tile(sc, o, pa, m0, m1, l0, l1, kt, p0, p1, t, window, log2Scale,
                            kt + F3_KEYS - 1 > wgFirstPos || kt + F3_KEYS - 1 >= kvEnd || (window > 0 && kt <= wgLastPos - window));
            wg_fence_regs(o);
            wg_fence();
#pragma unroll
            for (int kc = 0; kc < F3_KEYS / 16; kc++) wg_mma_bf16_n128_rs_mn(o, pa + 4 * kc, wg_desc_mn128(vBase + kc * 2048, F3_OPERAND / 2), 1);
            wg_commit();
            decodeNext(it);  // under the P·V MMAs
            wg_wait<0>();
            wg_fence_regs(o);
            wg_fence_regs(pa);  // A operand live until here
        } else {
            decodeNext(it);
        }
    }
    cp_async_wait<0>();

    f3_finish(o, m0, m1, l0, l1, r0, r1, group, b.tokenCount, b.tokenStart, kvHead, t, log2Scale, out, outStride, partialO, partialML, valueScale);
}
#define F3_FP8_CALL(RAW)                                                                                          \
    flash_prefill_wgmma_fp8<RAW>(q, qStride, keys, values, keyStride, keyHeadStride, valueStride, valueHeadStride, \
                                 out, outStride, group, scale, window, tiles, pageTable, pageSize, partialO,      \
                                 partialML, valueScale)
#else
#define F3_FP8_CALL(RAW) ((void)0)
#endif  // F3_ENABLED

// FP8 entry: keys / values are e4m3 codes (strides in bytes, rows 16-byte aligned).
extern "C" __global__ void __launch_bounds__(F3_THREADS, 1) tern_flash_prefill_wgmma_fp8_d128(
    const u16 *q, long long qStride, const u8 *keys, const u8 *values, long long keyStride, long long keyHeadStride,
    long long valueStride, long long valueHeadStride, u16 *out, long long outStride, int group, float scale, int window,
    const int *tiles, const int *pageTable, int pageSize, float *partialO, float *partialML, float valueScale) {
    if (F3_ENABLED) F3_FP8_CALL(2);
}

#define F3_ENTRY(NAME, STAGES, OVERLAP, PP)                                                                            \
    extern "C" __global__ void __launch_bounds__(F3_THREADS, 1) NAME(                                             \
        const u16 *q, long long qStride, const u16 *keys, const u16 *values, long long keyStride,                 \
        long long keyHeadStride, long long valueStride, long long valueHeadStride, u16 *out, long long outStride, \
        int group, float scale, int window, const int *tiles, const int *pageTable, int pageSize, float *partialO, \
        float *partialML) {                                                                                       \
        if (F3_ENABLED)                                                                                          \
            F3_CALL(STAGES, OVERLAP, PP);                                                                              \
    }
// Shared memory: 1024 (alignment) + 32 KiB (Q) + STAGES × 64 KiB (K and V tiles of 128 keys).
F3_ENTRY(tern_flash_prefill_wgmma2_d128, 2, false, false)
F3_ENTRY(tern_flash_prefill_wgmma3_d128, 3, false, false)
F3_ENTRY(tern_flash_prefill_wgmma3o_d128, 3, true, false)
F3_ENTRY(tern_flash_prefill_wgmmapp_d128, 3, true, true)
