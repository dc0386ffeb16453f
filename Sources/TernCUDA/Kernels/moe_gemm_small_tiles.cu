// The first grouped MoE kernels, kept as fallbacks (TERN_MOE_GEMM_KERNEL=old, TERN_MOE_GEMV_KERNEL=old):
// 64 × 64-tile grouped GEMMs on mma.sync (bf16 weights / FP8 / NVFP4 dequantized while staged to
// shared memory, and FP8 w8a8 block-scaled on the e4m3 tensor cores) and the CUDA-core decode GEMV.
#include "moe_common.cuh"

// ---------------------------------------------------------------------------------------------
// Grouped GEMM. Block = 128 threads (4 warps, 2 × 2, each 32 rows × 32 columns per matrix), tile
// 64 rows × 64 columns, k-steps of 32. Tile y: rows [tileStart, tileEnd) of slot tileSlot (or,
// with tileSlot == null, rows [64y, min(64y + 64, rows)) of matrix 0). A row r is read from
// a[rowToken[r]] (or a[r] when rowToken is null). FUSED: matrices 3s (gate) and 3s+1 (up), output
// silu(gate)·up; otherwise matrix 3s + which. Requires k % 8 == 0 and 16-byte aligned A rows.
#define GM 64
#define GN 64
#define GK 32
#define GPAD 40  // row pitch of the shared tiles in bf16 (32 + 8: conflict-free fragment loads)

template <bool FUSED>
__device__ __forceinline__ void moe_gemm(const u16 *a, long long aStride, const int *rowToken, const int *tileSlot,
                                         const int *tileStart, const int *tileEnd, int rows, const MatDesc *descs, int which,
                                         int wq, int n, int k, void *out, int outType, long long outStride) {
    constexpr int MATS = FUSED ? 2 : 1;
    __shared__ __align__(16) u16 As[GM * GPAD];
    __shared__ __align__(16) u16 Bs[MATS * GN * GPAD];
    int slot, begin, end;
    if (!moe_tile_rows(tileSlot, tileStart, tileEnd, rows, GM, slot, begin, end)) return;
    int n0 = blockIdx.x * GN;
    const MatDesc *mats = descs + (tileSlot ? 3 * slot : 0) + (FUSED ? 0 : which);
    MatDesc d0 = mats[0];
    MatDesc d1 = FUSED ? mats[1] : mats[0];

    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;

    // Each thread stages two 8-value chunks of A and two per B matrix per k-step.
    int chunkRow[2], chunkCol[2];
    const u16 *aRow[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int c = tid + i * 128;  // 256 chunks: 64 rows × 4 chunks
        chunkRow[i] = c >> 2;
        chunkCol[i] = (c & 3) * 8;
        int r = begin + chunkRow[i];
        aRow[i] = nullptr;
        if (r < end) aRow[i] = a + (long long)(rowToken ? rowToken[r] : r) * aStride;
    }

    float acc[MATS][2][4][4];
#pragma unroll
    for (int m = 0; m < MATS; m++)
#pragma unroll
        for (int i = 0; i < 2; i++)
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int q = 0; q < 4; q++) acc[m][i][j][q] = 0.0f;

    uint4 aNext[2];
    RawChunk bNext[MATS][2];
    bool bValid[MATS][2];
    auto loadStep = [&](int k0) {
#pragma unroll
        for (int i = 0; i < 2; i++) {
            int kc = k0 + chunkCol[i];
            aNext[i] = (aRow[i] && kc < k) ? *(const uint4 *)(aRow[i] + kc) : make_uint4(0u, 0u, 0u, 0u);
#pragma unroll
            for (int m = 0; m < MATS; m++) {
                int col = n0 + chunkRow[i];
                bValid[m][i] = col < n && kc < k;
                if (bValid[m][i]) bNext[m][i] = load_weight_raw(m == 0 ? d0 : d1, wq, col, kc);
            }
        }
    };
    loadStep(0);
    for (int k0 = 0; k0 < k; k0 += GK) {
        __syncthreads();  // previous step's fragments are read
#pragma unroll
        for (int i = 0; i < 2; i++) {
            *(uint4 *)&As[chunkRow[i] * GPAD + chunkCol[i]] = aNext[i];
#pragma unroll
            for (int m = 0; m < MATS; m++)
                *(uint4 *)&Bs[(m * GN + chunkRow[i]) * GPAD + chunkCol[i]] =
                    bValid[m][i] ? chunk_to_bf16(bNext[m][i], wq) : make_uint4(0u, 0u, 0u, 0u);
        }
        __syncthreads();
        if (k0 + GK < k) loadStep(k0 + GK);
#pragma unroll
        for (int kk = 0; kk < GK; kk += 16) {
            u32 af[2][4];
#pragma unroll
            for (int i = 0; i < 2; i++) {
                const u16 *p = &As[(wm + i * 16 + (lane >> 2)) * GPAD + kk + (lane & 3) * 2];
                af[i][0] = *(const u32 *)p;
                af[i][1] = *(const u32 *)(p + 8 * GPAD);
                af[i][2] = *(const u32 *)(p + 8);
                af[i][3] = *(const u32 *)(p + 8 * GPAD + 8);
            }
#pragma unroll
            for (int m = 0; m < MATS; m++)
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const u16 *p = &Bs[(m * GN + wn + j * 8 + (lane >> 2)) * GPAD + kk + (lane & 3) * 2];
                    u32 bf[2] = {*(const u32 *)p, *(const u32 *)(p + 8)};
#pragma unroll
                    for (int i = 0; i < 2; i++) mma_bf16_16816(acc[m][i][j], af[i], bf);
                }
        }
    }
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int r = begin + wm + i * 16 + (lane >> 2) + h * 8;
                if (r >= end) continue;
