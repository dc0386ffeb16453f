import Foundation
import TernBackend
import TernCore

extension CUDABackend {
    /// MLA's latent attention runs through `tern_mla_decode_v2[_fp8]` by default (1.6× the ldsm kernel in
    /// bf16, 2.8× with an fp8 cache, H200 2026-11-30); TERN_CUDA_MLA_ATTN=ldsm or =old selects the earlier ones.
    static let mlaAttentionSetting = ProcessInfo.processInfo.environment["TERN_CUDA_MLA_ATTN"] ?? "v2"
    /// Selftest override of `mlaAttentionSetting` (v2 is checked beside the default in one process).
    nonisolated(unsafe) static var mlaAttentionOverride: String?
    static var mlaDecodeV2Selected: Bool { (mlaAttentionOverride ?? mlaAttentionSetting) == "v2" }
    /// Launches of `tern_mla_decode_v2*` so far (the selftest checks that v2 ran rather than declined).
    nonisolated(unsafe) static var mlaDecodeV2Launches = 0

    /// Absorbed-form MLA through `tern_mla_decode_v2[_fp8]` (Kernels/mla_decode.cu): a block of 256
    /// threads serves 64 (token, head) rows and the full 512-wide output over one KV split, scores
    /// computed once per 32-key latent tile, tiles through a 3-stage cp.async pipeline. Same tile list,
    /// split-KV plan (from the worst-case `maxKVLength`, so decode graphs can replay it) and combine
    /// as `tern_mla_attention`; prefill/extend rows too (causal by position). False when the shapes
    /// or alignments don't fit (the caller then runs the default kernel).
    func mlaDecodeV2(query: Tensor, cache: KVCache, layer: Int, state: CUDAAttentionState, batch: PreparedBatch,
                     parameters p: AttentionParameters, out: Tensor) throws -> Bool {
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
        let tiles = try queryTiles(state, batch: batch, perTile: perTile)
        let tileCount = tiles.elementCount / 4
        guard tileCount <= 65535 else { return false }  // tiles run on grid.y
        // One block per SM (256 threads, ~190 KB of shared memory): split the KV range while the
        // blocks alone leave SMs idle; each split keeps at least four 32-key tiles.
        let blocks = tileCount * headBlocks
        let splits = kvSplits(blocks: blocks, maxKVLength: state.maxKVLength)
        var partialO: Tensor?, partialML: Tensor?
        if splits > 1 {
            partialO = try allocateScratch([tileCount * headBlocks * 64 * splits, 512], dtype: .f32)
            partialML = try allocateScratch([tileCount * headBlocks * 64 * splits, 2], dtype: .f32)
        }
        let keyScale = fp8 ? cache.keyScales[layer] : 1
        // Q [64][584] bf16 + 3 stages ([32][584] bf16, or [32][576] e4m3 plus one decoded [32][584] bf16
        // tile) + P [64][40] bf16 + row maxima and sums [4][64] f32 (mla_decode.cu).
        let shared = 64 * 584 * 2 + (fp8 ? 3 * 32 * 576 + 32 * 584 * 2 : 3 * 32 * 584 * 2) + 64 * 40 * 2 + 4 * 64 * 4
        try launch(fp8 ? "tern_mla_decode_v2_fp8" : "tern_mla_decode_v2", grid: (headBlocks, tileCount, splits), block: 256,
                   sharedBytes: shared,
                   [ptr(query), .int64(Int64(query.rowStride)), ptr(keys), .int64(Int64(keys.rowStride)), ptr(out),
                    .int64(Int64(out.rowStride)), .int(Int32(p.heads)), .int(Int32(group)), .float(p.scale * keyScale),
                    ptr(tiles), ptr(state.pageTable), .int(Int32(batch.batch.pageSize)), ptr(partialO), ptr(partialML), .float(keyScale)])
        Self.mlaDecodeV2Launches += 1
        if let partialO, let partialML {
            try launch("tern_mla_combine", grid: (tileCount, headBlocks, 1), block: 256,
                       [ptr(partialO), ptr(partialML), .int(Int32(splits)), .int(Int32(p.heads)), .int(Int32(group)), ptr(tiles),
                        ptr(out), .int64(Int64(out.rowStride))])
        }
        return true
    }
}
