import CCUDA
import Foundation
import TernBackend
import TernCore

/// The engine's step on the GPU: decode batches a CUDA graph accepts replay it (`CUDADecodeGraphs`,
/// one graph per batch-size bucket, all captured in `install`, i.e. at start-up); other batches
/// (prefill, mixed, longer than the graphs' context) run the plain forward. Logits stay on the
/// device: rows the engine routes `.device` are sampled there (`tern_sample`) and only their ids
/// come back, through pinned memory after an event; `.host` rows are downloaded as floats.
/// `launch` returns with the work queued, so the engine does host work while the GPU runs.
public final class CUDAStepExecutor: StepExecutor, @unchecked Sendable {
    public struct Options: Sendable, Hashable {
        /// Replay CUDA graphs for decode steps (`--disable-cuda-graph` turns it off).
        public var cudaGraphs: Bool
        /// Largest batch with a graph (`--cuda-graph-max-bs`); nil: min(256, --max-running-requests).
        public var cudaGraphMaxBatchSize: Int?
        /// Longest sequence a graph serves (its page tables and split-KV plan are sized for it);
        /// longer decode steps run plainly. nil: min(context length, 8192).
        public var cudaGraphMaxSequenceLength: Int?
        /// Sample `.device` rows on the GPU (off: every row is downloaded).
        public var gpuSampling: Bool

        public init(cudaGraphs: Bool = true, cudaGraphMaxBatchSize: Int? = nil, cudaGraphMaxSequenceLength: Int? = nil,
                    gpuSampling: Bool = true) {
            self.cudaGraphs = cudaGraphs
            self.cudaGraphMaxBatchSize = cudaGraphMaxBatchSize
            self.cudaGraphMaxSequenceLength = cudaGraphMaxSequenceLength
            self.gpuSampling = gpuSampling
        }
    }

