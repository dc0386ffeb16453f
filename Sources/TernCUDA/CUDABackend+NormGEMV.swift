import Foundation
import TernBackend
import TernCore

extension CUDABackend {
    /// TERN_CUDA_NORM_GEMV=1: at T = 1 the GEMV computes the layer's pre-norm (residual add + RMSNorm)
    /// itself (`tern_gemv_bf16_t1_norm`, `tern_gemv_bf16_t1s_norm`, `tern_gemv_bf16_t1s_silu_norm` in
    /// `Kernels/gemv.cu`): no norm kernel and one launch boundary fewer before qkv, before gate/up and
    /// before the LM head. Off by default: every block recomputing the norm costs more than the launch
    /// it saves (H200, 2026-11-30, Llama-3.1-8B batch-1 step with graphs: 5.24 ms fused, 4.56 ms not;
    /// the LM-head GEMV alone 0.74 vs 0.45 ms in the DeepSeek slice profile). Above T = 1 the
    /// two-kernel path always runs.
    static let normGEMVFused = ProcessInfo.processInfo.environment["TERN_CUDA_NORM_GEMV"] == "1"

    public func addRMSNormLinear(_ x: Tensor?, residual: Tensor, weight: Tensor, eps: Float, _ layer: Linear, normed: Tensor,
                                 out: Tensor) throws {
        try bind()
        if try normGEMV(x, residual: residual, weight: weight, eps: eps, layer, out: out) {
            try addBias(layer, out: out)
            return
        }
        try preNorm(x, residual: residual, weight: weight, eps: eps, out: normed)
        try linear(normed, layer, out: out)
    }

    public func addRMSNormLinearSiLUAndMul(_ x: Tensor?, residual: Tensor, weight: Tensor, eps: Float, _ gateUp: Linear,
                                           normed: Tensor, scratch: Tensor, out: Tensor) throws {
        try bind()
        // One kernel (norm, gate/up, SiLU-and-mul) where tern_gemv_bf16_t1s_silu takes the shape, else
        // the norm-fused GEMV into the scratch and the SiLU kernel (tiny models: k % 256 != 0).
        if Self.gateUpSiLUFused, gateUp.bias == nil,
           try normGEMV(x, residual: residual, weight: weight, eps: eps, gateUp, out: out, silu: true) {
            return
        }
        if try normGEMV(x, residual: residual, weight: weight, eps: eps, gateUp, out: scratch) {
            try addBias(gateUp, out: scratch)
            try siluAndMul(scratch, out: out)
            return
        }
        try preNorm(x, residual: residual, weight: weight, eps: eps, out: normed)
        try linearSiLUAndMul(normed, gateUp, scratch: scratch, out: out)
    }

    /// TERN_CUDA_NORM_GEMV_ROPE=0: at T = 1 the qkv projection (with its pre-norm) and rope + K/V store
    /// run as two kernels; by default `tern_gemv_bf16_t1_norm_rope` does both (one launch boundary fewer
    /// per GQA layer). Only when the norm fusion is on (TERN_CUDA_NORM_GEMV=1).
    static let normGEMVRope = ProcessInfo.processInfo.environment["TERN_CUDA_NORM_GEMV_ROPE"] != "0"

    public func addRMSNormQKVRopeStoreKV(_ x: Tensor?, residual: Tensor, weight: Tensor, eps: Float, _ qkv: Linear, normed: Tensor,
                                         out: Tensor, heads: Int, kvHeads: Int, headDim: Int, positions: Tensor, table: RotaryTable,
                                         cache: KVCache, layer: Int, batch: PreparedBatch) throws {
        try bind()
        if Self.normGEMVRope, Self.normGEMVAllowed,
           try normGEMVRope(x, residual: residual, weight: weight, eps: eps, qkv, out: out, heads: heads, kvHeads: kvHeads,
                            headDim: headDim, positions: positions, table: table, cache: cache, layer: layer, batch: batch) {
            return
        }
        try addRMSNormLinear(x, residual: residual, weight: weight, eps: eps, qkv, normed: normed, out: out)
        let q = heads * headDim, kv = kvHeads * headDim
        try ropeAndStoreKV(query: out.columns(0..<q), key: out.columns(q..<q + kv), value: out.columns(q + kv..<q + 2 * kv),
                           headDim: headDim, positions: positions, table: table, cache: cache, layer: layer, batch: batch)
    }