#pragma unroll
                for (int q = 0; q < 2; q++) {
                    int c = n0 + wn + j * 8 + (lane & 3) * 2 + q;
                    if (c >= n) continue;
                    float v = acc[0][i][j][2 * h + q];
                    if (FUSED) v = silu(v) * acc[MATS - 1][i][j][2 * h + q];
                    store_from_float(out, outType, (long long)r * outStride + c, v);
                }
            }
}

extern "C" __global__ void __launch_bounds__(128) tern_moe_gemm_gate_up(const u16 *a, long long aStride, const int *rowToken,
                                                                       const int *tileSlot, const int *tileStart, const int *tileEnd,
                                                                       int rows, const MatDesc *descs, int wq, int n, int k, void *out,
                                                                       int outType, long long outStride) {
    moe_gemm<true>(a, aStride, rowToken, tileSlot, tileStart, tileEnd, rows, descs, 0, wq, n, k, out, outType, outStride);
}

extern "C" __global__ void __launch_bounds__(128) tern_moe_gemm(const u16 *a, long long aStride, const int *rowToken,
                                                               const int *tileSlot, const int *tileStart, const int *tileEnd, int rows,
                                                               const MatDesc *descs, int which, int wq, int n, int k, void *out,
                                                               int outType, long long outStride) {
    moe_gemm<false>(a, aStride, rowToken, tileSlot, tileStart, tileEnd, rows, descs, which, wq, n, k, out, outType, outStride);
}

// ---------------------------------------------------------------------------------------------
// GEMV variant for decode: tiles of at most GV_ROWS rows; one warp per output column streams the
// weight row once (16 bytes of bf16, 8 of FP8 or 4 of NVFP4 per lane and step) and multiplies it
// with every row of the tile (activation rows stay in L1). Block = 256 threads = 8 columns.
// Grid: x = ceil(n / 8), y = tiles. Same tile/row conventions as the GEMM.

