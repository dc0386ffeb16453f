import Foundation

extension CUDABackend {
    /// TERN_MOE_GEMM_KERNEL selects the prefill-size MoE / quantized-linear GEMM: unset (or "wgmma")
    /// the Hopper warpgroup-MMA kernels of Kernels/moe_wgmma.cu on sm_90 (tern_moe_wgmma for bf16,
    /// tern_moe_wgmma_nvfp4 for NVFP4 with depths % 64 == 0 (else tern_moe_wgmma_dq), tern_moe_wgmma_dq
    /// for FP8 weights with bf16 activations, tern_moe_wgmma_fp8x2 for w8a8), "wgmma1" the first
    /// wgmma versions (NVFP4 always through tern_moe_wgmma_dq, w8a8 through tern_moe_wgmma_fp8),
    /// "ws" the warp-specialized tern_moe_wgmma_ws (bf16), tern_moe_wgmma_ws_fp8 (w8a8) and
    /// tern_moe_wgmma_ws_nvfp4 (the producer dequantizes; where tern_moe_wgmma_nvfp4 would run): a producer
    /// warpgroup and two consumers synchronized by mbarriers, 384 threads (FP8 dequantized as the default),
    /// "tc" the mma.sync pipelined tern_moe_gemm_tc(_fp8), "old" the 64 × 64 tern_moe_gemm(_fp8) kernels.
    static let moeGemmKernelSetting = ProcessInfo.processInfo.environment["TERN_MOE_GEMM_KERNEL"]
    /// The selftest's override of TERN_MOE_GEMM_KERNEL ("tc" keeps the older kernels covered).
    nonisolated(unsafe) static var moeGemmKernelOverride: String?
    /// Launch sites that chose a wgmma kernel (the selftest checks that they ran on sm_90).
    static let moeWgmmaLaunches = LaunchCounter()
    /// Launch sites that chose tern_moe_wgmma_nvfp4 (the selftest checks it ran on sm_90).
    static let moeWgmmaNVFP4Launches = LaunchCounter()

    /// Dynamic shared memory of tern_moe_wgmma_nvfp4: 6 stages of (128 + 128) rows × 128 bytes
    /// and 5 KiB of raw codes and scales, + 1 KiB alignment.
    static let wgmmaNVFP4Shared = 6 * (256 * 128 + 5120) + 1024

    /// Whether the round-1 wgmma kernels were asked for (TERN_MOE_GEMM_KERNEL=wgmma1).
    var wgmmaFirstVersion: Bool { (Self.moeGemmKernelOverride ?? Self.moeGemmKernelSetting) == "wgmma1" }
    /// Whether the warp-specialized kernels were asked for (TERN_MOE_GEMM_KERNEL=ws).
    var wgmmaWarpSpecialized: Bool { (Self.moeGemmKernelOverride ?? Self.moeGemmKernelSetting) == "ws" }
    /// Dynamic shared memory of tern_moe_wgmma_ws(_fp8): the 192 KiB ring, 1 KiB alignment, 128 bytes of mbarriers.
    static let wgmmaWarpSpecializedShared = 6 * 256 * 128 + 1024 + 128

    /// Dynamic shared memory of every moe_wgmma.cu kernel: a 192 KiB ring (bf16: 4 stages of 128 +
    /// 256 rows × 128 bytes; dequantized and w8a8: 6 stages of 128 + 128 rows) + 1 KiB for its alignment.
    static let wgmmaGemmShared = 6 * 256 * 128 + 1024

    /// Whether the wgmma kernels run here: Hopper (sm_90a wgmma), room for their shared memory,
    /// and not switched off by TERN_MOE_GEMM_KERNEL.
    var wgmmaGemmEnabled: Bool {
        Self.pipelinedGemmEnabled && (Self.moeGemmKernelOverride ?? Self.moeGemmKernelSetting) != "tc" && deviceInfo.computeMajor == 9
            && deviceInfo.maxSharedPerBlock >= Self.wgmmaGemmShared
    }

    /// The pipelined GEMM with bf16 activations for weights of `code` (arguments of
    /// tern_moe_gemm_tc; tiles of 128 rows): kernel, columns per block, dynamic shared memory.
    /// `depths`: the k of every GEMM launched with the choice; NVFP4's own kernel needs k % 64 == 0
    /// and `aligned` weights (16-byte aligned start and rows).
    func pipelinedGemmKernel(_ code: WeightCode, depths: [Int], aligned: Bool) -> (name: String, tileN: Int, shared: Int, block: Int) {
        guard wgmmaGemmEnabled else { return ("tern_moe_gemm_tc", 128, Self.pipelinedGemmShared, 256) }
        Self.moeWgmmaLaunches.increment()
        if code == .bf16 {
            return wgmmaWarpSpecialized ? ("tern_moe_wgmma_ws", 256, Self.wgmmaWarpSpecializedShared, 384) : ("tern_moe_wgmma", 256, Self.wgmmaGemmShared, 256)
        }
        if code == .nvfp4 && aligned && !wgmmaFirstVersion && depths.allSatisfy({ $0 % 64 == 0 })
            && deviceInfo.maxSharedPerBlock >= Self.wgmmaNVFP4Shared {
            Self.moeWgmmaNVFP4Launches.increment()
            if wgmmaWarpSpecialized && deviceInfo.maxSharedPerBlock >= Self.wgmmaNVFP4Shared + 128 {
                return ("tern_moe_wgmma_ws_nvfp4", 128, Self.wgmmaNVFP4Shared + 128, 384)
            }
            return ("tern_moe_wgmma_nvfp4", 128, Self.wgmmaNVFP4Shared, 256)
        }
        return ("tern_moe_wgmma_dq", 128, Self.wgmmaGemmShared, 256)
    }

    /// The pipelined FP8 w8a8 GEMM (arguments of tern_moe_gemm_tc_fp8; tiles of 128 rows).
    func pipelinedFP8GemmKernel() -> (name: String, tileN: Int, shared: Int, block: Int) {
        guard wgmmaGemmEnabled else { return ("tern_moe_gemm_tc_fp8", 128, Self.pipelinedGemmShared, 256) }
        Self.moeWgmmaLaunches.increment()
        if wgmmaWarpSpecialized { return ("tern_moe_wgmma_ws_fp8", 128, Self.wgmmaWarpSpecializedShared, 384) }
        return (wgmmaFirstVersion ? "tern_moe_wgmma_fp8" : "tern_moe_wgmma_fp8x2", 128, Self.wgmmaGemmShared, 256)
    }
}
