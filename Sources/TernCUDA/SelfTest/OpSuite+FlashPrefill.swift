import TernBackend
import TernCore

extension OpSuite {
    /// Cases for tern_flash_prefill (every batch below has a sequence with several new tokens, so
    /// the CUDA backend takes the prefill kernels unless TERN_CUDA_PREFILL_ATTN=old): lengths around
    /// the 64-key tile, long causal prefill (split-KV), cached prefixes 17 and 32800 (split-KV),
    /// mixed batches with enough blocks not to split, GQA groups 1/4/8, d 64/128, sliding window,
    /// FP8 KV with per-layer scales; "fa3" cases around the wgmma kernel's 128-key tiles (page sizes 1,
    /// 16, 64, prefixes, MHA, window).
    /// The bf16 cases again with the variant(s) of the bf16 kernel that TERN_CUDA_PREFILL_ATTN did
    /// not select (wgmma: tern_flash_prefill_wgmma3o_d128, the default, P·V overlapped with the next
    /// tile; wgmma2: 2-stage ring; wgmma3: tern_flash_prefill_wgmma3_d128, no overlap; wgmmapp:
    /// tern_flash_prefill_wgmmapp_d128, the warpgroups half a tile apart;
    /// w4: tern_flash_prefill_w4_*; w8: tern_flash_prefill_*). The wgmma kernels only take bf16
    /// head width 128 (elsewhere they fall back to w4, which is checked on its own).
    /// The fa3 cases also run forced through wgmma when it is the default, and every wgmma case checks
    /// that the wgmma kernel ran (on sm_90; elsewhere that it did not). FP8 cases run forced through
    /// wgmma (tern_flash_prefill_wgmma_fp8_d128, d128 only) and w8 (tern_flash_prefill_fp8_*).
    mutating func flashPrefillVariants() {
        defer { CUDABackend.flashPrefillOverride = nil }
        let hopper = gpu.deviceInfo.computeMajor == 9
        for variant in ["wgmma", "wgmma2", "wgmma3", "wgmmapp", "w4", "w8"] {
            let isDefault = variant == CUDABackend.flashPrefillSetting
            guard !isDefault || variant.hasPrefix("wgmma") else { continue }
            CUDABackend.flashPrefillOverride = variant
            for c in Self.flashPrefillCases {
                let wgmma = variant.hasPrefix("wgmma")
                // FP8 cases: forced through the FP8 wgmma kernel (variant wgmma) and the FA2-style FP8 kernel (w8).
                if c.cacheDType != .bf16 && variant != "wgmma" && variant != "w8" { continue }
                guard !wgmma || (c.headDim == 128 && (!isDefault || c.name.hasPrefix("fa3"))) else { continue }
                check("attention", c.name + " [\(variant)]") { s in
                    let before = CUDABackend.flashPrefillWgmmaLaunches.count
                    try s.attention(c)
                    let ran = CUDABackend.flashPrefillWgmmaLaunches.count > before
                    if wgmma { s.record("attention", c.name + " [\(variant) ran]", error: ran == hopper ? 0 : 1, tolerance: 0) }
                }
            }
        }
    }

