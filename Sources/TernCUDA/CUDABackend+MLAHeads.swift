import CCUDA
import Foundation
import TernBackend
import TernCore

/// MLA's head-batched ops (`Kernels/mla_heads.cu`): the absorbed W_UK / W_UV of all heads in one
/// launch, and the per-head slices of q / k / v in one copy kernel, instead of one launch per head.
extension CUDABackend {
    /// TERN_CUDA_MLA_HEADS=0 runs `headLinear` / `copyHeads` as one `linear` / `copy` per head (the
    /// previous path) instead of the batched kernels.
    static let headOpsEnabled = ProcessInfo.processInfo.environment["TERN_CUDA_MLA_HEADS"] != "0"
    /// Largest token count of `headLinear` served by `tern_head_gemv_*` (TERN_CUDA_HEAD_GEMV_MAX_T,
    /// 0…16, default 16); above it the strided-batched cuBLASLt GEMM runs.
    static let headGEMVMaxTokens: Int = {
        let value = ProcessInfo.processInfo.environment["TERN_CUDA_HEAD_GEMV_MAX_T"].flatMap { Int($0) } ?? 16
        return min(max(value, 0), 16)
    }()
    /// TERN_CUDA_MLA_PREFILL=expanded: MLA's automatic form expands the latents for prefill steps (query/key
    /// 192, value 128: no flash kernel takes those widths, so the scalar `tern_paged_attention` runs). Default
    /// absorbed: prefill rows go through the latent kernels (`tern_mla_decode_v4` on sm_90 by default, v2
    /// elsewhere; causal by position) like decode, while those kernels are enabled and the step's query tiles
    /// (at most one per token) fit their grid (65,535); larger steps stay expanded. The latent kernels take
    /// only the 576-wide latent (kv_lora_rank 512 + rope 64); other MLA widths run absorbed prefill through
    /// the generic attention path (`attention`'s other kernels).
    static let absorbedMLAPrefill = ProcessInfo.processInfo.environment["TERN_CUDA_MLA_PREFILL"] != "expanded"
    public func prefersAbsorbedMLAPrefill(tokens: Int) -> Bool {
        Self.absorbedMLAPrefill && Self.mlaKernelEnabled && tokens <= 65535
    }
    /// Launch counters for the self-test (which path ran).
    static let headGEMVLaunches = LaunchCounter()
    static let headBLASLaunches = LaunchCounter()
    static let headSimpleLaunches = LaunchCounter()

    /// Lanes per weight row of `tern_head_gemv_t*_g{G}` for width k (each lane loads 8 elements per step).
    static func headGEMVGroup(k: Int) -> Int { k >= 256 ? 32 : k >= 128 ? 16 : 8 }
    /// Rows per lane group of the variant for `bound` tokens (R in mla_heads.cu's TERN_HEAD_GEMV list).
    static func headGEMVRows(bound: Int) -> Int { bound <= 4 ? 4 : 2 }

    /// `path`: nil picks (GEMV up to TERN_CUDA_HEAD_GEMV_MAX_T tokens, else cuBLASLt, else the simple
    /// kernel); "gemv", "blas", "simple" force one (self-test; a forced path that cannot run throws).
    public func headLinear(_ x: Tensor, inputHeadStride: Int, weight: Tensor, out: Tensor, outputHeadStride: Int) throws {
        try headLinear(x, inputHeadStride: inputHeadStride, weight: weight, out: out, outputHeadStride: outputHeadStride, path: nil)
    }

