import CCUDA
import Foundation
import Synchronization
import TernBackend
import TernCore

/// PD disaggregation on GPUs: a sequence's KV pages gathered into a packed device buffer (the
/// prefill side's export), scattered into reserved pages (a host transport's import), and written
/// straight into another process's KV pool on the same node through CUDA IPC (cuda-ipc transport).
extension CUDABackend: KVDeviceTransfer {
    /// Slot of each of the first `tokens` tokens of a paged sequence.
    static func slots(tokens: Int, pages: [Int32], pageSize: Int) -> [Int32] {
        (0..<tokens).map { pages[$0 / pageSize] * Int32(pageSize) + Int32($0 % pageSize) }
    }

    /// A `[tokens, width]` view of `rows.buffer` at `offset` bytes.
    private func view(_ rows: DeviceKVRows, offset: Int, like tensor: Tensor) -> Tensor {
        Tensor(storage: rows.buffer.storage, byteOffset: rows.buffer.byteOffset + offset, shape: [rows.tokens, tensor.rowSize],
               dtype: tensor.dtype)
    }

    private func checkRows(_ rows: DeviceKVRows, _ cache: KVCache, pages: [Int32]) throws {
        try expect(rows.layout == cache.layout, "KV rows of \(rows.layout) for a cache of \(cache.layout)")
        try expect(pages.count * cache.pageSize >= rows.tokens, "\(pages.count) pages for \(rows.tokens) tokens")
        try expect(pages.allSatisfy { $0 >= 0 && Int($0) < cache.pageCount }, "page id outside the cache")
        for t in cache.keys + cache.values {
            try expect(t.storage.host == nil && t.storage.deviceAddress != 0, "KV cache not in device memory")
        }
        if let k = cache.keys.first { try expect(k.rowSize * k.dtype.byteSize == rows.keyRowBytes, "key row size") }
        if let v = cache.values.first { try expect(v.rowSize * v.dtype.byteSize == rows.valueRowBytes, "value row size") }
    }

    public func gatherKV(_ cache: KVCache, tokens: Int, pages: [Int32]) throws -> DeviceKVRows {
        try bind()
        let probe = DeviceKVRows(layout: cache.layout, tokens: tokens, buffer: Tensor(storage: TensorStorage(byteCount: 0, host: nil), shape: [0], dtype: .u8))
        let buffer = try allocateScratch([max(probe.byteCount, 1)], dtype: .u8)
        let rows = DeviceKVRows(layout: cache.layout, tokens: tokens, buffer: buffer)
        try checkRows(rows, cache, pages: pages)
        guard tokens > 0 else { return rows }
        let index = try upload(int32s: Self.slots(tokens: tokens, pages: pages, pageSize: cache.pageSize), shape: [tokens])
        for l in 0..<cache.layout.layers {
            try copyRows(source: cache.keys[l], sourceIndex: index, destination: view(rows, offset: rows.keyOffset(l), like: cache.keys[l]),
                         destinationIndex: nil, rows: tokens)
            if l < cache.values.count {
                try copyRows(source: cache.values[l], sourceIndex: index,
                             destination: view(rows, offset: rows.valueOffset(l), like: cache.values[l]), destinationIndex: nil, rows: tokens)
            }
        }
        try synchronize()
        return rows
    }

    public func scatterKV(_ rows: DeviceKVRows, into cache: KVCache, pages: [Int32]) throws {
        try bind()
        try checkRows(rows, cache, pages: pages)
        guard rows.tokens > 0 else { return }
        let index = try upload(int32s: Self.slots(tokens: rows.tokens, pages: pages, pageSize: cache.pageSize), shape: [rows.tokens])
        for l in 0..<cache.layout.layers {
            try copyRows(source: view(rows, offset: rows.keyOffset(l), like: cache.keys[l]), sourceIndex: nil,
                         destination: cache.keys[l], destinationIndex: index, rows: rows.tokens)
            if l < cache.values.count {
                try copyRows(source: view(rows, offset: rows.valueOffset(l), like: cache.values[l]), sourceIndex: nil,
                             destination: cache.values[l], destinationIndex: index, rows: rows.tokens)
            }
        }
        try synchronize()
    }

