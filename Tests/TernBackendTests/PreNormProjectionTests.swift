import Foundation
import Testing
import TernBackend
import TernCore

/// The fused pre-norm ops' default (the CPU backend's, the oracle of the GPU kernels): residual += x,
/// then the projection of rmsNorm(residual), written out by hand here.
@Suite struct PreNormProjectionTests {
    let x: [Float] = [0.5, -1, 2, 0.25]
    let residual: [Float] = [1, 1, -3, 0.5]
    let gamma: [Float] = [1, 2, 0.5, -1]
    let w: [Float] = [1, 0, 0, 0, 0, 1, 1, 0, 1, -1, 0.5, 2]  // 3 × 4, then as gate/up 2 × 4 + 1

    func reference(add: Bool) -> (residual: [Float], normed: [Float]) {
        let r = add ? zip(residual, x).map(+) : residual
        let inv = 1 / ((r.map { $0 * $0 }.reduce(0, +) / 4) + 1e-5).squareRoot()
        return (r, zip(gamma, r).map { $0 * ($1 * inv) })
    }

    @Test(arguments: [true, false]) func addRMSNormLinearAddsIntoResidualThenProjectsTheNorm(add: Bool) throws {
        let cpu = CPUBackend()
        let xs = try cpu.upload(floats: x, shape: [1, 4], as: .f32), rs = try cpu.upload(floats: residual, shape: [1, 4], as: .f32)
        let out = try cpu.allocate([1, 3], dtype: .f32, zeroed: false)
        try cpu.addRMSNormLinear(add ? xs : nil, residual: rs, weight: try cpu.upload(floats: gamma, shape: [4], as: .f32), eps: 1e-5,
                                 Linear(weight: try cpu.upload(floats: w, shape: [3, 4], as: .f32)),
                                 normed: try cpu.allocate([1, 4], dtype: .f32, zeroed: false), out: out)
        let (r, normed) = reference(add: add)
        let expected = (0..<3).map { j in (0..<4).map { w[4 * j + $0] * normed[$0] }.reduce(0, +) }
        #expect(try cpu.downloadFloats(rs) == r)
        for (a, b) in zip(try cpu.downloadFloats(out), expected) { #expect(abs(a - b) <= 1e-5 * max(1, abs(b))) }
    }

    @Test func addRMSNormLinearSiLUAndMulGatesTheNormedProjection() throws {
        let cpu = CPUBackend()
        let xs = try cpu.upload(floats: x, shape: [1, 4], as: .f32), rs = try cpu.upload(floats: residual, shape: [1, 4], as: .f32)
        let out = try cpu.allocate([1, 1], dtype: .f32, zeroed: false)
        try cpu.addRMSNormLinearSiLUAndMul(xs, residual: rs, weight: try cpu.upload(floats: gamma, shape: [4], as: .f32), eps: 1e-5,
                                           Linear(weight: try cpu.upload(floats: Array(w[0..<8]), shape: [2, 4], as: .f32)),
                                           normed: try cpu.allocate([1, 4], dtype: .f32, zeroed: false),
                                           scratch: try cpu.allocate([1, 2], dtype: .f32, zeroed: false), out: out)
        let (r, normed) = reference(add: true)
        let gate = (0..<4).map { w[$0] * normed[$0] }.reduce(0, +), up = (0..<4).map { w[4 + $0] * normed[$0] }.reduce(0, +)
        let expected = gate / (1 + Foundation.exp(-gate)) * up
        #expect(try cpu.downloadFloats(rs) == r)
        #expect(abs(try cpu.downloadFloats(out)[0] - expected) <= 1e-5 * max(1, abs(expected)))
    }
}
