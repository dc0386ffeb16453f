import Foundation
import TernBackend
import TernCore

extension CUDABackend {
    /// MLA's latent attention runs through `tern_mla_decode_v4[_fp8]` (wgmma, S split over the depth between the
    /// warpgroups, P in registers; Kernels/mla_decode_v4.cu) by default on sm_90 (elsewhere v2); TERN_CUDA_MLA_ATTN=v3
    /// selects `tern_mla_decode_v3[_fp8]` (wgmma, keys split; 1.5x v2 on the H200, 2026-11-30), =v2 `tern_mla_decode_v2[_fp8]` (1.6× the ldsm
    /// kernel in bf16, 2.8× with an fp8 cache, H200 2026-11-30), =ldsm or =old the earlier ones.
    static let mlaAttentionSetting = ProcessInfo.processInfo.environment["TERN_CUDA_MLA_ATTN"] ?? "v4"
    /// Selftest override of `mlaAttentionSetting` (v2 and v3 are checked beside the default in one process).
    nonisolated(unsafe) static var mlaAttentionOverride: String?
    static var mlaDecodeV2Selected: Bool { (mlaAttentionOverride ?? mlaAttentionSetting) == "v2" }
    static var mlaDecodeV3Selected: Bool { (mlaAttentionOverride ?? mlaAttentionSetting) == "v3" }
    static var mlaDecodeV4Selected: Bool { (mlaAttentionOverride ?? mlaAttentionSetting) == "v4" }
    /// Launches of `tern_mla_decode_v2*` / `tern_mla_decode_v3*` / `tern_mla_decode_v4*` so far (the selftest checks which one ran).
    static let mlaDecodeV2Launches = LaunchCounter()
    static let mlaDecodeV3Launches = LaunchCounter()
    static let mlaDecodeV4Launches = LaunchCounter()

    /// `version` 4 / 3: `tern_mla_decode_v4` / `_v3` (wgmma: sm_90a only, `mlaDecodeV4Shared` / `mlaDecodeV3Shared`
    /// bytes of shared memory per block), else v2; false when neither takes the shapes.
    func mlaDecodeWgmma(version: Int, query: Tensor, cache: KVCache, layer: Int, state: CUDAAttentionState, batch: PreparedBatch,
                        parameters p: AttentionParameters, out: Tensor) throws -> Bool {
        let info = deviceInfo
        let shared = version == 4 ? Self.mlaDecodeV4Shared : Self.mlaDecodeV3Shared
        if info.computeMajor == 9, info.computeMinor == 0, info.maxSharedPerBlock >= shared,
           try mlaDecodeLatent(query: query, cache: cache, layer: layer, state: state, batch: batch, parameters: p, out: out, version: version) {
            return true
        }
        return try mlaDecodeV2(query: query, cache: cache, layer: layer, state: state, batch: batch, parameters: p, out: out)
    }

    func mlaDecodeV2(query: Tensor, cache: KVCache, layer: Int, state: CUDAAttentionState, batch: PreparedBatch,
                     parameters p: AttentionParameters, out: Tensor) throws -> Bool {
        try mlaDecodeLatent(query: query, cache: cache, layer: layer, state: state, batch: batch, parameters: p, out: out, version: 2)
    }

    /// v3's shared memory: Q, two latent stages (bf16 tiles, or raw e4m3 rows plus one decoded tile) and P, all
    /// [.][576] / [64][64] bf16 in the 128-byte swizzle, row maxima and sums, and 1,024 bytes to align the base.
    static let mlaDecodeV3Shared = 3 * 64 * 576 * 2 + 64 * 64 * 2 + 4 * 64 * 4 + 1024
    /// v4's: Q and two latent stages as v3's (or raw e4m3 stages plus one decoded tile), 8 KB of the S exchange, and
    /// 1,024 bytes to align the base.
    static let mlaDecodeV4Shared = 3 * 64 * 576 * 2 + 8192 + 1024

