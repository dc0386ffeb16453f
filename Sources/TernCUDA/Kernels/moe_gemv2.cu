// Decode-size grouped MoE GEMV, second version (the default; TERN_MOE_GEMV_KERNEL=tc selects
// tern_moe_gemv_tc(_gate_up) of moe_gemm.cu, =old the CUDA-core tern_moe_gemv(_gate_up)).
// Same arguments, tile table and results as tern_moe_gemv_tc, with three changes:
//  * tiles of up to 16 rows: a tile of 9–16 rows runs two m16n8 accumulator sets (n-blocks) over
//    one pass of the weights, so an expert with 9–16 rows (common at 256 tokens: 8 rows per
//    expert on average) streams its weights once instead of twice. Tiles of more rows are
//    processed 16 rows at a time.
//  * NVFP4 e2m1 → bf16 with a few integer operations per pair of values: the pair is (nibble j,
//    nibble j + 4) of a 32-bit word (16 bits apart, like the two halves of a bf16x2), isolated
//    with one AND, copied to the magnitude (bits 6–8) and sign (bit 15) positions of each half
//    by one integer multiply (the two copies do not overlap) and cleaned with one AND. The bf16
//    that results is the e2m1 value × 2^-126 (code 1 = 0.5 is a bf16 subnormal, exact); one
//    bf16x2 multiply by the e4m3 block scale × 2^106 gives value × scale × 2^-20 exactly (≤ 6
//    significant bits, normal), and 2^20 × the fp32 global scale is applied to the final sum.
//    The activation pairs are permuted to match ((k, k + 4) with one byte permute each).
//  * NVFP4 tiles of ≤ 8 rows take 2 × 16 bytes per weight row and step (256 k): twice the bytes
//    in flight per load round.
// Layout per warp step (k order inside an mma permuted, A and B alike): lane t = lane & 3 owns
// k [step·S + t·S/4, step·S + (t + 1)·S/4) of its weight rows g = lane >> 2, g + 8 and of its
// activation rows (token columns) g of each n-block.
//   bf16 : S = 64, per row 2 × 16 B, activations 2 × 16 B per n-block, m16n8k16 bf16.
//   FP8  : S = 128 (one 128 × 128 scale block), per row 2 × 16 B e4m3, activation codes 2 × 16 B
//          (w8a8, per-token 128-group scales), m16n8k32 e4m3, scales applied per step.
//   NVFP4: S = 256 (≤ 8 rows) or 128 (9–16 rows), per row 2 or 1 × 16 B, activations 8 or 4
//          × 16 B per n-block.
// Block = 128 threads = 4 warps splitting the steps (warp w: steps w, w + 4, …; the next step's
// loads are issued before the current one is computed), partial sums reduced in shared memory.
// Grid: x = ceil(n / 16), y = tiles (tileSlot[y] < 0: nothing; tileSlot == null: rows
// [16y, 16y + 16) of matrix 0). Requires k % S == 0 (NVFP4: k % 256 == 0), 16-byte aligned weight
// and activation rows; FP8 weight blocks of 128 × 128.
#include "moe_common.cuh"

#define G2_TILE 16

// Two e4m3 block-scale codes (bits 0–7, 8–15) → bf16x2 (scale·2^106, scale·2^106) each. The
// conversion through f16 is exact (every e4m3 value is a normal f16).
__device__ __forceinline__ void g2_scales2(u32 codes, u32 &s0, u32 &s1) {
    float f0, f1;
    f16x2_to_float2(e4m3x2_to_f16x2(codes), f0, f1);
    f0 *= 0x1p106f;
    f1 *= 0x1p106f;
    s0 = pack_bf16x2(f0, f0);
    s1 = pack_bf16x2(f1, f1);
}

// Pair j of the e2m1 word w (values j and j + 4: bits 4j..4j+3 and 16+4j..19+4j), for j = 0, 1
// (j = 2, 3: pass w >> 8), as bf16x2 of value × 2^-126: sign → bit 15, code bits 0–2 (exponent
// e1 e0, mantissa m) → bits 6–8. The multiply places the nibble at +6 (magnitude) and +12 (sign)
// bits; the copies occupy bits 6–9 and 12–15 of each half and do not carry into each other.
template <int J>
__device__ __forceinline__ u32 g2_e2m1_pair(u32 w) {
    constexpr u32 MASK = 0x000F000Fu << (4 * J);
    constexpr u32 MUL = J == 0 ? (64u + 4096u) : (4u + 256u);
    return ((w & MASK) * MUL) & 0x81C081C0u;
}