    /// Runs `body` with a stream of its own (transfers run on threads other than the engine's and must
    /// not join its stream, which may be capturing a CUDA graph); synchronizes and destroys it after.
    private func withTransferStream(_ body: (TernCUstream) throws -> Void) throws {
        try bind()
        var s: TernCUstream?
        try driver.check(driver.cuStreamCreate(&s, UInt32(TERN_CU_STREAM_NON_BLOCKING)), "cuStreamCreate")
        guard let stream = s else { throw CUDAError.unavailable("cuStreamCreate returned no stream") }
        defer { _ = driver.cuStreamDestroy(stream) }
        try body(stream)
        try driver.check(driver.cuStreamSynchronize(stream), "cuStreamSynchronize (KV transfer)")
    }

    public func downloadKV(_ rows: DeviceKVRows) throws -> (keys: [[UInt8]], values: [[UInt8]]) {
        let l = rows.layout
        var keys = (0..<l.layers).map { _ in [UInt8](repeating: 0, count: rows.tokens * rows.keyRowBytes) }
        var values = l.valueDim > 0 ? (0..<l.layers).map { _ in [UInt8](repeating: 0, count: rows.tokens * rows.valueRowBytes) } : []
        let base = address(rows.buffer)
        try withTransferStream { stream in
            for layer in 0..<l.layers {
                try keys[layer].withUnsafeMutableBytes { b in
                    guard b.count > 0 else { return }
                    try driver.check(driver.cuMemcpyDtoHAsync(b.baseAddress!, base + UInt64(rows.keyOffset(layer)), b.count, stream),
                                     "cuMemcpyDtoHAsync (KV keys)")
                }
                if layer < values.count {
                    try values[layer].withUnsafeMutableBytes { b in
                        guard b.count > 0 else { return }
                        try driver.check(driver.cuMemcpyDtoHAsync(b.baseAddress!, base + UInt64(rows.valueOffset(layer)), b.count, stream),
                                         "cuMemcpyDtoHAsync (KV values)")
                    }
                }
            }
        }
        return (keys, values)
    }

    public func uploadKV(layout: KVCacheLayout, tokens: Int, keys: [[UInt8]], values: [[UInt8]]) throws -> DeviceKVRows {
        try bind()
        let probe = DeviceKVRows(layout: layout, tokens: tokens, buffer: Tensor(storage: TensorStorage(byteCount: 0, host: nil), shape: [0], dtype: .u8))
        try expect(keys.count == layout.layers && values.count == (layout.valueDim > 0 ? layout.layers : 0), "KV rows: layer count")
        try expect(keys.allSatisfy { $0.count == tokens * probe.keyRowBytes } && values.allSatisfy { $0.count == tokens * probe.valueRowBytes },
                   "KV rows: bytes per layer")
        let rows = DeviceKVRows(layout: layout, tokens: tokens, buffer: try allocateScratch([max(probe.byteCount, 1)], dtype: .u8))
        let base = address(rows.buffer)
        for layer in 0..<layout.layers {
            try keys[layer].withUnsafeBytes { b in
                if b.count > 0 { try copyToDevice(b.baseAddress!, bytes: b.count, to: base + UInt64(rows.keyOffset(layer))) }
            }
            if layer < values.count {
                try values[layer].withUnsafeBytes { b in
                    if b.count > 0 { try copyToDevice(b.baseAddress!, bytes: b.count, to: base + UInt64(rows.valueOffset(layer))) }
                }
            }
        }
        return rows
    }