    /// Batch-size buckets graphs are captured for (those ≤ the max batch size, plus it).
    public static let defaultBuckets = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256]

    public let backend: CUDABackend
    public let options: Options
    let vocabSize: Int
    let forward: (ForwardBatch, KVCache) throws -> Tensor
    private var cache: KVCache?
    public private(set) var graphs: CUDADecodeGraphs?
    /// Why graph capture failed (every step then runs plainly); nil when it did not.
    public private(set) var captureError: String?
    /// Seconds `install` spent capturing graphs.
    public private(set) var captureSeconds = 0.0
    /// Steps run by graph replay and plainly (for logs and tests).
    public private(set) var graphSteps = 0
    public private(set) var plainSteps = 0

    // Fixed sampler buffers, sized for `rowCapacity` rows (grown only if a step has more).
    private var rowCapacity = 0
    private var penaltyCapacity = 0
    private var inputs: Tensor?        // rows × 10 words, then penalty ids, then penalty counts (i32)
    private var scratch: Tensor?       // [rowCapacity, vocab] f32, the kernel's working copy
    private var sampled: Tensor?       // [rowCapacity] i32
    private var pinned: UnsafeMutablePointer<Int32>?
    private var done: TernCUevent?
    private var staging: UnsafeMutablePointer<Int32>?  // pinned copy of `inputs`' contents

    /// - Parameter forward: the model's forward (`{ try model.forward($0, cache: $1) }`).
    public init(backend: CUDABackend, vocabSize: Int, options: Options = Options(),
                forward: @escaping (ForwardBatch, KVCache) throws -> Tensor) {
        self.backend = backend
        self.vocabSize = vocabSize
        self.options = options
        self.forward = forward
    }

    public var samplesOnDevice: Bool { options.gpuSampling }
    /// Padded graph rows write their K/V into one page outside the engine's pool.
    public var extraKVPages: Int { graphsEnabled ? 1 : 0 }
    /// Graph capture needs the op profiler off.
    var graphsEnabled: Bool { options.cudaGraphs && backend.profiler == nil }

    /// Graph buckets for a largest batch of `maxBatch`.
    public static func buckets(maxBatch: Int) -> [Int] {
        guard maxBatch > 0 else { return [] }
        var list = defaultBuckets.filter { $0 <= maxBatch }
        if list.last != maxBatch { list.append(maxBatch) }
        return list
    }

    public func install(cache: KVCache, poolPages: Int, limits: StepLimits) throws {
        self.cache = cache
        try backend.bind()
        let d = backend.driver
        if samplesOnDevice {
            try reserveSampler(rows: max(1, min(256, limits.maxRunningRequests)), penalties: 4096)  // grows if a step has more rows
            var event: TernCUevent?
            try d.check(d.cuEventCreate(&event, 2 /* CU_EVENT_DISABLE_TIMING */), "cuEventCreate")
            done = event
        }
        guard graphsEnabled else { return }
        let maxBatch = options.cudaGraphMaxBatchSize ?? min(256, limits.maxRunningRequests)
        let maxLength = min(limits.contextLength, options.cudaGraphMaxSequenceLength ?? 8192)
        let buckets = Self.buckets(maxBatch: maxBatch)
        guard !buckets.isEmpty, maxLength > 0 else { return }
        let pageSize = limits.pageSize
        let graphs = CUDADecodeGraphs(backend: backend, pageSize: pageSize, maxPagesPerSequence: (maxLength + pageSize - 1) / pageSize,
                                      scratchPage: poolPages, buckets: buckets)
        let start = Date()
        // A model whose forward cannot be captured (an op that waits on the host) runs every step plainly.
        do {
            try capture(graphs, cache: cache, scratchPage: poolPages)
        } catch {
            captureError = "\(error)"
            try backend.synchronize()
            return
        }
        captureSeconds = Date().timeIntervalSince(start)
        self.graphs = graphs
    }

    /// One decode step per bucket, of sequences that live in the scratch page, captures every graph.
    private func capture(_ graphs: CUDADecodeGraphs, cache: KVCache, scratchPage: Int) throws {
        let pageSize = graphs.pageSize
        for b in graphs.buckets {
            let batch = ForwardBatch(tokenIDs: Array(repeating: 0, count: b), positions: Array(repeating: 0, count: b),
                                     slots: Array(repeating: Int32(scratchPage * pageSize), count: b),
                                     sequences: (0..<b).map { SequenceSpan(queryStart: $0, queryLength: 1, kvLength: 1, pageTableStart: $0) },
                                     pageTable: Array(repeating: Int32(scratchPage), count: b), pageSize: pageSize,
                                     logitRows: (0..<b).map { Int32($0) })
            _ = try graphs.forward(batch) { try self.forward($0, cache) }
        }
        try backend.synchronize()
    }

    public func launch(_ batch: ForwardBatch, rows: [RowSampling]) throws -> any PendingStepResult {
        guard let cache else { throw BackendError.invalidArgument("cuda step executor used before install") }
        try backend.expect(rows.count == batch.logitRows.count, "step: \(rows.count) sampling rows for \(batch.logitRows.count) logits rows")
        let deviceRows = rows.filter { $0 != .host }.count
        // The rows' settings go up first, from pinned memory, while the stream is idle: nothing in
        // the launch waits for the forward.
        if deviceRows > 0 { try stageSampling(rows) }
        let logits: Tensor
        if let graphs, graphs.accepts(batch) {
            logits = try graphs.forward(batch) { try self.forward($0, cache) }
            graphSteps += 1
        } else {
            logits = try forward(batch, cache)
            plainSteps += 1
        }
        if deviceRows > 0 { try enqueueSampling(logits, rows: rows.count) }
        return CUDAPendingStep(executor: self, logits: logits, rows: rows, sampledOnDevice: deviceRows > 0)
    }

    // MARK: sampling

    private func reserveSampler(rows: Int, penalties: Int) throws {
        var grew = inputs == nil
        if rows > rowCapacity {
            scratch = try backend.allocateScratch([rows, vocabSize], dtype: .f32)
            sampled = try backend.allocateScratch([rows], dtype: .i32)
            if let pinned { _ = backend.driver.cuMemFreeHost(pinned) }
            pinned = nil
            var raw: UnsafeMutableRawPointer?
            try backend.driver.check(backend.driver.cuMemAllocHost(&raw, rows * 4), "cuMemAllocHost(\(rows * 4) bytes)")
            pinned = raw!.bindMemory(to: Int32.self, capacity: rows)
            rowCapacity = rows
            grew = true
        }
        if penalties > penaltyCapacity {
            penaltyCapacity = max(penalties, 2 * penaltyCapacity)
            grew = true
        }
        if grew {
            let count = rowCapacity * 10 + 2 * penaltyCapacity
            inputs = try backend.allocateScratch([count], dtype: .i32)
            if let staging { _ = backend.driver.cuMemFreeHost(staging) }
            staging = nil
            var raw: UnsafeMutableRawPointer?
            try backend.driver.check(backend.driver.cuMemAllocHost(&raw, count * 4), "cuMemAllocHost(\(count * 4) bytes)")
            staging = raw!.bindMemory(to: Int32.self, capacity: count)
        }
    }

    /// Writes the rows' settings into the pinned staging buffer and queues one copy of it to the
    /// device: rows × 10 words (the kernel's `SamplingRow`), penalty ids at `rowCapacity × 10`,
    /// penalty counts `penaltyCapacity` words later. The staging buffer is rewritten only after the
    /// step was waited for.
    private func stageSampling(_ rows: [RowSampling]) throws {
        var penaltyTotal = 0
        for case .device(let r) in rows { penaltyTotal += r.penaltyIDs.count }
        try reserveSampler(rows: rows.count, penalties: penaltyTotal)
        let words = staging!
        let idsOffset = rowCapacity * 10, countsOffset = idsOffset + penaltyCapacity
        var penalties = 0
        for (i, route) in rows.enumerated() {
            let w = words + i * 10
            guard case .device(let r) = route else {
                // Host rows: greedy without penalties (one pass for the kernel); their id is ignored.
                w[0] = 0; w[1] = 0; w[2] = Int32(bitPattern: Float(1).bitPattern); w[3] = 0
                w[4] = Int32(bitPattern: Float(1).bitPattern); w[5] = 0; w[6] = 0; w[7] = 0; w[8] = 0; w[9] = 0
                continue
            }
            r.writeKernelWords(w, penaltyStart: penalties)
            for (k, (id, count)) in zip(r.penaltyIDs, r.penaltyCounts).enumerated() {
                words[idsOffset + penalties + k] = id
                words[countsOffset + penalties + k] = count
            }
            penalties += r.penaltyIDs.count
        }
        let d = backend.driver, inputs = inputs!
        let bytes = (penalties > 0 ? countsOffset + penalties : rows.count * 10) * 4
        try backend.bind()
        try d.check(d.cuMemcpyHtoDAsync(backend.address(inputs), UnsafeRawPointer(words), bytes, backend.stream),
                    "cuMemcpyHtoDAsync(sampling rows, \(bytes) bytes)")
    }

    /// Queues `tern_sample` over the first `rows` rows of `logits` and the copy of its ids into pinned
    /// memory, and records `done` after it.
    private func enqueueSampling(_ logits: Tensor, rows n: Int) throws {
        let inputs = inputs!
        let idsOffset = rowCapacity * 10, countsOffset = idsOffset + penaltyCapacity
        func view(_ offset: Int) -> Tensor { Tensor(storage: inputs.storage, byteOffset: inputs.byteOffset + offset * 4, shape: [1], dtype: .i32) }
        let out = sampled!
        try backend.launch("tern_sample", grid: (n, 1, 1), block: 1024,
                           [backend.ptr(logits), .int64(Int64(logits.rowStride)), .int(Int32(logits.rowSize)), backend.ptr(inputs),
                            backend.ptr(view(idsOffset)), backend.ptr(view(countsOffset)), backend.ptr(scratch!), backend.ptr(out)])
        let d = backend.driver
        try d.check(d.cuMemcpyDtoHAsync(UnsafeMutableRawPointer(pinned!), backend.address(out), n * 4, backend.stream), "cuMemcpyDtoHAsync(sampled ids)")
        try d.check(d.cuEventRecord(done, backend.stream), "cuEventRecord")
    }

    /// Waits for the sampled ids of the last launch.
    func sampledIDs(count: Int) throws -> [Int32] {
        try backend.bind()
        try backend.driver.check(backend.driver.cuEventSynchronize(done), "cuEventSynchronize")
        return Array(UnsafeBufferPointer(start: pinned!, count: count))
    }

    deinit {
        if let pinned { _ = backend.driver.cuMemFreeHost(pinned) }
        if let staging { _ = backend.driver.cuMemFreeHost(staging) }
        if let done { _ = backend.driver.cuEventDestroy(done) }
    }
}