// Activation bf16x2 words w0 = (k, k+1), w1 = (k+2, k+3), w2 = (k+4, k+5), w3 = (k+6, k+7) →
// the pairs (k+j, k+j+4) matching g2_e2m1_pair.
__device__ __forceinline__ void g2_act_pairs(const uint4 &x, u32 *p) {
    p[0] = __byte_perm(x.x, x.z, 0x5410);
    p[1] = __byte_perm(x.x, x.z, 0x7632);
    p[2] = __byte_perm(x.y, x.w, 0x5410);
    p[3] = __byte_perm(x.y, x.w, 0x7632);
}

// Rows [begin, begin + count) (count ≤ 8·NB) of one tile against matrices mats[0] (and mats[1]
// when FUSED: output silu(gate)·up).
template <int WQ, bool FUSED, int NB, bool LATE, int PF>
__device__ __forceinline__ void g2_tile(const u8 *a, long long aStride, const float *aScales, long long aScaleStride,
                                        const int *rowToken, int begin, int count, const MatDesc *mats, int n, int k, void *out,
                                        int outType, long long outStride, float *red) {
    constexpr int MATS = FUSED ? 2 : 1;
    constexpr int WL = (WQ == WQ_NVFP4 && NB == 2) ? 1 : 2;                  // 16-byte weight loads per row and step
    constexpr int VALS = WQ == WQ_BF16 ? 8 : (WQ == WQ_FP8 ? 16 : 32);       // values per 16-byte weight load
    constexpr int LANE_K = WL * VALS;                                         // k per lane and step
    constexpr int STEP = 4 * LANE_K;
    constexpr int AL = WQ == WQ_FP8 ? LANE_K / 16 : LANE_K / 8;               // 16-byte activation loads per n-block
    constexpr int W_STEP_BYTES = 4 * WL * 16, A_STEP_BYTES = 4 * AL * 16;
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    int n0 = blockIdx.x * 16;
    long long colG = min(n0 + g, n - 1), colG8 = min(n0 + g + 8, n - 1);

    const u8 *wRow[MATS][2];
    const u8 *sRow[MATS][2];  // NVFP4: e4m3 block scales of this lane's first block
    const float *fp8Scales[MATS];
    float finalScale[MATS];
    bool scaleWords = true;  // NVFP4: scale rows and starts allow 2- / 4-byte loads
#pragma unroll
    for (int m = 0; m < MATS; m++) {
        MatDesc d = mats[m];
        long long rowBytes = WQ == WQ_BF16 ? d.wStride * 2 : d.wStride;
        wRow[m][0] = (const u8 *)d.weight + colG * rowBytes + t * (WL * 16);
        wRow[m][1] = (const u8 *)d.weight + colG8 * rowBytes + t * (WL * 16);
        sRow[m][0] = (const u8 *)d.scales + colG * d.sStride + t * (LANE_K / 16);
        sRow[m][1] = (const u8 *)d.scales + colG8 * d.sStride + t * (LANE_K / 16);
        fp8Scales[m] = (const float *)d.scales + (long long)(n0 / 128) * d.sStride;
        finalScale[m] = WQ == WQ_NVFP4 ? d.global * 0x1p20f : 1.0f;
        scaleWords = scaleWords && ((d.scales | (u64)d.sStride) & (u64)(LANE_K / 16 - 1)) == 0;
    }
    auto source = [&](int r) {
        int row = begin + min(r, count - 1);
        return (long long)(rowToken ? rowToken[row] : row);
    };
    const int aElem = WQ == WQ_FP8 ? 1 : 2;
    const u8 *aRow[NB];
    const float *aScale0[NB], *aScale1[NB];
#pragma unroll
    for (int b = 0; b < NB; b++) {
        aRow[b] = a + source(8 * b + g) * aStride * aElem + t * (AL * 16);
        aScale0[b] = WQ == WQ_FP8 ? aScales + source(8 * b + 2 * t) * aScaleStride : nullptr;
        aScale1[b] = WQ == WQ_FP8 ? aScales + source(8 * b + 2 * t + 1) * aScaleStride : nullptr;
    }

    float acc[MATS][NB][4];
#pragma unroll
    for (int m = 0; m < MATS; m++)
#pragma unroll
        for (int b = 0; b < NB; b++)
#pragma unroll
            for (int q = 0; q < 4; q++) acc[m][b][q] = 0.0f;

    // LATE: the activations (hot in L1 / L2) are loaded at the start of the step that uses them
    // instead of one step ahead with the weights (fewer registers, more blocks per SM).
    // (nxt.x is then never written or read, and the compiler drops it.)
    struct Raw {
        uint4 w[MATS][2][WL];
        uint4 x[NB][AL];
        u32 sc[MATS][2];  // NVFP4: 2 (WL = 1) or 4 (WL = 2) e4m3 scale codes per row
    };
    int steps = k / STEP;
    auto loadActs = [&](int s, uint4 (&x)[NB][AL]) {
#pragma unroll
        for (int b = 0; b < NB; b++)
#pragma unroll
            for (int i = 0; i < AL; i++) x[b][i] = ld_cached16(aRow[b] + (long long)s * A_STEP_BYTES + i * 16);
    };
    auto load = [&](int s, Raw &r) {
#pragma unroll
        for (int m = 0; m < MATS; m++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
#pragma unroll
                for (int i = 0; i < WL; i++) r.w[m][h][i] = ld_stream16(wRow[m][h] + (long long)s * W_STEP_BYTES + i * 16);
                if (WQ == WQ_NVFP4) {
                    const u8 *p = sRow[m][h] + (long long)s * (STEP / 16);
                    if (scaleWords) {
                        r.sc[m][h] = WL == 2 ? __ldg((const unsigned int *)p) : (u32)__ldg((const unsigned short *)p);
                    } else {
                        u32 v = 0;
#pragma unroll
                        for (int i = 0; i < LANE_K / 16; i++) v |= (u32)__ldg(p + i) << (8 * i);
                        r.sc[m][h] = v;
                    }
                }
            }
        if (!LATE) loadActs(s, r.x);
    };

    // PF > 0: the weight lines of the step PF iterations ahead are prefetched into L2 (one
    // prefetch.global.L2 per row and matrix, lane t = 2·m + h), so that more of the stream is in
    // flight from DRAM than the two steps held in registers.
    const u8 *pfRow = nullptr;
    if (PF > 0) {
#pragma unroll
        for (int m = 0; m < MATS; m++)
#pragma unroll
            for (int h = 0; h < 2; h++)
                if (t == 2 * m + h) pfRow = wRow[m][h] - t * (WL * 16);
    }
    auto prefetch = [&](int s2) {
        if (PF > 0 && pfRow && s2 < steps) asm volatile("prefetch.global.L2 [%0];" ::"l"(pfRow + (long long)s2 * W_STEP_BYTES));
    };
    Raw cur, nxt;
    int s = warp;
    if (s < steps) load(s, cur);
#pragma unroll
    for (int d = 2; d < PF; d++) prefetch(s + 4 * d);
    for (; s < steps; s += 4) {
        load(min(s + 4, steps - 1), nxt);
        prefetch(s + 4 * PF);
        if (LATE) loadActs(s, cur.x);
        if (WQ == WQ_BF16) {
#pragma unroll
            for (int j = 0; j < 2 * WL; j++) {
#pragma unroll
                for (int m = 0; m < MATS; m++) {
                    u32 af[4] = {word_of(cur.w[m][0][j / 2], (2 * j) & 3), word_of(cur.w[m][1][j / 2], (2 * j) & 3),
                                 word_of(cur.w[m][0][j / 2], (2 * j + 1) & 3), word_of(cur.w[m][1][j / 2], (2 * j + 1) & 3)};
#pragma unroll
                    for (int b = 0; b < NB; b++) {
                        u32 bf[2] = {word_of(cur.x[b][j / 2], (2 * j) & 3), word_of(cur.x[b][j / 2], (2 * j + 1) & 3)};
                        mma_bf16_16816(acc[m][b], af, bf);
                    }
                }
            }
        } else if (WQ == WQ_FP8) {
            float as0[NB], as1[NB];
#pragma unroll
            for (int b = 0; b < NB; b++) {
                as0[b] = __ldg(aScale0[b] + s);
                as1[b] = __ldg(aScale1[b] + s);
            }
#pragma unroll
            for (int m = 0; m < MATS; m++) {
                float part[NB][4];
#pragma unroll
                for (int b = 0; b < NB; b++)
#pragma unroll
                    for (int q = 0; q < 4; q++) part[b][q] = 0.0f;
#pragma unroll
                for (int j = 0; j < 2 * WL; j++) {
                    u32 af[4] = {word_of(cur.w[m][0][j / 2], (2 * j) & 3), word_of(cur.w[m][1][j / 2], (2 * j) & 3),
                                 word_of(cur.w[m][0][j / 2], (2 * j + 1) & 3), word_of(cur.w[m][1][j / 2], (2 * j + 1) & 3)};
#pragma unroll
                    for (int b = 0; b < NB; b++) {
                        u32 bf[2] = {word_of(cur.x[b][j / 2], (2 * j) & 3), word_of(cur.x[b][j / 2], (2 * j + 1) & 3)};
                        mma_e4m3_16832(part[b], af, bf);
                    }
                }
                float ws = __ldg(fp8Scales[m] + s);
#pragma unroll
                for (int b = 0; b < NB; b++) {
                    acc[m][b][0] += part[b][0] * (ws * as0[b]);
                    acc[m][b][1] += part[b][1] * (ws * as1[b]);
                    acc[m][b][2] += part[b][2] * (ws * as0[b]);
                    acc[m][b][3] += part[b][3] * (ws * as1[b]);
                }
            }
        } else {
            // Block scales: [m][row g / g + 8][block of this lane's LANE_K values] as bf16x2.
            u32 scale[MATS][2][2 * WL];
#pragma unroll
            for (int m = 0; m < MATS; m++)
#pragma unroll
                for (int h = 0; h < 2; h++) {
                    g2_scales2(cur.sc[m][h] & 0xFFFFu, scale[m][h][0], scale[m][h][1]);
                    if (WL == 2) g2_scales2(cur.sc[m][h] >> 16, scale[m][h][2 * WL - 2], scale[m][h][2 * WL - 1]);
                }
            // Weight word q (values 8q..8q+7 of the lane's range, block q / 2) against activation
            // chunk q of each n-block.
#pragma unroll
            for (int q = 0; q < 4 * WL; q++) {
                u32 xp[NB][4];
#pragma unroll
                for (int b = 0; b < NB; b++) g2_act_pairs(cur.x[b][q], xp[b]);
#pragma unroll
                for (int m = 0; m < MATS; m++) {
                    u32 w0 = word_of(cur.w[m][0][q / 4], q & 3), w8 = word_of(cur.w[m][1][q / 4], q & 3);
                    u32 w0h = w0 >> 8, w8h = w8 >> 8;
                    u32 s0 = scale[m][0][q / 2], s8 = scale[m][1][q / 2];
                    u32 p0[4] = {mul_bf16x2(g2_e2m1_pair<0>(w0), s0), mul_bf16x2(g2_e2m1_pair<1>(w0), s0),
                                 mul_bf16x2(g2_e2m1_pair<0>(w0h), s0), mul_bf16x2(g2_e2m1_pair<1>(w0h), s0)};
                    u32 p8[4] = {mul_bf16x2(g2_e2m1_pair<0>(w8), s8), mul_bf16x2(g2_e2m1_pair<1>(w8), s8),
                                 mul_bf16x2(g2_e2m1_pair<0>(w8h), s8), mul_bf16x2(g2_e2m1_pair<1>(w8h), s8)};
                    u32 a01[4] = {p0[0], p8[0], p0[1], p8[1]};
                    u32 a23[4] = {p0[2], p8[2], p0[3], p8[3]};
#pragma unroll
                    for (int b = 0; b < NB; b++) {
                        u32 b01[2] = {xp[b][0], xp[b][1]};
                        u32 b23[2] = {xp[b][2], xp[b][3]};
                        mma_bf16_16816(acc[m][b], a01, b01);
                        mma_bf16_16816(acc[m][b], a23, b23);
                    }
                }
            }
        }
        cur = nxt;
    }
    // Split-k reduction: red[((warp · MATS + m) · NB + b) · 4 + q][lane].
#pragma unroll
    for (int m = 0; m < MATS; m++)
#pragma unroll
        for (int b = 0; b < NB; b++)
#pragma unroll
            for (int q = 0; q < 4; q++) red[(((warp * MATS + m) * NB + b) * 4 + q) * 32 + lane] = acc[m][b][q];
    __syncthreads();
    {
        int l = tid & 31, q = tid >> 5;
        int col = n0 + (l >> 2) + (q >= 2 ? 8 : 0);
#pragma unroll
        for (int b = 0; b < NB; b++) {
            float v[MATS];
#pragma unroll
            for (int m = 0; m < MATS; m++) {
                v[m] = 0.0f;
#pragma unroll
                for (int w = 0; w < 4; w++) v[m] += red[(((w * MATS + m) * NB + b) * 4 + q) * 32 + l];
                v[m] *= finalScale[m];
            }
            int token = 8 * b + 2 * (l & 3) + (q & 1);
            if (token < count && col < n) {
                float r = v[0];
                if (FUSED) r = silu(v[0]) * v[MATS - 1];
                store_from_float(out, outType, (long long)(begin + token) * outStride + col, r);
            }
        }
    }
    __syncthreads();  // red is reused by the next sub-tile
}

