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
    /// Storage type: the activation type (f32 on the CPU, bf16 on GPUs), bf16, or f8e4m3 (FP8 KV
    /// cache: each element stored as `e4m3(x / scale)` with the layer's per-tensor scale, read back
    /// as `decode(byte) · scale` inside every attention kernel).
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

/// How the KV cache stores its elements (SGLang's `--kv-cache-dtype`).
public enum KVCacheDTypeChoice: String, Sendable, CaseIterable {
    /// The backend's activation type (f32 on the CPU, bf16 on GPUs).
    case auto
    case bf16
    /// FP8 e4m3 with per-layer, per-tensor key and value scales: half the bytes of bf16.
    case fp8E4M3 = "fp8_e4m3"

    /// The storage dtype on a backend whose activations are `activation`.
    public func dtype(activation: DType) -> DType {
        switch self {
        case .auto: return activation
        case .bf16: return .bf16
        case .fp8E4M3: return .f8e4m3
        }
    }
}

/// Paged KV memory of one model: per layer, a `[pages * pageSize, kvHeads * dim]` key tensor and
/// value tensor. Token slot `s` lives at row `s`; page `p` holds slots `p*pageSize ..< (p+1)*pageSize`.
/// The engine owns which pages belong to whom; this type only holds the memory.
///
/// Byte layout (what KV transfer copies): layer `l`'s key row of slot `s` is
/// `kvHeads * keyDim * dtype.byteSize` bytes at row `s` of `keys[l]` (heads side by side), values
/// likewise in `values[l]` (absent for MLA, whose latent rows live in `keys`). With an FP8 cache
/// each byte is an e4m3 code of `x / keyScales[l]` (values: `valueScales[l]`); the scales are
/// per model (from the checkpoint or 1), so both ends of a transfer must use the same ones.
public final class KVCache: @unchecked Sendable {
    public let layout: KVCacheLayout
    public let pageSize: Int
    public let pageCount: Int
    public let keys: [Tensor]
    public let values: [Tensor]
    /// Per layer: stored key = e4m3(key / keyScales[l]) (FP8 caches; 1 and unused otherwise).
    public let keyScales: [Float]
    /// Per layer value scales (MLA: unused, its latent values are the keys).
    public let valueScales: [Float]

    public init(layout: KVCacheLayout, pageSize: Int, pageCount: Int, keys: [Tensor], values: [Tensor],
                keyScales: [Float]? = nil, valueScales: [Float]? = nil) {
        self.layout = layout
        self.pageSize = pageSize
        self.pageCount = pageCount
        self.keys = keys
        self.values = values
        self.keyScales = keyScales ?? Array(repeating: 1, count: keys.count)
        self.valueScales = valueScales ?? Array(repeating: 1, count: keys.count)
    }

    /// The same memory with other scales (models apply their checkpoint's scales to a new cache).
    public func withScales(keys keyScales: [Float], values valueScales: [Float]) -> KVCache {
        KVCache(layout: layout, pageSize: pageSize, pageCount: pageCount, keys: keys, values: values,
                keyScales: keyScales, valueScales: valueScales)
    }

    /// Whether elements are stored as scaled FP8.
    public var isFP8: Bool { layout.dtype == .f8e4m3 }

    public var slotCount: Int { pageSize * pageCount }
}
