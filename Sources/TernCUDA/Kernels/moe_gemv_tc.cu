#include "moe_common.cuh"

// ---------------------------------------------------------------------------------------------
// Tensor-core GEMV for decode (the default; TERN_MOE_GEMV_KERNEL=old selects tern_moe_gemv*).
// "Swap AB": the weight rows are the M side of mma.sync (16 output columns per block), the ≤ 8
// rows of a tile the N side (n8), so the tensor cores do the multiply-adds and the threads only
// stream weights. Each lane loads 16-byte chunks of weight rows g and g+8 (g = lane / 4) straight
// from global memory into registers (no shared-memory staging, L1 not allocated for weights);
// the k order inside an mma is permuted (a dot product does not depend on it) so that lane t's
// fragment elements are contiguous in memory: lane t of a step owns physical k
// [kbase + t·C, kbase + (t+1)·C) of both its weight rows and of its activation row g, and the
// mma fragments take consecutive words of those chunks (A and B permuted alike).
//   bf16 : step 64 k, per row 2 × 16 B, activations 2 × 16 B, 4 × m16n8k16 bf16.
//   FP8  : step 128 k (one 128 × 128 scale block), per row 2 × 16 B of e4m3, activation e4m3
//          codes 2 × 16 B (w8a8, per-token 128-group scales), 4 × m16n8k32 e4m3 into a partial
//          sum that is added scaled by weight scale × activation scale (per step, not per value).
//   NVFP4: step 128 k, per row 1 × 16 B (32 e2m1), activations 4 × 16 B, 8 × m16n8k16 bf16; e2m1
//          → bf16 with a two-word __byte_perm table (magnitude) and an integer multiply that moves
//          the sign bits, then one bf16x2 multiply by the e4m3 block scale (exact: ≤ 6 significant
//          bits); the fp32 global scale is applied to the final sum.
// Block = 128 threads = 4 warps splitting the steps (warp w: steps w, w+4, …; the next step's
// loads are issued before the current one is computed), partial sums reduced in shared memory.
// Grid: x = ceil(n / 16), y = tiles (same tile/row conventions as tern_moe_gemv, tiles ≤ 8 rows).
// Columns beyond n and rows beyond the tile are clamped for loads and dropped at the store, so the
// inner loop has no bounds checks. Requires k % step == 0, 16-byte aligned weight and activation
// rows; FP8 weight blocks of 128 × 128.
template <int WQ, bool FUSED>
__device__ __forceinline__ void moe_gemv_tc(const u8 *a, long long aStride, const float *aScales, long long aScaleStride,
                                            const int *rowToken, const int *tileSlot, const int *tileStart, const int *tileEnd,
                                            int rows, const MatDesc *descs, int which, int n, int k, void *out, int outType,
                                            long long outStride) {
    constexpr int MATS = FUSED ? 2 : 1;
    constexpr int STEP = WQ == WQ_BF16 ? 64 : 128;     // k per warp step
    constexpr int WL = WQ == WQ_NVFP4 ? 1 : 2;         // 16-byte weight loads per row and step
    constexpr int AL = WQ == WQ_NVFP4 ? 4 : 2;         // 16-byte activation loads per step
    constexpr int W_BYTES = WL * 16, A_BYTES = AL * 16;  // per lane and step
    __shared__ float red[4 * MATS * 4 * 32];
    int slot, begin, end;
    if (!moe_tile_rows(tileSlot, tileStart, tileEnd, rows, GV_ROWS, slot, begin, end)) return;
    int count = end - begin;
    int n0 = blockIdx.x * 16;
    const MatDesc *mats = descs + (tileSlot ? 3 * slot : 0) + (FUSED ? 0 : which);
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    long long colG = min(n0 + g, n - 1), colG8 = min(n0 + g + 8, n - 1);

    // Weight row pointers at this lane's offset inside a step; bytes per step and row.
    const u8 *wRow[MATS][2];
    const u8 *sRow[MATS][2];  // NVFP4 scale rows (e4m3) at this lane's first block
    float wScaleBase[MATS];
    const float *fp8Scales[MATS];
    constexpr int W_STEP_BYTES = WQ == WQ_NVFP4 ? STEP / 2 : (WQ == WQ_FP8 ? STEP : STEP * 2);
#pragma unroll
    for (int m = 0; m < MATS; m++) {
        MatDesc d = mats[m];
        long long rowBytes = WQ == WQ_BF16 ? d.wStride * 2 : d.wStride;
        wRow[m][0] = (const u8 *)d.weight + colG * rowBytes + t * W_BYTES;
        wRow[m][1] = (const u8 *)d.weight + colG8 * rowBytes + t * W_BYTES;
        sRow[m][0] = (const u8 *)d.scales + colG * d.sStride + t * 2;
        sRow[m][1] = (const u8 *)d.scales + colG8 * d.sStride + t * 2;
        fp8Scales[m] = (const float *)d.scales + (long long)(n0 / 128) * d.sStride;
        wScaleBase[m] = WQ == WQ_NVFP4 ? d.global : 1.0f;
    }
    // Activation rows: this lane's B column g, and (FP8) the scale rows of its C columns 2t, 2t+1.
    auto source = [&](int r) {
        int row = begin + min(r, count - 1);
        return (long long)(rowToken ? rowToken[row] : row);
    };
    const int aElem = WQ == WQ_FP8 ? 1 : 2;
    const u8 *aRow = a + source(g) * aStride * aElem + t * A_BYTES;
    const float *aScale0 = WQ == WQ_FP8 ? aScales + source(2 * t) * aScaleStride : nullptr;
    const float *aScale1 = WQ == WQ_FP8 ? aScales + source(2 * t + 1) * aScaleStride : nullptr;
    constexpr int A_STEP_BYTES = WQ == WQ_FP8 ? STEP : STEP * 2;

    float acc[MATS][4];
#pragma unroll
    for (int m = 0; m < MATS; m++)
#pragma unroll
        for (int q = 0; q < 4; q++) acc[m][q] = 0.0f;

    struct Raw {
        uint4 w[MATS][2][WL];
        uint4 x[AL];
        u32 sc[MATS][2];  // NVFP4: two e4m3 scale codes per row (bytes 0, 1)
    };
    int steps = k / STEP;
    auto load = [&](int s, Raw &r) {
#pragma unroll
        for (int m = 0; m < MATS; m++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
#pragma unroll
                for (int i = 0; i < WL; i++) r.w[m][h][i] = ld_stream16(wRow[m][h] + (long long)s * W_STEP_BYTES + i * 16);
                if (WQ == WQ_NVFP4) {
                    const u8 *p = sRow[m][h] + (long long)s * (STEP / 16);
                    r.sc[m][h] = (u32)__ldg(p) | ((u32)__ldg(p + 1) << 8);
                }
            }
#pragma unroll
        for (int i = 0; i < AL; i++) r.x[i] = ld_cached16(aRow + (long long)s * A_STEP_BYTES + i * 16);
    };

    Raw cur, nxt;
    int s = warp;
    load(min(s, steps - 1), cur);
    for (; s < steps; s += 4) {
        load(min(s + 4, steps - 1), nxt);
        if (WQ == WQ_BF16) {
#pragma unroll
            for (int j = 0; j < 4; j++) {
                u32 bf[2] = {word_of(cur.x[j / 2], (2 * j) & 3), word_of(cur.x[j / 2], (2 * j + 1) & 3)};
#pragma unroll
                for (int m = 0; m < MATS; m++) {
                    u32 af[4] = {word_of(cur.w[m][0][j / 2], (2 * j) & 3), word_of(cur.w[m][1][j / 2], (2 * j) & 3),
                                 word_of(cur.w[m][0][j / 2], (2 * j + 1) & 3), word_of(cur.w[m][1][j / 2], (2 * j + 1) & 3)};
                    mma_bf16_16816(acc[m], af, bf);
                }
            }
        } else if (WQ == WQ_FP8) {
            float as0 = __ldg(aScale0 + s), as1 = __ldg(aScale1 + s);
#pragma unroll
            for (int m = 0; m < MATS; m++) {
                float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    u32 bf[2] = {word_of(cur.x[j / 2], (2 * j) & 3), word_of(cur.x[j / 2], (2 * j + 1) & 3)};
                    u32 af[4] = {word_of(cur.w[m][0][j / 2], (2 * j) & 3), word_of(cur.w[m][1][j / 2], (2 * j) & 3),
                                 word_of(cur.w[m][0][j / 2], (2 * j + 1) & 3), word_of(cur.w[m][1][j / 2], (2 * j + 1) & 3)};
                    mma_e4m3_16832(part, af, bf);
                }
                float ws = __ldg(fp8Scales[m] + s);
                acc[m][0] += part[0] * (ws * as0);
                acc[m][1] += part[1] * (ws * as1);
                acc[m][2] += part[2] * (ws * as0);
                acc[m][3] += part[3] * (ws * as1);
            }
        } else {
            u32 scale[MATS][2][2];  // [m][row g / g+8][block 0 / 1] as bf16x2
#pragma unroll
            for (int m = 0; m < MATS; m++)
#pragma unroll
                for (int h = 0; h < 2; h++)
#pragma unroll
                    for (int b = 0; b < 2; b++) {
                        float f = e4m3_to_float((u8)(cur.sc[m][h] >> (8 * b)));
                        scale[m][h][b] = pack_bf16x2(f, f);
                    }
#pragma unroll
            for (int j = 0; j < 8; j++) {
                u32 bf[2] = {word_of(cur.x[j / 2], (2 * j) & 3), word_of(cur.x[j / 2], (2 * j + 1) & 3)};
#pragma unroll
                for (int m = 0; m < MATS; m++) {
                    u32 g0 = word_of(cur.w[m][0][0], j / 2), g8 = word_of(cur.w[m][1][0], j / 2);
                    u32 h0 = (j & 1) ? g0 >> 16 : g0 & 0xFFFFu, h8 = (j & 1) ? g8 >> 16 : g8 & 0xFFFFu;
                    u32 af[4];
                    e2m1x4_to_bf16x2(h0, af[0], af[2]);
                    e2m1x4_to_bf16x2(h8, af[1], af[3]);
                    af[0] = mul_bf16x2(af[0], scale[m][0][j / 4]);
                    af[2] = mul_bf16x2(af[2], scale[m][0][j / 4]);
                    af[1] = mul_bf16x2(af[1], scale[m][1][j / 4]);
                    af[3] = mul_bf16x2(af[3], scale[m][1][j / 4]);
                    mma_bf16_16816(acc[m], af, bf);
                }
            }
        }
        cur = nxt;
    }
    // Split-k reduction: red[warp][m][q][lane].
