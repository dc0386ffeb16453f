#include "moe_common.cuh"

// ---------------------------------------------------------------------------------------------
// Pipelined grouped GEMM for prefill (the default for bf16 / dequantized FP8 / NVFP4 weights;
// TERN_MOE_GEMM_KERNEL=old selects tern_moe_gemm*). Tile 128 rows × 128 columns, 8 warps (2 × 4,
// each 64 rows × 32 columns: 4 × 4 m16n8k16 per 16-deep substep), k-steps of 32 in a 3-stage
// ring in dynamic shared memory (row pitch 40 bf16 = 80 bytes: the eight 16-byte rows an
// ldmatrix phase reads fall in distinct bank groups, 5·r mod 8). Activation rows (gathered
// through rowToken) and bf16 weights come in with cp.async (zero-filled past the tile's rows or
// the matrix's columns); FP8 / NVFP4 weights are loaded to registers one step ahead, dequantized
// once per block (each thread converts its two 8-value chunks) and stored into the stage.
// Not fused: gridDim.z = 2 computes gate (z = 0) and up (z = 1) into columns [z·n, (z+1)·n) of
// out; the caller applies SiLU-and-mul. Tiles of ≤ 128 rows (tile table with tileRows = 128, or
// rows [128y, …) with tileSlot == null). Requires k % 32 == 0, 16-byte aligned activation rows
// and bf16 weight rows. Dynamic shared memory: 3 × (128 + 128) × 40 × 2 = 61440 bytes.
#define PT_M 128
#define PT_N 128
#define PT_K 32
#define PT_STAGES 3
#define PT_PITCH 40

extern "C" __global__ void __launch_bounds__(256) tern_moe_gemm_tc(const u16 *a, long long aStride, const int *rowToken,
                                                                  const int *tileSlot, const int *tileStart, const int *tileEnd,
                                                                  int rows, const MatDesc *descs, int which, int wq, int n, int k,
                                                                  void *out, int outType, long long outStride) {
    extern __shared__ __align__(16) u8 ptShared[];
    u16 *As = (u16 *)ptShared;
    u16 *Bs = As + PT_STAGES * PT_M * PT_PITCH;
    int slot, begin, end;
    if (!moe_tile_rows(tileSlot, tileStart, tileEnd, rows, PT_M, slot, begin, end)) return;
    int n0 = blockIdx.x * PT_N;
    const MatDesc d = descs[(tileSlot ? 3 * slot : 0) + which + blockIdx.z];
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;

    // Loads: 128 rows × 4 chunks of 8 values per operand and step = 512 chunks, 2 per thread.
    const u16 *aRow[2];
    bool aValid[2], bValid[2];
    int chunkRow[2], chunkCol[2];
    long long bCol[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int c = tid + i * 256;
        chunkRow[i] = c >> 2;
        chunkCol[i] = (c & 3) * 8;
        int r = begin + chunkRow[i];
        aValid[i] = r < end;
        aRow[i] = a + (long long)(rowToken ? rowToken[aValid[i] ? r : begin] : (aValid[i] ? r : begin)) * aStride;
        bValid[i] = n0 + chunkRow[i] < n;
        bCol[i] = min(n0 + chunkRow[i], n - 1);
    }
    u32 aBase = (u32)__cvta_generic_to_shared(As), bBase = (u32)__cvta_generic_to_shared(Bs);
    auto issueA = [&](int stage, int step) {
#pragma unroll
        for (int i = 0; i < 2; i++)
            cp_async16(aBase + ((stage * PT_M + chunkRow[i]) * PT_PITCH + chunkCol[i]) * 2, aRow[i] + step * PT_K + chunkCol[i], aValid[i]);
    };
    auto issueB = [&](int stage, int step) {
#pragma unroll
        for (int i = 0; i < 2; i++)
            cp_async16(bBase + ((stage * PT_N + chunkRow[i]) * PT_PITCH + chunkCol[i]) * 2,
                       (const u16 *)d.weight + bCol[i] * d.wStride + step * PT_K + chunkCol[i], bValid[i]);
    };
    RawChunk raw[2];
    auto loadRaw = [&](int step) {
#pragma unroll
        for (int i = 0; i < 2; i++) raw[i] = load_weight_raw(d, wq, bCol[i], step * PT_K + chunkCol[i]);
    };
    auto storeRaw = [&](int stage) {
#pragma unroll
        for (int i = 0; i < 2; i++)
            *(uint4 *)&Bs[(stage * PT_N + chunkRow[i]) * PT_PITCH + chunkCol[i]] =
                bValid[i] ? chunk_to_bf16_fast(raw[i], wq) : make_uint4(0u, 0u, 0u, 0u);
    };
    bool quantized = wq != WQ_BF16;
    int steps = k / PT_K;
#pragma unroll
    for (int st = 0; st < PT_STAGES - 1; st++) {
        if (st < steps) {
            issueA(st, st);
            if (quantized) {
                loadRaw(st);
                storeRaw(st);
            } else {
                issueB(st, st);
            }
        }
        asm volatile("cp.async.commit_group;" ::: "memory");
    }
    if (quantized && PT_STAGES - 1 < steps) loadRaw(PT_STAGES - 1);

    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int q = 0; q < 4; q++) acc[i][j][q] = 0.0f;

    // ldmatrix lane addresses (bytes inside a stage): A rows wm + 16i + (lane & 15), column
    // (lane >> 4) · 8; B columns wn + 16jj + (lane >> 4) · 8 + (lane & 7), k ((lane >> 3) & 1) · 8.
    u32 aLane = ((wm + (lane & 15)) * PT_PITCH + (lane >> 4) * 8) * 2;
    u32 bLane = ((wn + (lane >> 4) * 8 + (lane & 7)) * PT_PITCH + ((lane >> 3) & 1) * 8) * 2;
    for (int s = 0; s < steps; s++) {
        asm volatile("cp.async.wait_group %0;" ::"n"(PT_STAGES - 2) : "memory");
        __syncthreads();  // stage s landed for every thread; stage s - 1 is no longer read
        int ns = s + PT_STAGES - 1;
        if (ns < steps) {
            issueA(ns % PT_STAGES, ns);
            if (quantized) storeRaw(ns % PT_STAGES);
            else issueB(ns % PT_STAGES, ns);
        }
        asm volatile("cp.async.commit_group;" ::: "memory");
        if (quantized && ns + 1 < steps) loadRaw(ns + 1);
        int stage = s % PT_STAGES;
        u32 aStage = aBase + stage * PT_M * PT_PITCH * 2, bStage = bBase + stage * PT_N * PT_PITCH * 2;
#pragma unroll
        for (int kk = 0; kk < PT_K; kk += 16) {
            u32 af[4][4], bf[4][2];
#pragma unroll
            for (int i = 0; i < 4; i++) ldsm_x4(af[i], aStage + aLane + (i * 16 * PT_PITCH + kk) * 2);
#pragma unroll
            for (int jj = 0; jj < 2; jj++) {
                u32 r[4];
                ldsm_x4(r, bStage + bLane + (jj * 16 * PT_PITCH + kk) * 2);
                bf[2 * jj][0] = r[0];
                bf[2 * jj][1] = r[1];
                bf[2 * jj + 1][0] = r[2];
                bf[2 * jj + 1][1] = r[3];
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) mma_bf16_16816(acc[i][j], af[i], bf[j]);
        }
    }
    long long colOffset = (long long)blockIdx.z * n;
    int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int r = begin + wm + i * 16 + g + h * 8;
            if (r >= end) continue;
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int q = 0; q < 2; q++) {
                    int c = n0 + wn + j * 8 + 2 * t + q;
                    if (c < n) store_from_float(out, outType, (long long)r * outStride + colOffset + c, acc[i][j][2 * h + q]);
                }
        }
}