template <int WQ, bool FUSED, bool LATE, int PF>
__device__ __forceinline__ void g2_run(const u8 *a, long long aStride, const float *aScales, long long aScaleStride,
                                       const int *rowToken, const int *tileSlot, const int *tileStart, const int *tileEnd, int rows,
                                       const MatDesc *descs, int which, int n, int k, void *out, int outType, long long outStride) {
    constexpr int MATS = FUSED ? 2 : 1;
    __shared__ float red[4 * MATS * 2 * 4 * 32];
    int slot, begin, end;
    if (!moe_tile_rows(tileSlot, tileStart, tileEnd, rows, G2_TILE, slot, begin, end)) return;
    const MatDesc *mats = descs + (tileSlot ? 3 * slot : 0) + (FUSED ? 0 : which);
    for (int start = begin; start < end; start += G2_TILE) {
        int count = min(end - start, G2_TILE);
        if (count <= 8) g2_tile<WQ, FUSED, 1, LATE, PF>(a, aStride, aScales, aScaleStride, rowToken, start, count, mats, n, k, out, outType, outStride, red);
        else g2_tile<WQ, FUSED, 2, LATE, PF>(a, aStride, aScales, aScaleStride, rowToken, start, count, mats, n, k, out, outType, outStride, red);
    }
}

