import CCUDA
import Foundation
import TernBackend
import TernCore

extension CUDABackend {
    /// Whether decode steps use `tern_decode_attention*` (TERN_CUDA_DECODE_ATTN=old falls back to the
    /// flash kernel's split-KV path).
    static let decodeKernelEnabled = ProcessInfo.processInfo.environment["TERN_CUDA_DECODE_ATTN"] != "old"
    /// Blocks (tokens × KV heads × splits) a decode launch aims for before keys stop being split:
    /// about 8 per SM of the H200's 132 (2–3 are resident at a time), so waves stay fine-grained
    /// (TERN_CUDA_DECODE_TARGET_BLOCKS overrides; 0 never splits).
    static let decodeTargetBlocks = Int(ProcessInfo.processInfo.environment["TERN_CUDA_DECODE_TARGET_BLOCKS"] ?? "") ?? 1056

    /// Fewest keys per split (TERN_CUDA_DECODE_MIN_SPLIT, a multiple of 64, default 256). Smaller
    /// splits make the batch-1 × 1k kernel faster alone (17.8 vs 21.3 µs) but the decode step slower
    /// (H200, 2026-11-30, Llama-3.1-8B batch 1 with graphs: 64 → 5.32 ms, 128 → 4.99 ms, together
    /// with the one-pass merge and PDL; 256 with neither: 4.62 ms).
    static let decodeMinSplitKeys: Int = {
        let value = ProcessInfo.processInfo.environment["TERN_CUDA_DECODE_MIN_SPLIT"].flatMap { Int($0) } ?? 256
        return max(64, value / 64 * 64)
    }()
    /// How split-KV partials are merged, TERN_CUDA_DECODE_COMBINE: `old` (default, the measured best in
    /// the decode step so far, see `decodeMinSplitKeys`) — the sequential `tern_decode_combine`; `onepass` — the last
    /// block of each (token, KV head) to finish merges them inside the attention kernel (per-pair
    /// counters in `decodeCounters`), no combine launch; `wide` — `tern_decode_combine_w`.
    static let decodeCombineMode: String = {
        let value = ProcessInfo.processInfo.environment["TERN_CUDA_DECODE_COMBINE"] ?? "old"
        return ["onepass", "wide", "old"].contains(value) ? value : "old"
    }()
    /// Selftest only: forces a combine mode ("onepass", "wide", "old") for the calls that follow.
    nonisolated(unsafe) static var decodeCombineOverride: String?
    /// Split-KV decode launches per combine mode while an override is set (selftest: which path ran;
    /// never touched otherwise, so concurrent backends do not race on it).
    nonisolated(unsafe) static var decodeCombineLaunches: [String: Int] = [:]
    /// (token, KV head) counters of the one-pass decode attention (4 bytes each).
    static let decodeCounterCount = 65536
    /// The decode attention kernel and its combine as programmatic dependents (TERN_CUDA_DECODE_PDL=1
    /// turns it on; off by default until measured alone in the decode step; TERN_CUDA_PDL=0 keeps it off): the attention kernel's blocks start while
    /// `tern_rope_store_kv` runs and read positions and page table (host uploads) before
    /// `griddepcontrol.wait`; the combine's blocks start while the attention runs.
    static let decodePDL = programmaticGEMV && ProcessInfo.processInfo.environment["TERN_CUDA_DECODE_PDL"] == "1"

    /// Keys per split and split count for a decode launch over `span` keys at most: splits only
    /// while blocks are short of the target, each split at least `minKeys` keys (tiles of 64), at
    /// most 128 splits.
    static func decodeSplits(blocks: Int, span: Int, target: Int, minKeys: Int = decodeMinSplitKeys) -> (splits: Int, chunk: Int) {
        let span = max(span, 1), minKeys = max(64, minKeys / 64 * 64)
        var splits = 1
        if blocks < target {
            splits = min((target + blocks - 1) / blocks, (span + minKeys - 1) / minKeys, 128)
            splits = max(splits, 1)
        }
        let chunk = ((span + splits - 1) / splits + 63) / 64 * 64
        return ((span + chunk - 1) / chunk, chunk)
    }

