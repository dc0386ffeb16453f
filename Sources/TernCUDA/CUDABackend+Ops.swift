import CCUDA
import Foundation
import TernBackend
import TernCore

/// Per-step attention metadata on the device: each token's KV position and page-list start, and
/// the step's concatenated page table.
final class CUDAAttentionState: @unchecked Sendable {
    let tokenPositions: Tensor
    let tokenPageStarts: Tensor
    let pageTable: Tensor
    let maxKVLength: Int
    /// Query tiles of the flash kernel per tokens-per-tile, built on first use in the step.
    private var tiles: [Int: Tensor] = [:]
    private let lock = NSLock()
    /// Decode graphs: one tile per sequence (one token each) serves every tokens-per-tile.
    var decodeTiles: Tensor?

    func tiles(tokensPerTile: Int, make: () throws -> Tensor) rethrows -> Tensor {
        if let decodeTiles { return decodeTiles }
        lock.lock()
        defer { lock.unlock() }
        if let t = tiles[tokensPerTile] { return t }
        let t = try make()
        tiles[tokensPerTile] = t
        return t
    }

    init(tokenPositions: Tensor, tokenPageStarts: Tensor, pageTable: Tensor, maxKVLength: Int) {
        self.tokenPositions = tokenPositions
        self.tokenPageStarts = tokenPageStarts
        self.pageTable = pageTable
        self.maxKVLength = maxKVLength
    }
}

extension CUDABackend {
    /// The step's query tiles in sequence order, `perTile` query tokens each, as (first token, count,
    /// first position, page-table start) quadruples on the device; built once per step and
    /// tokens-per-tile (flash attention and both MLA kernels share them).
    func queryTiles(_ state: CUDAAttentionState, batch: PreparedBatch, perTile: Int) throws -> Tensor {
        try state.tiles(tokensPerTile: perTile) {
            var list: [Int32] = []
            for seq in batch.batch.sequences where seq.queryLength > 0 {
                var i = 0
                while i < seq.queryLength {
                    let n = min(perTile, seq.queryLength - i)
                    list += [Int32(seq.queryStart + i), Int32(n), Int32(seq.firstPosition + i), Int32(seq.pageTableStart)]
                    i += n
                }
            }
            return try upload(int32s: list.isEmpty ? [0, 0, 0, 0] : list, shape: [max(list.count, 4)])
        }
    }

    /// KV splits for `blocks` attention blocks: 1 when they fill the GPU (`flashTargetBlocks`), else
    /// enough splits to get there, at most 64 and at most one per 128 keys of the longest sequence.
    func kvSplits(blocks: Int, maxKVLength: Int) -> Int {
        blocks >= Self.flashTargetBlocks ? 1 : min(max(1, (maxKVLength + 127) / 128), 64, (Self.flashTargetBlocks + blocks - 1) / blocks)
    }
}

extension CUDABackend {
    public func prepare(_ batch: ForwardBatch) throws -> PreparedBatch {
        if let fixedPrepared { return fixedPrepared }
        let t = batch.tokenCount
        var kvPositions = [Int32](repeating: 0, count: t), pageStarts = [Int32](repeating: 0, count: t)
        var maxKV = 0
        for seq in batch.sequences {
            let pagesNeeded = (seq.kvLength + batch.pageSize - 1) / batch.pageSize
            try expect(seq.pageTableStart + pagesNeeded <= batch.pageTable.count, "page table too short for \(seq.kvLength) tokens")
            for i in 0..<seq.queryLength {
                kvPositions[seq.queryStart + i] = Int32(seq.firstPosition + i)
                pageStarts[seq.queryStart + i] = Int32(seq.pageTableStart)
            }
            maxKV = max(maxKV, seq.kvLength)
        }
        // One upload for all index arrays of the step; tensors are views into it.
        let parts: [[Int32]] = [batch.tokenIDs, batch.positions, batch.slots, batch.logitRows, kvPositions, pageStarts, batch.pageTable]
        let packed = parts.flatMap { $0 }
        let all = try upload(int32s: packed, shape: [max(packed.count, 1)])
        var offset = 0
        func view(_ count: Int) -> Tensor {
            defer { offset += count }
            return Tensor(storage: all.storage, byteOffset: offset * 4, shape: [count], dtype: .i32)
        }
        let ids = view(t), positions = view(t), slots = view(t), logitRows = view(batch.logitRows.count)
        let state = CUDAAttentionState(tokenPositions: view(t), tokenPageStarts: view(t), pageTable: view(batch.pageTable.count),
                                       maxKVLength: maxKV)
        return PreparedBatch(batch: batch, tokenIDs: ids, positions: positions, slots: slots, logitRows: logitRows, attentionState: state)
    }

