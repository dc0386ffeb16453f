import CCUDA
import Foundation
import TernBackend
import TernCore

extension CUDABackend {
    /// Prefill / extend kernel (TERN_CUDA_PREFILL_ATTN): `wgmma` (default, = `wgmma3o`)
    /// `tern_flash_prefill_wgmma3o_d128`, Hopper warpgroup MMA, 2 warpgroups × 64 rows, K/V tiles of 128
    /// keys in a 3-deep cp.async ring, a tile's P·V left running under the next tile's Q·Kᵀ (H200,
    /// 2026-11-30: 343 / 395 TFLOP/s at 8 × 4k / 1 × 32k, 1.03 / 1.16× PyTorch SDPA; `wgmma3` without
    /// the overlap 328 / 370; `wgmma2`: 2-deep ring), on sm_90 with a bf16 cache and head width 128 (otherwise it falls back to
    /// `w4`); `w4` `tern_flash_prefill_w4_*`, 4 warps × 32 rows, Q in shared memory, 2 blocks per SM
    /// (bf16 caches; FP8 caches take the w8-shaped `tern_flash_prefill_fp8_*` unless a wgmma variant is selected); `w8` `tern_flash_prefill_*`, 8 warps ×
    /// 16 rows, Q in registers, 1 block per SM; `old` the older `tern_flash_attention_*` kernel.
    static let flashPrefillSetting = ProcessInfo.processInfo.environment["TERN_CUDA_PREFILL_ATTN"] ?? "wgmma"
    /// FP8-cache prefill under a wgmma variant: `wgmma` (default) `tern_flash_prefill_wgmma_fp8_d128`,
    /// `old` the FA2-style `tern_flash_prefill_fp8_*` (TERN_CUDA_PREFILL_FP8).
    static let flashPrefillFP8Setting = ProcessInfo.processInfo.environment["TERN_CUDA_PREFILL_FP8"] ?? "wgmma"
    /// Selftest override of `flashPrefillSetting` (both variants are checked in one process).
    nonisolated(unsafe) static var flashPrefillOverride: String?
    /// Launches of `tern_flash_prefill_wgmma*`, counted only while the selftest forces a variant (it
    /// checks that the wgmma kernel ran rather than declining).
    static let flashPrefillWgmmaLaunches = LaunchCounter()
    /// Rows (token, query head) per block of the prefill kernel.
    static let flashPrefillRows = 128

    /// Prefill / extend attention through `tern_flash_prefill[_fp8]_d{64,128}` (FlashAttention-2
    /// style: 128 rows × one KV head per block, 8 warps, double-buffered K/V tiles of 64 keys) when
    /// the batch has a sequence with more than one new token and the shapes allow (as
    /// `flashAttention`: bf16 q/out, bf16 or FP8 cache, key width = value width ∈ {64, 128}, group
    /// dividing 128, aligned rows); false otherwise. Decode-only batches are left to the decode
    /// kernels. Tiles are ordered longest (most keys) first, so causal prefill's long tiles start
    /// in the first wave and the short ones fill the tail.
    func flashPrefill(query: Tensor, keys: Tensor, values: Tensor, keyHeadStride: Int, valueHeadStride: Int,
                      keyScale: Float = 1, valueScale: Float = 1,
                      state: CUDAAttentionState, batch: PreparedBatch, parameters p: AttentionParameters, out: Tensor) throws -> Bool {
        let rows = Self.flashPrefillRows
        let group = p.heads / p.kvHeads, d = p.headDim
        let fp8 = keys.dtype == .f8e4m3
        let variant = Self.flashPrefillOverride ?? Self.flashPrefillSetting
        guard Self.flashEnabled, variant != "old", state.decodeTiles == nil,
              batch.batch.sequences.contains(where: { $0.queryLength > 1 }),
              d == p.valueDim, d == 64 || d == 128, rows % group == 0,
              [query.dtype, out.dtype].allSatisfy({ $0 == .bf16 }),
              keys.dtype == values.dtype, keys.dtype == .bf16 || fp8,
              query.rows == batch.batch.tokenCount else { return false }
        guard flashOperandsAligned(query: query, keys: keys, values: values, keyHeadStride: keyHeadStride,
                                   valueHeadStride: valueHeadStride, out: out) else { return false }
        let perTile = rows / group
        // Keyed apart from flashAttention's (unsorted) lists by the sign.
        let tiles = try state.tiles(tokensPerTile: -perTile) {
            var list: [(start: Int32, count: Int32, first: Int32, pages: Int32)] = []
            for seq in batch.batch.sequences where seq.queryLength > 0 {
                var i = 0
                while i < seq.queryLength {
                    let n = min(perTile, seq.queryLength - i)
                    list.append((Int32(seq.queryStart + i), Int32(n), Int32(seq.firstPosition + i), Int32(seq.pageTableStart)))
                    i += n
                }
            }
            // Most keys (last position + 1) first; ties keep batch order.
            let ordered = list.enumerated().sorted {
                let a = $0.element.first + $0.element.count, b = $1.element.first + $1.element.count
                return a != b ? a > b : $0.offset < $1.offset
            }.flatMap { [$0.element.start, $0.element.count, $0.element.first, $0.element.pages] }
            return try upload(int32s: ordered.isEmpty ? [0, 0, 0, 0] : ordered, shape: [max(ordered.count, 4)])
        }
        let tileCount = tiles.elementCount / 4
        guard tileCount <= 65535 else { return false }  // grid.y
        // Split-KV only when the blocks leave SMs idle (a short chunk over a long prefix): each
        // split keeps at least two key tiles of the longest sequence.
        let blocks = tileCount * p.kvHeads
        let splits = kvSplits(blocks: blocks, maxKVLength: state.maxKVLength)
        var partialO: Tensor?, partialML: Tensor?
        if splits > 1 {
            partialO = try allocateScratch([blocks * rows * splits, d], dtype: .f32)
            partialML = try allocateScratch([blocks * rows * splits, 2], dtype: .f32)
        }
        var arguments: [KernelArgument] = [
            ptr(query), .int64(Int64(query.rowStride)), ptr(keys), ptr(values), .int64(Int64(keys.rowStride)),
            .int64(Int64(keyHeadStride)), .int64(Int64(values.rowStride)), .int64(Int64(valueHeadStride)),
            ptr(out), .int64(Int64(out.rowStride)), .int(Int32(group)), .float(p.scale * keyScale), .int(Int32(p.slidingWindow ?? 0)),
            ptr(tiles), ptr(state.pageTable), .int(Int32(batch.batch.pageSize)), ptr(partialO), ptr(partialML)]
        // The FP8 wgmma kernel copies e4m3 rows in 16-byte pieces.
        let fp8Aligned16 = [address(keys), address(values)].allSatisfy { $0 % 16 == 0 }
            && [keys.rowStride, values.rowStride, keyHeadStride, valueHeadStride].allSatisfy { $0 % 16 == 0 }
        if let wgmma = wgmmaPrefillKernel(variant: variant, headDim: d, fp8: fp8, fp8Aligned16: fp8Aligned16) {
            // 1024 bytes of alignment slack, Q (128 rows × 128), `stages` × K and V tiles (128 keys × 128)
            // (FP8: 2 bf16 K/V slots + 2 × 32 KiB of e4m3 tiles, the same total as 3 stages).
            if Self.flashPrefillOverride != nil { Self.flashPrefillWgmmaLaunches.increment() }
            if fp8 { arguments.append(.float(valueScale)) }
            try launch(wgmma.name, grid: (p.kvHeads, tileCount, splits), block: 256,
                       sharedBytes: Self.wgmmaPrefillSharedBytes(stages: wgmma.stages), arguments)
        } else {
            let w4 = variant != "w8" && !fp8
            // Two stages of K and V tiles; Q passes through stage 1 (w8) or has its own 128 rows (w4).
            let shared = (w4 ? 6 : 4) * 64 * (d + 8) * 2
            let kernel = fp8 ? "tern_flash_prefill_fp8_d\(d)" : w4 ? "tern_flash_prefill_w4_d\(d)" : "tern_flash_prefill_d\(d)"
            arguments.append(.float(valueScale))
            try launch(kernel, grid: (p.kvHeads, tileCount, splits), block: w4 ? 128 : 256, sharedBytes: shared, arguments)
        }
        if let partialO, let partialML {
            try launch("tern_flash_prefill_combine", grid: (p.kvHeads, tileCount, 1), block: d,
                       [ptr(partialO), ptr(partialML), .int(Int32(splits)), .int(Int32(d)), .int(Int32(group)), ptr(tiles),
                        ptr(out), .int64(Int64(out.rowStride))])
        }
        return true
    }