template <bool FUSED>
__device__ __forceinline__ void moe_gemv(const u16 *a, long long aStride, const int *rowToken, const int *tileSlot,
                                         const int *tileStart, const int *tileEnd, int rows, const MatDesc *descs, int which,
                                         int wq, int n, int k, void *out, int outType, long long outStride) {
    constexpr int MATS = FUSED ? 2 : 1;
    int slot, begin, end;
    if (!moe_tile_rows(tileSlot, tileStart, tileEnd, rows, GV_ROWS, slot, begin, end)) return;
    int lane = threadIdx.x & 31;
    int col = blockIdx.x * 8 + (threadIdx.x >> 5);
    if (col >= n) return;
    const MatDesc *mats = descs + (tileSlot ? 3 * slot : 0) + (FUSED ? 0 : which);
    MatDesc d0 = mats[0];
    MatDesc d1 = FUSED ? mats[1] : mats[0];
    int count = end - begin;
    const u16 *aRow[GV_ROWS];
#pragma unroll
    for (int r = 0; r < GV_ROWS; r++) {
        int row = begin + min(r, count - 1);
        aRow[r] = a + (long long)(rowToken ? rowToken[row] : row) * aStride;
    }
    float acc[MATS][GV_ROWS];
#pragma unroll
    for (int m = 0; m < MATS; m++)
#pragma unroll
        for (int r = 0; r < GV_ROWS; r++) acc[m][r] = 0.0f;
#pragma unroll 4
    for (int k0 = lane * 8; k0 < k; k0 += 256) {
        RawChunk raw[MATS];
#pragma unroll
        for (int m = 0; m < MATS; m++) raw[m] = load_weight_raw(m == 0 ? d0 : d1, wq, col, k0);
        float w[MATS][8];
#pragma unroll
        for (int m = 0; m < MATS; m++) chunk_to_floats(raw[m], wq, w[m]);
#pragma unroll
        for (int r = 0; r < GV_ROWS; r++) {
            if (r >= count) break;
            uint4 x = *(const uint4 *)(aRow[r] + k0);
            u32 xs[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
            for (int i = 0; i < 4; i++) {
                float x0 = __uint_as_float(xs[i] << 16), x1 = __uint_as_float(xs[i] & 0xFFFF0000u);
#pragma unroll
                for (int m = 0; m < MATS; m++) acc[m][r] += w[m][2 * i] * x0 + w[m][2 * i + 1] * x1;
            }
        }
    }
#pragma unroll
    for (int r = 0; r < GV_ROWS; r++) {
        if (r >= count) break;
        float v = warp_sum(acc[0][r]);
        if (FUSED) v = silu(v) * warp_sum(acc[MATS - 1][r]);
        if (lane == 0) store_from_float(out, outType, (long long)(begin + r) * outStride + col, v);
    }
}

extern "C" __global__ void __launch_bounds__(256) tern_moe_gemv_gate_up(const u16 *a, long long aStride, const int *rowToken,
                                                                       const int *tileSlot, const int *tileStart, const int *tileEnd,
                                                                       int rows, const MatDesc *descs, int wq, int n, int k, void *out,
                                                                       int outType, long long outStride) {
    moe_gemv<true>(a, aStride, rowToken, tileSlot, tileStart, tileEnd, rows, descs, 0, wq, n, k, out, outType, outStride);
}

extern "C" __global__ void __launch_bounds__(256) tern_moe_gemv(const u16 *a, long long aStride, const int *rowToken,
                                                               const int *tileSlot, const int *tileStart, const int *tileEnd, int rows,
                                                               const MatDesc *descs, int which, int wq, int n, int k, void *out,
                                                               int outType, long long outStride) {
    moe_gemv<false>(a, aStride, rowToken, tileSlot, tileStart, tileEnd, rows, descs, which, wq, n, k, out, outType, outStride);
}

// ---------------------------------------------------------------------------------------------
// FP8 w8a8 block-scaled grouped GEMM (DeepSeek-V3 checkpoints): e4m3 weights with one fp32 scale
// per 128 × 128 block, activations as e4m3 codes with one fp32 scale per token and 128 columns
// (tern_quant_e4m3_groups). mma.sync m16n8k32 e4m3 with fp32 accumulation; each 128-deep k-step
// is accumulated on its own and then added scaled by (activation scale × weight scale), so the
// scales are applied per k-block in fp32. Tile 64 × 64, 4 warps (2 × 2 of 32 × 32). Requires
// k % 128 == 0, weight blocks of 128 × 128, 16-byte aligned code rows. Same tile and row
// conventions as tern_moe_gemm.
#define F8K 128
#define F8PAD 144  // row pitch in bytes of the shared tiles (128 + 16: conflict-free fragment loads)

template <bool FUSED>
__device__ __forceinline__ void moe_gemm_fp8(const u8 *a, long long aStride, const float *aScales, long long aScaleStride,
                                             const int *rowToken, const int *tileSlot, const int *tileStart, const int *tileEnd,
                                             int rows, const MatDesc *descs, int which, int n, int k, void *out, int outType,
                                             long long outStride) {
    constexpr int MATS = FUSED ? 2 : 1;
    __shared__ __align__(16) u8 As[GM * F8PAD];
    __shared__ __align__(16) u8 Bs[MATS * GN * F8PAD];
    int slot, begin, end;
    if (!moe_tile_rows(tileSlot, tileStart, tileEnd, rows, GM, slot, begin, end)) return;
    int n0 = blockIdx.x * GN;
    const MatDesc *mats = descs + (tileSlot ? 3 * slot : 0) + (FUSED ? 0 : which);
    MatDesc d0 = mats[0];
    MatDesc d1 = FUSED ? mats[1] : mats[0];
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;

    // Staging: 64 rows × 8 chunks of 16 bytes per operand = 512 chunks, 4 per thread.
    const u8 *aRow[4];
    int chunkRow[4], chunkCol[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int c = tid + i * 128;
        chunkRow[i] = c >> 3;
        chunkCol[i] = (c & 7) * 16;
        int r = begin + chunkRow[i];
        aRow[i] = r < end ? a + (long long)(rowToken ? rowToken[r] : r) * aStride : nullptr;
    }
    // The four output rows of this thread: their activation-scale rows.
    const float *scaleRow[2][2];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int r = begin + wm + i * 16 + (lane >> 2) + h * 8;
            scaleRow[i][h] = r < end ? aScales + (long long)(rowToken ? rowToken[r] : r) * aScaleStride : nullptr;
        }
    // Every column of the tile lies in one 128-row weight block (n0 % 64 == 0, blocks of 128).
    long long nBlock = n0 / d0.blockRows;

    float acc[MATS][2][4][4];
#pragma unroll
    for (int m = 0; m < MATS; m++)
#pragma unroll
        for (int i = 0; i < 2; i++)
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int q = 0; q < 4; q++) acc[m][i][j][q] = 0.0f;

    uint4 aNext[4], bNext[MATS][4];
    auto loadStep = [&](int k0) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int kc = k0 + chunkCol[i];
            aNext[i] = aRow[i] ? *(const uint4 *)(aRow[i] + kc) : make_uint4(0u, 0u, 0u, 0u);
            int col = n0 + chunkRow[i];
