import TernCore
import TernBackend
import TernModels

/// The engine's state and its step: admission, batching, the model call, sampling and output.
/// Synchronous and single-owner: `Engine` runs it on its own thread; tests and benchmarks may
/// drive it directly with `step()`.
public final class EngineCore {
    public let model: any LanguageModel
    public let config: EngineConfig
    public let contextLength: Int
    public let eosTokenIDs: [Int]
    let vocabSize: Int
    let kvCache: KVCache
    var pool: PagedKVPool
    let radix: RadixCache?
    let sampler: Sampler
    let textDecoders: (any TextDecoderFactory)?
    var waiting: [SequenceState] = []
    var running: [SequenceState] = []
    var groups: [String: RequestGroup] = [:]
    var stats = EngineMetrics()
    var admissionCounter: UInt64 = 0
    let batchBuilder: BatchBuilder
    /// Seeds for requests without one when `config.randomSeed` is set.
    var seedSource: SplitMix64?
    /// Pages held for KV arriving from a prefill server (PD disaggregation), by request id.
    var reservations: [String: [Int32]] = [:]
    /// Runs the model and samples (plain forward, or CUDA graphs + GPU sampling).
    let executor: any StepExecutor
    /// How the KV pool was sized (logged at start-up).
    public let memoryPlan: KVMemoryPlan
    /// Output work of the last step not done yet (overlap schedule: done while the next step runs).
    var pendingOutput: [PendingOutput] = []
    /// Per-step scratch for the rows' sampling routes (kept to avoid reallocating).
    var rowRoutes: [RowSampling] = []

    /// - Parameters:
    ///   - eosTokenIDs: ids that end generation (default: the model config's).
    ///   - textDecoder: makes per-choice detokenizers; without it outputs carry no text and stop strings are refused.
    ///   - executor: runs the model and samples; default: `ModelStepExecutor` (plain forward, host sampling).
    public init(model: any LanguageModel, config: EngineConfig, eosTokenIDs: [Int]? = nil,
                textDecoder: (any TextDecoderFactory)? = nil, executor: (any StepExecutor)? = nil) throws {
        precondition(config.pageSize > 0, "page size must be positive")
        self.model = model
        self.config = config
        contextLength = config.contextLength ?? model.config.maxPositionEmbeddings
        self.eosTokenIDs = eosTokenIDs ?? model.config.eosTokenIDs
        vocabSize = model.config.vocabSize
        let executor = executor ?? ModelStepExecutor(model: model)
        self.executor = executor
        memoryPlan = KVMemoryPlan(config: config, bytesPerToken: model.kvLayout.bytesPerToken,
                                  device: try model.backend.deviceMemory())
        let pages = memoryPlan.pages
        // One allocation: the pool's pages, then the executor's own (graph padding's scratch page).
        kvCache = try model.makeKVCache(pageSize: config.pageSize, pageCount: pages + executor.extraKVPages)
        pool = PagedKVPool(pageSize: config.pageSize, pageCount: pages)
        radix = config.disableRadixCache ? nil : RadixCache(pageSize: config.pageSize)
        sampler = Sampler(vocabSize: vocabSize)
        textDecoders = textDecoder
        batchBuilder = BatchBuilder(pageSize: config.pageSize)
        stats.kvPagesTotal = pages
        stats.pageSize = config.pageSize
        seedSource = config.randomSeed.map { SplitMix64(seed: $0) }
        try executor.install(cache: kvCache, poolPages: pages,
                             limits: StepLimits(pageSize: config.pageSize, contextLength: contextLength,
                                                maxRunningRequests: config.maxRunningRequests))
    }

    /// Whether a step would do anything.
    public var hasWork: Bool { !waiting.isEmpty || !running.isEmpty || !pendingOutput.isEmpty }

    // MARK: requests

    /// Queues a request; its output goes to `sink`. Invalid requests fail at once through `sink`.
    public func add(_ request: GenerateRequest, sink: @escaping OutputSink) {
        if let error = validate(request) {
            stats.failedRequests += 1
            sink(.failed(error))
            return
        }
        var params = request.sampling
        if params.seed == nil, seedSource != nil { params.seed = seedSource!.next() }
        let prompt = request.promptTokens.map { Int32($0) }
        let group = RequestGroup(id: request.id, sink: sink, choices: params.n, promptTokens: prompt.count, arrival: now())
        let maxTokens = min(params.maxNewTokens, contextLength - prompt.count)
        let sequence = SequenceState(
            group: group, choice: 0, tokens: prompt, promptCount: prompt.count,
            sampling: SamplingState(params: params, prompt: prompt, eosTokenIDs: eosTokenIDs, choice: 0),
            text: textDecoders?.makeDecoder(prompt: request.promptTokens), stopStrings: params.stopStrings,
            maxTokens: maxTokens, forks: params.n - 1)
        group.sequences = [sequence]
        group.kvExport = request.kvExport
        groups[request.id] = group
        stats.promptTokens += prompt.count * params.n
        waiting.append(sequence)
    }

