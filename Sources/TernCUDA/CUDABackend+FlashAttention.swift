import CCUDA
import Foundation
import TernBackend
import TernCore

extension CUDABackend {
    /// Whether the tensor-core kernel may serve attention (TERN_CUDA_ATTENTION=simple turns it off,
    /// for comparisons).
    static let flashEnabled = ProcessInfo.processInfo.environment["TERN_CUDA_ATTENTION"] != "simple"
    /// Blocks (tiles × KV heads × splits) a launch should reach before keys stop being split:
    /// two waves of the H200's 132 SMs (TERN_CUDA_FLASH_TARGET_BLOCKS overrides; 0 never splits).
    static let flashTargetBlocks = Int(ProcessInfo.processInfo.environment["TERN_CUDA_FLASH_TARGET_BLOCKS"] ?? "") ?? 264

    /// The flash kernels' alignment needs: 16-byte query and output rows, 16-byte (bf16) or 8-byte (FP8)
    /// K/V bases, every row and head stride a multiple of 8 elements.
    func flashOperandsAligned(query: Tensor, keys: Tensor, values: Tensor, keyHeadStride: Int, valueHeadStride: Int,
                              out: Tensor) -> Bool {
        let kvAlign: UInt64 = keys.dtype == .f8e4m3 ? 8 : 16
        return [address(query), address(out)].allSatisfy { $0 % 16 == 0 }
            && [address(keys), address(values)].allSatisfy { $0 % kvAlign == 0 }
            && [query.rowStride, keys.rowStride, values.rowStride, out.rowStride, keyHeadStride, valueHeadStride].allSatisfy { $0 % 8 == 0 }
    }

    /// Attention through `tern_flash_attention[_fp8]_d{64,128}` when the shapes allow (bf16 q/out,
    /// bf16 or FP8 cache, key width = value width ∈ {64, 128}, group dividing 64, 16-byte aligned
    /// rows, 8-byte for FP8); false when they don't, and the general kernel runs instead. FP8 caches
    /// fold the key scale into the softmax scale and the value scale into the output.
    func flashAttention(query: Tensor, keys: Tensor, values: Tensor, keyHeadStride: Int, valueHeadStride: Int,
                        keyScale: Float = 1, valueScale: Float = 1,
                        state: CUDAAttentionState, batch: PreparedBatch, parameters p: AttentionParameters, out: Tensor) throws -> Bool {
        let group = p.heads / p.kvHeads, d = p.headDim
        let fp8 = keys.dtype == .f8e4m3
        guard Self.flashEnabled, d == p.valueDim, d == 64 || d == 128, 64 % group == 0,
              [query.dtype, out.dtype].allSatisfy({ $0 == .bf16 }),
              keys.dtype == values.dtype, keys.dtype == .bf16 || fp8,
              query.rows == batch.batch.tokenCount else { return false }
        guard flashOperandsAligned(query: query, keys: keys, values: values, keyHeadStride: keyHeadStride,
                                   valueHeadStride: valueHeadStride, out: out) else { return false }
        let perTile = 64 / group
        let tiles = try queryTiles(state, batch: batch, perTile: perTile)
        let tileCount = tiles.elementCount / 4
        // Split-KV when the tiles alone leave SMs idle (decode at small batch): each split keeps at
        // least two key tiles of the longest sequence.
        let blocks = tileCount * p.kvHeads
        let splits = kvSplits(blocks: blocks, maxKVLength: state.maxKVLength)
        var partialO: Tensor?, partialML: Tensor?
        if splits > 1 {
            partialO = try allocateScratch([blocks * 64 * splits, d], dtype: .f32)
            partialML = try allocateScratch([blocks * 64 * splits, 2], dtype: .f32)
        }
        let shared = 3 * 64 * (d + 8) * 2
        try launch(fp8 ? "tern_flash_attention_fp8_d\(d)" : "tern_flash_attention_d\(d)", grid: (tileCount, p.kvHeads, splits),
                   block: 128, sharedBytes: shared,
                   [ptr(query), .int64(Int64(query.rowStride)), ptr(keys), ptr(values), .int64(Int64(keys.rowStride)),
                    .int64(Int64(keyHeadStride)), .int64(Int64(values.rowStride)), .int64(Int64(valueHeadStride)),
                    ptr(out), .int64(Int64(out.rowStride)), .int(Int32(group)), .float(p.scale * keyScale), .int(Int32(p.slidingWindow ?? 0)),
                    ptr(tiles), ptr(state.pageTable), .int(Int32(batch.batch.pageSize)), ptr(partialO), ptr(partialML),
                    .float(valueScale)])
        if let partialO, let partialML {
            try launch("tern_flash_combine", grid: (tileCount, p.kvHeads, 1), block: d,
                       [ptr(partialO), ptr(partialML), .int(Int32(splits)), .int(Int32(d)), .int(Int32(group)), ptr(tiles),
                        ptr(out), .int64(Int64(out.rowStride))])
        }
        return true
    }
}