#pragma unroll
            for (int m = 0; m < MATS; m++) {
                const MatDesc &d = m == 0 ? d0 : d1;
                bNext[m][i] = col < n ? *(const uint4 *)((const u8 *)d.weight + col * d.wStride + kc) : make_uint4(0u, 0u, 0u, 0u);
            }
        }
    };
    loadStep(0);
    for (int k0 = 0; k0 < k; k0 += F8K) {
        __syncthreads();
#pragma unroll
        for (int i = 0; i < 4; i++) {
            *(uint4 *)&As[chunkRow[i] * F8PAD + chunkCol[i]] = aNext[i];
#pragma unroll
            for (int m = 0; m < MATS; m++) *(uint4 *)&Bs[(m * GN + chunkRow[i]) * F8PAD + chunkCol[i]] = bNext[m][i];
        }
        __syncthreads();
        float wScale[MATS];
#pragma unroll
        for (int m = 0; m < MATS; m++) {
            const MatDesc &d = m == 0 ? d0 : d1;
            wScale[m] = ((const float *)d.scales)[nBlock * d.sStride + k0 / F8K];
        }
        float aScale[2][2];
#pragma unroll
        for (int i = 0; i < 2; i++)
#pragma unroll
            for (int h = 0; h < 2; h++) aScale[i][h] = scaleRow[i][h] ? scaleRow[i][h][k0 / F8K] : 0.0f;
        if (k0 + F8K < k) loadStep(k0 + F8K);
        // One matrix at a time: a 128-deep partial sum, then scaled into the accumulator.
#pragma unroll
        for (int m = 0; m < MATS; m++) {
            float part[2][4][4];
#pragma unroll
            for (int i = 0; i < 2; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
#pragma unroll
                    for (int q = 0; q < 4; q++) part[i][j][q] = 0.0f;
#pragma unroll 1
            for (int kk = 0; kk < F8K; kk += 32) {
                u32 af[2][4];
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    const u8 *p = &As[(wm + i * 16 + (lane >> 2)) * F8PAD + kk + (lane & 3) * 4];
                    af[i][0] = *(const u32 *)p;
                    af[i][1] = *(const u32 *)(p + 8 * F8PAD);
                    af[i][2] = *(const u32 *)(p + 16);
                    af[i][3] = *(const u32 *)(p + 8 * F8PAD + 16);
                }
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const u8 *p = &Bs[(m * GN + wn + j * 8 + (lane >> 2)) * F8PAD + kk + (lane & 3) * 4];
                    u32 bf[2] = {*(const u32 *)p, *(const u32 *)(p + 16)};
#pragma unroll
                    for (int i = 0; i < 2; i++) mma_e4m3_16832(part[i][j], af[i], bf);
                }
            }
#pragma unroll
            for (int i = 0; i < 2; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
#pragma unroll
                    for (int q = 0; q < 4; q++) acc[m][i][j][q] += part[i][j][q] * (aScale[i][q >> 1] * wScale[m]);
        }
    }
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int r = begin + wm + i * 16 + (lane >> 2) + h * 8;
                if (r >= end) continue;
