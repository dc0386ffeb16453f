import Foundation
import TernBackend
import TernCore

extension CUDABackend {
    /// TERN_CUDA_GATE_UP_SILU=0: the gate/up projection and SiLU-and-mul run as two kernels at T = 1
    /// too; by default `tern_gemv_bf16_t1s_silu` writes silu(gate) · up directly (one kernel and one
    /// launch boundary fewer per dense layer; bit-identical to the two kernels).
    static let gateUpSiLUFused = ProcessInfo.processInfo.environment["TERN_CUDA_GATE_UP_SILU"] != "0"

    public func linearSiLUAndMul(_ x: Tensor, _ gateUp: Linear, scratch: Tensor, out: Tensor) throws {
        try bind()
        if Self.gateUpSiLUFused, Self.gemvEnabled, Self.gemvMaxTokens >= 1, x.rows == 1, gateUp.bias == nil, gateUp.quantization == nil,
           gateUp.activationGroupSize == nil, gateUp.inFeatures == x.rowSize, gateUp.outFeatures == 2 * out.rowSize, out.rows == 1,
           try gemvSiLU(x, gateUp.weight, out: out, weightIsStatic: true) {
            return
        }
        try linear(x, gateUp, out: scratch)
        try siluAndMul(scratch, out: out)
    }

    /// out[i] = silu(x · W[i]) · (x · W[n/2 + i]) for one bf16 row x and a bf16 `[n, k]` weight (gate
    /// rows, then up rows) through `tern_gemv_bf16_t1s_silu`; false when it does not take the shape
    /// (T ≠ 1, k % 256, k > TERN_CUDA_GEMV_T1S_MAX_K or > 8192, odd n, alignment, dtypes).
    func gemvSiLU(_ x: Tensor, _ weight: Tensor, out: Tensor, weightIsStatic: Bool, maxK: Int = gemvT1SMaxK) throws -> Bool {
        let n = weight.rows, k = x.rowSize
        guard x.rows == 1, n % 2 == 0, n > 0, out.rows == 1, out.rowSize == n / 2, weight.rowSize == k,
              let rows = Self.gemvT1SRows(k: k, maxK: maxK), rows >= 2,
              weight.dtype == .bf16, x.dtype == .bf16, out.dtype == .bf16, weight.rowStride % 8 == 0,
              address(weight) % 16 == 0, address(x) % 16 == 0 else { return false }
        let pairs = rows / 2
        try launch("tern_gemv_bf16_t1s_silu", grid: ((n / 2 + pairs - 1) / pairs, 1, 1), block: 256,
                   programmaticDependency: Self.programmaticGEMV,
                   [ptr(x), ptr(weight), .int64(Int64(weight.rowStride)), ptr(out), .int(Int32(n)), .int(Int32(k)), .int(Int32(rows)),
                    .int(weightIsStatic ? 1 : 0)])
        return true
    }
}
