import Foundation
import TernBackend
import TernCore

/// One attention shape of `tern bench-attention`.
public struct AttentionBenchShape: Sendable {
    public var name: String
    public var heads: Int, kvHeads: Int, headDim: Int, valueDim: Int
    /// MLA's latent cache: one KV head whose first `valueDim` elements are the values.
    public var valuesInKeys: Bool

    public init(name: String, heads: Int, kvHeads: Int, headDim: Int, valueDim: Int, valuesInKeys: Bool) {
        self.name = name
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.valueDim = valueDim
        self.valuesInKeys = valuesInKeys
    }

    /// Llama-3-8B: 32 query heads, 8 KV heads, d 128.
    public static let llama8B = AttentionBenchShape(name: "gqa-llama8b", heads: 32, kvHeads: 8, headDim: 128, valueDim: 128, valuesInKeys: false)
    /// DeepSeek-V3 absorbed decode: 128 heads over one latent head of 512 + 64 rope, values = latent.
    public static let deepSeekV3 = AttentionBenchShape(name: "mla-dsv3", heads: 128, kvHeads: 1, headDim: 576, valueDim: 512, valuesInKeys: true)

    /// Bytes one token's K/V occupy in a cache of `dtype`.
    public func kvBytesPerToken(_ dtype: DType) -> Int {
        kvHeads * (headDim + (valuesInKeys ? 0 : valueDim)) * dtype.byteSize
    }
}

extension CUDABackend {
    /// Median milliseconds of one `attention` call over a paged cache of `dtype`: `batch` sequences
    /// of `context` cached tokens each, `queryLength` new tokens per sequence (1: decode; the
    /// context then includes the new token). Cache and queries hold constant non-zero bytes.
    public func benchAttention(_ s: AttentionBenchShape, dtype: DType, batch: Int, context: Int, queryLength: Int = 1,
                               pageSize: Int = 64, repeats: Int = 10) throws -> Double {
        try bind()
        let pagesPer = (context + pageSize - 1) / pageSize, pageCount = batch * pagesPer
        let layout = KVCacheLayout(layers: 1, kvHeads: s.kvHeads, keyDim: s.headDim, valueDim: s.valuesInKeys ? 0 : s.valueDim, dtype: dtype)
        let cache = try makeKVCache(layout: layout, pageSize: pageSize, pageCount: pageCount)
        // 0x30: e4m3 0.5; bf16 pairs 0x3030 (≈ 6e-10): finite either way.
        for t in cache.keys + cache.values { try fill(t, byte: 0x30) }
        var fb = ForwardBatch(tokenIDs: [], positions: [], slots: [], sequences: [], pageTable: (0..<pageCount).map { Int32($0) },
                              pageSize: pageSize, logitRows: [])
        for b in 0..<batch {
            fb.sequences.append(SequenceSpan(queryStart: b * queryLength, queryLength: queryLength, kvLength: context, pageTableStart: b * pagesPer))
            for j in (context - queryLength)..<context {
                fb.tokenIDs.append(0)
                fb.positions.append(Int32(j))
                fb.slots.append(Int32(b * pagesPer * pageSize + j))
            }
        }
        let prepared = try prepare(fb)
        let tokens = batch * queryLength
        let query = try allocate([tokens, s.heads * s.headDim], dtype: .bf16)
        try fill(query, byte: 0x3C)
        let out = try allocate([tokens, s.heads * s.valueDim], dtype: .bf16)
        let p = AttentionParameters(heads: s.heads, kvHeads: s.kvHeads, headDim: s.headDim, valueDim: s.valueDim,
                                    scale: 1 / Float(s.headDim).squareRoot())
        var times: [Double] = []
        for i in 0..<(repeats + 2) {
            let ms = try time { try attention(query: query, cache: cache, layer: 0, batch: prepared, parameters: p, out: out) }
            if i >= 2 { times.append(ms) }
        }
        return times.sorted()[times.count / 2]
    }
}
