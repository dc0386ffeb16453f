// Quantized weights, first correct version: dequantize to a bf16 scratch for cuBLASLt, and the
// per-token-group FP8 activation rounding of w8a8 checkpoints.
#include "common.cuh"

// FP8 e4m3 weight [n, k] with fp32 scales per [blockRows, blockColumns] block → bf16 [n, k].
extern "C" __global__ void tern_dequant_fp8_block(const u8 *weight, const float *scales, long long scaleStride,
                                                  int blockRows, int blockColumns, u16 *out, int n, int k) {
    long long row = blockIdx.x;  // rows on x: up to 2^31 of them
    int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= k) return;
    float s = scales[(row / blockRows) * scaleStride + c / blockColumns];
    out[row * k + c] = float_to_bf16(e4m3_to_float(weight[row * k + c]) * s);
}

__device__ __constant__ float kE2M1[16] = {0.f, 0.5f, 1.f, 1.5f, 2.f, 3.f, 4.f, 6.f,
                                           -0.f, -0.5f, -1.f, -1.5f, -2.f, -3.f, -4.f, -6.f};

// NVFP4: two e2m1 codes per byte (even index low nibble), e4m3 scale per 16 inputs, global scale.
extern "C" __global__ void tern_dequant_nvfp4(const u8 *packed, const u8 *scales, long long scaleStride, float globalScale,
                                              u16 *out, int n, int k) {
    long long row = blockIdx.x;  // rows on x: up to 2^31 of them
    int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= k) return;
    u8 byte = packed[row * (k / 2) + c / 2];
    int code = (c & 1) ? (byte >> 4) : (byte & 0xF);
    out[row * k + c] = float_to_bf16(kE2M1[code] * e4m3_to_float(scales[row * scaleStride + c / 16]) * globalScale);
}

// Rounds each group of `groupSize` values of every row to e4m3 with scale amax/448 (w8a8).
// One block per (row, group); groupSize ≤ blockDim.x.
extern "C" __global__ void tern_fake_quant_e4m3(const void *x, int xType, long long xStride, void *out, int outType,
                                                long long outStride, int width, int groupSize) {
    long long row = blockIdx.x;
    int c = blockIdx.y * groupSize + threadIdx.x;
    bool active = threadIdx.x < groupSize && c < width;
    float v = active ? load_as_float(x, xType, row * xStride + c) : 0.0f;
    float amax = block_max(fabsf(v));
    float s = amax > 0.0f ? amax / 448.0f : 1.0f;
    if (active) store_from_float(out, outType, row * outStride + c, e4m3_to_float(float_to_e4m3(v / s)) * s);
}

// w8a8 activations for the FP8 tensor-core GEMM: each group of `groupSize` values of a row → e4m3
// codes of v / s with s = amax / 448 (1 when the group is all zeros), and s itself. The same
// rounding as tern_fake_quant_e4m3, which keeps code · s instead. One block per (row, group);
// groupSize ≤ blockDim.x.
extern "C" __global__ void tern_quant_e4m3_groups(const void *x, int xType, long long xStride, u8 *codes, long long codeStride,
                                                  float *scales, long long scaleStride, int width, int groupSize) {
    long long row = blockIdx.x;
    int c = blockIdx.y * groupSize + threadIdx.x;
    bool active = threadIdx.x < groupSize && c < width;
    float v = active ? load_as_float(x, xType, row * xStride + c) : 0.0f;
    float amax = block_max(fabsf(v));
    float s = amax > 0.0f ? amax / 448.0f : 1.0f;
    if (active) codes[row * codeStride + c] = float_to_e4m3(v / s);
    if (threadIdx.x == 0) scales[row * scaleStride + blockIdx.y] = s;
}