    func validate(_ request: GenerateRequest) -> EngineError? {
        if groups[request.id] != nil { return .duplicateRequestID(request.id) }
        let prompt = request.promptTokens
        if prompt.isEmpty { return .emptyPrompt }
        if let bad = prompt.first(where: { $0 < 0 || $0 >= vocabSize }) { return .invalidToken(id: bad, vocabSize: vocabSize) }
        do { try request.sampling.validate(vocabSize: vocabSize) } catch { return error }
        if !request.sampling.stopStrings.isEmpty && textDecoders == nil { return .stopStringsNeedTextDecoder }
        if prompt.count + 1 > contextLength { return .promptTooLong(tokens: prompt.count, contextLength: contextLength) }
        if pool.pages(forTokens: prompt.count + 1) > pool.pageCount {
            return .exceedsKVPool(tokensNeeded: prompt.count + 1, poolTokens: pool.tokenCapacity)
        }
        return nil
    }

    /// Ends a request: every live choice gets a final delta with reason `abort`. Unknown ids are ignored
    /// (the request may have just finished).
    public func abort(_ id: String) {
        flushOutput()
        guard let group = groups[id] else { return }
        stats.abortedRequests += 1
        var ended = Set<Int>()
        for sequence in group.sequences where sequence.phase != .finished {
            ended.insert(sequence.choice)
            var delta = OutputDelta(requestID: id, index: sequence.choice, finishReason: .abort, usage: sequence.usage)
            delta.text = flushText(sequence)
            retire(sequence)
            group.sink(.delta(delta))
        }
        // Choices of an n > 1 request that were never forked.
        if let parent = group.sequences.first, parent.forks > 0 {
            for choice in (parent.choice + 1)...(parent.choice + parent.forks) where !ended.contains(choice) {
                group.sink(.delta(OutputDelta(requestID: id, index: choice, finishReason: .abort,
                                              usage: Usage(promptTokens: group.promptTokens))))
            }
        }
        group.unfinished = 0
        groups[id] = nil
        group.sink(.finished)
        dropRetired()
    }

    /// Aborts everything (shutdown).
    public func abortAll() {
        for id in Array(groups.keys) { abort(id) }
    }

    // MARK: page ownership

    /// Adds the sequence's computed whole pages to the prefix cache and moves its lock to the new end.
    func cacheComputedPrefix(_ sequence: SequenceState) {
        guard let radix else { return }
        let whole = min(sequence.computed / pool.pageSize, sequence.pages.count)
        guard whole > 0 else { return }
        let node = radix.insert(sequence.tokens, pages: sequence.pages[0..<whole], pool: &pool)
        radix.lock(node)
        if let old = sequence.lockedNode { radix.unlock(old) }
        sequence.lockedNode = node
    }

    /// Gives back a sequence's pages and lock (its whole computed pages stay in the prefix cache).
    func releaseMemory(_ sequence: SequenceState) {
        cacheComputedPrefix(sequence)
        pool.release(sequence.pages)
        sequence.pages.removeAll()
        if let node = sequence.lockedNode { radix?.unlock(node) }
        sequence.lockedNode = nil
        sequence.computed = 0
    }

    /// Frees a sequence for good; `dropRetired` removes it from the queues.
    func retire(_ sequence: SequenceState) {
        releaseMemory(sequence)
        sequence.phase = .finished
    }

    func dropRetired() {
        running.removeAll { $0.phase == .finished }
        waiting.removeAll { $0.phase == .finished }
    }

    // MARK: inspection

    public func metrics() -> EngineMetrics {
        var m = stats
        m.runningRequests = running.count
        m.queuedRequests = waiting.count
        m.kvPagesUsed = pool.usedPages
        m.kvPagesCached = radix?.cachedPages ?? 0
        m.evictedPages = radix?.evictedPages ?? 0
        return m
    }

    /// Problems with page ownership (empty when sound): every page is free, or referenced exactly by the
    /// running sequences' page tables and the prefix cache; no cache node stays locked when idle.
    public func pageAccountingProblems() -> [String] {
        var expected = [Int](repeating: 0, count: pool.pageCount)
        for sequence in running + waiting { for page in sequence.pages { expected[Int(page)] += 1 } }
        for pages in reservations.values { for page in pages { expected[Int(page)] += 1 } }
        for page in radix?.allPages() ?? [] { expected[Int(page)] += 1 }
        var problems: [String] = []
        var referenced = 0
        for page in 0..<pool.pageCount where expected[page] != pool.referenceCount(Int32(page)) {
            problems.append("page \(page): \(pool.referenceCount(Int32(page))) references, \(expected[page]) holders")
        }
        for page in 0..<pool.pageCount where pool.referenceCount(Int32(page)) > 0 { referenced += 1 }
        if referenced != pool.usedPages { problems.append("free list holds \(pool.freePages) pages but \(referenced) are referenced") }
        if !hasWork, radix?.hasLockedNodes == true { problems.append("prefix cache nodes locked while idle") }
        if !hasWork, let radix, radix.evictablePages != radix.cachedPages {
            problems.append("idle cache: \(radix.evictablePages) evictable of \(radix.cachedPages) pages")
        }
        return problems
    }

    /// Pages held by the prefix cache.
    public var cachedPages: Int { radix?.cachedPages ?? 0 }
    public var freePages: Int { pool.freePages }
    public var totalPages: Int { pool.pageCount }
}