    /// Absorbed-form MLA through `tern_mla_decode_v2[_fp8]` (Kernels/mla_decode.cu): a block of 256
    /// threads serves 64 (token, head) rows and the full 512-wide output over one KV split, scores
    /// computed once per 32-key latent tile, tiles through a 3-stage cp.async pipeline. Same tile list,
    /// split-KV plan (from the worst-case `maxKVLength`, so decode graphs can replay it) and combine
    /// as `tern_mla_attention`; prefill/extend rows too (causal by position). False when the shapes
    /// or alignments don't fit (the caller then runs the default kernel). `version` 3 / 4: `tern_mla_decode_v3[_fp8]` /
    /// `tern_mla_decode_v4[_fp8]` instead (same arguments, rows, plan and partials; 64-key tiles, wgmma; the caller
    /// checks sm_90).
    func mlaDecodeLatent(query: Tensor, cache: KVCache, layer: Int, state: CUDAAttentionState, batch: PreparedBatch,
                         parameters p: AttentionParameters, out: Tensor, version: Int) throws -> Bool {
        guard cache.values.isEmpty, p.kvHeads == 1, p.headDim == 576, p.valueDim == 512, p.slidingWindow == nil,
              query.dtype == .bf16, out.dtype == .bf16, query.rows == batch.batch.tokenCount else { return false }
        let keys = cache.keys[layer]
        let fp8 = keys.dtype == .f8e4m3
        guard keys.dtype == .bf16 || fp8, keys.rowSize == 576 else { return false }
        let group = min(p.heads, 64)
        guard 64 % group == 0, p.heads % group == 0 else { return false }
        // cp.async moves 16-byte chunks of the query and latent rows.
        let aligned = [address(query), address(out), address(keys)].allSatisfy { $0 % 16 == 0 }
            && [query.rowStride, out.rowStride].allSatisfy { $0 % 8 == 0 } && keys.rowStride % (fp8 ? 16 : 8) == 0
        guard aligned else { return false }
        let perTile = 64 / group, headBlocks = p.heads / group
        // One block per SM (256 threads, ~190 KB of shared memory) per head block.
        guard let plan = try mlaSplitPlan(state, batch: batch, perTile: perTile, headBlocks: headBlocks, blocksPerHeadBlock: 1) else {
            return false
        }
        let keyScale = fp8 ? cache.keyScales[layer] : 1
        // Q [64][584] bf16 + 3 stages ([32][584] bf16, or [32][576] e4m3 plus one decoded [32][584] bf16
        // tile) + P [64][40] bf16 + row maxima and sums [4][64] f32 (mla_decode.cu).
        let shared = version == 4 ? Self.mlaDecodeV4Shared : version == 3 ? Self.mlaDecodeV3Shared : 64 * 584 * 2 + (fp8 ? 3 * 32 * 576 + 32 * 584 * 2 : 3 * 32 * 584 * 2) + 64 * 40 * 2 + 4 * 64 * 4
        let kernel = "tern_mla_decode_v\(version)" + (fp8 ? "_fp8" : "")
        try launch(kernel, grid: (headBlocks, plan.tileCount, plan.splits), block: 256, sharedBytes: shared,
                   mlaLatentArguments(query: query, keys: keys, out: out, parameters: p, group: group, keyScale: keyScale, plan: plan,
                                      state: state, batch: batch))
        switch version {
        case 4: Self.mlaDecodeV4Launches.increment()
        case 3: Self.mlaDecodeV3Launches.increment()
        default: Self.mlaDecodeV2Launches.increment()
        }
        try mlaCombine(plan, heads: p.heads, group: group, out: out)
        return true
    }

    /// TERN_CUDA_MLA_COMBINE=old selects `tern_mla_combine` (a block per 64-row head block, rows in turn) instead of
    /// the default `tern_mla_combine_rows` (a block per row, the splits spread over up to 8 × 128 threads).
    static let mlaCombineSetting = ProcessInfo.processInfo.environment["TERN_CUDA_MLA_COMBINE"] ?? "rows"
    /// Selftest override of `mlaCombineSetting`.
    nonisolated(unsafe) static var mlaCombineOverride: String?
    /// Launches of `tern_mla_combine_rows` so far (the selftest checks which combine ran).
    static let mlaCombineRowsLaunches = LaunchCounter()

    /// Merges the split-KV partials of the MLA attention kernels (v4, v3, v2, ldsm and old share rows and layout)
    /// into `out` (nothing to do when the plan did not split the keys). Launch shapes depend only on `splits`
    /// and the tile count, so decode graphs replay it.
    func mlaCombine(_ plan: MLASplitPlan, heads: Int, group: Int, out: Tensor) throws {
        guard let partialO = plan.partialO, let partialML = plan.partialML else { return }
        let splits = plan.splits, tileCount = plan.tileCount, headBlocks = heads / group
        let args: [KernelArgument] = [ptr(partialO), ptr(partialML), .int(Int32(splits)), .int(Int32(heads)), .int(Int32(group)),
                                      ptr(plan.tiles), ptr(out), .int64(Int64(out.rowStride))]
        let rows = tileCount * headBlocks * 64
        if (Self.mlaCombineOverride ?? Self.mlaCombineSetting) != "old", splits <= 64, out.rowStride % 4 == 0, address(out) % 8 == 0 {
            // 128 threads × 4 value columns per split group; about 8 splits per group.
            let groups = splits >= 64 ? 8 : splits >= 32 ? 4 : splits >= 16 ? 2 : 1
            try launch("tern_mla_combine_rows", grid: (rows, 1, 1), block: 128 * groups, args)
            Self.mlaCombineRowsLaunches.increment()
        } else {
            try launch("tern_mla_combine", grid: (tileCount, headBlocks, 1), block: 256, args)
        }
    }
}
