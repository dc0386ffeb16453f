import TernBackend
import TernCore

/// A causal language model running on some backend. The engine drives it one batched step at
/// a time; the model reads and writes the paged KV cache the engine lays out.
public protocol LanguageModel: AnyObject, Sendable {
    var config: ModelConfig { get }
    var backend: any Backend { get }
    /// What one token occupies in the KV cache.
    var kvLayout: KVCacheLayout { get }
    /// Runs one step and returns the logits of `batch.logitRows`, `[logitRows, vocab]` in fp32.
    func forward(_ batch: ForwardBatch, cache: KVCache) throws -> Tensor
}

extension LanguageModel {
    /// A KV cache of `pageCount` pages for this model.
    public func makeKVCache(pageSize: Int, pageCount: Int) throws -> KVCache {
        try backend.makeKVCache(layout: kvLayout, pageSize: pageSize, pageCount: pageCount)
    }

    /// Pages that fit in `bytes` of KV memory.
    public func pageCount(forBytes bytes: Int, pageSize: Int) -> Int {
        max(0, bytes / (kvLayout.bytesPerToken * pageSize))
    }
}
