import TernBackend

// PD disaggregation hooks: a prefill server exports a request's prompt KV and first token; a decode
// server reserves pages for it, writes the transferred rows into them and continues the request as
// if it had prefilled it itself.
//
//     prefill:  request.kvExport = { result in ship(result) }; engine.submit(request)
//     decode:   let r = await engine.reserveKV(id:, tokens:)          // pages for the prompt
//               ... transfer ...
//               engine.submitPrefilled(request, start: PrefilledStart(...), sink:)

/// KV rows of a sequence's leading tokens, token-major per layer: `keys[layer]` holds `tokens` rows of
/// `kvHeads * keyDim` elements (and `values[layer]` of `kvHeads * valueDim`; empty for MLA).
/// Independent of page size, so prefill and decode servers may page differently.
public struct KVRows: Sendable {
    public var layout: KVCacheLayout
    public var tokens: Int
    public var keys: [[UInt8]]
    public var values: [[UInt8]]

    public init(layout: KVCacheLayout, tokens: Int, keys: [[UInt8]], values: [[UInt8]]) {
        self.layout = layout
        self.tokens = tokens
        self.keys = keys
        self.values = values
    }

    public var keyRowBytes: Int { layout.kvHeads * layout.keyDim * layout.dtype.byteSize }
    public var valueRowBytes: Int { layout.kvHeads * layout.valueDim * layout.dtype.byteSize }
    public var byteCount: Int { keys.reduce(0) { $0 + $1.count } + values.reduce(0) { $0 + $1.count } }
}

/// A prefill's KV as the engine exports it: host rows (a host KV cache), or rows gathered into a
/// device buffer (a GPU KV cache) that a GPU transport writes straight into the decode side's pages.
public enum ExportedKV: Sendable {
    case host(KVRows)
    case device(DeviceKVRows, any KVDeviceTransfer)

    public var layout: KVCacheLayout {
        switch self {
        case .host(let rows): return rows.layout
        case .device(let rows, _): return rows.layout
        }
    }

    /// Host rows (a device export is copied out: host transports such as TCP).
    public func hostRows() throws -> KVRows {
        switch self {
        case .host(let rows): return rows
        case .device(let rows, let backend):
            let (keys, values) = try backend.downloadKV(rows)
            return KVRows(layout: rows.layout, tokens: rows.tokens, keys: keys, values: values)
        }
    }
}

/// What a prefill server hands to the transfer: the prompt's KV and the token it sampled first.
public struct PrefillExport: Sendable {
    public var requestID: String
    public var promptTokens: Int
    /// Prompt tokens the prefill side found in its prefix cache.
    public var cachedTokens: Int
    public var firstToken: Int
    public var firstLogprob: TokenLogprob?
    public var kv: ExportedKV
}

/// Pages a decode server holds for a request whose KV is on its way.
public struct KVReservation: Sendable, Hashable {
    public var id: String
    public var tokens: Int
    public var pageSize: Int
    public var pages: [Int32]
}

/// How a decode server starts a request whose prompt was computed elsewhere.
public struct PrefilledStart: Sendable {
    public var reservation: KVReservation
    public var firstToken: Int
    public var firstLogprob: TokenLogprob?
    /// Prompt tokens the prefill server served from its cache (reported in usage).
    public var cachedTokens: Int
    /// Rows to write into the reserved pages; nil when the transfer already wrote them (RDMA, NCCL, IPC).
    public var kv: KVRows?

    public init(reservation: KVReservation, firstToken: Int, firstLogprob: TokenLogprob?, cachedTokens: Int, kv: KVRows?) {
        self.reservation = reservation
        self.firstToken = firstToken
        self.firstLogprob = firstLogprob
        self.cachedTokens = cachedTokens
        self.kv = kv
    }
}

extension Engine {
    /// Reserves pages for `tokens` tokens of incoming KV. Returns nil when the pool has no room right
    /// now (try again later); fails when it never could.
    public func reserveKV(id: String, tokens: Int) async -> Result<KVReservation, EngineError>? {
        await withCheckedContinuation { continuation in
            let posted = perform { core in continuation.resume(returning: core.reserveKV(id: id, tokens: tokens)) }
            if !posted { continuation.resume(returning: .failure(.shutDown)) }
        }
    }

    /// Gives back a reservation that will not be used (transfer failed, client left). Unknown ids are ignored.
    public func releaseKV(id: String) {
        perform { core in core.releaseReservation(id) }
    }

    /// The backend's device KV path when this engine's KV cache is in device memory (GPU transports use it).
    public var kvDeviceTransfer: (any KVDeviceTransfer)? { deviceKV }

    /// Makes this engine's device KV cache openable by other processes on the node (CUDA IPC).
    public func kvMemoryDescriptor() throws -> KVMemoryDescriptor {
        guard let device = kvDeviceTransfer else {
            throw EngineError.transferFailed("the KV cache is not in device memory (a GPU transfer needs --device cuda)")
        }
        return try device.exportKVMemory(kvCache)
    }

