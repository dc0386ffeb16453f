import TernBackend
import TernCore

/// A causal language model running on some backend. The engine drives it one batched step at
/// a time; the model reads and writes the paged KV cache the engine lays out.
public protocol LanguageModel: AnyObject, Sendable {
    var config: ModelConfig { get }
    var backend: any Backend { get }
    /// What one token occupies in the KV cache.
    var kvLayout: KVCacheLayout { get }
    /// Per-layer FP8 KV scales (key, value) when the cache is FP8; nil means 1.
    var kvScales: (keys: [Float], values: [Float])? { get }
    /// Runs one step and returns the logits of `batch.logitRows`, `[logitRows, vocab]` in fp32.
    func forward(_ batch: ForwardBatch, cache: KVCache) throws -> Tensor
}

extension LanguageModel {
    public var kvScales: (keys: [Float], values: [Float])? { nil }

    /// A KV cache of `pageCount` pages for this model.
    public func makeKVCache(pageSize: Int, pageCount: Int) throws -> KVCache {
        let cache = try backend.makeKVCache(layout: kvLayout, pageSize: pageSize, pageCount: pageCount)
        guard let scales = kvScales else { return cache }
        return cache.withScales(keys: scales.keys, values: scales.values)
    }

    /// Pages that fit in `bytes` of KV memory.
    public func pageCount(forBytes bytes: Int, pageSize: Int) -> Int {
        max(0, bytes / (kvLayout.bytesPerToken * pageSize))
    }
}
