import TernCore

/// Shape of one model's KV cache: what a token stores per layer.
public struct KVCacheLayout: Sendable, Hashable {
    public var layers: Int
    /// KV heads per token (1 for MLA's shared latent).
    public var kvHeads: Int
    /// Elements per head stored for keys (MLA: kv_lora_rank + qk_rope_head_dim).
    public var keyDim: Int
    /// Elements per head stored for values (0 when values live inside the key entry, as MLA's latent).
    public var valueDim: Int
    public var dtype: DType

    public init(layers: Int, kvHeads: Int, keyDim: Int, valueDim: Int, dtype: DType) {
        self.layers = layers
        self.kvHeads = kvHeads
        self.keyDim = keyDim
        self.valueDim = valueDim
        self.dtype = dtype
    }

    /// Bytes one token occupies across all layers.
    public var bytesPerToken: Int { layers * kvHeads * (keyDim + valueDim) * dtype.byteSize }
}

/// Paged KV memory of one model: per layer, a `[pages * pageSize, kvHeads * dim]` key tensor and
/// value tensor. Token slot `s` lives at row `s`; page `p` holds slots `p*pageSize ..< (p+1)*pageSize`.
/// The engine owns which pages belong to whom; this type only holds the memory.
public final class KVCache: @unchecked Sendable {
    public let layout: KVCacheLayout
    public let pageSize: Int
    public let pageCount: Int
    public let keys: [Tensor]
    public let values: [Tensor]

    public init(layout: KVCacheLayout, pageSize: Int, pageCount: Int, keys: [Tensor], values: [Tensor]) {
        self.layout = layout
        self.pageSize = pageSize
        self.pageCount = pageCount
        self.keys = keys
        self.values = values
    }

    public var slotCount: Int { pageSize * pageCount }
}