// FP8 w8a8 variant of tern_moe_gemm_tc (the default for DeepSeek-style block-scaled experts at
// prefill sizes; TERN_MOE_GEMM_KERNEL=old selects tern_moe_gemm_fp8*): the same 128 × 128 tile,
// 8 warps, 3-stage cp.async ring and ldmatrix addressing, in bytes: a stage holds 64 e4m3 codes
// per row (row pitch 80 bytes), each 32-byte half is one m16n8k32 e4m3 mma (ldmatrix of an 8 × 16
// byte matrix gives exactly the e4m3 A / B fragments). Activations are e4m3 codes with one fp32
// scale per token and 128 columns (tern_quant_e4m3_groups), weights e4m3 with 128 × 128 blocks:
// every two steps (one 128-deep block) the partial sums are added to the accumulators scaled by
// weight scale (one per tile: n0 % 128 == 0) × the row's activation scale. Requires k % 128 == 0,
// 16-byte aligned code rows. Same grid / tile conventions and dynamic shared memory.
extern "C" __global__ void __launch_bounds__(256) tern_moe_gemm_tc_fp8(const u8 *a, long long aStride, const float *aScales,
                                                                      long long aScaleStride, const int *rowToken, const int *tileSlot,
                                                                      const int *tileStart, const int *tileEnd, int rows,
                                                                      const MatDesc *descs, int which, int n, int k, void *out,
                                                                      int outType, long long outStride) {
    extern __shared__ __align__(16) u8 ptShared[];
    u8 *As = ptShared;
    u8 *Bs = As + PT_STAGES * PT_M * PT_PITCH * 2;
    int slot, begin, end;
    if (!moe_tile_rows(tileSlot, tileStart, tileEnd, rows, PT_M, slot, begin, end)) return;
    int n0 = blockIdx.x * PT_N;
    const MatDesc d = descs[(tileSlot ? 3 * slot : 0) + which + blockIdx.z];
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
    int g = lane >> 2, t = lane & 3;
    constexpr int ROW_BYTES = PT_PITCH * 2;  // 80
    constexpr int STEP_BYTES = PT_K * 2;     // 64 codes per step

    const u8 *aRow[2], *bRow[2];
    bool aValid[2], bValid[2];
    int chunkRow[2], chunkByte[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int c = tid + i * 256;
        chunkRow[i] = c >> 2;
        chunkByte[i] = (c & 3) * 16;
        int r = begin + chunkRow[i];
        aValid[i] = r < end;
        int rr = aValid[i] ? r : begin;
        aRow[i] = a + (long long)(rowToken ? rowToken[rr] : rr) * aStride + chunkByte[i];
        bValid[i] = n0 + chunkRow[i] < n;
        bRow[i] = (const u8 *)d.weight + (long long)min(n0 + chunkRow[i], n - 1) * d.wStride + chunkByte[i];
    }
    // Activation-scale rows of this thread's 8 output rows (wm + 16i + g + 8h).
    int scaleRow[4][2];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int r = min(begin + wm + i * 16 + g + h * 8, end - 1);
            scaleRow[i][h] = (int)((rowToken ? rowToken[r] : r) * aScaleStride);
        }
    const float *wScales = (const float *)d.scales + (long long)(n0 / 128) * d.sStride;
    u32 aBase = (u32)__cvta_generic_to_shared(As), bBase = (u32)__cvta_generic_to_shared(Bs);
    auto issue = [&](int stage, int step) {
#pragma unroll
        for (int i = 0; i < 2; i++) {
            cp_async16(aBase + (stage * PT_M + chunkRow[i]) * ROW_BYTES + chunkByte[i], aRow[i] + (long long)step * STEP_BYTES, aValid[i]);
            cp_async16(bBase + (stage * PT_N + chunkRow[i]) * ROW_BYTES + chunkByte[i], bRow[i] + (long long)step * STEP_BYTES, bValid[i]);
        }
    };
    int steps = k / STEP_BYTES;
