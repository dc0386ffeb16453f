import Testing
import TernBackend
import TernCore

/// `headLinear` and `copyHeads` (MLA's head-batched ops) on the CPU backend, against sums written
/// out by hand: each head reads its own strided input slice, multiplies by its own weight matrix,
/// and writes only its own output slice.
@Suite struct HeadOpsTests {
    @Test func headLinearMultipliesEachHeadSliceByItsOwnWeight() throws {
        let cpu = CPUBackend()
        let heads = 3, dIn = 2, dOut = 2, xStride = 3, oStride = 4, t = 2
        let xWidth = heads * xStride, oWidth = (heads - 1) * oStride + dOut
        let x = (0..<(t * xWidth)).map { Float($0 % 7) - 3 }
        let w = (0..<(heads * dOut * dIn)).map { Float($0) * 0.5 - 2 }
        let out = try cpu.allocate([t, oWidth], dtype: .f32)
        try cpu.headLinear(try cpu.upload(floats: x, shape: [t, xWidth], as: .f32), inputHeadStride: xStride,
                           weight: try cpu.upload(floats: w, shape: [heads, dOut, dIn], as: .f32), out: out, outputHeadStride: oStride)
        let got = try cpu.downloadFloats(out)
        var expected = [Float](repeating: 0, count: t * oWidth)
        for r in 0..<t {
            for h in 0..<heads {
                for j in 0..<dOut {
                    var s: Float = 0
                    for i in 0..<dIn { s += x[r * xWidth + h * xStride + i] * w[(h * dOut + j) * dIn + i] }
                    expected[r * oWidth + h * oStride + j] = s
                }
            }
        }
        #expect(got == expected)
    }

    @Test func copyHeadsBroadcastsWithSourceHeadStrideZero() throws {
        let cpu = CPUBackend()
        let source = try cpu.upload(floats: [1, 2, 3, 4], shape: [2, 2], as: .f32)
        let destination = try cpu.allocate([2, 9], dtype: .f32)
        try cpu.copyHeads(source, sourceHeadStride: 0, to: destination.columns(1..<9), destinationHeadStride: 3, heads: 3, width: 2)
        #expect(try cpu.downloadFloats(destination) == [0, 1, 2, 0, 1, 2, 0, 1, 2,
                                                       0, 3, 4, 0, 3, 4, 0, 3, 4])
    }

    @Test func copyHeadsMovesEachHeadSliceToItsStride() throws {
        let cpu = CPUBackend()
        // Two heads of width 2 out of 3-wide source heads, into 2-wide destination heads.
        let source = try cpu.upload(floats: [1, 2, 9, 3, 4, 9], shape: [1, 6], as: .f32)
        let destination = try cpu.allocate([1, 4], dtype: .f32)
        try cpu.copyHeads(source, sourceHeadStride: 3, to: destination, destinationHeadStride: 2, heads: 2, width: 2)
        #expect(try cpu.downloadFloats(destination) == [1, 2, 3, 4])
    }
}