    /// Starts a request from transferred KV: the reservation's pages become its page table, the first
    /// token is accepted as if sampled here, and decoding continues. Output goes to `sink` as for `submit`.
    public func submitPrefilled(_ request: GenerateRequest, start: PrefilledStart,
                                sink: @escaping @Sendable (StreamEvent) -> Void) {
        let posted = perform { core in core.addPrefilled(request, start: start, sink: sink) }
        if !posted { sink(.failed(.shutDown)) }
    }
}

extension EngineCore {
    func reserveKV(id: String, tokens: Int) -> Result<KVReservation, EngineError>? {
        if reservations[id] != nil || groups[id] != nil { return .failure(.duplicateRequestID(id)) }
        let needed = pool.pages(forTokens: tokens)
        if needed > pool.pageCount { return .failure(.exceedsKVPool(tokensNeeded: tokens, poolTokens: pool.tokenCapacity)) }
        if pool.freePages < needed, let radix { radix.evict(pages: needed - pool.freePages, pool: &pool) }
        var pages: [Int32] = []
        guard pool.allocate(needed, into: &pages) else { return nil }
        reservations[id] = pages
        stats.kvPagesReserved = reservations.values.reduce(0) { $0 + $1.count }
        return .success(KVReservation(id: id, tokens: tokens, pageSize: pool.pageSize, pages: pages))
    }

    func releaseReservation(_ id: String) {
        guard let pages = reservations.removeValue(forKey: id) else { return }
        pool.release(pages)
        stats.kvPagesReserved = reservations.values.reduce(0) { $0 + $1.count }
    }

    /// The backend's device KV path when this engine's KV cache is in device memory; nil when the
    /// cache is host memory (KV moves as host rows).
    var deviceKVTransfer: (any KVDeviceTransfer)? {
        kvCache.keys.first?.storage.host == nil ? model.backend as? KVDeviceTransfer : nil
    }

    /// Called from `accept` for the first token of a prefill-only request.
    func exportPrefill(_ sequence: SequenceState, _ sampled: SampledToken,
                       to export: @Sendable (Result<PrefillExport, EngineError>) -> Void) {
        do {
            let kv: ExportedKV
            if let device = deviceKVTransfer {
                do {
                    kv = .device(try device.gatherKV(kvCache, tokens: sequence.promptCount, pages: sequence.pages), device)
                } catch {
                    throw EngineError.transferFailed("KV export from device memory: \(error)")
                }
            } else {
                kv = .host(try copyRows(tokens: sequence.promptCount, pages: sequence.pages))
            }
            export(.success(PrefillExport(requestID: sequence.group.id, promptTokens: sequence.promptCount,
                                          cachedTokens: sequence.cachedTokens, firstToken: Int(sampled.token),
                                          firstLogprob: sampled.logprob, kv: kv)))
        } catch let error as EngineError {
            export(.failure(error))
        } catch {
            export(.failure(.transferFailed("\(error)")))
        }
    }

    func addPrefilled(_ request: GenerateRequest, start: PrefilledStart, sink: @escaping OutputSink) {
        guard let pages = reservations.removeValue(forKey: start.reservation.id) else {
            stats.failedRequests += 1
            sink(.failed(.transferFailed("no KV reservation '\(start.reservation.id)' (released or never made)")))
            return
        }
        stats.kvPagesReserved = reservations.values.reduce(0) { $0 + $1.count }
        var problem = validate(request)
        let prompt = request.promptTokens.map { Int32($0) }
        if problem == nil && (request.sampling.n != 1 || pages.count < pool.pages(forTokens: prompt.count)) {
            problem = .transferFailed("a prefilled request needs n = 1 and pages for its whole prompt")
        }
        if problem == nil, let rows = start.kv {
            do { try writeRows(rows, tokens: prompt.count, pages: pages) } catch { problem = error }
        }
        if let problem {
            pool.release(pages)
            stats.failedRequests += 1
            sink(.failed(problem))
            return
        }
        let params = request.sampling
        let group = RequestGroup(id: request.id, sink: sink, choices: 1, promptTokens: prompt.count, arrival: now())
        let sequence = SequenceState(
            group: group, choice: 0, tokens: prompt, promptCount: prompt.count,
            sampling: SamplingState(params: params, prompt: prompt, eosTokenIDs: eosTokenIDs, choice: 0),
            text: textDecoders?.makeDecoder(prompt: request.promptTokens), stopStrings: params.stopStrings,
            maxTokens: min(params.maxNewTokens, contextLength - prompt.count), forks: 0)
        group.sequences = [sequence]
        groups[request.id] = group
        stats.promptTokens += prompt.count
        sequence.pages = pages
        sequence.computed = prompt.count
        sequence.cachedTokens = start.cachedTokens
        stats.cachedPromptTokens += start.cachedTokens
        sequence.admittedOnce = true
        sequence.phase = .running
        admissionCounter += 1
        sequence.admissionSerial = admissionCounter
        running.append(sequence)
        // The prefill side drew once from the same seeded stream for this token: stay in step with it.
        _ = sequence.sampling.random.nextUnit()
        sequence.sampling.record(Int32(start.firstToken))
        accept(sequence, SampledToken(token: Int32(start.firstToken), logprob: start.firstLogprob), time: now())
        dropRetired()
    }

