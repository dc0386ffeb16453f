import TernCore

/// A sequence's KV rows gathered out of the paged cache into one device buffer: for each layer,
/// `tokens` key rows then `tokens` value rows, packed (row bytes = heads x dim x dtype size).
/// Independent of page size, so the two sides of a transfer may page differently.
public struct DeviceKVRows: Sendable {
    public var layout: KVCacheLayout
    public var tokens: Int
    /// u8 device tensor of `byteCount` bytes; freed when the last copy of this value goes.
    public var buffer: Tensor

    public init(layout: KVCacheLayout, tokens: Int, buffer: Tensor) {
        self.layout = layout
        self.tokens = tokens
        self.buffer = buffer
    }

    public var keyRowBytes: Int { layout.kvHeads * layout.keyDim * layout.dtype.byteSize }
    public var valueRowBytes: Int { layout.kvHeads * layout.valueDim * layout.dtype.byteSize }
    public var layerBytes: Int { tokens * (keyRowBytes + valueRowBytes) }
    public var byteCount: Int { layout.layers * layerBytes }
    /// Byte offsets in `buffer` of a layer's key rows and value rows.
    public func keyOffset(_ layer: Int) -> Int { layer * layerBytes }
    public func valueOffset(_ layer: Int) -> Int { layer * layerBytes + tokens * keyRowBytes }
}

/// Where a KV cache lives in device memory, in a form another process on the same node can map
/// (a CUDA IPC handle of the pool's allocation plus where each layer's tensors sit in it).
public struct KVMemoryDescriptor: Sendable, Hashable {
    /// The IPC handle of the allocation holding the cache (64 bytes for CUDA).
    public var handle: [UInt8]
    /// The GPU holding it (PCI bus id), so the opener can tell same-device from peer copies.
    public var device: String
    public var layout: KVCacheLayout
    public var pageSize: Int
    /// Byte offsets from the allocation's base of each layer's key tensor and value tensor (empty: no values).
    public var keyOffsets: [Int]
    public var valueOffsets: [Int]
    /// Bytes between consecutive slots' rows.
    public var keyRowStride: Int
    public var valueRowStride: Int

    public init(handle: [UInt8], device: String, layout: KVCacheLayout, pageSize: Int, keyOffsets: [Int], valueOffsets: [Int],
                keyRowStride: Int, valueRowStride: Int) {
        self.handle = handle
        self.device = device
        self.layout = layout
        self.pageSize = pageSize
        self.keyOffsets = keyOffsets
        self.valueOffsets = valueOffsets
        self.keyRowStride = keyRowStride
        self.valueRowStride = valueRowStride
    }
}

/// A backend whose KV cache lives in device memory and can move a sequence's pages without going
/// through the engine's host code: gather into / scatter out of a packed device buffer, host copies
/// of that buffer (for host transports such as TCP), and writes into another process's cache on the
/// same node (CUDA IPC). Prefill–decode disaggregation uses it when the cache is on a GPU.
public protocol KVDeviceTransfer: AnyObject, Sendable {
    /// Copies the rows of the first `tokens` tokens (pages in order, `cache.pageSize` tokens each) of
    /// every layer into a fresh buffer. Returns once the copy is complete.
    func gatherKV(_ cache: KVCache, tokens: Int, pages: [Int32]) throws -> DeviceKVRows
    /// Writes `rows` into `pages` of `cache`. Returns once the copy is complete.
    func scatterKV(_ rows: DeviceKVRows, into cache: KVCache, pages: [Int32]) throws
    /// Host copies of each layer's key rows and value rows (values empty when the layout has none).
    func downloadKV(_ rows: DeviceKVRows) throws -> (keys: [[UInt8]], values: [[UInt8]])
    /// Device rows from host rows laid out as `downloadKV` returns them.
    func uploadKV(layout: KVCacheLayout, tokens: Int, keys: [[UInt8]], values: [[UInt8]]) throws -> DeviceKVRows
    /// Makes `cache` openable by other processes on this node.
    func exportKVMemory(_ cache: KVCache) throws -> KVMemoryDescriptor
    /// Writes `rows` into `pages` (the peer's page size) of the peer cache `peer` (opened once, then
    /// kept open). Returns once the bytes are in the peer's memory.
    func writeKV(_ rows: DeviceKVRows, toPeer peer: KVMemoryDescriptor, pages: [Int32]) throws
}

/// Consecutive-slot runs of a paged token range: tokens `token ..< token + count` sit in slots
/// `slot ..< slot + count`. Adjacent pages with consecutive ids merge into one run.
public func kvSlotRuns(tokens: Int, pages: [Int32], pageSize: Int) -> [(token: Int, slot: Int, count: Int)] {
    var runs: [(token: Int, slot: Int, count: Int)] = []
    var token = 0
    while token < tokens {
        let count = min(pageSize - token % pageSize, tokens - token)
        let slot = Int(pages[token / pageSize]) * pageSize + token % pageSize
        if let last = runs.last, last.token + last.count == token, last.slot + last.count == slot {
            runs[runs.count - 1].count += count
        } else {
            runs.append((token, slot, count))
        }
        token += count
    }
    return runs
}