/// A queued GPU step: `wait` blocks for the sampled ids (event) and downloads the host rows.
final class CUDAPendingStep: PendingStepResult {
    let executor: CUDAStepExecutor
    /// Kept alive until the step is read (graph logits stay valid until that bucket's next replay).
    let logits: Tensor
    let rows: [RowSampling]
    let sampledOnDevice: Bool

    init(executor: CUDAStepExecutor, logits: Tensor, rows: [RowSampling], sampledOnDevice: Bool) {
        self.executor = executor
        self.logits = logits
        self.rows = rows
        self.sampledOnDevice = sampledOnDevice
    }

    func wait() throws -> StepOutput {
        let backend = executor.backend
        let tokens = sampledOnDevice ? try executor.sampledIDs(count: rows.count) : [Int32](repeating: 0, count: rows.count)
        var host: [Int32] = []
        for (i, route) in rows.enumerated() where route == .host { host.append(Int32(i)) }
        var hostLogits: [Float] = []
        if host.count == rows.count {
            hostLogits = try backend.downloadFloats(logits)
        } else if !host.isEmpty {
            let vocab = logits.rowSize
            hostLogits.reserveCapacity(host.count * vocab)
            for r in host {
                let row = Tensor(storage: logits.storage, byteOffset: logits.byteOffset + Int(r) * logits.rowStride * 4,
                                 shape: [1, vocab], dtype: .f32)
                hostLogits += try backend.downloadFloats(row)
            }
        } else {
            try backend.bind()  // nothing to download: the ids came back with the event
        }
        return StepOutput(tokens: tokens, hostLogits: hostLogits)
    }
}