    /// Decode attention (every sequence has at most one query token) through the dedicated paged
    /// kernel: bf16 q/out, bf16 or FP8 K/V, key width = value width ∈ {64, 128}, ≤ 16 query heads
    /// per KV head, 16-byte aligned rows. False when the step or shapes don't qualify. Host decisions
    /// depend only on shapes and `maxKVLength` (the worst case inside a decode graph), never on the
    /// step's actual lengths, so the launch is graph-safe; lengths come from `tokenPositions`.
    func decodeAttention(query: Tensor, keys: Tensor, values: Tensor, keyHeadStride: Int, valueHeadStride: Int,
                         keyScale: Float, valueScale: Float, state: CUDAAttentionState, batch: PreparedBatch,
                         parameters p: AttentionParameters, out: Tensor) throws -> Bool {
        let group = p.heads / p.kvHeads, d = p.headDim
        let fp8 = keys.dtype == .f8e4m3
        guard Self.decodeKernelEnabled, d == p.valueDim, d == 64 || d == 128, group >= 1, group <= 16,
              [query.dtype, out.dtype].allSatisfy({ $0 == .bf16 }),
              keys.dtype == values.dtype, keys.dtype == .bf16 || fp8,
              query.rows == batch.batch.tokenCount, query.rows > 0,
              batch.batch.sequences.allSatisfy({ $0.queryLength <= 1 }) else { return false }
        let e = keys.dtype.byteSize
        let aligned = [address(query), address(out), address(keys), address(values)].allSatisfy { $0 % 16 == 0 }
            && [query.rowStride, out.rowStride].allSatisfy { $0 % 8 == 0 }
            && [keys.rowStride, values.rowStride, keyHeadStride, valueHeadStride].allSatisfy { ($0 * e) % 16 == 0 }
        guard aligned else { return false }
        let tokens = query.rows
        let span = p.slidingWindow.map { $0 > 0 ? min($0, state.maxKVLength) : state.maxKVLength } ?? state.maxKVLength
        let (splits, chunk) = Self.decodeSplits(blocks: tokens * p.kvHeads, span: span, target: Self.decodeTargetBlocks)
        var partialO: Tensor?, partialML: Tensor?
        // tern_decode_combine_w and the one-pass merge take at most 128 splits (decodeSplits' cap).
        let mode = Self.decodeCombineOverride ?? Self.decodeCombineMode
        let onePass = splits > 1 && splits <= 128 && mode == "onepass" && tokens * p.kvHeads <= Self.decodeCounterCount
        if splits > 1 {
            partialO = try allocateScratch([tokens * p.heads * splits, d], dtype: .f32)
            partialML = try allocateScratch([tokens * p.heads * splits, 2], dtype: .f32)
        }
        // 3 stages × 64 keys × (padded K row + padded V row); see Kernels/decode_attention.cu.
        let kRow = fp8 ? d + 32 : 2 * d + 64, vRow = d * e + 16
        let shared = 3 * 64 * (kRow + vRow)
        try launch(fp8 ? "tern_decode_attention_fp8_d\(d)" : "tern_decode_attention_d\(d)", grid: (p.kvHeads, tokens, splits),
                   block: 128, sharedBytes: shared, programmaticDependency: Self.decodePDL,
                   [ptr(query), .int64(Int64(query.rowStride)), ptr(keys), ptr(values),
                    .int64(Int64(keys.rowStride)), .int64(Int64(keyHeadStride)), .int64(Int64(values.rowStride)), .int64(Int64(valueHeadStride)),
                    ptr(out), .int64(Int64(out.rowStride)), .int(Int32(group)), .float(p.scale * keyScale), .float(valueScale),
                    .int(Int32(p.slidingWindow ?? 0)), ptr(state.tokenPositions), ptr(state.tokenPageStarts), ptr(state.pageTable),
                    .int(Int32(batch.batch.pageSize)), .int(Int32(chunk)), ptr(partialO), ptr(partialML),
                    .pointer(onePass ? decodeCounters : 0)])
        if splits > 1, Self.decodeCombineOverride != nil {
            Self.decodeCombineLaunches[onePass ? "onepass" : mode == "old" || splits > 128 ? "old" : "wide", default: 0] += 1
        }
        if !onePass, let partialO, let partialML {
            let wide = mode != "old" && splits <= 128
            try launch(wide ? "tern_decode_combine_w" : "tern_decode_combine", grid: (tokens, p.heads, 1), block: d,
                       programmaticDependency: wide && Self.decodePDL,
                       [ptr(partialO), ptr(partialML), .int(Int32(splits)), .int(Int32(d)), ptr(out), .int64(Int64(out.rowStride))])
        }
        return true
    }
}