    /// `tern_gemv_bf16_t1_norm_rope`: norm, qkv projection, rope of q and k, K/V into the bf16 cache, for
    /// one token; false when it does not take the call (everything `normGEMVTakes` asks, no bias, bf16
    /// output and cache, NeoX rotation over whole heads with f32 tables, headDim % 8 == 0).
    func normGEMVRope(_ x: Tensor?, residual: Tensor, weight: Tensor, eps: Float, _ qkv: Linear, out: Tensor, heads: Int, kvHeads: Int,
                      headDim: Int, positions: Tensor, table: RotaryTable, cache: KVCache, layer: Int, batch: PreparedBatch) throws -> Bool {
        let n = qkv.outFeatures, k = residual.rowSize
        guard normGEMVTakes(x, residual: residual, weight: weight, qkv, out: out), qkv.bias == nil,
              heads > 0, kvHeads > 0, headDim > 0, headDim % 8 == 0, n == (heads + 2 * kvHeads) * headDim,
              out.rowSize == n, out.dtype == .bf16, !cache.isFP8, layer < cache.keys.count, layer < cache.values.count,
              cache.keys[layer].dtype == .bf16, cache.values[layer].dtype == .bf16,
              cache.keys[layer].rowSize == kvHeads * headDim, cache.values[layer].rowSize == kvHeads * headDim,
              table.rotaryDim == headDim, !table.interleaved, table.cos.dtype == .f32, table.sin.dtype == .f32,
              positions.dtype == .i32, positions.elementCount >= 1, batch.slots.dtype == .i32, batch.slots.elementCount >= 1 else { return false }
        let keyCache = cache.keys[layer], valueCache = cache.values[layer]
        try launch("tern_gemv_bf16_t1_norm_rope", grid: (n / 8, 1, 1), block: 256, programmaticDependency: Self.programmaticGEMV,
                   normGEMVArguments(x, residual: residual, weight: weight, eps: eps, qkv)
                       + [ptr(out), .int(Int32(n)), .int(Int32(k)), .int(Int32(headDim)), .int(Int32(heads)), .int(Int32(kvHeads)),
                          ptr(positions), ptr(batch.slots), ptr(table.cos), ptr(table.sin),
                          ptr(keyCache), .int64(Int64(keyCache.rowStride)), ptr(valueCache), .int64(Int64(valueCache.rowStride))])
        return true
    }

