import Foundation
import TernBackend
import TernCore

extension OpSuite {
    /// `tern_mla_decode_v4[_fp8]` and `tern_mla_decode_v3[_fp8]` (wgmma), `tern_mla_decode_v2[_fp8]` and the ldsm kernel, each forced (whatever
    /// TERN_CUDA_MLA_ATTN says), against the CPU backend: DeepSeek-V3's 128 heads (two 64-head blocks per token)
    /// at lengths 1/17/1000/5000 (split-KV up to the 128-key minimum per split), lengths on both sides of v3's
    /// 64-key tiles, mixed batches, bf16 and fp8 caches, pages 1/16/64, prefill and extend rows, the worst-case
    /// plan of a decode graph, and 16 heads (four tokens per block). Each case also checks that the forced
    /// kernel ran rather than declining (v4 / v3 only where the GPU is sm_90; elsewhere they fall back to v2).
    mutating func mlaDecodeV2Variants() {
        let e4m3 = DType.f8e4m3
        let cases = [
            AttentionCase(name: "mla v2 128 heads page 1, len 1/17/1000", sequences: [(0, 1), (16, 1), (999, 1)], heads: 128, kvHeads: 1,
                          headDim: 576, valueDim: 512, valuesInKeys: true, pageSize: 1),
            AttentionCase(name: "mla v2 128 heads page 16, len 5000/17/1", sequences: [(4999, 1), (16, 1), (0, 1)], heads: 128, kvHeads: 1,
                          headDim: 576, valueDim: 512, valuesInKeys: true),
            AttentionCase(name: "mla v2 128 heads page 64, 1000+1, prefill 0+37, extend 50+5", sequences: [(999, 1), (0, 37), (50, 5)],
                          heads: 128, kvHeads: 1, headDim: 576, valueDim: 512, valuesInKeys: true, pageSize: 64),
            AttentionCase(name: "mla v2 128 heads graph plan 64k, len 17/1000", sequences: [(16, 1), (999, 1)], heads: 128, kvHeads: 1,
                          headDim: 576, valueDim: 512, valuesInKeys: true, planKVLength: 65536),
            AttentionCase(name: "mla v2 16 heads page 16, 70+1, 3+1, prefill 0+9", sequences: [(70, 1), (3, 1), (0, 9)], heads: 16, kvHeads: 1,
                          headDim: 576, valueDim: 512, valuesInKeys: true),
            AttentionCase(name: "mla v2 fp8 128 heads page 1, len 1/17/1000", sequences: [(0, 1), (16, 1), (999, 1)], heads: 128, kvHeads: 1,
                          headDim: 576, valueDim: 512, valuesInKeys: true, pageSize: 1, cacheDType: e4m3, keyScale: 0.5),
            AttentionCase(name: "mla v2 fp8 128 heads page 16, len 5000/1", sequences: [(4999, 1), (0, 1)], heads: 128, kvHeads: 1,
                          headDim: 576, valueDim: 512, valuesInKeys: true, cacheDType: e4m3, keyScale: 0.25),
            AttentionCase(name: "mla v2 fp8 128 heads page 64, 2000+1, prefill 0+20, extend 9+3", sequences: [(2000, 1), (0, 20), (9, 3)],
                          heads: 128, kvHeads: 1, headDim: 576, valueDim: 512, valuesInKeys: true, pageSize: 64, cacheDType: e4m3, keyScale: 0.5),
        ]
        defer { CUDABackend.mlaAttentionOverride = nil; CUDABackend.mlaCombineOverride = nil }
        // v4 is the default, so the other MLA cases run it (on sm_90): keep v3, v2 and the ldsm kernel
        // (TERN_CUDA_MLA_ATTN=v3 / =v2 / =ldsm, the fallbacks) covered on the same cases. The split-KV merge is
        // tern_mla_combine_rows (default) in those passes; "v4 combine old" runs tern_mla_combine
        // (TERN_CUDA_MLA_COMBINE=old) and checks that the row combine did not.
        let hopper = gpu.deviceInfo.computeMajor == 9 && gpu.deviceInfo.computeMinor == 0
        for pass in ["v4", "v3", "v2", "ldsm", "v4 combine old"] {
            let kernel = String(pass.prefix(while: { $0 != " " })), oldCombine = pass.hasSuffix("combine old")
            CUDABackend.mlaAttentionOverride = kernel
            CUDABackend.mlaCombineOverride = oldCombine ? "old" : nil
            for c in cases {
                let name = c.name.replacingOccurrences(of: "mla v2", with: "mla " + pass)
                check("attention", name) { s in
                    let v2 = CUDABackend.mlaDecodeV2Launches.count, v3 = CUDABackend.mlaDecodeV3Launches.count, v4 = CUDABackend.mlaDecodeV4Launches.count
                    let rows = CUDABackend.mlaCombineRowsLaunches.count
                    try s.attention(c)
                    let ranV2 = CUDABackend.mlaDecodeV2Launches.count > v2, ranV3 = CUDABackend.mlaDecodeV3Launches.count > v3
                    let ranV4 = CUDABackend.mlaDecodeV4Launches.count > v4
                    if oldCombine {
                        s.record("attention", name + " (old combine ran)", error: CUDABackend.mlaCombineRowsLaunches.count == rows ? 0 : 1,
                                 tolerance: 0)
                    }
                    let ran = [ranV2, ranV3, ranV4].filter { $0 }.count
                    let expected = switch kernel {
                    case "v4": ran == 1 && (hopper ? ranV4 : ranV2)
                    case "v3": ran == 1 && (hopper ? ranV3 : ranV2)
                    case "v2": ran == 1 && ranV2
                    default: ran == 0
                    }
                    s.record("attention", name + " (\(kernel) ran)", error: expected ? 0 : 1, tolerance: 0)
                }
            }
        }
    }
}
