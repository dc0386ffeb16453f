import CCUDA
import Foundation
import TernBackend
import TernCore

/// Decode steps replayed from CUDA graphs, one graph per batch-size bucket. A step of B
/// single-token sequences is padded to its bucket with dummy sequences that write their K/V to
/// `scratchPage`. Every per-step input (ids, positions, slots, page tables sized for
/// `maxPagesPerSequence`, flash tiles) lives in one fixed device buffer per bucket that the host
/// rewrites before each replay; attention's split-KV plan is made once for the worst case
/// (`maxPagesPerSequence × pageSize` tokens). Logits of a replay live in the graph's own buffer
/// and are overwritten by the next replay of that bucket.
public final class CUDADecodeGraphs: @unchecked Sendable {
    let backend: CUDABackend
    public let pageSize: Int
    public let maxPagesPerSequence: Int
    public let scratchPage: Int32
    public let buckets: [Int]

    final class Graph {
        let exec: TernCUgraphExec
        let input: Tensor
        let logits: Tensor
        init(exec: TernCUgraphExec, input: Tensor, logits: Tensor) {
            self.exec = exec
            self.input = input
            self.logits = logits
        }
    }
    private var graphs: [Int: Graph] = [:]

    public init(backend: CUDABackend, pageSize: Int, maxPagesPerSequence: Int, scratchPage: Int,
                buckets: [Int] = [1, 2, 4, 8, 16, 32, 64]) {
        self.backend = backend
        self.pageSize = pageSize
        self.maxPagesPerSequence = maxPagesPerSequence
        self.scratchPage = Int32(scratchPage)
        self.buckets = buckets.sorted()
    }

    /// The smallest bucket holding `sequences`, nil when none does.
    public func bucket(for sequences: Int) -> Int? { buckets.first { $0 >= sequences } }

    /// Whether `batch` is a decode step a graph can serve (one new token per sequence, logits of
    /// every row in order, page lists within `maxPagesPerSequence`).
    public func accepts(_ batch: ForwardBatch) -> Bool {
        guard batch.pageSize == pageSize, bucket(for: batch.sequences.count) != nil,
              batch.tokenCount == batch.sequences.count, batch.logitRows.count == batch.tokenCount else { return false }
        for (i, seq) in batch.sequences.enumerated() {
            let pages = (seq.kvLength + pageSize - 1) / pageSize
            if seq.queryLength != 1 || seq.queryStart != i || batch.logitRows[i] != Int32(i) || pages > maxPagesPerSequence
                || seq.pageTableStart + pages > batch.pageTable.count { return false }
        }
        return true
    }

    /// Logits `[sequences, vocab]` (f32) of the decode step `batch`; `forward` is the model's
    /// forward (it is called only to capture a bucket's graph). The result is valid until the
    /// next call for the same bucket.
    public func forward(_ batch: ForwardBatch, _ forward: (ForwardBatch) throws -> Tensor) throws -> Tensor {
        try backend.expect(accepts(batch), "decode graph: batch is not a decode step within the graph limits")
        let n = batch.sequences.count
        let size = bucket(for: n)!
        let packed = pack(batch, bucket: size)
        let graph: Graph
        if let g = graphs[size] {
            graph = g
            try backend.copyPacked(packed, to: g.input)
        } else {
            graph = try capture(bucket: size, packed: packed, forward)
            graphs[size] = graph
        }
        try backend.bind()
        try backend.driver.check(backend.driver.cuGraphLaunch(graph.exec, backend.stream), "cuGraphLaunch")
        return Tensor(storage: graph.logits.storage, byteOffset: graph.logits.byteOffset, shape: [n, graph.logits.rowSize], dtype: .f32)
    }