    /// out[r, :] += layer's bias (nothing without one), as `linear` adds it after its GEMM.
    func addBias(_ layer: Linear, out: Tensor) throws {
        guard let bias = layer.bias else { return }
        try launch("tern_add_bias", grid: (out.rows, (out.rowSize + 255) / 256, 1), block: 256,
                   [ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride)), ptr(bias), .int(try Self.code(bias.dtype)),
                    .int(Int32(out.rowSize))])
    }

    /// residual += x (x nil: none), out = rmsNorm(residual) · Wᵀ in one kernel for one bf16 row
    /// (`silu`: out = silu(gate) · up of the gate/up weight, through `tern_gemv_bf16_t1s_silu_norm`);
    /// false when the fused kernels do not take the call (T ≠ 1, TERN_CUDA_NORM_GEMV not 1, the GEMV off
    /// or limited to T = 0, quantized or non-bf16 weights, an f32 norm weight missing, k % 8 != 0 or
    /// k > 8192, alignment, aliasing). `flat`: nil picks the kernel as `gemv` does (the flat
    /// `tern_gemv_bf16_t1s_norm` from TERN_CUDA_GEMV_T1S_MIN_N output rows up), true / false force the
    /// flat / warp-per-row kernel (selftest). The bias is not added here.
    func normGEMV(_ x: Tensor?, residual: Tensor, weight: Tensor, eps: Float, _ layer: Linear, out: Tensor, silu: Bool = false,
                  flat: Bool? = nil, force: Bool = false) throws -> Bool {
        let k = residual.rowSize, n = layer.outFeatures
        guard force || Self.normGEMVAllowed, normGEMVTakes(x, residual: residual, weight: weight, layer, out: out) else { return false }
        let head = normGEMVArguments(x, residual: residual, weight: weight, eps: eps, layer)
        if silu {
            guard n % 2 == 0, out.rowSize == n / 2, out.dtype == .bf16, let rows = Self.gemvT1SRows(k: k, maxK: flat == true ? 8192 : Self.gemvT1SMaxK),
                  rows >= 2 else { return false }
            let pairs = rows / 2
            try launch("tern_gemv_bf16_t1s_silu_norm", grid: ((n / 2 + pairs - 1) / pairs, 1, 1), block: 256,
                       programmaticDependency: Self.programmaticGEMV,
                       head + [ptr(out), .int(Int32(n)), .int(Int32(k)), .int(Int32(rows)), .int(1)])
            return true
        }
        guard out.rowSize == n, out.dtype == .bf16 || out.dtype == .f32 else { return false }
        if flat != false, flat == true || n >= Self.gemvT1SMinN,
           let rows = Self.gemvT1SRows(k: k, maxK: flat == true ? 8192 : Self.gemvT1SMaxK) {
            try launch("tern_gemv_bf16_t1s_norm", grid: ((n + rows - 1) / rows, 1, 1), block: 256,
                       programmaticDependency: Self.programmaticGEMV,
                       head + [ptr(out), .int(try Self.code(out.dtype)), .int(Int32(n)), .int(Int32(k)), .int(Int32(rows)), .int(1)])
            return true
        }
        if flat == true { return false }
        try launch("tern_gemv_bf16_t1_norm", grid: ((n + 7) / 8, 1, 1), block: 256, programmaticDependency: Self.programmaticGEMV,
                   head + [ptr(out), .int(try Self.code(out.dtype)), .int(Int32(n)), .int(Int32(k))])
        return true
    }

    /// The fused norm kernels are on and the GEMV serves T = 1.
    static var normGEMVAllowed: Bool { normGEMVFused && gemvEnabled && gemvMaxTokens >= 1 }

    /// Whether the norm-fused GEMV kernels take these operands (one row, k % 8 == 0, k ≤ 8192, plain
    /// bf16 weights, an f32 norm weight, 16-byte alignment, no aliasing); the output's shape is the caller's.
    func normGEMVTakes(_ x: Tensor?, residual: Tensor, weight: Tensor, _ layer: Linear, out: Tensor) -> Bool {
        let k = residual.rowSize, n = layer.outFeatures, w = layer.weight
        guard residual.rows == 1, out.rows == 1, k > 0, k % 8 == 0, k <= 8192, n > 0,
              layer.quantization == nil, layer.activationGroupSize == nil, layer.inFeatures == k,
              w.dtype == .bf16, w.rowSize == k, w.rows == n, w.rowStride % 8 == 0, address(w) % 16 == 0,
              weight.dtype == .f32, weight.elementCount == k, address(weight) % 16 == 0,
              residual.dtype == .bf16, Self.aligned16([residual]) else { return false }
        if let x {
            guard x.rows == 1, x.rowSize == k, x.dtype == .bf16, Self.aligned16([x]) else { return false }
        }
        // Every block reads x and residual while one writes residual; out is written by all.
        let inputs = [residual] + (x.map { [$0] } ?? [])
        return !inputs.contains(where: { overlaps($0, out) }) && !(x.map { overlaps($0, residual) } ?? false)
    }

    /// The norm kernels' leading arguments: x, residual, gamma, eps, arrival counter (null without x), W, ldw.
    func normGEMVArguments(_ x: Tensor?, residual: Tensor, weight: Tensor, eps: Float, _ layer: Linear) -> [KernelArgument] {
        [ptr(x), ptr(residual), ptr(weight), .float(eps), .pointer(x == nil ? 0 : normCounter), ptr(layer.weight),
         .int64(Int64(layer.weight.rowStride))]
    }

    /// Whether the device bytes of two tensors' spans (first to last element) intersect.
    func overlaps(_ a: Tensor, _ b: Tensor) -> Bool {
        func span(_ t: Tensor) -> Range<UInt64> {
            let e = t.dtype.byteSize, count = t.rows > 0 ? (t.rows - 1) * t.rowStride + t.rowSize : 0
            return address(t)..<(address(t) + UInt64(count * e))
        }
        return span(a).overlaps(span(b))
    }
}
