// Mixture of experts without host round trips: permutation of (token, k) assignments into
// expert-contiguous rows with a tile table (one block, on the device), grouped GEMMs over the
// experts' segments (bf16 mma.sync m16n8k16, weights bf16 / FP8 block-scaled / NVFP4 dequantized
// while staged to shared memory), a GEMV variant for decode (few rows per expert: weights streamed
// once) and the weighted combine back to token order. All buffers are sized by tokens × top_k and
// the launch grids by their upper bounds, so the whole layer can live inside a CUDA graph.
#include "common.cuh"

#define WQ_BF16 0
#define WQ_FP8 1
#define WQ_NVFP4 2

// One weight matrix [n, k] of one expert (uploaded by the host once per expert set).
struct MatDesc {
    u64 weight;         // bf16 [n, k] | e4m3 [n, k] | packed e2m1 u8 [n, k/2]
    u64 scales;         // fp8: f32 [ceil(n/br), ceil(k/bc)]; nvfp4: e4m3 [n, k/16]
    long long wStride;  // elements (bf16, fp8) or bytes (nvfp4) per weight row
    long long sStride;  // scale elements per scale row
    float global;       // nvfp4 global scale
    int blockRows, blockColumns;
    int pad;
};

// ---------------------------------------------------------------------------------------------
// Permutation. One block of 1024 threads. Assignment a = t * topK + k of expert ids[t, k] goes to
// local slot s = slotOfExpert[e] (remote experts: s < 0, dropped). Rows are grouped by slot:
// rowToken[row] = t, assignRow[a] = row (-1 when dropped). The tile table lists, for every slot,
// its rows in tiles of tileRows: tileSlot[i], tileStart[i], tileEnd[i]; unused entries up to
// maxTiles get tileSlot = -1. Order of rows inside one slot is not fixed (atomics); every row of a
// GEMM is computed on its own, so the results do not depend on it.
#define PERMUTE_MAX_SLOTS 1024
extern "C" __global__ void __launch_bounds__(1024) tern_moe_permute(const int *ids, long long idStride, int tokens, int topK,
                                                                   const int *slotOfExpert, int experts, int slots, int tileRows,
                                                                   int maxTiles, int *rowToken, int *assignRow, int *tileSlot,
                                                                   int *tileStart, int *tileEnd) {
    __shared__ int count[PERMUTE_MAX_SLOTS], offset[PERMUTE_MAX_SLOTS + 1], tileOffset[PERMUTE_MAX_SLOTS + 1];
    int assignments = tokens * topK;
    for (int s = threadIdx.x; s < slots; s += blockDim.x) count[s] = 0;
    __syncthreads();
    for (int a = threadIdx.x; a < assignments; a += blockDim.x) {
        int e = ids[(long long)(a / topK) * idStride + a % topK];
        int s = (e >= 0 && e < experts) ? slotOfExpert[e] : -1;
        if (s >= 0 && s < slots) atomicAdd(&count[s], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int rows = 0, tiles = 0;
        for (int s = 0; s < slots; s++) {
            offset[s] = rows;
            tileOffset[s] = tiles;
            rows += count[s];
            tiles += (count[s] + tileRows - 1) / tileRows;
        }
        offset[slots] = rows;
        tileOffset[slots] = tiles;
    }
    __syncthreads();
    for (int s = threadIdx.x; s < slots; s += blockDim.x) {
        int begin = offset[s], end = offset[s + 1];
        for (int i = tileOffset[s], start = begin; start < end; i++, start += tileRows) {
            if (i >= maxTiles) break;  // cannot happen when maxTiles is the host's bound
            tileSlot[i] = s;
            tileStart[i] = start;
            tileEnd[i] = min(start + tileRows, end);
        }
        count[s] = begin;  // becomes the slot's cursor
    }
    for (int i = tileOffset[slots] + threadIdx.x; i < maxTiles; i += blockDim.x) {
        tileSlot[i] = -1;
        tileStart[i] = 0;
        tileEnd[i] = 0;
    }
    __syncthreads();
    for (int a = threadIdx.x; a < assignments; a += blockDim.x) {
        int t = a / topK;
        int e = ids[(long long)t * idStride + a % topK];
        int s = (e >= 0 && e < experts) ? slotOfExpert[e] : -1;
        int row = -1;
        if (s >= 0 && s < slots) {
            row = atomicAdd(&count[s], 1);
            rowToken[row] = t;
        }
        assignRow[a] = row;
    }
}

// ---------------------------------------------------------------------------------------------
// Weight chunk loads: 8 consecutive values of row n, columns k0..k0+7 (k0 % 8 == 0), as four
// packed bf16 pairs. Raw load and conversion are split so the loads of the next k-step can be
// issued before the current one is computed.
struct RawChunk {
    uint4 bits;
    float scale;
};

__device__ __forceinline__ u32 pack_bf16(float lo, float hi) {
    u32 r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

__device__ __forceinline__ RawChunk load_weight_raw(const MatDesc &d, int wq, long long n, int k0) {
    RawChunk r;
    r.scale = 1.0f;
    if (wq == WQ_BF16) {
        r.bits = *(const uint4 *)((const u16 *)d.weight + n * d.wStride + k0);
    } else if (wq == WQ_FP8) {
        uint2 v = *(const uint2 *)((const u8 *)d.weight + n * d.wStride + k0);
        r.bits = make_uint4(v.x, v.y, 0u, 0u);
        r.scale = ((const float *)d.scales)[(n / d.blockRows) * d.sStride + k0 / d.blockColumns];
    } else {
        u32 v = *(const u32 *)((const u8 *)d.weight + n * d.wStride + k0 / 2);
        r.bits = make_uint4(v, 0u, 0u, 0u);
        r.scale = e4m3_to_float(((const u8 *)d.scales)[n * d.sStride + k0 / 16]) * d.global;
    }
    return r;
}

__device__ __forceinline__ float e2m1_to_float(u32 code) {
    // 0, 0.5, 1, 1.5, 2, 3, 4, 6 and negatives.
    u32 m = code & 7u;
    float v = m < 2u ? 0.5f * (float)m : (m < 4u ? 1.0f + 0.5f * (float)(m - 2u) : (m < 6u ? 2.0f + (float)(m - 4u) * 1.0f : (m == 6u ? 4.0f : 6.0f)));
    return (code & 8u) ? -v : v;
}

// Dequantized values of a chunk as floats.
__device__ __forceinline__ void chunk_to_floats(const RawChunk &r, int wq, float *v) {
    if (wq == WQ_BF16) {
        u32 w[4] = {r.bits.x, r.bits.y, r.bits.z, r.bits.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            v[2 * i] = __uint_as_float(w[i] << 16);
            v[2 * i + 1] = __uint_as_float(w[i] & 0xFFFF0000u);
        }
    } else if (wq == WQ_FP8) {
        u32 w[2] = {r.bits.x, r.bits.y};
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = e4m3_to_float((u8)(w[i / 4] >> (8 * (i % 4)))) * r.scale;
    } else {
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = e2m1_to_float((r.bits.x >> (4 * i)) & 0xFu) * r.scale;
    }
}

__device__ __forceinline__ uint4 chunk_to_bf16(const RawChunk &r, int wq) {
    if (wq == WQ_BF16) return r.bits;
    float v[8];
    chunk_to_floats(r, wq, v);
    return make_uint4(pack_bf16(v[0], v[1]), pack_bf16(v[2], v[3]), pack_bf16(v[4], v[5]), pack_bf16(v[6], v[7]));
}

__device__ __forceinline__ void mma_bf16(float *c, const u32 *a, const u32 *b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ float silu(float g) { return g / (1.0f + __expf(-g)); }

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
    int tile = blockIdx.y;
    int slot = 0, begin, end;
    if (tileSlot) {
        slot = tileSlot[tile];
        if (slot < 0) return;
        begin = tileStart[tile];
        end = tileEnd[tile];
    } else {
        begin = tile * GM;
        end = min(begin + GM, rows);
        if (begin >= end) return;
    }
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
                    for (int i = 0; i < 2; i++) mma_bf16(acc[m][i][j], af[i], bf);
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
#define GV_ROWS 8

template <bool FUSED>
__device__ __forceinline__ void moe_gemv(const u16 *a, long long aStride, const int *rowToken, const int *tileSlot,
                                         const int *tileStart, const int *tileEnd, int rows, const MatDesc *descs, int which,
                                         int wq, int n, int k, void *out, int outType, long long outStride) {
    constexpr int MATS = FUSED ? 2 : 1;
    int tile = blockIdx.y;
    int slot = 0, begin, end;
    if (tileSlot) {
        slot = tileSlot[tile];
        if (slot < 0) return;
        begin = tileStart[tile];
        end = tileEnd[tile];
    } else {
        begin = tile * GV_ROWS;
        end = min(begin + GV_ROWS, rows);
        if (begin >= end) return;
    }
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
// Combine: out[t, c] = Σ_k weight[t, k] · expertOut[assignRow[t, k], c] over the assignments this
// rank computed (assignRow ≥ 0), in k order; out is written, not accumulated (no zeroing needed).
extern "C" __global__ void tern_moe_combine(const u16 *expertOut, long long expertStride, const int *assignRow,
                                            const float *weights, long long weightStride, int topK, void *out, int outType,
                                            long long outStride, int width) {
    long long t = blockIdx.x;
    int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= width) return;
    float sum = 0.0f;
    for (int j = 0; j < topK; j++) {
        int row = assignRow[t * topK + j];
        if (row >= 0) sum += weights[t * weightStride + j] * bf16_to_float(expertOut[(long long)row * expertStride + c]);
    }
    store_from_float(out, outType, t * outStride + c, sum);
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

__device__ __forceinline__ void mma_e4m3(float *c, const u32 *a, const u32 *b) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

template <bool FUSED>
__device__ __forceinline__ void moe_gemm_fp8(const u8 *a, long long aStride, const float *aScales, long long aScaleStride,
                                             const int *rowToken, const int *tileSlot, const int *tileStart, const int *tileEnd,
                                             int rows, const MatDesc *descs, int which, int n, int k, void *out, int outType,
                                             long long outStride) {
    constexpr int MATS = FUSED ? 2 : 1;
    __shared__ __align__(16) u8 As[GM * F8PAD];
    __shared__ __align__(16) u8 Bs[MATS * GN * F8PAD];
    int tile = blockIdx.y;
    int slot = 0, begin, end;
    if (tileSlot) {
        slot = tileSlot[tile];
        if (slot < 0) return;
        begin = tileStart[tile];
        end = tileEnd[tile];
    } else {
        begin = tile * GM;
        end = min(begin + GM, rows);
        if (begin >= end) return;
    }
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
                    for (int i = 0; i < 2; i++) mma_e4m3(part[i][j], af[i], bf);
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
__device__ __forceinline__ uint4 ld_stream16(const u8 *p) {
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}

__device__ __forceinline__ uint4 ld_cached16(const u8 *p) {
    uint4 r;
    asm("ld.global.nc.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}

__device__ __forceinline__ u32 word_of(const uint4 &v, int i) { return i == 0 ? v.x : (i == 1 ? v.y : (i == 2 ? v.z : v.w)); }

// Four e2m1 codes (16 bits, value 0 in the low nibble) → bf16x2 (values 0, 1) and (values 2, 3).
__device__ __forceinline__ void e2m1x4_to_bf16x2(u32 h, u32 &p01, u32 &p23) {
    // bf16 of 0, 0.5, 1, 1.5, 2, 3, 4, 6: low bytes 00 00 80 C0 00 40 80 C0, high 00 3F 3F 3F 40 40 40 40.
    u32 sel = h & 0x7777u;
    u32 lo = __byte_perm(0xC0800000u, 0xC0804000u, sel);
    u32 hi = __byte_perm(0x3F3F3F00u, 0x40404040u, sel);
    p01 = __byte_perm(lo, hi, 0x5140u);
    p23 = __byte_perm(lo, hi, 0x7362u);
    // Sign bits 3 and 7 (11 and 15) → bits 15 and 31: ×2^12 and ×2^24 (the cross terms land on 19 and 27).
    p01 |= ((h & 0x88u) * 0x01001000u) & 0x80008000u;
    p23 |= (((h >> 8) & 0x88u) * 0x01001000u) & 0x80008000u;
}

__device__ __forceinline__ u32 mul_bf16x2(u32 a, u32 b) {
    u32 r;
    asm("mul.rn.bf16x2 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

// chunk_to_bf16 with the same results (the conversions are exact, the fp32 product and the
// rounding to bf16 are the same) in fewer instructions: FP8 through cvt.rn.f16x2.e4m3x2, NVFP4
// through e2m1x4_to_bf16x2; for the pipelined GEMM's once-per-block dequantization.
__device__ __forceinline__ float bf16_lo(u32 w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf16_hi(u32 w) { return __uint_as_float(w & 0xFFFF0000u); }

__device__ __forceinline__ void f16x2_to_float2(u32 h, float &lo, float &hi) {
    asm("{\n\t.reg .b16 l, h;\n\tmov.b32 {l, h}, %2;\n\tcvt.f32.f16 %0, l;\n\tcvt.f32.f16 %1, h;\n\t}" : "=f"(lo), "=f"(hi) : "r"(h));
}

__device__ __forceinline__ void e4m3x4_to_f16x2(u32 w, u32 &p01, u32 &p23) {
    asm("{\n\t.reg .b16 l, h;\n\tmov.b32 {l, h}, %2;\n\tcvt.rn.f16x2.e4m3x2 %0, l;\n\tcvt.rn.f16x2.e4m3x2 %1, h;\n\t}"
        : "=r"(p01), "=r"(p23)
        : "r"(w));
}

__device__ __forceinline__ uint4 chunk_to_bf16_fast(const RawChunk &r, int wq) {
    if (wq == WQ_BF16) return r.bits;
    u32 out[4];
    if (wq == WQ_FP8) {
        u32 w[2] = {r.bits.x, r.bits.y};
#pragma unroll
        for (int i = 0; i < 2; i++) {
            u32 p01, p23;
            e4m3x4_to_f16x2(w[i], p01, p23);
            float v0, v1, v2, v3;
            f16x2_to_float2(p01, v0, v1);
            f16x2_to_float2(p23, v2, v3);
            out[2 * i] = pack_bf16(v0 * r.scale, v1 * r.scale);
            out[2 * i + 1] = pack_bf16(v2 * r.scale, v3 * r.scale);
        }
    } else {
#pragma unroll
        for (int i = 0; i < 2; i++) {
            u32 p01, p23;
            e2m1x4_to_bf16x2(i == 0 ? (r.bits.x & 0xFFFFu) : (r.bits.x >> 16), p01, p23);
            out[2 * i] = pack_bf16(bf16_lo(p01) * r.scale, bf16_hi(p01) * r.scale);
            out[2 * i + 1] = pack_bf16(bf16_lo(p23) * r.scale, bf16_hi(p23) * r.scale);
        }
    }
    return make_uint4(out[0], out[1], out[2], out[3]);
}

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
    int tile = blockIdx.y;
    int slot = 0, begin, end;
    if (tileSlot) {
        slot = tileSlot[tile];
        if (slot < 0) return;
        begin = tileStart[tile];
        end = tileEnd[tile];
    } else {
        begin = tile * GV_ROWS;
        end = min(begin + GV_ROWS, rows);
        if (begin >= end) return;
    }
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
                    mma_bf16(acc[m], af, bf);
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
                    mma_e4m3(part, af, bf);
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
                        scale[m][h][b] = pack_bf16(f, f);
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
                    mma_bf16(acc[m], af, bf);
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

__device__ __forceinline__ void cp_async16(u32 dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(u32 *r, u32 addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
}

extern "C" __global__ void __launch_bounds__(256) tern_moe_gemm_tc(const u16 *a, long long aStride, const int *rowToken,
                                                                  const int *tileSlot, const int *tileStart, const int *tileEnd,
                                                                  int rows, const MatDesc *descs, int which, int wq, int n, int k,
                                                                  void *out, int outType, long long outStride) {
    extern __shared__ __align__(16) u8 ptShared[];
    u16 *As = (u16 *)ptShared;
    u16 *Bs = As + PT_STAGES * PT_M * PT_PITCH;
    int tile = blockIdx.y;
    int slot = 0, begin, end;
    if (tileSlot) {
        slot = tileSlot[tile];
        if (slot < 0) return;
        begin = tileStart[tile];
        end = tileEnd[tile];
    } else {
        begin = tile * PT_M;
        end = min(begin + PT_M, rows);
        if (begin >= end) return;
    }
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
            for (int i = 0; i < 4; i++) ldmatrix_x4(af[i], aStage + aLane + (i * 16 * PT_PITCH + kk) * 2);
#pragma unroll
            for (int jj = 0; jj < 2; jj++) {
                u32 r[4];
                ldmatrix_x4(r, bStage + bLane + (jj * 16 * PT_PITCH + kk) * 2);
                bf[2 * jj][0] = r[0];
                bf[2 * jj][1] = r[1];
                bf[2 * jj + 1][0] = r[2];
                bf[2 * jj + 1][1] = r[3];
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) mma_bf16(acc[i][j], af[i], bf[j]);
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
    int tile = blockIdx.y;
    int slot = 0, begin, end;
    if (tileSlot) {
        slot = tileSlot[tile];
        if (slot < 0) return;
        begin = tileStart[tile];
        end = tileEnd[tile];
    } else {
        begin = tile * PT_M;
        end = min(begin + PT_M, rows);
        if (begin >= end) return;
    }
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
            for (int i = 0; i < 4; i++) ldmatrix_x4(af[i], aStage + aLane + i * 16 * ROW_BYTES + kk);
#pragma unroll
            for (int jj = 0; jj < 2; jj++) {
                u32 r[4];
                ldmatrix_x4(r, bStage + bLane + jj * 16 * ROW_BYTES + kk);
                bf[2 * jj][0] = r[0];
                bf[2 * jj][1] = r[1];
                bf[2 * jj + 1][0] = r[2];
                bf[2 * jj + 1][1] = r[3];
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) mma_e4m3(part[i][j], af[i], bf[j]);
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
