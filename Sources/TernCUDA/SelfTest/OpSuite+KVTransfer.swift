import Foundation
import TernBackend
import TernCore

/// The device KV paths of PD disaggregation: gather a sequence's pages into packed rows, copy them
/// to the host and back, scatter them into other pages (another page size too). Byte-exact checks
/// against the rows read straight out of the caches. (The CUDA IPC write needs a second process:
/// scripts/gpu/bench_pd.sh checks it end to end.)
extension OpSuite {
    mutating func kvTransfers() {
        check("kv transfer", "gather/download/upload/scatter, GQA 2x64, 3 layers") { s in try s.kvTransfer(valueDim: 64) }
        check("kv transfer", "MLA-style keys only, d576, 2 layers") { s in try s.kvTransfer(layers: 2, kvHeads: 1, keyDim: 576, valueDim: 0) }
        check("kv transfer", "IPC descriptor of a KV pool") { s in try s.kvDescriptor() }
    }

    /// Random bytes in every slot of every layer of a GPU cache (bf16 values, so any bytes are fine to copy).
    private mutating func fillRandom(_ cache: KVCache) throws {
        for t in cache.keys + cache.values {
            let source = try gpu.upload(floats: values(t.rows * t.rowSize), shape: [t.rows, t.rowSize], as: t.dtype)
            try gpu.copy(source, to: t)
        }
        try gpu.synchronize()
    }

    /// A shuffled list of `count` distinct page ids below `pageCount`.
    private mutating func pages(_ count: Int, of pageCount: Int) -> [Int32] {
        var all = Array(0..<pageCount)
        for i in stride(from: all.count - 1, to: 0, by: -1) { all.swapAt(i, random.below(i + 1)) }
        return all.prefix(count).map { Int32($0) }
    }

    /// Rows of `tokens` tokens of `tensor` at `pages` (host bytes, token-major).
    private func rows(_ tensor: Tensor, tokens: Int, pages: [Int32], pageSize: Int) throws -> [UInt8] {
        let all = try gpu.downloadBytes(tensor)
        let rowBytes = tensor.rowSize * tensor.dtype.byteSize
        var out: [UInt8] = []
        for t in 0..<tokens {
            let slot = Int(pages[t / pageSize]) * pageSize + t % pageSize
            out += all[slot * rowBytes..<(slot + 1) * rowBytes]
        }
        return out
    }

    private static func mismatches(_ a: [UInt8], _ b: [UInt8]) -> Double {
        guard a.count == b.count else { return .infinity }
        return Double(zip(a, b).reduce(0) { $0 + ($1.0 == $1.1 ? 0 : 1) })
    }

    mutating func kvTransfer(layers: Int = 3, kvHeads: Int = 2, keyDim: Int = 64, valueDim: Int) throws {
        let layout = KVCacheLayout(layers: layers, kvHeads: kvHeads, keyDim: keyDim, valueDim: valueDim, dtype: .bf16)
        let tokens = 37
        let source = try gpu.makeKVCache(layout: layout, pageSize: 16, pageCount: 9)
        try fillRandom(source)
        let sourcePages = pages(3, of: 9)
        let exported = try gpu.gatherKV(source, tokens: tokens, pages: sourcePages)
        let (keys, vals) = try gpu.downloadKV(exported)
        var bad = 0.0
        for l in 0..<layers {
            bad += Self.mismatches(keys[l], try rows(source.keys[l], tokens: tokens, pages: sourcePages, pageSize: 16))
            if valueDim > 0 { bad += Self.mismatches(vals[l], try rows(source.values[l], tokens: tokens, pages: sourcePages, pageSize: 16)) }
        }
        record("kv transfer", "gather+download \(layers)L \(kvHeads)x\(keyDim)/\(valueDim)", error: bad, tolerance: 0, note: "mismatched bytes")

        // Into a cache with another page size, through the device (scatter) and through the host (upload).
        let target = try gpu.makeKVCache(layout: layout, pageSize: 4, pageCount: 20)
        let targetPages = pages(10, of: 20)
        try gpu.scatterKV(exported, into: target, pages: targetPages)
        let other = try gpu.makeKVCache(layout: layout, pageSize: 4, pageCount: 20)
        try gpu.scatterKV(try gpu.uploadKV(layout: layout, tokens: tokens, keys: keys, values: vals), into: other, pages: targetPages)
        var badScatter = 0.0, badUpload = 0.0
        for l in 0..<layers {
            badScatter += Self.mismatches(keys[l], try rows(target.keys[l], tokens: tokens, pages: targetPages, pageSize: 4))
            badUpload += Self.mismatches(keys[l], try rows(other.keys[l], tokens: tokens, pages: targetPages, pageSize: 4))
            if valueDim > 0 {
                badScatter += Self.mismatches(vals[l], try rows(target.values[l], tokens: tokens, pages: targetPages, pageSize: 4))
                badUpload += Self.mismatches(vals[l], try rows(other.values[l], tokens: tokens, pages: targetPages, pageSize: 4))
            }
        }
        record("kv transfer", "scatter into page size 4", error: badScatter, tolerance: 0, note: "mismatched bytes")
        record("kv transfer", "upload+scatter (host path)", error: badUpload, tolerance: 0, note: "mismatched bytes")
    }

    mutating func kvDescriptor() throws {
        let layout = KVCacheLayout(layers: 4, kvHeads: 2, keyDim: 64, valueDim: 64, dtype: .bf16)
        let cache = try gpu.makeKVCache(layout: layout, pageSize: 16, pageCount: 8)
        let d = try gpu.exportKVMemory(cache)
        let rowBytes = 2 * 64 * 2
        // Offsets must land each layer where the cache's tensors are, relative to one base.
        let base = cache.keys[0].storage.deviceAddress + UInt64(cache.keys[0].byteOffset) - UInt64(d.keyOffsets[0])
        var bad = 0.0
        for l in 0..<4 {
            if base + UInt64(d.keyOffsets[l]) != cache.keys[l].storage.deviceAddress + UInt64(cache.keys[l].byteOffset) { bad += 1 }
            if base + UInt64(d.valueOffsets[l]) != cache.values[l].storage.deviceAddress + UInt64(cache.values[l].byteOffset) { bad += 1 }
        }
        if d.handle.count != 64 || d.keyRowStride != rowBytes || d.valueRowStride != rowBytes || d.device.isEmpty { bad += 1 }
        record("kv transfer", "IPC descriptor (\(d.device))", error: bad, tolerance: 0, note: "wrong fields")
    }
}