    // MARK: row copies (host memory; a device KV cache needs a backend gather/scatter or a GPU transport)

    func copyRows(tokens: Int, pages: [Int32]) throws(EngineError) -> KVRows {
        let layout = kvCache.layout
        var rows = KVRows(layout: layout, tokens: tokens, keys: [], values: [])
        for layer in 0..<layout.layers {
            rows.keys.append(try gather(kvCache.keys[layer], tokens: tokens, pages: pages))
            if layer < kvCache.values.count { rows.values.append(try gather(kvCache.values[layer], tokens: tokens, pages: pages)) }
        }
        return rows
    }

    func writeRows(_ rows: KVRows, tokens: Int, pages: [Int32]) throws(EngineError) {
        guard rows.layout == kvCache.layout, rows.tokens == tokens,
              rows.keys.count == kvCache.keys.count, rows.values.count == kvCache.values.count else {
            throw .transferFailed("transferred KV (\(rows.layout), \(rows.tokens) tokens) does not match this cache "
                                  + "(\(kvCache.layout), \(tokens) tokens)")
        }
        if let device = deviceKVTransfer {
            do {
                let staged = try device.uploadKV(layout: rows.layout, tokens: tokens, keys: rows.keys, values: rows.values)
                try device.scatterKV(staged, into: kvCache, pages: pages)
            } catch {
                throw .transferFailed("KV import into device memory: \(error)")
            }
            return
        }
        for layer in 0..<rows.keys.count { try scatter(rows.keys[layer], into: kvCache.keys[layer], tokens: tokens, pages: pages) }
        for layer in 0..<rows.values.count { try scatter(rows.values[layer], into: kvCache.values[layer], tokens: tokens, pages: pages) }
    }

    /// Runs of consecutive slots: within a page, tokens sit in consecutive rows.
    private func forEachRun(tokens: Int, pages: [Int32], _ body: (_ token: Int, _ slot: Int, _ count: Int) -> Void) {
        let size = pool.pageSize
        var token = 0
        while token < tokens {
            let count = min(size - token % size, tokens - token)
            body(token, Int(pages[token / size]) * size + token % size, count)
            token += count
        }
    }

    private func gather(_ tensor: Tensor, tokens: Int, pages: [Int32]) throws(EngineError) -> [UInt8] {
        guard let base = tensor.storage.host else { throw .transferFailed("KV export from device memory is not supported yet") }
        let rowBytes = tensor.rowSize * tensor.dtype.byteSize
        let strideBytes = tensor.rowStride * tensor.dtype.byteSize
        var out = [UInt8](repeating: 0, count: tokens * rowBytes)
        out.withUnsafeMutableBytes { dst in
            forEachRun(tokens: tokens, pages: pages) { token, slot, count in
                let src = base + tensor.byteOffset + slot * strideBytes
                if strideBytes == rowBytes {
                    (dst.baseAddress! + token * rowBytes).copyMemory(from: src, byteCount: count * rowBytes)
                } else {
                    for r in 0..<count { (dst.baseAddress! + (token + r) * rowBytes).copyMemory(from: src + r * strideBytes, byteCount: rowBytes) }
                }
            }
        }
        return out
    }

    private func scatter(_ bytes: [UInt8], into tensor: Tensor, tokens: Int, pages: [Int32]) throws(EngineError) {
        guard let base = tensor.storage.host else { throw .transferFailed("KV import into device memory is not supported yet") }
        let rowBytes = tensor.rowSize * tensor.dtype.byteSize
        let strideBytes = tensor.rowStride * tensor.dtype.byteSize
        guard bytes.count == tokens * rowBytes else { throw .transferFailed("a layer carries \(bytes.count) bytes, expected \(tokens * rowBytes)") }
        bytes.withUnsafeBytes { src in
            forEachRun(tokens: tokens, pages: pages) { token, slot, count in
                let dst = base + tensor.byteOffset + slot * strideBytes
                if strideBytes == rowBytes {
                    dst.copyMemory(from: src.baseAddress! + token * rowBytes, byteCount: count * rowBytes)
                } else {
                    for r in 0..<count { (dst + r * strideBytes).copyMemory(from: src.baseAddress! + (token + r) * rowBytes, byteCount: rowBytes) }
                }
            }
        }
    }
}
