import Foundation
import TernBackend
import TernCore

/// The grouped MoE kernels (permutation, GEMV and tensor-core GEMM over expert segments, combine)
/// and the quantized dense linears against the CPU backend: bf16, FP8 block-scaled with w8a8
/// activation rounding, NVFP4; experts with no tokens, one expert taking every token, a remote
/// expert, one token, token counts that are not multiples of the tiles.
extension OpSuite {
    enum ExpertFormat: String { case bf16, fp8, nvfp4 }

    /// One random linear layer `[n, k]` in `format`, identical on both backends.
    mutating func quantizedLayer(n: Int, k: Int, format: ExpertFormat) throws -> (cpu: Linear, gpu: Linear) {
        switch format {
        case .bf16:
            return try plainLayer(n: n, k: k, bias: false)
        case .fp8:
            let codes = (0..<(n * k)).map { _ -> UInt8 in let c = UInt8(random.below(256)); return c & 0x7F == 0x7F ? 0x30 : c }
            let (wc, wg) = try raw("w", codes, shape: [n, k], dtype: .f8e4m3)
            let sr = (n + 127) / 128, sk = (k + 127) / 128
            let scales = (0..<(sr * sk)).map { _ in 0.0005 + abs(random.signed()) * 0.002 }
            let sc = try cpu.upload(floats: scales, shape: [sr, sk], as: .f32), sg = try gpu.upload(floats: scales, shape: [sr, sk], as: .f32)
            return (Linear(weight: wc, quantization: .fp8Block(scales: sc, blockRows: 128, blockColumns: 128), activationGroupSize: 128),
                    Linear(weight: wg, quantization: .fp8Block(scales: sg, blockRows: 128, blockColumns: 128), activationGroupSize: 128))
        case .nvfp4:
            let packed = (0..<(n * k / 2)).map { _ in UInt8(random.below(256)) }
            let scaleCodes = (0..<(n * k / 16)).map { _ in UInt8(0x28 + random.below(24)) }
            let (wc, wg) = try raw("w", packed, shape: [n, k / 2], dtype: .u8)
            let (sc, sg) = try raw("weight_scale", scaleCodes, shape: [n, k / 16], dtype: .f8e4m3)
            return (Linear(weight: wc, quantization: .nvfp4(scales: sc, globalScale: 0.01), inFeatures: k),
                    Linear(weight: wg, quantization: .nvfp4(scales: sg, globalScale: 0.01), inFeatures: k))
        }
    }

    struct GroupedMoECase {
        var format: ExpertFormat
        var experts: Int, topK: Int, hidden: Int, inner: Int, tokens: Int
        /// Every token's first choice is expert 0 (very uneven routing).
        var skewed = false
        /// Expert 3 belongs to another rank.
        var remote = true
        /// TERN_MOE_GEMM_KERNEL forced for this case ("tc": the mma.sync tern_moe_gemm_tc*).
        var gemmKernel: String? = nil
        /// Checks that a wgmma GEMM ran (on sm_90; elsewhere that none did).
        var expectWgmma = false
        /// Checks that the default decode path launched the v2 GEMV (tern_moe_gemv2_*).
        var expectGemv2 = false
        /// Checks that tern_moe_wgmma_nvfp4 ran (on sm_90; elsewhere that it did not).
        var expectNVFP4Kernel = false
        /// v2 variant forced for this case ("": the early-load tern_moe_gemv2_*, "l", "p", "lp":
        /// tern_moe_gemv2{l,p,lp}_*).
        var gemv2Variant: String? = nil
        var name: String {
            "\(format.rawValue) \(experts)e top\(topK) \(hidden)/\(inner), \(tokens) tok" + (skewed ? ", all→e0" : "") + (remote ? ", remote" : "")
                + (gemmKernel.map { " [\($0)]" } ?? "") + (gemv2Variant.map { $0.isEmpty ? " [v2 early]" : " [v2\($0)]" } ?? "")
        }
    }

