import CCUDA
import Foundation
import TernBackend
import TernCore

extension CUDABackend {
    /// TERN_CUDA_GEMV=0 sends every shape to cuBLASLt (for comparisons).
    static let gemvEnabled = ProcessInfo.processInfo.environment["TERN_CUDA_GEMV"] != "0"
    /// Largest token count served by the weight-streaming GEMV (TERN_CUDA_GEMV_MAX_T, 0…16;
    /// default 1); above it cuBLASLt runs. `tern bench-gemv` measures where the crossover is: on the
    /// H200 (2026-11-30, cf64516) the GEMV wins only at T = 1 (0.74–1.0 of copy bandwidth vs
    /// cuBLASLt's 0.60–0.99); at T = 4 cuBLASLt is 1.2–2.2× faster.
    static let gemvMaxTokens: Int = {
        let value = ProcessInfo.processInfo.environment["TERN_CUDA_GEMV_MAX_T"].flatMap { Int($0) } ?? 1
        return min(max(value, 0), 16)
    }()

    /// Programmatic dependent launch (PDL) of the decode chain, on unless TERN_CUDA_PDL=0: the GEMVs,
    /// `tern_rms_norm_bf16x8`, `tern_silu_and_mul_bf16x8` and `tern_rope_store_kv` are launched as
    /// programmatic dependents, and each of them triggers its own dependents at its start. So a
    /// kernel's blocks are resident while the one before it runs; the T = 1 GEMV issues its whole weight
    /// batch (model weights only) and the norm its weight loads before `griddepcontrol.wait`, which they
    /// pass only when the previous grid has finished and its writes are visible; nothing that a
    /// previous kernel writes is read, and nothing is written, before the wait. Kernels without the
    /// wait (attention, cuBLASLt, the rest) are never launched this way. With only the GEMVs as
    /// dependents (prefetch into L2) the H200 measured 4.83 → 4.80 ms per batch-1 step (cf64516).
    static let programmaticGEMV = ProcessInfo.processInfo.environment["TERN_CUDA_PDL"] != "0"

    /// Largest k served at T = 1 by `tern_gemv_bf16_t1s` (a block's rows spread flat over its 256
    /// threads, one round trip of 32 KB per block; `Kernels/gemv.cu`), TERN_CUDA_GEMV_T1S_MAX_K
    /// (default 8192: Llama-8B's qkv, o and gate_up; 0 = always the warp-per-row `tern_gemv_bf16_t1`,
    /// which the H200 measured at 0.96 of copy bandwidth for k = 14336). Needs k % 256 == 0, k ≤ 16384.
    static let gemvT1SMaxK: Int = ProcessInfo.processInfo.environment["TERN_CUDA_GEMV_T1S_MAX_K"].flatMap { Int($0) } ?? 8192

    /// Smallest output width served by `tern_gemv_bf16_t1s` at T = 1 by default
    /// (TERN_CUDA_GEMV_T1S_MIN_N, default 16384; 0 also sends Llama-8B's qkv and o to it, whose whole
    /// first weight batch then loads before griddepcontrol.wait under PDL — an A/B knob for the
    /// decode chain, where that overlap may matter more than in bench-gemv's isolated calls).
    static let gemvT1SMinN: Int = ProcessInfo.processInfo.environment["TERN_CUDA_GEMV_T1S_MIN_N"].flatMap { Int($0) } ?? 16384

    /// Rows per block of `tern_gemv_bf16_t1s` for width k (nil: the kernel does not take it): as many
    /// as fill 8 loads of 16 bytes per thread, at most 8.
    static func gemvT1SRows(k: Int, maxK: Int = gemvT1SMaxK) -> Int? {
        guard k % 256 == 0, k <= min(maxK, 16384), k > 0 else { return nil }
        return min(8, 2048 / (k / 8))
    }

    /// The GEMV variant for `t` tokens: each kernel serves up to its bound (1, 2, 4, 8, 16).
    static func gemvVariant(tokens t: Int) -> Int? { [1, 2, 4, 8, 16].first { $0 >= t } }

