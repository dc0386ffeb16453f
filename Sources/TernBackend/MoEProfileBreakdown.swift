/// Where one MoE layer's device time goes, from the op profiler's per-kernel totals
/// (TERN_CUDA_PROFILE=1): each kernel name falls into a stage of the layer, and the grouped
/// gate/up and down GEMM kernels' own FLOP rates follow from their times and the FLOPs of the
/// expert rows actually assigned (tokens × top-k). Pure arithmetic, so it is tested on the CPU.
public struct MoEProfileBreakdown: Sendable, Equatable {
    /// Stages of one MoE layer, in execution order.
    public enum Stage: String, Sendable, CaseIterable {
        case routing, permutation, quantization, gateUp = "gate/up GEMM", silu = "SiLU", down = "down GEMM", combine, other
    }

    /// The stage a profiled kernel belongs to. The grouped MoE path labels its GEMM/GEMV launches
    /// "<kernel> [gate/up]" and "<kernel> [down]" because one kernel can serve both projections.
    public static func stage(of name: String) -> Stage {
        if name.hasSuffix("[gate/up]") { return .gateUp }
        if name.hasSuffix("[down]") { return .down }
        if name.hasPrefix("tern_route") { return .routing }
        if name.hasPrefix("tern_moe_permute") { return .permutation }
        if name.hasPrefix("tern_quant_e4m3") || name.hasPrefix("tern_fake_quant") { return .quantization }
        if name.hasPrefix("tern_silu_and_mul") { return .silu }
        if name.hasPrefix("tern_moe_combine") { return .combine }
        if name.hasPrefix("tern_moe_") && name.contains("gate_up") { return .gateUp }
        return .other
    }

    /// Milliseconds per layer call, per stage (stages with no kernel are 0).
    public var milliseconds: [Stage: Double]
    /// Expert rows computed (tokens × top-k), hidden size and expert intermediate size.
    public var rows: Int
    public var hidden: Int
    public var inner: Int

    /// `entries`: profiler totals (name → total ms over `calls` layer calls).
    public init(entries: [String: Double], calls: Int, rows: Int, hidden: Int, inner: Int) {
        var ms: [Stage: Double] = [:]
        for (name, total) in entries { ms[Self.stage(of: name), default: 0] += total / Double(max(calls, 1)) }
        milliseconds = ms
        self.rows = rows
        self.hidden = hidden
        self.inner = inner
    }

    public func time(_ stage: Stage) -> Double { milliseconds[stage] ?? 0 }
    /// Sum over all stages (device time of the profiled kernels per call).
    public var totalMilliseconds: Double { milliseconds.values.reduce(0, +) }

    /// FLOPs of the gate and up projections together (2 · rows · hidden · 2·inner) and of down
    /// (2 · rows · inner · hidden).
    public var gateUpFlops: Double { 4 * Double(rows) * Double(hidden) * Double(inner) }
    public var downFlops: Double { 2 * Double(rows) * Double(inner) * Double(hidden) }

    /// FLOP/s of `flops` done in `milliseconds`; nil when no time was recorded.
    public static func rate(flops: Double, milliseconds: Double) -> Double? {
        milliseconds > 0 ? flops / (milliseconds / 1e3) : nil
    }
    public var gateUpRate: Double? { Self.rate(flops: gateUpFlops, milliseconds: time(.gateUp)) }
    public var downRate: Double? { Self.rate(flops: downFlops, milliseconds: time(.down)) }
    /// Both grouped GEMMs' FLOPs over both kernels' time (the GEMMs alone, without gathers'
    /// separate kernels, quantization, SiLU or combine).
    public var gemmRate: Double? { Self.rate(flops: gateUpFlops + downFlops, milliseconds: time(.gateUp) + time(.down)) }
}