#pragma unroll
                for (int q = 0; q < 2; q++) {
                    int c = n0 + wn + j * 8 + (lane & 3) * 2 + q;
                    if (c >= n) continue;
                    float v = acc[0][i][j][2 * h + q];
                    if (FUSED) v = silu(v) * acc[MATS - 1][i][j][2 * h + q];
                    store_from_float(out, outType, (long long)r * outStride + c, v);
                }
            }
}

extern "C" __global__ void __launch_bounds__(128) tern_moe_gemm_fp8_gate_up(const u8 *a, long long aStride, const float *aScales,
                                                                           long long aScaleStride, const int *rowToken, const int *tileSlot,
                                                                           const int *tileStart, const int *tileEnd, int rows,
                                                                           const MatDesc *descs, int n, int k, void *out, int outType,
                                                                           long long outStride) {
    moe_gemm_fp8<true>(a, aStride, aScales, aScaleStride, rowToken, tileSlot, tileStart, tileEnd, rows, descs, 0, n, k, out, outType,
                       outStride);
}

extern "C" __global__ void __launch_bounds__(128) tern_moe_gemm_fp8(const u8 *a, long long aStride, const float *aScales,
                                                                   long long aScaleStride, const int *rowToken, const int *tileSlot,
                                                                   const int *tileStart, const int *tileEnd, int rows, const MatDesc *descs,
                                                                   int which, int n, int k, void *out, int outType, long long outStride) {
    moe_gemm_fp8<false>(a, aStride, aScales, aScaleStride, rowToken, tileSlot, tileStart, tileEnd, rows, descs, which, n, k, out, outType,
                        outStride);
}