// Parameters shared by the fused and the single-matrix kernels, and their forwarding.
#define G2_PARAMS                                                                                                               \
    const u8 *a, long long aStride, const float *aScales, long long aScaleStride, const int *rowToken, const int *tileSlot,    \
        const int *tileStart, const int *tileEnd, int rows, const MatDesc *descs
#define G2_ARGS a, aStride, aScales, aScaleStride, rowToken, tileSlot, tileStart, tileEnd, rows, descs
// One kernel per weight format (register allocation is per kernel): tern_moe_gemv2_{bf16, fp8,
// nvfp4}(_gate_up); tern_moe_gemv2l_* load the activations late (LATE above; the NVFP4 default,
// TERN_MOE_GEMV2_LATE=0 / 1 forces early / late for every format). Non-fused: matrix 3·slot + which; fused: gate 3·slot, up 3·slot + 1. MBF / MBS: blocks per SM asked of the
// register allocator (3: ≤ 168 registers).
#define G2_KERNELS(NAME, WQ, LATE, PF, MBF, MBS)                                                                                \
    extern "C" __global__ void __launch_bounds__(128, MBF)                                                                     \
        NAME##_gate_up(G2_PARAMS, int n, int k, void *out, int outType, long long outStride) {                                \
        g2_run<WQ, true, LATE, PF>(G2_ARGS, 0, n, k, out, outType, outStride);                                                 \
    }                                                                                                                          \
    extern "C" __global__ void __launch_bounds__(128, MBS)                                                                     \
        NAME(G2_PARAMS, int which, int n, int k, void *out, int outType, long long outStride) {                               \
        g2_run<WQ, false, LATE, PF>(G2_ARGS, which, n, k, out, outType, outStride);                                            \
    }
