import Foundation

/// Decode-size grouped MoE through tern_moe_gemv2_{bf16,fp8,nvfp4}(_gate_up) (Kernels/moe_gemv2.cu):
/// tiles of up to 16 rows per expert (one pass over the weights for 9–16 rows), NVFP4 dequantized
/// with a few integer operations per pair of values and 256-deep steps.
extension CUDABackend {
    /// TERN_MOE_GEMV_KERNEL selects the decode MoE GEMV: unset (or any other value) the v2 kernels,
    /// `tc` the first tensor-core GEMV (tern_moe_gemv_tc*, tiles of 8 rows), `old` the CUDA-core one.
    static let gemv2Enabled: Bool = {
        let setting = ProcessInfo.processInfo.environment["TERN_MOE_GEMV_KERNEL"]
        return setting != "old" && setting != "tc"
    }()

    /// The v2 variant that loads the activations (hot in L1 / L2) at the start of each step instead
    /// of one step ahead (fewer registers: 3 blocks per SM for the NVFP4 gate/up kernel instead of
    /// 2), tern_moe_gemv2l_*: the default for NVFP4 (H200, DeepSeek-V3 layer: 0.48 / 0.53 / 0.45 of
    /// the roofline at 8 / 64 / 256 tokens against 0.41 / 0.43 / 0.35), not for bf16 / FP8 (no gain).
    /// TERN_MOE_GEMV2_LATE=1 forces it for every format, =0 forces the early loads.
    static let gemv2LateSetting: Bool? = {
        switch ProcessInfo.processInfo.environment["TERN_MOE_GEMV2_LATE"] {
        case "1": return true
        case "0": return false
        default: return nil
        }
    }()

    static func gemv2Late(_ code: WeightCode) -> Bool { gemv2LateSetting ?? (code == .nvfp4) }

    /// TERN_MOE_GEMV2_PREFETCH=1: the v2 variant that also prefetches each weight row's lines 3
    /// iterations (12 steps) ahead into L2 (tern_moe_gemv2p_*, with LATE tern_moe_gemv2lp_*).
    static let gemv2Prefetch = ProcessInfo.processInfo.environment["TERN_MOE_GEMV2_PREFETCH"] == "1"

    /// The selftest's choice of v2 variant ("": early loads, "l", "p", "lp"), over the environment's
    /// and the format's default.
    nonisolated(unsafe) static var gemv2VariantOverride: String?

    /// Launches of a v2 kernel (the selftest checks that the default decode path took v2).
    static let moeGemv2Launches = LaunchCounter()

    /// TERN_MOE_GEMV_NVFP4_ROWS: the most rows per expert (on average) for which a NVFP4 MoE layer
    /// takes the GEMV instead of the grouped GEMM (default 16, one v2 tile; bf16 / FP8 switch at 8).
    static let gemvNVFP4RowsPerExpert: Int = {
        ProcessInfo.processInfo.environment["TERN_MOE_GEMV_NVFP4_ROWS"].flatMap { Int($0) } ?? 16
    }()

    /// Rows per tile of the v2 GEMV's tile table.
    static let gemv2TileRows = 16

    /// The k of one warp step of the v2 GEMV for a weight format: both MoE depths must be multiples.
    static func gemv2Step(_ code: WeightCode) -> Int {
        switch code {
        case .bf16: return 64
        case .fp8: return 128
        case .nvfp4: return 256
        }
    }

    /// Kernel name of the v2 GEMV for a weight format (`fused`: gate/up with SiLU-and-mul).
    static func gemv2Kernel(_ code: WeightCode, fused: Bool) -> String {
        let format: String
        switch code {
        case .bf16: format = "bf16"
        case .fp8: format = "fp8"
        case .nvfp4: format = "nvfp4"
        }
        let variant = gemv2VariantOverride ?? ((gemv2Late(code) ? "l" : "") + (gemv2Prefetch ? "p" : ""))
        return "tern_moe_gemv2" + variant + "_" + format + (fused ? "_gate_up" : "")
    }

    /// Whether a decode-size MoE layer takes the v2 GEMV: 16-byte aligned weights, FP8 only with
    /// w8a8 shapes (128 × 128 weight blocks), both depths multiples of the step.
    func gemv2Usable(code: WeightCode, w8a8: Bool, aligned: Bool, hidden: Int, inner: Int) -> Bool {
        let step = Self.gemv2Step(code)
        return Self.gemv2Enabled && Self.tensorCoreGemvEnabled && aligned && (code != .fp8 || w8a8)
            && hidden % step == 0 && inner % step == 0
    }
}