    public func embedding(ids: Tensor, table: Tensor, out: Tensor) throws {
        try bind()
        try expect(out.rowSize == table.rowSize && out.rows == ids.elementCount, "embedding \(ids.shape) × \(table.shape) → \(out.shape)")
        try launch("tern_embedding", grid: (ids.elementCount, min(max((table.rowSize + 255) / 256, 1), 64), 1), block: 256,
                   [ptr(ids), ptr(table), .int(try Self.code(table.dtype)), .int64(Int64(table.rowStride)), .int(Int32(table.rows)),
                    ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride)), .int(Int32(table.rowSize))])
    }

    public func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float, out: Tensor) throws {
        try norm(x, residual: nil, weight: weight, eps: eps, out: out)
    }

    public func addRMSNorm(_ x: Tensor, residual: Tensor, weight: Tensor, eps: Float, out: Tensor) throws {
        try norm(x, residual: residual, weight: weight, eps: eps, out: out)
    }

    private func norm(_ x: Tensor, residual: Tensor?, weight: Tensor, eps: Float, out: Tensor) throws {
        try bind()
        let group = weight.elementCount, width = x.rowSize
        try expect(width % group == 0 && out.rowSize == width && out.rows == x.rows, "rmsNorm \(x.shape) with weight \(weight.shape) → \(out.shape)")
        if x.rows > 0, group % 8 == 0, weight.dtype == .f32, x.dtype == .bf16, out.dtype == .bf16, residual.map({ $0.dtype == .bf16 }) ?? true,
           Self.aligned16([x, out] + (residual.map { [$0] } ?? [])) {
            // 16-byte path: ≤ 4 chunks of 8 per thread, kept in registers.
            let chunks = group / 8
            let block = min(1024, max(32, (chunks + 31) / 32 * 32))
            if block * 4 >= chunks {
                try launch("tern_rms_norm_bf16x8", grid: (x.rows, width / group, 1), block: block,
                           programmaticDependency: Self.programmaticGEMV,
                           [ptr(x), .int64(Int64(x.rowStride)), ptr(residual), .int64(Int64(residual?.rowStride ?? 0)), ptr(weight),
                            ptr(out), .int64(Int64(out.rowStride)), .int(Int32(group)), .float(eps)])
                return
            }
        }
        try launch("tern_rms_norm", grid: (x.rows, width / group, 1), block: group >= 1024 ? 512 : (group >= 256 ? 256 : 128),
                   [ptr(x), .int(try Self.code(x.dtype)), .int64(Int64(x.rowStride)),
                    ptr(residual), .int(try Self.code(residual?.dtype ?? .f32)), .int64(Int64(residual?.rowStride ?? 0)),
                    ptr(weight), .int(try Self.code(weight.dtype)), ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride)),
                    .int(Int32(group)), .float(eps)])
    }

    public func rope(_ x: Tensor, headDim: Int, rotaryOffset: Int, positions: Tensor, table: RotaryTable) throws {
        try bind()
        let width = x.rowSize, half = table.rotaryDim / 2
        try expect(width % headDim == 0 && rotaryOffset + table.rotaryDim <= headDim, "rope: width \(width), head \(headDim), rotary \(table.rotaryDim)")
        try expect(table.cos.dtype == .f32 && table.sin.dtype == .f32, "rope tables must be f32")
        // One thread per rotated pair: a decode token's 40 heads × 64 pairs spread over 20 blocks
        // instead of looping in one (the loop's dependent loads made it ~15 µs a call).
        try launch("tern_rope", grid: (x.rows, min(max((width / headDim * half + 127) / 128, 1), 64), 1), block: 128,
                   [ptr(x), .int(try Self.code(x.dtype)), .int64(Int64(x.rowStride)), .int(Int32(width / headDim)), .int(Int32(headDim)),
                    .int(Int32(rotaryOffset)), .int(Int32(half)), .int(table.interleaved ? 1 : 0), ptr(positions),
                    ptr(table.cos), ptr(table.sin)])
    }

    /// Whether every tensor's start, row stride and row length are multiples of 16 bytes (the
    /// 16-byte kernels' condition).
    static func aligned16(_ tensors: [Tensor]) -> Bool {
        tensors.allSatisfy { t in
            let e = t.dtype.byteSize
            return (t.storage.deviceAddress + UInt64(t.byteOffset)) % 16 == 0 && (t.rowStride * e) % 16 == 0 && (t.rowSize * e) % 16 == 0
        }
    }

    /// Row copy through the widest unit every address, stride and row length allows.
    func copyRows(source: Tensor, sourceIndex: Tensor?, destination: Tensor, destinationIndex: Tensor?, rows: Int) throws {
        try expect(source.dtype == destination.dtype && source.rowSize == destination.rowSize,
                   "row copy \(source.shape) \(source.dtype) → \(destination.shape) \(destination.dtype)")
        let e = source.dtype.byteSize, rowBytes = source.rowSize * e
        let quantities = [Int(address(source) % 16), Int(address(destination) % 16), source.rowStride * e, destination.rowStride * e, rowBytes]
        let unit = [16, 4, 2, 1].first { u in quantities.allSatisfy { $0 % u == 0 } }!
        let units = rowBytes / unit
        guard rows > 0 && units > 0 else { return }
        let block = 256
        try launch("tern_copy_rows_\(unit)", grid: (rows, min((units + block - 1) / block, 64), 1), block: block,
                   [ptr(source), .int64(Int64(source.rowStride * e / unit)), ptr(sourceIndex),
                    ptr(destination), .int64(Int64(destination.rowStride * e / unit)), ptr(destinationIndex), .int(Int32(units))])
    }

    public func storeKV(key: Tensor, value: Tensor?, cache: KVCache, layer: Int, batch: PreparedBatch) throws {
        try bind()
        if cache.isFP8 {
            try storeFP8(key, into: cache.keys[layer], scale: cache.keyScales[layer], slots: batch.slots)
            if let value { try storeFP8(value, into: cache.values[layer], scale: cache.valueScales[layer], slots: batch.slots) }
            return
        }
        if let value, key.rows > 0, key.rows == value.rows, layer < cache.values.count, key.dtype == cache.keys[layer].dtype, value.dtype == cache.values[layer].dtype,
           key.rowSize == cache.keys[layer].rowSize, value.rowSize == cache.values[layer].rowSize,
           Self.aligned16([key, value, cache.keys[layer], cache.values[layer]]) {
            // Keys and values in one launch (grid.y picks which).
            let keyCache = cache.keys[layer], valueCache = cache.values[layer], e = key.dtype.byteSize
            try launch("tern_store_kv_16", grid: (key.rows, 2, 1), block: 128,
                       [ptr(key), .int64(Int64(key.rowStride * e / 16)), ptr(value), .int64(Int64(value.rowStride * value.dtype.byteSize / 16)),
                        ptr(keyCache), .int64(Int64(keyCache.rowStride * e / 16)),
                        ptr(valueCache), .int64(Int64(valueCache.rowStride * valueCache.dtype.byteSize / 16)),
                        ptr(batch.slots), .int(Int32(key.rowSize * e / 16)), .int(Int32(value.rowSize * value.dtype.byteSize / 16))])
            return
        }
        try copyRows(source: key, sourceIndex: nil, destination: cache.keys[layer], destinationIndex: batch.slots, rows: key.rows)
        if let value {
            try copyRows(source: value, sourceIndex: nil, destination: cache.values[layer], destinationIndex: batch.slots, rows: value.rows)
        }
    }

    /// One launch (`tern_rope_store_kv`) for bf16 q/k/v and a bf16 cache with the rotation over whole
    /// NeoX heads (Llama, Qwen, Mistral); otherwise rope over q and k (one call when they are adjacent
    /// columns, as in a fused qkv row) and storeKV.
    public func ropeAndStoreKV(query: Tensor, key: Tensor, value: Tensor, headDim: Int, positions: Tensor, table: RotaryTable,
                               cache: KVCache, layer: Int, batch: PreparedBatch) throws {
        try bind()
        let rows = query.rows
        if rows > 0, key.rows == rows, value.rows == rows, !cache.isFP8, layer < cache.values.count,
           [query.dtype, key.dtype, value.dtype, cache.keys[layer].dtype, cache.values[layer].dtype].allSatisfy({ $0 == .bf16 }),
           table.rotaryDim == headDim, !table.interleaved, headDim % 2 == 0, table.cos.dtype == .f32, table.sin.dtype == .f32,
           query.rowSize % headDim == 0, key.rowSize % headDim == 0,
           key.rowSize == cache.keys[layer].rowSize, value.rowSize == cache.values[layer].rowSize {
            let total = (query.rowSize + key.rowSize) / 2 + value.rowSize
            try launch("tern_rope_store_kv", grid: (rows, min(max((total + 255) / 256, 1), 64), 1), block: 256,
                       programmaticDependency: Self.programmaticGEMV,
                       [ptr(query), .int64(Int64(query.rowStride)), .int(Int32(query.rowSize / headDim)),
                        ptr(key), .int64(Int64(key.rowStride)), .int(Int32(key.rowSize / headDim)),
                        ptr(value), .int64(Int64(value.rowStride)), .int(Int32(value.rowSize)), .int(Int32(headDim)),
                        ptr(positions), ptr(table.cos), ptr(table.sin),
                        ptr(cache.keys[layer]), .int64(Int64(cache.keys[layer].rowStride)),
                        ptr(cache.values[layer]), .int64(Int64(cache.values[layer].rowStride)), ptr(batch.slots)])
            return
        }
        if query.storage === key.storage, query.rowStride == key.rowStride, query.dtype == key.dtype,
           key.byteOffset == query.byteOffset + query.rowSize * query.dtype.byteSize {
            let both = Tensor(storage: query.storage, byteOffset: query.byteOffset, shape: [rows, query.rowSize + key.rowSize],
                              dtype: query.dtype, rowStride: query.rowStride)
            try rope(both, headDim: headDim, rotaryOffset: 0, positions: positions, table: table)
        } else {
            try rope(query, headDim: headDim, rotaryOffset: 0, positions: positions, table: table)
            try rope(key, headDim: headDim, rotaryOffset: 0, positions: positions, table: table)
        }
        try storeKV(key: key, value: value, cache: cache, layer: layer, batch: batch)
    }

    public func attention(query: Tensor, cache: KVCache, layer: Int, batch: PreparedBatch,
                          parameters p: AttentionParameters, out: Tensor) throws {
        try bind()
        guard let state = batch.attentionState as? CUDAAttentionState else {
            throw BackendError.invalidArgument("cuda: attention needs a batch prepared by the CUDA backend")
        }
        let group = p.heads / p.kvHeads
        try expect(group * p.kvHeads == p.heads, "heads \(p.heads) not a multiple of kv heads \(p.kvHeads)")
        try expect(query.rowSize == p.heads * p.headDim && out.rowSize == p.heads * p.valueDim,
                   "attention: q \(query.shape) / out \(out.shape) for \(p.heads)×\(p.headDim)/\(p.valueDim)")
        try expect(p.valueDim <= 512, "attention value width \(p.valueDim) > 512")
        let keys = cache.keys[layer]
        let values = cache.values.isEmpty ? keys : cache.values[layer]
        let keyHeadStride = keys.rowSize / p.kvHeads
        let valueHeadStride = cache.values.isEmpty ? keyHeadStride : p.valueDim
        let keyScale = cache.isFP8 ? cache.keyScales[layer] : 1
        let valueScale = cache.isFP8 ? (cache.values.isEmpty ? keyScale : cache.valueScales[layer]) : 1
        let tokens = query.rows
        guard tokens > 0 else { return }
        if try mlaAttention(query: query, cache: cache, layer: layer, state: state, batch: batch, parameters: p, out: out) { return }
        if try decodeAttention(query: query, keys: keys, values: values, keyHeadStride: keyHeadStride, valueHeadStride: valueHeadStride,
                               keyScale: keyScale, valueScale: valueScale, state: state, batch: batch, parameters: p, out: out) { return }
        if try flashPrefill(query: query, keys: keys, values: values, keyHeadStride: keyHeadStride, valueHeadStride: valueHeadStride,
                            keyScale: keyScale, valueScale: valueScale, state: state, batch: batch, parameters: p, out: out) { return }
        if try flashAttention(query: query, keys: keys, values: values, keyHeadStride: keyHeadStride, valueHeadStride: valueHeadStride,
                              keyScale: keyScale, valueScale: valueScale, state: state, batch: batch, parameters: p, out: out) { return }
        let warps = tokens * p.heads >= 1024 ? 4 : 8
        let shared = (p.headDim + 2 * warps + warps * p.valueDim) * 4
        try launch("tern_paged_attention", grid: (tokens, p.heads, 1), block: warps * 32, sharedBytes: shared,
                   [ptr(query), .int(try Self.code(query.dtype)), .int64(Int64(query.rowStride)),
                    ptr(keys), ptr(values), .int(try Self.kvCode(keys.dtype)), .int64(Int64(keys.rowStride)), .int64(Int64(keyHeadStride)),
                    .int64(Int64(values.rowStride)), .int64(Int64(valueHeadStride)), .float(keyScale), .float(valueScale),
                    ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride)),
                    .int(Int32(p.heads)), .int(Int32(group)), .int(Int32(p.headDim)), .int(Int32(p.valueDim)), .float(p.scale),
                    .int(Int32(p.slidingWindow ?? 0)), ptr(state.tokenPositions), ptr(state.tokenPageStarts), ptr(state.pageTable),
                    .int(Int32(batch.batch.pageSize))])
    }

    public func siluAndMul(_ gateUp: Tensor, out: Tensor) throws {
        try bind()
        let n = out.rowSize
        try expect(gateUp.rowSize == 2 * n && gateUp.rows == out.rows, "siluAndMul: \(gateUp.shape) → \(out.shape)")
        if out.rows > 0, n % 8 == 0, gateUp.dtype == .bf16, out.dtype == .bf16, Self.aligned16([gateUp, out]) {
            try launch("tern_silu_and_mul_bf16x8", grid: (out.rows, (n / 8 + 255) / 256, 1), block: 256,
                       programmaticDependency: Self.programmaticGEMV,
                       [ptr(gateUp), .int64(Int64(gateUp.rowStride)), ptr(out), .int64(Int64(out.rowStride)), .int(Int32(n))])
            return
        }
        try launch("tern_silu_and_mul", grid: (out.rows, (n + 255) / 256, 1), block: 256,
                   [ptr(gateUp), .int(try Self.code(gateUp.dtype)), .int64(Int64(gateUp.rowStride)),
                    ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride)), .int(Int32(n))])
    }

    public func add(_ a: Tensor, _ b: Tensor, out: Tensor) throws {
        try bind()
        try expect(a.shape == b.shape && a.shape == out.shape, "add: shapes \(a.shape) \(b.shape) \(out.shape)")
        let width = a.rowSize
        try launch("tern_add", grid: (a.rows, (width + 255) / 256, 1), block: 256,
                   [ptr(a), .int(try Self.code(a.dtype)), .int64(Int64(a.rowStride)), ptr(b), .int(try Self.code(b.dtype)), .int64(Int64(b.rowStride)),
                    ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride)), .int(Int32(width))])
    }

    public func gatherRows(_ x: Tensor, rows: Tensor, out: Tensor) throws {
        try bind()
        try copyRows(source: x, sourceIndex: rows, destination: out, destinationIndex: nil, rows: rows.elementCount)
    }

    public func copy(_ source: Tensor, to destination: Tensor) throws {
        try bind()
        try expect(source.rows == destination.rows, "copy: \(source.shape) → \(destination.shape)")
        try copyRows(source: source, sourceIndex: nil, destination: destination, destinationIndex: nil, rows: source.rows)
    }

    public func gatherCachedKeys(cache: KVCache, layer: Int, batch: PreparedBatch, out: Tensor) throws {
        try bind()
        let b = batch.batch
        var slots: [Int32] = []
        for seq in b.sequences {
            for j in 0..<seq.kvLength {
                slots.append(b.pageTable[seq.pageTableStart + j / b.pageSize] * Int32(b.pageSize) + Int32(j % b.pageSize))
            }
        }
        try expect(slots.count <= out.rows, "gatherCachedKeys: output has \(out.rows) rows for \(slots.count)")
        guard !slots.isEmpty else { return }
        let index = try upload(int32s: slots, shape: [slots.count])
        if cache.isFP8 {
            let keys = cache.keys[layer], width = keys.rowSize
            try expect(out.rowSize == width, "gatherCachedKeys: width \(out.rowSize) vs cache \(width)")
            try launch("tern_gather_kv_e4m3", grid: (slots.count, min((width + 255) / 256, 8), 1), block: 256,
                       [ptr(keys), .int64(Int64(keys.rowStride)), ptr(index), ptr(out), .int(try Self.code(out.dtype)),
                        .int64(Int64(out.rowStride)), .int(Int32(width)), .float(cache.keyScales[layer])])
            return
        }
        try copyRows(source: cache.keys[layer], sourceIndex: index, destination: out, destinationIndex: nil, rows: slots.count)
    }

    public func route(_ logits: Tensor, routing r: Routing, expertIDs: Tensor, expertWeights: Tensor) throws {
        try bind()
        let experts = logits.rowSize
        try expect(logits.dtype == .f32 && expertIDs.dtype == .i32 && expertWeights.dtype == .f32, "route: f32 logits, i32 ids, f32 weights")
        try expect(experts % r.groups == 0 && r.topK <= experts && r.topK <= 32 && r.groups <= 256 && expertIDs.rowSize == r.topK,
                   "route: \(experts) experts, \(r.groups) groups, top \(r.topK)")
        if let bias = r.correctionBias { try expect(bias.dtype == .f32, "route: correction bias must be f32") }
        try launch("tern_route", grid: (logits.rows, 1, 1), block: 128, sharedBytes: 2 * experts * 4 + experts,
                   [ptr(logits), .int64(Int64(logits.rowStride)), .int(Int32(experts)), .int(r.scoring == .softmax ? 0 : 1),
                    ptr(r.correctionBias), .int(Int32(r.groups)), .int(Int32(r.topKGroups)), .int(r.groupScore == .max ? 0 : 1),
                    .int(Int32(r.topK)), .int(r.normalize ? 1 : 0), .float(r.scale),
                    ptr(expertIDs), .int64(Int64(expertIDs.rowStride)), ptr(expertWeights), .int64(Int64(expertWeights.rowStride))])
    }

    public func argmax(_ x: Tensor) throws -> [Int32] {
        try bind()
        guard x.rows > 0 else { return [] }
        let out = try allocate([x.rows], dtype: .i32, zeroed: false)
        try launch("tern_argmax", grid: (x.rows, 1, 1), block: 1024,
                   [ptr(x), .int(try Self.code(x.dtype)), .int64(Int64(x.rowStride)), .int(Int32(x.rowSize)), ptr(out)])
        return try downloadInt32s(out)
    }
}