    func headLinear(_ x: Tensor, inputHeadStride: Int, weight: Tensor, out: Tensor, outputHeadStride: Int, path: String?) throws {
        try bind()
        try expect(weight.rank == 3 && weight.isContiguous, "headLinear: weight must be [heads, out, in], got \(weight.shape)")
        let heads = weight.shape[0], n = weight.shape[1], k = weight.shape[2], t = x.rows
        try expect(x.rank == 2 && out.rank == 2 && out.rows == t, "headLinear: x \(x.shape), out \(out.shape)")
        try expect(heads == 0 || ((heads - 1) * inputHeadStride + k <= x.rowSize && (heads - 1) * outputHeadStride + n <= out.rowSize),
                   "headLinear: \(heads) heads of \(k) → \(n) do not fit \(x.shape) → \(out.shape)")
        guard t > 0 && heads > 0 && n > 0 && k > 0 else { return }
        guard path != nil || Self.headOpsEnabled, x.dtype == .bf16, weight.dtype == .bf16, out.dtype == .bf16 else {
            try expect(path == nil, "headLinear: forced path \(path ?? "") needs bf16 x, weight and out")
            return try perHeadLinear(x, inputHeadStride: inputHeadStride, weight: weight, out: out, outputHeadStride: outputHeadStride)
        }
        let arguments: [KernelArgument] = [ptr(x), .int64(Int64(x.rowStride)), .int64(Int64(inputHeadStride)), ptr(weight),
                                           ptr(out), .int64(Int64(out.rowStride)), .int64(Int64(outputHeadStride)),
                                           .int(Int32(n)), .int(Int32(k))]
        let gemvFits = k % 8 == 0 && address(x) % 16 == 0 && x.rowStride % 8 == 0 && inputHeadStride % 8 == 0 && address(weight) % 16 == 0
        if path == "gemv" || (path == nil && t <= Self.headGEMVMaxTokens && gemvFits), let bound = Self.gemvVariant(tokens: t) {
            try expect(gemvFits, "headLinear: the GEMV needs k % 8 == 0 and 16-byte aligned head rows")
            let g = Self.headGEMVGroup(k: k), blockRows = 8 * (32 / g) * Self.headGEMVRows(bound: bound)
            try launch("tern_head_gemv_t\(bound)_g\(g)", grid: ((n + blockRows - 1) / blockRows, heads, 1), block: 256,
                       arguments + [.int(Int32(t))])
            Self.headGEMVLaunches.increment()
            return
        }
        try expect(path != "gemv", "headLinear: the GEMV serves at most 16 tokens, not \(t)")
        if path == nil || path == "blas" {
            var done = false
            try profiled("head gemm \(heads)× n=\(n) k=\(k) \(t <= 64 ? "t≤64" : "t>64")") {
                done = try blas.gemmBatched(batch: heads, n: n, t: t, k: k, weight: address(weight), weightType: Int32(TERN_CUDA_R_16BF),
                                            ldw: k, strideW: n * k,
                                            x: address(x), inputType: Int32(TERN_CUDA_R_16BF), ldx: x.rowStride, strideX: inputHeadStride,
                                            out: address(out), outputType: Int32(TERN_CUDA_R_16BF), ldo: out.rowStride,
                                            strideO: outputHeadStride, stream: stream)
            }
            if done { Self.headBLASLaunches.increment(); return }
            try expect(path == nil, "headLinear: cuBLASLt declined \(heads)×\(n)×\(t)×\(k)")
        }
        try expect(n <= 65535 * 8 && heads <= 65535, "headLinear: \(heads) heads × \(n) rows exceed the simple kernel's grid")
        try launch("tern_head_gemm_simple", grid: (t, (n + 7) / 8, heads), block: 256, arguments)
        Self.headSimpleLaunches.increment()
    }

    public func copyHeads(_ source: Tensor, sourceHeadStride: Int, to destination: Tensor, destinationHeadStride: Int,
                          heads: Int, width: Int) throws {
        try bind()
        try expect(source.dtype == destination.dtype && source.rank == 2 && destination.rank == 2 && source.rows == destination.rows,
                   "copyHeads: \(source.shape) \(source.dtype) → \(destination.shape) \(destination.dtype)")
        try expect(heads == 0 || ((heads - 1) * sourceHeadStride + width <= source.rowSize
                                  && (heads - 1) * destinationHeadStride + width <= destination.rowSize),
                   "copyHeads: \(heads) heads of \(width) do not fit \(source.shape) → \(destination.shape)")
        let rows = source.rows
        guard rows > 0 && heads > 0 && width > 0 else { return }
        guard Self.headOpsEnabled else {
            return try perHeadCopy(source, sourceHeadStride: sourceHeadStride, to: destination, destinationHeadStride: destinationHeadStride,
                                   heads: heads, width: width)
        }
        let e = source.dtype.byteSize
        let quantities = [Int(address(source) % 16), Int(address(destination) % 16), source.rowStride * e, destination.rowStride * e,
                          sourceHeadStride * e, destinationHeadStride * e, width * e]
        guard let unit = [16, 4, 2].first(where: { u in quantities.allSatisfy { $0 % u == 0 } }) else {
            return try perHeadCopy(source, sourceHeadStride: sourceHeadStride, to: destination, destinationHeadStride: destinationHeadStride,
                                   heads: heads, width: width)
        }
        func units(_ elements: Int) -> Int64 { Int64(elements * e / unit) }
        let perRow = heads * width * e / unit
        try expect(perRow <= Int(Int32.max), "copyHeads: \(perRow) units per row")
        try launch("tern_copy_heads_\(unit)", grid: ((perRow + 255) / 256, min(rows, 65535), 1), block: 256,
                   [ptr(source), .int64(units(source.rowStride)), .int64(units(sourceHeadStride)),
                    ptr(destination), .int64(units(destination.rowStride)), .int64(units(destinationHeadStride)),
                    .int(Int32(heads)), .int(Int32(width * e / unit)), .int(Int32(rows))])
    }
}