    /// Shared memory of `tern_flash_prefill_wgmma{2,3}_d128`.
    static func wgmmaPrefillSharedBytes(stages: Int) -> Int { 1024 + 128 * 256 + stages * 2 * 128 * 256 }

    /// The wgmma prefill kernel and its ring depth for this call, nil where it does not apply (another
    /// variant selected, head width other than 128, not sm_90, too little shared memory).
    /// `wgmma3o`: 3 slots, the P·V MMAs of a tile left running under the next tile's barrier, loads and
    /// Q·Kᵀ (one tile prefetched ahead instead of two). `wgmmapp`: wgmma3o with warpgroup 1 half a tile
    /// out of phase (its softmax under warpgroup 0's MMAs and the other way round).
    /// FP8 caches (any wgmma variant, unless TERN_CUDA_PREFILL_FP8=old outside the selftest):
    /// `tern_flash_prefill_wgmma_fp8_d128` (e4m3 tiles decoded to bf16 in shared memory, needs 16-byte
    /// aligned cache rows).
    func wgmmaPrefillKernel(variant: String, headDim: Int, fp8: Bool, fp8Aligned16: Bool = true) -> (name: String, stages: Int)? {
        let kernel: (name: String, stages: Int)
        switch variant {
        case "wgmma3": kernel = fp8 ? ("tern_flash_prefill_wgmma_fp8_d128", 3) : ("tern_flash_prefill_wgmma3_d128", 3)
        case "wgmma", "wgmma3o": kernel = fp8 ? ("tern_flash_prefill_wgmma_fp8_d128", 3) : ("tern_flash_prefill_wgmma3o_d128", 3)
        case "wgmma2": kernel = fp8 ? ("tern_flash_prefill_wgmma_fp8_d128", 3) : ("tern_flash_prefill_wgmma2_d128", 2)
        case "wgmmapp": kernel = fp8 ? ("tern_flash_prefill_wgmma_fp8_d128", 3) : ("tern_flash_prefill_wgmmapp_d128", 3)
        default: return nil
        }
        if fp8 {
            guard fp8Aligned16, Self.flashPrefillOverride != nil || Self.flashPrefillFP8Setting != "old" else { return nil }
        }
        guard headDim == 128, deviceInfo.computeMajor == 9,
              deviceInfo.maxSharedPerBlock >= Self.wgmmaPrefillSharedBytes(stages: kernel.stages) else { return nil }
        return kernel
    }
}