#pragma unroll
    for (int st = 0; st < PT_STAGES - 1; st++) {
        if (st < steps) issue(st, st);
        asm volatile("cp.async.commit_group;" ::: "memory");
    }
    float acc[4][4][4], part[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int q = 0; q < 4; q++) acc[i][j][q] = part[i][j][q] = 0.0f;
    u32 aLane = (wm + (lane & 15)) * ROW_BYTES + (lane >> 4) * 16;
    u32 bLane = (wn + (lane >> 4) * 8 + (lane & 7)) * ROW_BYTES + ((lane >> 3) & 1) * 16;
    for (int s = 0; s < steps; s++) {
        asm volatile("cp.async.wait_group %0;" ::"n"(PT_STAGES - 2) : "memory");
        __syncthreads();
        int ns = s + PT_STAGES - 1;
        if (ns < steps) issue(ns % PT_STAGES, ns);
        asm volatile("cp.async.commit_group;" ::: "memory");
        int stage = s % PT_STAGES;
        u32 aStage = aBase + stage * PT_M * ROW_BYTES, bStage = bBase + stage * PT_N * ROW_BYTES;
#pragma unroll
        for (int kk = 0; kk < STEP_BYTES; kk += 32) {
            u32 af[4][4], bf[4][2];
#pragma unroll
            for (int i = 0; i < 4; i++) ldsm_x4(af[i], aStage + aLane + i * 16 * ROW_BYTES + kk);
#pragma unroll
            for (int jj = 0; jj < 2; jj++) {
                u32 r[4];
                ldsm_x4(r, bStage + bLane + jj * 16 * ROW_BYTES + kk);
                bf[2 * jj][0] = r[0];
                bf[2 * jj][1] = r[1];
                bf[2 * jj + 1][0] = r[2];
                bf[2 * jj + 1][1] = r[3];
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) mma_e4m3_16832(part[i][j], af[i], bf[j]);
        }
        if (s & 1) {  // a 128-deep block is complete: scale it into the accumulators
            int block = s >> 1;
            float ws = __ldg(wScales + block);
#pragma unroll
            for (int i = 0; i < 4; i++) {
                float s0 = ws * __ldg(aScales + scaleRow[i][0] + block), s1 = ws * __ldg(aScales + scaleRow[i][1] + block);
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    acc[i][j][0] += part[i][j][0] * s0;
                    acc[i][j][1] += part[i][j][1] * s0;
                    acc[i][j][2] += part[i][j][2] * s1;
                    acc[i][j][3] += part[i][j][3] * s1;
#pragma unroll
                    for (int q = 0; q < 4; q++) part[i][j][q] = 0.0f;
                }
            }
        }
    }
    long long colOffset = (long long)blockIdx.z * n;
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int r = begin + wm + i * 16 + g + h * 8;
            if (r >= end) continue;
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int q = 0; q < 2; q++) {
                    int c = n0 + wn + j * 8 + 2 * t + q;
                    if (c < n) store_from_float(out, outType, (long long)r * outStride + colOffset + c, acc[i][j][2 * h + q]);
                }
        }
}