// (NVRTC 13, sm_90a: the NVFP4 gate/up kernel would spill at 3 blocks and gets 2; the NVFP4 late
// variants fit 3 (gate/up) and 4 (down) without spilling.)
G2_KERNELS(tern_moe_gemv2_bf16, WQ_BF16, false, 0, 3, 3)
G2_KERNELS(tern_moe_gemv2_fp8, WQ_FP8, false, 0, 3, 3)
G2_KERNELS(tern_moe_gemv2_nvfp4, WQ_NVFP4, false, 0, 2, 3)
G2_KERNELS(tern_moe_gemv2l_bf16, WQ_BF16, true, 0, 3, 4)
G2_KERNELS(tern_moe_gemv2l_fp8, WQ_FP8, true, 0, 3, 4)
G2_KERNELS(tern_moe_gemv2l_nvfp4, WQ_NVFP4, true, 0, 3, 4)
// TERN_MOE_GEMV2_PREFETCH=1: the same with L2 prefetches 3 iterations (12 steps) ahead.
G2_KERNELS(tern_moe_gemv2p_bf16, WQ_BF16, false, 3, 3, 3)
G2_KERNELS(tern_moe_gemv2p_fp8, WQ_FP8, false, 3, 3, 3)
G2_KERNELS(tern_moe_gemv2p_nvfp4, WQ_NVFP4, false, 3, 2, 3)
G2_KERNELS(tern_moe_gemv2lp_bf16, WQ_BF16, true, 3, 3, 4)
G2_KERNELS(tern_moe_gemv2lp_fp8, WQ_FP8, true, 3, 3, 4)
G2_KERNELS(tern_moe_gemv2lp_nvfp4, WQ_NVFP4, true, 3, 3, 4)