    /// Input buffer layout (Int32): ids, positions, slots, logit rows, KV positions, page-list
    /// starts (B each), page table (B × maxPages), flash tiles (4 per sequence).
    func pack(_ batch: ForwardBatch, bucket b: Int) -> [Int32] {
        let m = maxPagesPerSequence
        var ids = [Int32](repeating: 0, count: b)
        var positions = ids
        var kvPositions = ids
        var slots = [Int32](repeating: scratchPage * Int32(pageSize), count: b)
        let rows = (0..<b).map { Int32($0) }
        let pageStarts = (0..<b).map { Int32($0 * m) }
        var table = [Int32](repeating: scratchPage, count: b * m)
        var tiles = [Int32](repeating: 0, count: 4 * b)
        for i in 0..<b {
            tiles[4 * i] = Int32(i); tiles[4 * i + 1] = 1; tiles[4 * i + 3] = Int32(i * m)
        }
        for (i, seq) in batch.sequences.enumerated() {
            ids[i] = batch.tokenIDs[i]
            positions[i] = batch.positions[i]
            slots[i] = batch.slots[i]
            kvPositions[i] = Int32(seq.firstPosition)
            tiles[4 * i + 2] = Int32(seq.firstPosition)
            let pages = (seq.kvLength + pageSize - 1) / pageSize
            for p in 0..<pages { table[i * m + p] = batch.pageTable[seq.pageTableStart + p] }
        }
        return ids + positions + slots + rows + kvPositions + pageStarts + table + tiles
    }

    private func capture(bucket b: Int, packed: [Int32], _ forward: (ForwardBatch) throws -> Tensor) throws -> Graph {
        try backend.expect(backend.profiler == nil, "decode graphs need TERN_CUDA_PROFILE off")
        let m = maxPagesPerSequence, d = backend.driver
        backend.allocator.beginCapture()
        defer { backend.allocator.endCapture(); backend.fixedPrepared = nil }
        let input = try backend.allocate([packed.count], dtype: .i32)
        try backend.copyPacked(packed, to: input)
        var offset = 0
        func view(_ count: Int) -> Tensor {
            defer { offset += count }
            return Tensor(storage: input.storage, byteOffset: offset * 4, shape: [count], dtype: .i32)
        }
        let ids = view(b), positions = view(b), slots = view(b), rows = view(b)
        let state = CUDAAttentionState(tokenPositions: view(b), tokenPageStarts: view(b), pageTable: view(b * m), maxKVLength: m * pageSize)
        state.decodeTiles = view(4 * b)
        // The host description the ops see: worst-case lengths (host decisions are made for them).
        var shape = ForwardBatch(tokenIDs: Array(repeating: 0, count: b), positions: Array(repeating: 0, count: b),
                                 slots: Array(repeating: 0, count: b), sequences: [], pageTable: Array(repeating: scratchPage, count: b * m),
                                 pageSize: pageSize, logitRows: (0..<b).map { Int32($0) })
        shape.sequences = (0..<b).map { SequenceSpan(queryStart: $0, queryLength: 1, kvLength: m * pageSize, pageTableStart: $0 * m) }
        backend.fixedPrepared = PreparedBatch(batch: shape, tokenIDs: ids, positions: positions, slots: slots, logitRows: rows,
                                              attentionState: state)
        // Warm-up outside the capture: compiles and loads kernels, settles GEMM plans.
        _ = try forward(shape)
        try backend.synchronize()
        try d.check(d.cuStreamBeginCapture(backend.stream, 2 /* relaxed: allocations may happen meanwhile */), "cuStreamBeginCapture")
        var logits: Tensor?
        var graph: TernCUgraph?
        do {
            logits = try forward(shape)
        } catch {
            _ = d.cuStreamEndCapture(backend.stream, &graph)
            if let graph { _ = d.cuGraphDestroy(graph) }
            throw error
        }
        try d.check(d.cuStreamEndCapture(backend.stream, &graph), "cuStreamEndCapture")
        defer { _ = d.cuGraphDestroy(graph!) }
        var exec: TernCUgraphExec?
        try d.check(d.cuGraphInstantiateWithFlags(&exec, graph!, 0), "cuGraphInstantiate")
        return Graph(exec: exec!, input: input, logits: logits!)
    }

    deinit {
        for g in graphs.values { _ = backend.driver.cuGraphExecDestroy(g.exec) }
    }
}

extension CUDABackend {
    func copyPacked(_ values: [Int32], to tensor: Tensor) throws {
        try values.withUnsafeBytes { raw in try copyToDevice(raw.baseAddress!, bytes: raw.count, to: address(tensor)) }
    }
}