    /// The PCI bus id of this backend's GPU.
    func pciBusID() throws -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        try driver.check(driver.cuDeviceGetPCIBusId(&buffer, 63, context.device), "cuDeviceGetPCIBusId")
        return String(cString: buffer)
    }

    public func exportKVMemory(_ cache: KVCache) throws -> KVMemoryDescriptor {
        try bind()
        guard let first = cache.keys.first else { throw BackendError.invalidArgument("cuda: a KV cache without layers") }
        try expect(first.storage.host == nil && first.storage.deviceAddress != 0, "KV cache not in device memory")
        var base: TernCUdeviceptr = 0
        var size = 0
        try driver.check(driver.cuMemGetAddressRange(&base, &size, first.storage.deviceAddress), "cuMemGetAddressRange")
        var handle = TernCUipcMemHandle()
        try driver.check(driver.cuIpcGetMemHandle(&handle, base), "cuIpcGetMemHandle")
        let bytes = withUnsafeBytes(of: &handle) { Array($0) }
        func offset(_ t: Tensor) throws -> Int {
            let a = address(t)
            try expect(a >= base && a - base + UInt64(t.rows * t.rowStride * t.dtype.byteSize) <= UInt64(size),
                       "KV tensor outside the pool's allocation")
            return Int(a - base)
        }
        let keyStride = first.rowStride * first.dtype.byteSize
        let valueStride = cache.values.first.map { $0.rowStride * $0.dtype.byteSize } ?? 0
        try expect(cache.keys.allSatisfy { $0.rowStride * $0.dtype.byteSize == keyStride }
                   && cache.values.allSatisfy { $0.rowStride * $0.dtype.byteSize == valueStride }, "KV layers with different strides")
        return KVMemoryDescriptor(handle: bytes, device: try pciBusID(), layout: cache.layout, pageSize: cache.pageSize,
                                  keyOffsets: try cache.keys.map(offset), valueOffsets: try cache.values.map(offset),
                                  keyRowStride: keyStride, valueRowStride: valueStride)
    }

    /// Base address of a peer's pool in this process (opened on first use, kept open).
    private func openPeer(_ peer: KVMemoryDescriptor) throws -> UInt64 {
        try peerMappings.withLock { map throws -> UInt64 in
            if let base = map[peer.handle] { return base }
            try expect(peer.handle.count == MemoryLayout<TernCUipcMemHandle>.size, "IPC handle of \(peer.handle.count) bytes")
            var handle = TernCUipcMemHandle()
            withUnsafeMutableBytes(of: &handle) { $0.copyBytes(from: peer.handle) }
            var base: TernCUdeviceptr = 0
            try driver.check(driver.cuIpcOpenMemHandle(&base, handle, UInt32(TERN_CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS)),
                             "cuIpcOpenMemHandle (peer KV pool on \(peer.device))")
            map[peer.handle] = base
            return base
        }
    }

    public func writeKV(_ rows: DeviceKVRows, toPeer peer: KVMemoryDescriptor, pages: [Int32]) throws {
        try bind()
        try expect(rows.layout == peer.layout, "KV rows of \(rows.layout) for a peer cache of \(peer.layout)")
        try expect(pages.count * peer.pageSize >= rows.tokens, "\(pages.count) peer pages for \(rows.tokens) tokens")
        try expect(peer.keyOffsets.count == rows.layout.layers && peer.valueOffsets.count == (rows.layout.valueDim > 0 ? rows.layout.layers : 0),
                   "peer KV descriptor layer count")
        try expect(peer.keyRowStride >= rows.keyRowBytes && peer.valueRowStride >= rows.valueRowBytes, "peer KV row stride")
        guard rows.tokens > 0 else { return }
        let peerBase = try openPeer(peer)
        let source = address(rows.buffer)
        let runs = kvSlotRuns(tokens: rows.tokens, pages: pages, pageSize: peer.pageSize)
        try withTransferStream { stream in
            func copy(_ dst: UInt64, _ src: UInt64, _ bytes: Int) throws {
                try driver.check(driver.cuMemcpyDtoDAsync(dst, src, bytes, stream), "cuMemcpyDtoDAsync (KV to peer, \(bytes) bytes)")
            }
            for layer in 0..<rows.layout.layers {
                let parts: [(peerOffset: Int, stride: Int, rowBytes: Int, sourceOffset: Int)] =
                    [(peer.keyOffsets[layer], peer.keyRowStride, rows.keyRowBytes, rows.keyOffset(layer))]
                    + (layer < peer.valueOffsets.count ? [(peer.valueOffsets[layer], peer.valueRowStride, rows.valueRowBytes, rows.valueOffset(layer))] : [])
                for part in parts where part.rowBytes > 0 {
                    for run in runs {
                        let dst = peerBase + UInt64(part.peerOffset + run.slot * part.stride)
                        let src = source + UInt64(part.sourceOffset + run.token * part.rowBytes)
                        if part.stride == part.rowBytes {
                            try copy(dst, src, run.count * part.rowBytes)
                        } else {
                            for r in 0..<run.count {
                                try copy(dst + UInt64(r * part.stride), src + UInt64(r * part.rowBytes), part.rowBytes)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Peer KV pools opened through CUDA IPC in this process, by handle (a handle may be opened once).
private let peerMappings = Mutex<[[UInt8]: UInt64]>([:])
