/// A part of one sequence in this step's batch: tokens `start ..< start + length`.
struct ScheduledChunk {
    let sequence: SequenceState
    let start: Int
    let length: Int
    /// The chunk reaches the end of the sequence's tokens, so its last row's logits pick the next token.
    var wantsLogits: Bool { start + length == sequence.tokens.count }
}

/// Continuous batching: every step carries one token for each decoding sequence, continues
/// chunked prefills, and admits waiting requests while the prefill-token budget and KV memory
/// (free + evictable pages, minus a reserve for running decodes) allow. When pages run out,
/// the prefix cache is evicted first, then the newest running sequences are preempted.
extension EngineCore {
    func schedule() -> [ScheduledChunk] {
        var plan: [ScheduledChunk] = []
        plan.reserveCapacity(running.count + 8)
        var budget = config.prefillBudget
        var index = 0
        while index < running.count {
            let sequence = running[index]
            let pending = sequence.pendingTokens
            let length = pending <= 1 ? pending : chunkLength(pending: pending, budget: budget, planIsEmpty: plan.isEmpty)
            if length == 0 { index += 1; continue }
            guard obtainPages(forTokens: sequence.computed + length, for: sequence, at: index) else { continue }
            plan.append(ScheduledChunk(sequence: sequence, start: sequence.computed, length: length))
            if pending > 1 { budget -= length }
            index += 1
        }
        admit(into: &plan, budget: &budget)
        return plan
    }

    /// Tokens of a prefill to run now: a chunk of the budget, or (chunking off) all or nothing.
    private func chunkLength(pending: Int, budget: Int, planIsEmpty: Bool) -> Int {
        if config.chunkedPrefillSize > 0 { return min(pending, max(0, budget)) }
        return pending <= budget || planIsEmpty ? pending : 0
    }

    /// Makes `sequence` (at `running[index]`) hold pages for `tokens` tokens, evicting cached prefixes and
    /// preempting newer sequences as needed. Returns false when the sequence itself had to leave `running`
    /// (preempted, or finished because it runs alone and memory cannot grow).
    private func obtainPages(forTokens tokens: Int, for sequence: SequenceState, at index: Int) -> Bool {
        let needed = pool.pages(forTokens: tokens) - sequence.pages.count
        guard needed > 0 else { return true }
        while pool.freePages < needed {
            if let radix, radix.evict(pages: needed - pool.freePages, pool: &pool) > 0 { continue }
            if running.count - 1 > index {
                preempt(running.removeLast())
                continue
            }
            running.remove(at: index)
            if running.isEmpty {
                // Alone and still short: the pool cannot hold this sequence any longer.
                // Its last token's output may still be queued: the final delta goes after it.
                retire(sequence)
                var item = PendingOutput(sequence: sequence, token: nil,
                                         delta: OutputDelta(requestID: sequence.group.id, index: sequence.choice, usage: sequence.usage))
                item.reason = .length
                pendingOutput.append(item)
            } else {
                preempt(sequence)
            }
            return false
        }
        _ = pool.allocate(needed, into: &sequence.pages)
        return true
    }

    /// Retracts a running sequence: its computed whole pages go to the prefix cache (so most of it is
    /// found again), the rest is freed, and it waits at the head of the queue to be recomputed.
    func preempt(_ sequence: SequenceState) {
        releaseMemory(sequence)
        sequence.phase = .waiting
        sequence.wasPreempted = true
        stats.preemptions += 1
        waiting.insert(sequence, at: 0)
    }

    /// Pages the running sequences are expected to still need (their unallocated prefill plus a
    /// fraction of their remaining output).
    private func runningReservePages() -> Int {
        var tokens = 0.0
        for sequence in running {
            let promptLeft = max(0, sequence.tokens.count - pool.pageSize * sequence.pages.count)
            tokens += Double(promptLeft) + config.newTokenReserveRatio * Double(sequence.maxTokens - sequence.generated)
        }
        return Int((tokens / Double(pool.pageSize)).rounded(.up))
    }

    private func orderWaiting() {
        guard config.schedulePolicy == .lpm, let radix, waiting.count > 1, waiting.count <= config.lpmQueueLimit else { return }
        // Preempted sequences first, then the longest cached prefix; stable for equal keys.
        let keyed = waiting.enumerated().map { (offset, sequence) in
            (sequence, sequence.wasPreempted, radix.match(sequence.tokens, limit: sequence.tokens.count - 1).pages.count, offset)
        }
        waiting = keyed.sorted { a, b in
            if a.1 != b.1 { return a.1 }
            if a.2 != b.2 { return a.2 > b.2 }
            return a.3 < b.3
        }.map(\.0)
    }

    private func admit(into plan: inout [ScheduledChunk], budget: inout Int) {
        guard !waiting.isEmpty, running.count < config.maxRunningRequests else { return }
        orderWaiting()
        var reserve = runningReservePages()
        var admitted = 0
        for sequence in waiting {
            guard running.count < config.maxRunningRequests, budget > 0 || sequence.pendingTokens <= 1 else { break }
            let match = radix?.match(sequence.tokens, limit: sequence.tokens.count - 1)
            let matchedPages = match?.pages ?? []
            if let node = match?.node { radix?.lock(node) }
            func undoLock() { if let node = match?.node { radix?.unlock(node) } }

            let matchedTokens = matchedPages.count * pool.pageSize
            let pending = sequence.tokens.count - matchedTokens
            let outputReserve = config.newTokenReserveRatio * Double(sequence.maxTokens - sequence.generated)
            let needed = pool.pages(forTokens: sequence.tokens.count) - matchedPages.count
                + Int((outputReserve / Double(pool.pageSize)).rounded(.up))
            let available = pool.freePages + (radix?.evictablePages ?? 0) - reserve
            let alone = running.isEmpty && plan.isEmpty
            if needed > available && !alone { undoLock(); break }
            let length = pending <= 1 ? pending : chunkLength(pending: pending, budget: budget, planIsEmpty: plan.isEmpty)
            if length == 0 { undoLock(); break }
            let pagesForChunk = pool.pages(forTokens: matchedTokens + length) - matchedPages.count
            if pool.freePages < pagesForChunk, let radix { radix.evict(pages: pagesForChunk - pool.freePages, pool: &pool) }
            if pool.freePages < pagesForChunk { undoLock(); break }

            for page in matchedPages { pool.retain(page) }
            sequence.pages = matchedPages
            _ = pool.allocate(pagesForChunk, into: &sequence.pages)
            sequence.computed = matchedTokens
            sequence.lockedNode = match?.node
            if !sequence.admittedOnce {
                sequence.admittedOnce = true
                sequence.cachedTokens = min(matchedTokens, sequence.promptCount)
                stats.cachedPromptTokens += sequence.cachedTokens * (1 + sequence.forks)
            }
            sequence.phase = .running
            admissionCounter += 1
            sequence.admissionSerial = admissionCounter
            running.append(sequence)
            plan.append(ScheduledChunk(sequence: sequence, start: matchedTokens, length: length))
            if pending > 1 { budget -= length }
            reserve += needed
            admitted += 1
        }
        if admitted > 0 { waiting.removeFirst(admitted) }
    }
}