    /// out = x · Wᵀ with the weight-streaming GEMV (`Kernels/gemv.cu`), bf16 x and W; false when the
    /// shape or alignment does not suit it (k % 8, 16-byte rows) or t > 16.
    /// `weightIsStatic`: no kernel writes the weight (model weights, not a dequantized scratch), so
    /// under PDL `tern_gemv_bf16_t1s` may load it before the previous kernel has finished.
    /// `flat`: at T = 1, nil uses `tern_gemv_bf16_t1s` up to TERN_CUDA_GEMV_T1S_MAX_K, true wherever
    /// it can run (k % 256 == 0, k ≤ 16384), false never (selftest and bench-gemv force both).
    func gemv(_ x: Tensor, _ weight: Tensor, out: Tensor, weightIsStatic: Bool = false, flat: Bool? = nil) throws -> Bool {
        let t = x.rows, n = weight.rows, k = x.rowSize
        guard t >= 1, let variant = Self.gemvVariant(tokens: t), k % 8 == 0, weight.rowSize == k,
              weight.dtype == .bf16, x.dtype == .bf16, weight.rowStride % 8 == 0, x.rowStride % 8 == 0,
              address(weight) % 16 == 0, address(x) % 16 == 0 else { return false }
        // By default the flat kernel only for wide outputs: bench-gemv on the H200 (bb242a7) had it ahead
        // for n = 28672 / 128256 (0.973 / 1.055 of copy bandwidth vs 0.943 / 1.012) but behind the
        // warp-per-row kernel for n = 6144 / 4096 (0.726 / 0.670 vs 0.772 / 0.732).
        if t == 1, flat == true || (flat == nil && n >= Self.gemvT1SMinN),
           let rows = Self.gemvT1SRows(k: k, maxK: flat == true ? 16384 : Self.gemvT1SMaxK) {
            try launch("tern_gemv_bf16_t1s", grid: ((n + rows - 1) / rows, 1, 1), block: 256,
                       programmaticDependency: Self.programmaticGEMV,
                       [ptr(x), ptr(weight), .int64(Int64(weight.rowStride)), ptr(out), .int(try Self.code(out.dtype)),
                        .int(Int32(n)), .int(Int32(k)), .int(Int32(rows)), .int(weightIsStatic ? 1 : 0)])
            return true
        }
        // Rows per warp of each variant (R in gemv.cu); a block is 8 warps.
        let rowsPerBlock = 8 * (variant <= 2 ? 1 : variant <= 8 ? 2 : 4)
        try launch("tern_gemv_bf16_t\(variant)", grid: ((n + rowsPerBlock - 1) / rowsPerBlock, 1, 1), block: 256,
                   programmaticDependency: Self.programmaticGEMV,
                   [ptr(x), .int64(Int64(x.rowStride)), ptr(weight), .int64(Int64(weight.rowStride)),
                    ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride)), .int(Int32(n)), .int(Int32(k)), .int(Int32(t))])
        return true
    }

    /// out = x · Wᵀ through cuBLASLt (bf16 operands, fp32 accumulation); false when it declines the shape.
    func gemmBLAS(_ input: Tensor, _ weight: Tensor, out: Tensor) throws -> Bool {
        let t = input.rows, n = weight.rows, k = input.rowSize
        var done = false
        try profiled("gemm \(t <= 1 ? "t=1" : t <= 64 ? "t≤64" : "t>64") n=\(n) k=\(k)") {
            done = try blas.gemm(n: n, t: t, k: k, weight: address(weight), weightType: Int32(TERN_CUDA_R_16BF), ldw: weight.rowStride,
                                 x: address(input), inputType: Int32(TERN_CUDA_R_16BF), ldx: input.rowStride,
                                 out: address(out), outputType: out.dtype == .f32 ? Int32(TERN_CUDA_R_32F) : Int32(TERN_CUDA_R_16BF),
                                 ldo: out.rowStride, stream: stream)
        }
        return done
    }

    /// out = x · Wᵀ (+ bias) through cuBLASLt in bf16 with fp32 accumulation; the output may be
    /// bf16 or f32 (the LM head and router write f32). Quantized weights (FP8 block, NVFP4) go to
    /// our kernels that dequantize while loading (`quantizedLinear`); layouts those kernels cannot
    /// read are dequantized to a bf16 scratch for cuBLASLt.
    public func linear(_ x: Tensor, _ layer: Linear, out: Tensor) throws {
        try bind()
        let k = x.rowSize, n = layer.outFeatures, t = x.rows
        try expect(layer.inFeatures == k, "linear: input width \(k) vs weight \(layer.weight.shape)")
        try expect(out.rowSize == n && out.rows == t, "linear: output \(out.shape) for \(t)×\(n)")
        try expect(out.dtype == .bf16 || out.dtype == .f32, "linear: output dtype \(out.dtype)")
        guard t > 0 && n > 0 else { return }
        // FP8 / NVFP4 weights: dequantized inside our GEMV/GEMM kernels, or FP8 tensor cores (w8a8)
        // (CUDABackend+MoE.swift; it rounds the activations itself).
        if layer.bias == nil && Self.quantizedKernelsEnabled, try quantizedLinear(x, layer, out: out) { return }
        var input = try asBF16(x)
        if let group = layer.activationGroupSize {
            let rounded = try allocate([t, k], dtype: .bf16, zeroed: false)
            try launch("tern_fake_quant_e4m3", grid: (t, (k + group - 1) / group, 1), block: max(32, (group + 31) / 32 * 32),
                       [ptr(input), .int(1), .int64(Int64(input.rowStride)), ptr(rounded), .int(1), .int64(Int64(k)),
                        .int(Int32(k)), .int(Int32(group))])
            input = rounded
        }
        var done = false
        let weight = try bf16Weight(layer)
        if t <= Self.gemvMaxTokens && Self.gemvEnabled {
            done = try gemv(input, weight, out: out, weightIsStatic: layer.quantization == nil && layer.weight.dtype == .bf16)
        }
        if !done { done = try gemmBLAS(input, weight, out: out) }
        if !done {
            // Shapes cuBLASLt declines (odd strides or alignment in tiny models): a plain kernel.
            try launch("tern_gemm_simple", grid: (t, (n + 7) / 8, 1), block: 256,
                       [ptr(input), .int64(Int64(input.rowStride)), ptr(weight), .int64(Int64(weight.rowStride)),
                        ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride)), .int(Int32(n)), .int(Int32(k))])
        }
        if let bias = layer.bias {
            try launch("tern_add_bias", grid: (t, (n + 255) / 256, 1), block: 256,
                       [ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride)), ptr(bias), .int(try Self.code(bias.dtype)),
                        .int(Int32(n))])
        }
    }

    /// `x` itself when it is bf16, else a bf16 copy.
    func asBF16(_ x: Tensor) throws -> Tensor {
        if x.dtype == .bf16 { return x }
        let copy = try allocate([x.rows, x.rowSize], dtype: .bf16, zeroed: false)
        try launch("tern_convert", grid: (x.rows, (x.rowSize + 255) / 256, 1), block: 256,
                   [ptr(x), .int(try Self.code(x.dtype)), .int64(Int64(x.rowStride)), ptr(copy), .int(1), .int64(Int64(x.rowSize)),
                    .int(Int32(x.rowSize))])
        return copy
    }

    /// The layer's weight as bf16 `[out, in]`: as stored, converted, or dequantized.
    func bf16Weight(_ layer: Linear) throws -> Tensor {
        let n = layer.outFeatures, k = layer.inFeatures, w = layer.weight
        switch layer.quantization {
        case nil:
            return try asBF16(w)
        case let .fp8Block(scales, br, bc)?:
            try expect(w.dtype == .f8e4m3 && scales.dtype == .f32, "linear: fp8 block weights need e4m3 values and f32 scales")
            try expect(w.isContiguous, "linear: fp8 weight must be contiguous")
            let out = try allocate([n, k], dtype: .bf16, zeroed: false)
            try launch("tern_dequant_fp8_block", grid: (n, (k + 255) / 256, 1), block: 256,
                       [ptr(w), ptr(scales), .int64(Int64(scales.rowStride)), .int(Int32(br)), .int(Int32(bc)), ptr(out), .int(Int32(n)), .int(Int32(k))])
            return out
        case let .nvfp4(scales, global)?:
            try expect(w.dtype == .u8 && scales.dtype == .f8e4m3 && k % 16 == 0, "linear: nvfp4 needs u8 packed weights, e4m3 scales, in % 16 == 0")
            let out = try allocate([n, k], dtype: .bf16, zeroed: false)
            try launch("tern_dequant_nvfp4", grid: (n, (k + 255) / 256, 1), block: 256,
                       [ptr(w), ptr(scales), .int64(Int64(scales.rowStride)), .float(global), ptr(out), .int(Int32(n)), .int(Int32(k))])
            return out
        }
    }
}