    static var flashPrefillCases: [AttentionCase] {
        let e4m3 = DType.f8e4m3
        // 40 sequences, prefixes 0…117, 20…59 new tokens: group 8 → 2-4 tiles each, ~480 blocks (no split).
        let many = (0..<40).map { (prefix: 3 * $0, new: 20 + $0) }
        return [
            AttentionCase(name: "fa2 lengths 1/63/64/65, GQA 32/8 d128", sequences: [(0, 1), (0, 63), (0, 64), (0, 65)], heads: 32, kvHeads: 8,
                          headDim: 128, valueDim: 128),
            AttentionCase(name: "fa2 prefill 1000 (split), MHA 4/4 d64", sequences: [(0, 1000)], heads: 4, kvHeads: 4, headDim: 64, valueDim: 64),
            AttentionCase(name: "fa2 prefill 1100 (no split), MHA 32/32 d64", sequences: [(0, 1100)], heads: 32, kvHeads: 32, headDim: 64,
                          valueDim: 64, pageSize: 64),
            AttentionCase(name: "fa2 prefill 4096 (split), GQA 4/1 d64", sequences: [(0, 4096)], heads: 4, kvHeads: 1, headDim: 64, valueDim: 64),
            AttentionCase(name: "fa2 mixed 17+100, 0+1, 5+64, 0+65, GQA 8/1 d128", sequences: [(17, 100), (0, 1), (5, 64), (0, 65)], heads: 8,
                          kvHeads: 1, headDim: 128, valueDim: 128),
            AttentionCase(name: "fa2 prefix 32800+65, 0+3, GQA 8/2 d128", sequences: [(32800, 65), (0, 3)], heads: 8, kvHeads: 2, headDim: 128,
                          valueDim: 128),
            AttentionCase(name: "fa2 40 sequences (no split), GQA 32/4 d128", sequences: many, heads: 32, kvHeads: 4, headDim: 128, valueDim: 128),
            AttentionCase(name: "fa2 sliding window 100, 0+300, 50+70, GQA 8/2 d64", sequences: [(0, 300), (50, 70)], heads: 8, kvHeads: 2,
                          headDim: 64, valueDim: 64, window: 100),
            // Around the wgmma kernel's 128-key tiles and 128-row blocks (bf16, d128).
            AttentionCase(name: "fa3 lengths 1/127/128/129/200, GQA 32/8 d128", sequences: [(0, 1), (0, 127), (0, 128), (0, 129), (0, 200)],
                          heads: 32, kvHeads: 8, headDim: 128, valueDim: 128),
            // 19 + 16 tiles × 8 KV heads = 280 blocks: no split.
            AttentionCase(name: "fa3 prefill 600 + 500 (no split), GQA 32/8 d128", sequences: [(0, 600), (0, 500)], heads: 32, kvHeads: 8,
                          headDim: 128, valueDim: 128),
            AttentionCase(name: "fa3 prefixes 300+77, 5+1, 129+129, 1000+3, MHA 8/8 d128 page 1", sequences: [(300, 77), (5, 1), (129, 129), (1000, 3)],
                          heads: 8, kvHeads: 8, headDim: 128, valueDim: 128, pageSize: 1),
            AttentionCase(name: "fa3 prefix 250+300, GQA 32/4 d128 page 64", sequences: [(250, 300)], heads: 32, kvHeads: 4, headDim: 128,
                          valueDim: 128, pageSize: 64),
            AttentionCase(name: "fa3 sliding window 200, 0+500, 100+90, GQA 8/2 d128", sequences: [(0, 500), (100, 90)], heads: 8, kvHeads: 2,
                          headDim: 128, valueDim: 128, window: 200),
            AttentionCase(name: "fa2 fp8 prefill 1000, GQA 8/2 d128", sequences: [(0, 1000)], heads: 8, kvHeads: 2, headDim: 128, valueDim: 128,
                          cacheDType: e4m3, keyScale: 0.5, valueScale: 0.25),
            AttentionCase(name: "fa2 fp8 lengths 1/63/64/65, prefix 17, GQA 32/4 d64", sequences: [(0, 1), (0, 63), (0, 64), (17, 65)], heads: 32,
                          kvHeads: 4, headDim: 64, valueDim: 64, cacheDType: e4m3, keyScale: 0.75, valueScale: 1.5),
            AttentionCase(name: "fa2 fp8 40 sequences (no split), GQA 32/4 d128", sequences: many, heads: 32, kvHeads: 4, headDim: 128,
                          valueDim: 128, cacheDType: e4m3, keyScale: 0.5, valueScale: 2),
            AttentionCase(name: "fa2 fp8 sliding window 100, 0+300, GQA 8/1 d128", sequences: [(0, 300)], heads: 8, kvHeads: 1, headDim: 128,
                          valueDim: 128, window: 100, cacheDType: e4m3, keyScale: 0.5, valueScale: 0.5),
            // FP8 through tern_flash_prefill_wgmma_fp8_d128: tile / page edges, prefixes, split-KV, window.
            AttentionCase(name: "fa3 fp8 lengths 1/127/128/129/200, GQA 32/8 d128", sequences: [(0, 1), (0, 127), (0, 128), (0, 129), (0, 200)],
                          heads: 32, kvHeads: 8, headDim: 128, valueDim: 128, cacheDType: e4m3, keyScale: 0.5, valueScale: 0.25),
            AttentionCase(name: "fa3 fp8 prefill 600 + 500 (no split), GQA 32/8 d128", sequences: [(0, 600), (0, 500)], heads: 32, kvHeads: 8,
                          headDim: 128, valueDim: 128, cacheDType: e4m3, keyScale: 0.75, valueScale: 1.5),
            AttentionCase(name: "fa3 fp8 prefixes 300+77, 5+1, 129+129, 1000+3, MHA 8/8 d128 page 1", sequences: [(300, 77), (5, 1), (129, 129), (1000, 3)],
                          heads: 8, kvHeads: 8, headDim: 128, valueDim: 128, pageSize: 1, cacheDType: e4m3, keyScale: 0.5, valueScale: 2),
            AttentionCase(name: "fa3 fp8 prefix 32800+65, 0+3 (split), GQA 8/2 d128", sequences: [(32800, 65), (0, 3)], heads: 8, kvHeads: 2,
                          headDim: 128, valueDim: 128, cacheDType: e4m3, keyScale: 0.5, valueScale: 0.5),
            AttentionCase(name: "fa3 fp8 sliding window 200, 0+500, 100+90, GQA 8/2 d128 page 64", sequences: [(0, 500), (100, 90)], heads: 8,
                          kvHeads: 2, headDim: 128, valueDim: 128, window: 200, pageSize: 64, cacheDType: e4m3, keyScale: 1, valueScale: 1),
        ]
    }
}
