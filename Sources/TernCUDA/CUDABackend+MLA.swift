import Foundation
import TernBackend
import TernCore

extension CUDABackend {
    /// Whether MLA's latent attention may use `tern_mla_attention` (TERN_CUDA_MLA=generic turns it off).
    static let mlaKernelEnabled = ProcessInfo.processInfo.environment["TERN_CUDA_MLA"] != "generic"
    /// `tern_mla_attention*_ldsm` (operand fragments through ldmatrix) unless TERN_CUDA_MLA_ATTN=old; the default
    /// (v4) tries `tern_mla_decode_v4` (=v3: `tern_mla_decode_v3`), then v2 (CUDABackend+MLADecode.swift), and comes here when both decline.
    static let mlaKernelSuffix = ProcessInfo.processInfo.environment["TERN_CUDA_MLA_ATTN"] == "old" ? "" : "_ldsm"

    /// Absorbed-form MLA (one shared latent head, width 576 = 512 latent + 64 rope, values = the
    /// latent's first 512 elements) through `tern_mla_attention[_fp8]`, for decode and prefill/extend
    /// alike (causal by position). False when the shapes don't fit; the general kernel runs instead.
    func mlaAttention(query: Tensor, cache: KVCache, layer: Int, state: CUDAAttentionState, batch: PreparedBatch,
                      parameters p: AttentionParameters, out: Tensor) throws -> Bool {
        guard Self.mlaKernelEnabled, cache.values.isEmpty, p.kvHeads == 1, p.headDim == 576, p.valueDim == 512,
              p.slidingWindow == nil, query.dtype == .bf16, out.dtype == .bf16, query.rows == batch.batch.tokenCount else { return false }
        let wgmmaVersion = Self.mlaDecodeV4Selected ? 4 : Self.mlaDecodeV3Selected ? 3 : 0
        if wgmmaVersion > 0, try mlaDecodeWgmma(version: wgmmaVersion, query: query, cache: cache, layer: layer, state: state,
                                                batch: batch, parameters: p, out: out) { return true }
        if Self.mlaDecodeV2Selected,
           try mlaDecodeV2(query: query, cache: cache, layer: layer, state: state, batch: batch, parameters: p, out: out) { return true }
        let keys = cache.keys[layer]
        let fp8 = keys.dtype == .f8e4m3
        guard keys.dtype == .bf16 || fp8, keys.rowSize == 576 else { return false }
        let group = min(p.heads, 64)
        guard 64 % group == 0, p.heads % group == 0 else { return false }
        let aligned = [address(query), address(out)].allSatisfy { $0 % 16 == 0 } && address(keys) % (fp8 ? 8 : 16) == 0
            && [query.rowStride, out.rowStride, keys.rowStride].allSatisfy { $0 % 8 == 0 }
        guard aligned else { return false }
        let perTile = 64 / group, headBlocks = p.heads / group
        // Same tile list as the flash kernel at this tokens-per-tile (decode graphs: one token per tile).
        // Two blocks (value halves) per head block.
        guard let plan = try mlaSplitPlan(state, batch: batch, perTile: perTile, headBlocks: headBlocks, blocksPerHeadBlock: 2) else {
            return false
        }
        let keyScale = fp8 ? cache.keyScales[layer] : 1
        let shared = (64 + 32) * (576 + 8) * 2
        try launch((fp8 ? "tern_mla_attention_fp8" : "tern_mla_attention") + Self.mlaKernelSuffix,
                   grid: (headBlocks * 2, plan.tileCount, plan.splits), block: 128, sharedBytes: shared,
                   mlaLatentArguments(query: query, keys: keys, out: out, parameters: p, group: group, keyScale: keyScale, plan: plan,
                                      state: state, batch: batch))
        try mlaCombine(plan, heads: p.heads, group: group, out: out)
        return true
    }

    /// Query tiles, split-KV plan and fp32 partials (64 rows × 512 values per head block and split) of the MLA
    /// latent kernels, which share rows, tiles, partial layout and combine. Split-KV only while the blocks
    /// alone leave SMs idle (`kvSplits`, from the worst-case length so decode graphs replay it). Nil when the
    /// tiles do not fit grid.y.
    struct MLASplitPlan {
        let tiles: Tensor, tileCount: Int, splits: Int
        let partialO: Tensor?, partialML: Tensor?
    }

    func mlaSplitPlan(_ state: CUDAAttentionState, batch: PreparedBatch, perTile: Int, headBlocks: Int,
                      blocksPerHeadBlock: Int) throws -> MLASplitPlan? {
        let tiles = try queryTiles(state, batch: batch, perTile: perTile)
        let tileCount = tiles.elementCount / 4
        guard tileCount <= 65535 else { return nil }  // tiles run on grid.y
        let splits = kvSplits(blocks: tileCount * headBlocks * blocksPerHeadBlock, maxKVLength: state.maxKVLength)
        guard splits > 1 else { return MLASplitPlan(tiles: tiles, tileCount: tileCount, splits: 1, partialO: nil, partialML: nil) }
        return MLASplitPlan(tiles: tiles, tileCount: tileCount, splits: splits,
                            partialO: try allocateScratch([tileCount * headBlocks * 64 * splits, 512], dtype: .f32),
                            partialML: try allocateScratch([tileCount * headBlocks * 64 * splits, 2], dtype: .f32))
    }

    /// The arguments every MLA latent kernel takes, in its order.
    func mlaLatentArguments(query: Tensor, keys: Tensor, out: Tensor, parameters p: AttentionParameters, group: Int, keyScale: Float,
                            plan: MLASplitPlan, state: CUDAAttentionState, batch: PreparedBatch) -> [KernelArgument] {
        [ptr(query), .int64(Int64(query.rowStride)), ptr(keys), .int64(Int64(keys.rowStride)), ptr(out),
         .int64(Int64(out.rowStride)), .int(Int32(p.heads)), .int(Int32(group)), .float(p.scale * keyScale),
         ptr(plan.tiles), ptr(state.pageTable), .int(Int32(batch.batch.pageSize)), ptr(plan.partialO), ptr(plan.partialML),
         .float(keyScale)]
    }
}