#pragma unroll
    for (int m = 0; m < MATS; m++)
#pragma unroll
        for (int q = 0; q < 4; q++) red[((warp * MATS + m) * 4 + q) * 32 + lane] = acc[m][q];
    __syncthreads();
    {
        int l = tid & 31, q = tid >> 5;
        float v[MATS];
#pragma unroll
        for (int m = 0; m < MATS; m++) {
            v[m] = 0.0f;
#pragma unroll
            for (int w = 0; w < 4; w++) v[m] += red[((w * MATS + m) * 4 + q) * 32 + l];
            v[m] *= wScaleBase[m];
        }
        int col = n0 + (l >> 2) + (q >= 2 ? 8 : 0);
        int token = 2 * (l & 3) + (q & 1);
        if (token < count && col < n) {
            float r = v[0];
            if (FUSED) r = silu(v[0]) * v[MATS - 1];
            store_from_float(out, outType, (long long)(begin + token) * outStride + col, r);
        }
    }
}

#define GEMV_TC_ARGS a, aStride, aScales, aScaleStride, rowToken, tileSlot, tileStart, tileEnd, rows, descs
extern "C" __global__ void __launch_bounds__(128) tern_moe_gemv_tc_gate_up(const u8 *a, long long aStride, const float *aScales,
                                                                          long long aScaleStride, const int *rowToken,
                                                                          const int *tileSlot, const int *tileStart, const int *tileEnd,
                                                                          int rows, const MatDesc *descs, int wq, int n, int k, void *out,
                                                                          int outType, long long outStride) {
    if (wq == WQ_BF16) moe_gemv_tc<WQ_BF16, true>(GEMV_TC_ARGS, 0, n, k, out, outType, outStride);
    else if (wq == WQ_FP8) moe_gemv_tc<WQ_FP8, true>(GEMV_TC_ARGS, 0, n, k, out, outType, outStride);
    else moe_gemv_tc<WQ_NVFP4, true>(GEMV_TC_ARGS, 0, n, k, out, outType, outStride);
}

extern "C" __global__ void __launch_bounds__(128) tern_moe_gemv_tc(const u8 *a, long long aStride, const float *aScales,
                                                                  long long aScaleStride, const int *rowToken, const int *tileSlot,
                                                                  const int *tileStart, const int *tileEnd, int rows, const MatDesc *descs,
                                                                  int which, int wq, int n, int k, void *out, int outType,
                                                                  long long outStride) {
    if (wq == WQ_BF16) moe_gemv_tc<WQ_BF16, false>(GEMV_TC_ARGS, which, n, k, out, outType, outStride);
    else if (wq == WQ_FP8) moe_gemv_tc<WQ_FP8, false>(GEMV_TC_ARGS, which, n, k, out, outType, outStride);
    else moe_gemv_tc<WQ_NVFP4, false>(GEMV_TC_ARGS, which, n, k, out, outType, outStride);
}