    mutating func groupedMixtureOfExperts() {
        var cases: [GroupedMoECase] = []
        // bf16: 15 local experts; ≤ 4 rows per expert on average takes the GEMV kernels, more the
        // tensor-core GEMM. 136/88: neither width is a multiple of the 64-wide tiles or 32-deep steps.
        for tokens in [1, 7, 70, 200] { cases.append(GroupedMoECase(format: .bf16, experts: 16, topK: 4, hidden: 136, inner: 88, tokens: tokens)) }
        cases.append(GroupedMoECase(format: .bf16, experts: 16, topK: 4, hidden: 136, inner: 88, tokens: 12, skewed: true))
        cases.append(GroupedMoECase(format: .bf16, experts: 16, topK: 4, hidden: 136, inner: 88, tokens: 150, skewed: true))
        // FP8: inner 192 is not a multiple of 128, so the GEMM dequantizes to bf16; inner 256 at 90
        // tokens runs w8a8 on the FP8 tensor cores (tern_moe_gemm_fp8*).
        cases.append(GroupedMoECase(format: .fp8, experts: 8, topK: 2, hidden: 256, inner: 256, tokens: 90))
        cases.append(GroupedMoECase(format: .fp8, experts: 8, topK: 2, hidden: 384, inner: 128, tokens: 150, skewed: true))
        for tokens in [5, 90] {
            cases.append(GroupedMoECase(format: .fp8, experts: 8, topK: 2, hidden: 256, inner: 192, tokens: tokens))
            cases.append(GroupedMoECase(format: .nvfp4, experts: 8, topK: 2, hidden: 128, inner: 64, tokens: tokens, remote: false))
        }
        // Tensor-core GEMV (decode sizes: ≤ 4 rows per expert on average): depths that are multiples
        // of its step (bf16 64, FP8/NVFP4 128). Where both depths are multiples of the v2 step (bf16,
        // FP8 here; NVFP4 needs 256) the v2 kernels take these, tern_moe_gemv_tc* the rest; T = 1, one hot expert (two tiles,
        // the second partial), idle warps (3 steps over 4 warps), several steps per warp, column
        // tails (200, 136 not multiples of 16), and mixes with the CUDA-core GEMV for the other
        // projection (depth 200 / 136).
        for tokens in [1, 13] { cases.append(GroupedMoECase(format: .bf16, experts: 16, topK: 4, hidden: 256, inner: 128, tokens: tokens)) }
        cases.append(GroupedMoECase(format: .bf16, experts: 16, topK: 4, hidden: 256, inner: 128, tokens: 12, skewed: true))
        cases.append(GroupedMoECase(format: .bf16, experts: 16, topK: 4, hidden: 1024, inner: 128, tokens: 3))
        cases.append(GroupedMoECase(format: .bf16, experts: 16, topK: 4, hidden: 256, inner: 200, tokens: 6))
        cases.append(GroupedMoECase(format: .bf16, experts: 16, topK: 4, hidden: 136, inner: 128, tokens: 6))
        for format in [ExpertFormat.fp8, .nvfp4] {
            for tokens in [1, 5] { cases.append(GroupedMoECase(format: format, experts: 8, topK: 2, hidden: 256, inner: 128, tokens: tokens)) }
            cases.append(GroupedMoECase(format: format, experts: 8, topK: 2, hidden: 256, inner: 128, tokens: 12, skewed: true))
            cases.append(GroupedMoECase(format: format, experts: 8, topK: 2, hidden: 384, inner: 256, tokens: 7))
            cases.append(GroupedMoECase(format: format, experts: 8, topK: 2, hidden: 1024, inner: 256, tokens: 3))
        }
        cases.append(GroupedMoECase(format: .nvfp4, experts: 8, topK: 2, hidden: 256, inner: 144, tokens: 4))  // NVFP4 depth must be a multiple of 16 (136 made the harness upload 2176 scale bytes into 2048)
        // v2 GEMV (tern_moe_gemv2_*, the default for decode sizes when both depths are multiples of
        // its step: bf16 64, FP8 128, NVFP4 256; tiles of ≤ 16 rows): experts with no rows, odd row
        // counts, ~8 rows per expert (one- and two-n-block tiles side by side), one hot expert with
        // 12 rows (two n-blocks, the second partial) and 27 rows (tiles of 16 + 11), NVFP4 at
        // ≤ 8 rows (256-deep steps) and 9–16 rows (128-deep steps), and the real DeepSeek-V3 depths.
        // Each of these also records a "[v2 ran]" row: the default path must have launched a v2 kernel.
        var v2Cases: [GroupedMoECase] = []
        for format in [ExpertFormat.bf16, .fp8, .nvfp4] {
            let (hidden, inner) = format == .nvfp4 ? (512, 256) : (256, 128)
            for tokens in [1, 5, 27] { v2Cases.append(GroupedMoECase(format: format, experts: 8, topK: 2, hidden: hidden, inner: inner, tokens: tokens)) }
            v2Cases.append(GroupedMoECase(format: format, experts: 8, topK: 2, hidden: hidden, inner: inner, tokens: 12, skewed: true))
            v2Cases.append(GroupedMoECase(format: format, experts: 8, topK: 2, hidden: hidden, inner: inner, tokens: 27, skewed: true))
            v2Cases.append(GroupedMoECase(format: format, experts: 16, topK: 4, hidden: hidden, inner: inner, tokens: 30))
        }
        v2Cases.append(GroupedMoECase(format: .nvfp4, experts: 8, topK: 2, hidden: 1024, inner: 512, tokens: 9, skewed: true))
        v2Cases.append(GroupedMoECase(format: .nvfp4, experts: 4, topK: 2, hidden: 7168, inner: 2048, tokens: 3, remote: false))
        v2Cases.append(GroupedMoECase(format: .nvfp4, experts: 4, topK: 2, hidden: 7168, inner: 256, tokens: 11, skewed: true, remote: false))
        v2Cases.append(GroupedMoECase(format: .fp8, experts: 4, topK: 2, hidden: 7168, inner: 256, tokens: 11, skewed: true, remote: false))
        // DeepSeek-V3 depths in bf16 / FP8 too, ~8 rows per expert (the bench's 256-token point).
        v2Cases.append(GroupedMoECase(format: .bf16, experts: 2, topK: 1, hidden: 7168, inner: 2048, tokens: 16, remote: false))
        v2Cases.append(GroupedMoECase(format: .fp8, experts: 2, topK: 1, hidden: 7168, inner: 2048, tokens: 16, remote: false))
        // NVFP4 at 9–16 rows per expert takes the GEMV too (TERN_MOE_GEMV_NVFP4_ROWS = 16): 8 experts, 60 rows.
        v2Cases.append(GroupedMoECase(format: .nvfp4, experts: 8, topK: 2, hidden: 512, inner: 256, tokens: 30, remote: false))
        // The late-activation and L2-prefetch variants on a few of them (NVFP4 one and two n-blocks,
        // the DeepSeek-V3 depths, bf16 / FP8 with several steps per warp); NVFP4, whose default is
        // the late variant, also through the early one ("").
        let variantCases = [4, 5, 11, 14, 16, 18, 19, 21].map { v2Cases[$0] }
        for var c in [14, 16, 18, 19, 24].map({ v2Cases[$0] }) {
            c.expectGemv2 = true
            c.gemv2Variant = ""
            cases.append(c)
        }
        for var c in v2Cases {
            c.expectGemv2 = true
            cases.append(c)
        }
        for variant in ["l", "p", "lp"] {
            for var c in variantCases {
                c.expectGemv2 = true
                c.gemv2Variant = variant
                cases.append(c)
            }
        }
        // Pipelined grouped GEMM (tern_moe_gemm_tc, prefill sizes; depths multiples of 32): column
        // tails (160, 224), a hot expert over two 128-row tiles (150 rows), 3 steps (= stages) and
        // a single step (inner 32). The FP8 256/192 and NVFP4 128/64 cases at 90 tokens above take it
        // too (weights dequantized into the stages).
        cases.append(GroupedMoECase(format: .bf16, experts: 16, topK: 4, hidden: 256, inner: 160, tokens: 70))
        cases.append(GroupedMoECase(format: .bf16, experts: 16, topK: 4, hidden: 256, inner: 160, tokens: 150, skewed: true))
        cases.append(GroupedMoECase(format: .bf16, experts: 16, topK: 4, hidden: 224, inner: 96, tokens: 100))
        cases.append(GroupedMoECase(format: .bf16, experts: 16, topK: 4, hidden: 256, inner: 32, tokens: 90))
        cases.append(GroupedMoECase(format: .nvfp4, experts: 8, topK: 2, hidden: 256, inner: 160, tokens: 150, skewed: true))
        // Hopper wgmma GEMMs (tern_moe_wgmma, tern_moe_wgmma_dq, tern_moe_wgmma_fp8; the default on
        // sm_90, TERN_MOE_GEMM_KERNEL=tc selects the older ones), which also run every GEMM case
        // above. Top-1 with every token on expert 0: one expert of 150 rows (a full 128-row tile and
        // one of 22 rows, whose second warpgroup issues no MMA), seven experts with no rows. 288/160:
        // columns past the 256- and 128-wide tiles, depths 4.5 and 2.5 steps of 64 (zero-filled
        // tails); FP8 288/160 dequantizes to bf16 (not 128-deep), 384/256 runs w8a8.
        for format in [ExpertFormat.bf16, .nvfp4, .fp8] {
            cases.append(GroupedMoECase(format: format, experts: 8, topK: 1, hidden: 288, inner: 160, tokens: 150, skewed: true, remote: false,
                                        expectWgmma: true))
        }
        cases.append(GroupedMoECase(format: .fp8, experts: 8, topK: 1, hidden: 384, inner: 256, tokens: 150, skewed: true, remote: false,
                                    expectWgmma: true))
        // The same GEMM shapes through the older pipelined kernels (tern_moe_gemm_tc, _fp8).
        cases.append(GroupedMoECase(format: .bf16, experts: 16, topK: 4, hidden: 256, inner: 160, tokens: 150, skewed: true, gemmKernel: "tc"))
        cases.append(GroupedMoECase(format: .nvfp4, experts: 8, topK: 2, hidden: 256, inner: 160, tokens: 150, skewed: true, gemmKernel: "tc"))
        cases.append(GroupedMoECase(format: .fp8, experts: 8, topK: 2, hidden: 256, inner: 256, tokens: 90, gemmKernel: "tc"))
        // DeepSeek-V3 expert shapes (hidden 7168, inner 2048: gate/up n 2048 k 7168, down n 7168
        // k 2048): expert 0 takes all 136 tokens (tiles of 128 and 8 rows), expert 1 none.
        for format in [ExpertFormat.bf16, .fp8, .nvfp4] {
            cases.append(GroupedMoECase(format: format, experts: 2, topK: 1, hidden: 7168, inner: 2048, tokens: 136, skewed: true, remote: false,
                                        expectWgmma: true, expectNVFP4Kernel: format == .nvfp4))
        }
        // Round 2: tern_moe_wgmma_nvfp4 (depths % 64 == 0: raw codes by cp.async, dequantized one
        // step ahead) and tern_moe_wgmma_fp8x2 (two partial sets). 256/192: columns past the 128-wide
        // tiles, 4 and 3 steps (≤ the prologue's depth); 640/384: 10 and 6 NVFP4 steps, 5 and 3 FP8
        // steps (odd counts: the two-set loop's tail); the same through the round-1 kernels (wgmma1).
        for (hidden, inner) in [(256, 192), (640, 384)] {
            cases.append(GroupedMoECase(format: .nvfp4, experts: 4, topK: 1, hidden: hidden, inner: inner, tokens: 150, skewed: true, remote: false,
                                        expectWgmma: true, expectNVFP4Kernel: true))
        }
        cases.append(GroupedMoECase(format: .fp8, experts: 4, topK: 1, hidden: 640, inner: 384, tokens: 150, skewed: true, remote: false,
                                    expectWgmma: true))
        cases.append(GroupedMoECase(format: .nvfp4, experts: 4, topK: 1, hidden: 256, inner: 192, tokens: 150, skewed: true, remote: false,
                                    gemmKernel: "wgmma1", expectWgmma: true))
        cases.append(GroupedMoECase(format: .fp8, experts: 4, topK: 1, hidden: 640, inner: 384, tokens: 150, skewed: true, remote: false,
                                    gemmKernel: "wgmma1", expectWgmma: true))
        // Warp-specialized tern_moe_wgmma_ws / _ws_fp8 (TERN_MOE_GEMM_KERNEL=ws): column and depth
        // tails (bf16 288/160), fewer and more steps than the ring (w8a8 384/256, 640/384 with 6
        // slots; bf16 DeepSeek-V3 depths with 4), a 22-row tile whose second consumer exits at once.
        cases.append(GroupedMoECase(format: .bf16, experts: 8, topK: 1, hidden: 288, inner: 160, tokens: 150, skewed: true, remote: false,
                                    gemmKernel: "ws", expectWgmma: true))
        for (hidden, inner) in [(384, 256), (640, 384)] {
            cases.append(GroupedMoECase(format: .fp8, experts: 4, topK: 1, hidden: hidden, inner: inner, tokens: 150, skewed: true, remote: false,
                                        gemmKernel: "ws", expectWgmma: true))
        }
        for (hidden, inner) in [(256, 192), (640, 384)] {  // NVFP4: 4 / 3 and 10 / 6 steps against 6 slots, D = 4
            cases.append(GroupedMoECase(format: .nvfp4, experts: 4, topK: 1, hidden: hidden, inner: inner, tokens: 150, skewed: true, remote: false,
                                        gemmKernel: "ws", expectWgmma: true, expectNVFP4Kernel: true))
        }
        for format in [ExpertFormat.bf16, .fp8, .nvfp4] {
            cases.append(GroupedMoECase(format: format, experts: 2, topK: 1, hidden: 7168, inner: 2048, tokens: 136, skewed: true, remote: false,
                                        gemmKernel: "ws", expectWgmma: true, expectNVFP4Kernel: format == .nvfp4))
        }
        for c in cases {
            check("moe grouped", c.name) { s in
                var cpuExperts: [ExpertMLP] = [], gpuExperts: [ExpertMLP] = []
                let slots = (0..<c.experts).map { e in c.remote ? (e < 3 ? e : (e == 3 ? -1 : e - 1)) : e }
                for e in 0..<c.experts where slots[e] >= 0 {
                    let g = try s.quantizedLayer(n: c.inner, k: c.hidden, format: c.format)
                    let u = try s.quantizedLayer(n: c.inner, k: c.hidden, format: c.format)
                    let d = try s.quantizedLayer(n: c.hidden, k: c.inner, format: c.format)
                    cpuExperts.append(ExpertMLP(gate: g.cpu, up: u.cpu, down: d.cpu))
                    gpuExperts.append(ExpertMLP(gate: g.gpu, up: u.gpu, down: d.gpu))
                }
                var ids: [Int32] = []
                for _ in 0..<c.tokens {
                    var chosen: [Int] = c.skewed ? [0] : []
                    while chosen.count < c.topK {
                        let e = s.random.below(c.experts)
                        if !chosen.contains(e) { chosen.append(e) }
                    }
                    ids += chosen.map { Int32($0) }
                }
                let weights = s.values(c.tokens * c.topK).map { abs($0) }
                let (xc, xg) = try s.pair(c.tokens, c.hidden)
                let (oc, og) = try s.outputs(c.tokens, c.hidden)
                try s.cpu.moe(xc, expertIDs: try s.cpu.upload(int32s: ids, shape: [c.tokens, c.topK]),
                              expertWeights: try s.cpu.upload(floats: weights, shape: [c.tokens, c.topK], as: .f32),
                              experts: ExpertSet(slotOfExpert: slots, local: cpuExperts), out: oc)
                let gpuIDs = try s.gpu.upload(int32s: ids, shape: [c.tokens, c.topK])
                let gpuWeights = try s.gpu.upload(floats: weights, shape: [c.tokens, c.topK], as: .f32)
                let saved = CUDABackend.moeGemmKernelOverride, before = CUDABackend.moeWgmmaLaunches.count
                let gemv2Before = CUDABackend.moeGemv2Launches.count
                let beforeNVFP4 = CUDABackend.moeWgmmaNVFP4Launches.count
                let savedVariant = CUDABackend.gemv2VariantOverride
                CUDABackend.gemv2VariantOverride = c.gemv2Variant
                defer { CUDABackend.gemv2VariantOverride = savedVariant }
                CUDABackend.moeGemmKernelOverride = c.gemmKernel
                defer { CUDABackend.moeGemmKernelOverride = saved }
                try s.gpu.moe(xg, expertIDs: gpuIDs, expertWeights: gpuWeights, experts: ExpertSet(slotOfExpert: slots, local: gpuExperts), out: og)
                if c.expectWgmma {
                    let ran = CUDABackend.moeWgmmaLaunches.count > before, hopper = s.gpu.deviceInfo.computeMajor == 9
                    s.record("moe grouped", c.name + " [wgmma ran]", error: ran == hopper ? 0 : 1, tolerance: 0)
                }
                if c.expectGemv2 {
                    // The v2 dispatch has no architecture condition: it must run wherever the selftest
                    // does, unless the environment switched it off (TERN_MOE_GEMV_KERNEL=tc|old, TERN_MOE_GEMV=0,
                    // FP8: TERN_MOE_FP8_MMA=0).
                    let expected = CUDABackend.gemv2Enabled && CUDABackend.tensorCoreGemvEnabled && CUDABackend.moeGemvSetting != "0"
                        && (c.format != .fp8 || CUDABackend.fp8TensorCoresEnabled)
                    let ran = CUDABackend.moeGemv2Launches.count > gemv2Before
                    s.record("moe [v2 ran]", c.name, error: ran == expected ? 0 : 1, tolerance: 0,
                             note: ran ? "tern_moe_gemv2 launched" : expected ? "v2 declined on the default path" : "v2 switched off")
                }
                if c.expectNVFP4Kernel || c.gemmKernel == "wgmma1" {
                    let ran = CUDABackend.moeWgmmaNVFP4Launches.count > beforeNVFP4, hopper = s.gpu.deviceInfo.computeMajor == 9
                    s.record("moe grouped", c.name + (c.expectNVFP4Kernel ? " [wgmma nvfp4 ran]" : " [wgmma nvfp4 not run]"),
                             error: ran == (hopper && c.expectNVFP4Kernel) ? 0 : 1, tolerance: 0)
                }
                // FP8: the GPU rounds the SiLU product to bf16 before its e4m3 activation rounding,
                // the CPU rounds the f32 value; a few elements land on the neighbouring e4m3 code.
                try s.compare("moe grouped", c.name, oc, og, tolerance: c.format == .fp8 ? 3e-2 : nil)
            }
        }
        // Quantized dense linears through the tensor-core GEMMs (the GEMV takes ≤ 32 tokens); the
        // FP8 ones with depth % 128 == 0 run w8a8 on the FP8 tensor cores.
        // The ≤ 32-token ones take the tensor-core GEMV (tern_moe_gemv_tc; 20 rows: three tiles).
        for (format, t, k, n) in [(ExpertFormat.fp8, 100, 384, 256), (.nvfp4, 70, 256, 136), (.fp8, 33, 128, 200),
                                  (.fp8, 5, 1024, 200), (.fp8, 20, 384, 256), (.nvfp4, 3, 512, 136), (.nvfp4, 20, 256, 64),
                                  (.nvfp4, 200, 512, 136)] {
            let detail = "\(format.rawValue) \(t)×\(k) → \(n) (kernel)"
            check("linear", detail) { s in
                let (lc, lg) = try s.quantizedLayer(n: n, k: k, format: format)
                let (xc, xg) = try s.pair(t, k)
                let (oc, og) = try s.outputs(t, n)
                try s.cpu.linear(xc, lc, out: oc)
                try s.gpu.linear(xg, lg, out: og)
                try s.compare("linear", detail, oc, og)
            }
        }
    }
}
