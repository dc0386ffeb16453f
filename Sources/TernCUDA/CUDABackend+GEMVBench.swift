import CCUDA
import Foundation
import TernBackend
import TernCore

/// One shape of the GEMV microbenchmark: device time per call of the weight-streaming GEMV and of
/// cuBLASLt on the same operands, the bytes each call must move, and how far apart their results are.
public struct GEMVBenchResult: Sendable {
    public var n: Int
    public var k: Int
    public var tokens: Int
    /// Weight + activation + output bytes of one call.
    public var bytes: Int
    /// Milliseconds per call (nil: the GEMV declined the shape).
    public var gemvMs: Double?
    public var blasMs: Double?
    /// T = 1 only, shapes `tern_gemv_bf16_t1s` can take (k % 256 == 0, k ≤ 16384): each T = 1
    /// kernel forced on the same operands, whatever TERN_CUDA_GEMV_T1S_MAX_K picks (nil otherwise).
    public var flatMs: Double?
    public var warpPerRowMs: Double?
    /// ‖gemv − cuBLASLt‖ / ‖cuBLASLt‖ over the outputs.
    public var relativeDifference: Double?
}

extension CUDABackend {
    /// Times `out = x · Wᵀ` for `tokens` rows of x and an `[n, k]` bf16 weight, GEMV vs cuBLASLt.
    /// Calls rotate over enough copies of the weight that together they exceed `minimumFootprint`
    /// bytes (the H200's L2 is 50 MB: o_proj's 32 MB weight would otherwise partly come from L2),
    /// and `calls` of them run back to back between two events, as they would in a decode graph.
    public func benchmarkGEMV(n: Int, k: Int, tokens: Int, outputF32: Bool, calls: Int = 40,
                              minimumFootprint: Int = 512 << 20) throws -> GEMVBenchResult {
        try bind()
        let weightBytes = n * k * 2
        let copies = max(1, (minimumFootprint + weightBytes - 1) / weightBytes)
        var random = SelfTestRandom(seed: UInt64(n &* 31 &+ k))
        let block = try upload(floats: (0..<(1 << 20)).map { _ in random.signed() * 0.05 }, shape: [1 << 20], as: .bf16)
        func randomTensor(_ shape: [Int]) throws -> Tensor {
            let t = try allocate(shape, dtype: .bf16, zeroed: false)
            var offset = 0
            while offset < t.elementCount {
                let count = min(block.elementCount, t.elementCount - offset)
                try driver.check(driver.cuMemcpyDtoDAsync(address(t) + UInt64(offset * 2), address(block), count * 2, stream), "cuMemcpyDtoDAsync")
                offset += count
            }
            return t
        }
        let weights = try (0..<copies).map { _ in try randomTensor([n, k]) }
        let x = try upload(floats: (0..<(tokens * k)).map { _ in random.signed() }, shape: [tokens, k], as: .bf16)
        let outType: DType = outputF32 ? .f32 : .bf16
        let gemvOut = try allocate([tokens, n], dtype: outType, zeroed: false)
        let blasOut = try allocate([tokens, n], dtype: outType, zeroed: false)
        var result = GEMVBenchResult(n: n, k: k, tokens: tokens, bytes: weightBytes + tokens * k * 2 + tokens * n * outType.byteSize)

        func timed(_ call: (Tensor, Tensor) throws -> Bool, out: Tensor) throws -> Double? {
            guard try call(weights[0], out) else { return nil }  // also the warm-up (kernel load, GEMM plan)
            var best = Double.infinity
            for _ in 0..<3 {
                // 3 ms of GPU busy-wait first: the host queues all calls before the first runs, so the
                // events time the GPU, not the host's launch rate (~5 µs a launch vs ~9 µs for o_proj).
                try launch("tern_gpu_sleep", grid: (1, 1, 1), block: 32, [.int64(3_000_000)])
                let ms = try time { for i in 0..<calls { _ = try call(weights[i % copies], out) } }
                best = min(best, ms / Double(calls))
            }
            return best
        }
        // Weights written by copies only (weightIsStatic): under PDL each call's blocks load their
        // weights while the previous call finishes, as in a decode step.
        result.gemvMs = try timed({ w, o in try gemv(x, w, out: o, weightIsStatic: true) }, out: gemvOut)
        if tokens == 1 && Self.gemvT1SRows(k: k, maxK: 16384) != nil {
            result.flatMs = try timed({ w, o in try gemv(x, w, out: o, weightIsStatic: true, flat: true) }, out: gemvOut)
            result.warpPerRowMs = try timed({ w, o in try gemv(x, w, out: o, weightIsStatic: true, flat: false) }, out: gemvOut)
        }
        result.blasMs = try timed({ w, o in try gemmBLAS(x, w, out: o) }, out: blasOut)
        if result.gemvMs != nil && result.blasMs != nil {
            // Both outputs of the same (last) weight copy.
            let last = weights[(calls - 1) % copies]
            _ = try gemv(x, last, out: gemvOut, weightIsStatic: true)
            _ = try gemmBLAS(x, last, out: blasOut)
            let a = try downloadFloats(gemvOut), b = try downloadFloats(blasOut)
            var diff = 0.0, norm = 0.0
            for i in a.indices {
                diff += Double(a[i] - b[i]) * Double(a[i] - b[i])
                norm += Double(b[i]) * Double(b[i])
            }
            result.relativeDifference = norm > 0 ? (diff / norm).squareRoot() : diff.squareRoot()
        }
        return result
    }
}
