import Testing
import TernBackend

@Test func moeProfileStagesFollowTheKernelNamesAndRoleLabels() {
    typealias B = MoEProfileBreakdown
    #expect(B.stage(of: "tern_route") == .routing)
    #expect(B.stage(of: "tern_moe_permute") == .permutation)
    #expect(B.stage(of: "tern_quant_e4m3_groups") == .quantization)
    #expect(B.stage(of: "tern_fake_quant_e4m3") == .quantization)
    #expect(B.stage(of: "tern_silu_and_mul_bf16x8") == .silu)
    #expect(B.stage(of: "tern_moe_combine") == .combine)
    // One kernel serves both projections: the role label decides.
    #expect(B.stage(of: "tern_moe_gemm_tc [gate/up]") == .gateUp)
    #expect(B.stage(of: "tern_moe_gemm_tc [down]") == .down)
    #expect(B.stage(of: "tern_moe_gemv_tc_gate_up [gate/up]") == .gateUp)
    #expect(B.stage(of: "tern_moe_gemm_fp8_gate_up") == .gateUp)
    #expect(B.stage(of: "tern_moe_gemm_tc") == .other)
    #expect(B.stage(of: "tern_convert") == .other)
}

@Test func moeProfileGemmRatesUseTheAssignedRowsFlops() throws {
    // DeepSeek-V3 layer at 4096 tokens, top-8: 32768 expert rows, hidden 7168, inner 2048.
    let rows = 4096 * 8, hidden = 7168, inner = 2048
    let entries = ["tern_moe_gemm_tc [gate/up]": 20.0, "tern_moe_gemm_tc [down]": 10.0, "tern_silu_and_mul_bf16x8": 2.0,
                   "tern_moe_permute": 1.0, "tern_moe_combine": 3.0, "tern_route": 0.5, "tern_convert": 0.25]
    let b = MoEProfileBreakdown(entries: entries, calls: 10, rows: rows, hidden: hidden, inner: inner)
    #expect(b.time(.gateUp) == 2.0)
    #expect(b.time(.down) == 1.0)
    #expect(b.time(.quantization) == 0)
    #expect(abs(b.totalMilliseconds - 3.675) < 1e-12)
    let gateUpFlops = 2.0 * Double(rows) * Double(hidden) * Double(2 * inner)
    let downFlops = 2.0 * Double(rows) * Double(inner) * Double(hidden)
    #expect(b.gateUpFlops == gateUpFlops)
    #expect(b.downFlops == downFlops)
    // 2 ms for the gate/up FLOPs (1.92e12) is 962 TFLOP/s; 1 ms for down (0.96e12) the same.
    let gateUp = try #require(b.gateUpRate), down = try #require(b.downRate), gemm = try #require(b.gemmRate)
    #expect(abs(gateUp - gateUpFlops / 2e-3) / gateUp < 1e-12)
    #expect(abs(down - downFlops / 1e-3) / down < 1e-12)
    #expect(abs(gemm - (gateUpFlops + downFlops) / 3e-3) / gemm < 1e-12)
    #expect(abs(gemm / 1e12 - 962.07) < 0.01)
}

@Test func moeProfileWithoutGemmTimeHasNoRate() {
    let b = MoEProfileBreakdown(entries: ["tern_moe_permute": 1.0], calls: 0, rows: 8, hidden: 64, inner: 32)
    #expect(b.time(.permutation) == 1.0)  // zero calls divide by one
    #expect(b.gateUpRate == nil)
    #expect(b.gemmRate == nil)
}
