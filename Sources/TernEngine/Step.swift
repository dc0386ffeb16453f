import TernBackend

extension EngineCore {
    /// Runs one scheduling round and, when anything is scheduled, one model step.
    /// Returns false when there was nothing to do.
    @discardableResult
    public func step() -> Bool {
        let start = now()
        let plan = schedule()
        guard !plan.isEmpty else {
            stats.schedulerSeconds += now() - start
            return false
        }
        let batch = batchBuilder.build(plan)
        let modelStart = now()
        let logits: [Float]
        do {
            let output = try model.forward(batch, cache: kvCache)
            logits = try model.backend.downloadFloats(output)
        } catch {
            stats.modelSeconds += now() - modelStart
            fail(plan, error: .modelFailed("\(error)"))
            return true
        }
        let modelEnd = now()
        stats.modelSeconds += modelEnd - modelStart
        stats.steps += 1
        stats.computedTokens += batch.tokenCount
        process(plan, logits: logits, time: modelEnd)
        stats.schedulerSeconds += (modelStart - start) + (now() - modelEnd)
        return true
    }

    /// Steps until every request has finished (tests, offline batches).
    public func runUntilIdle(maxSteps: Int = .max) {
        var steps = 0
        while hasWork && steps < maxSteps {
            step()
            steps += 1
        }
    }

    /// Ends every request that had a sequence in a failed step.
    private func fail(_ plan: [ScheduledChunk], error: EngineError) {
        var failed = Set<ObjectIdentifier>()
        for chunk in plan {
            let group = chunk.sequence.group
            guard failed.insert(ObjectIdentifier(group)).inserted else { continue }
            for sequence in group.sequences where sequence.phase != .finished { retire(sequence) }
            groups[group.id] = nil
            stats.failedRequests += 1
            group.sink(.failed(error))
        }
        dropRetired()
    }

    private func process(_ plan: [ScheduledChunk], logits: [Float], time: Double) {
        let vocab = vocabSize
        var row = 0
        logits.withUnsafeBufferPointer { all in
            for chunk in plan {
                let sequence = chunk.sequence
                sequence.computed += chunk.length
                // Prefill chunks go to the prefix cache right away, so concurrent requests share them.
                if chunk.length > 1 { cacheComputedPrefix(sequence) }
                guard chunk.wantsLogits else { continue }
                let rowLogits = UnsafeBufferPointer(rebasing: all[row * vocab..<(row + 1) * vocab])
                row += 1
                if sequence.forks > 0 { fork(sequence, logits: rowLogits, time: time) }
                accept(sequence, sampler.sample(rowLogits, state: &sequence.sampling), time: time)
            }
        }
        dropRetired()
    }

    /// n > 1: the prompt is computed once; each further choice takes the prompt's whole pages (shared
    /// references, via the prefix cache when enabled), samples its own first token from the same
    /// logits, and recomputes only the prompt's last partial page.
    private func fork(_ parent: SequenceState, logits: UnsafeBufferPointer<Float>, time: Double) {
        let group = parent.group
        cacheComputedPrefix(parent)
        let whole = parent.computed / pool.pageSize
        let prompt = Array(parent.tokens[0..<parent.promptCount])
        for offset in 1...parent.forks {
            let choice = parent.choice + offset
            var params = parent.sampling.params
            params.n = 1
            let child = SequenceState(
                group: group, choice: choice, tokens: prompt, promptCount: parent.promptCount,
                sampling: SamplingState(params: parent.sampling.params, prompt: prompt, eosTokenIDs: eosTokenIDs, choice: choice),
                text: textDecoders?.makeDecoder(prompt: prompt.map { Int($0) }), stopStrings: params.stopStrings,
                maxTokens: parent.maxTokens, forks: 0)
            child.pages = Array(parent.pages[0..<whole])
            for page in child.pages { pool.retain(page) }
            child.computed = whole * pool.pageSize
            child.lockedNode = parent.lockedNode
            if let node = child.lockedNode { radix?.lock(node) }
            child.cachedTokens = parent.cachedTokens
            child.admittedOnce = true
            child.phase = .running
            admissionCounter += 1
            child.admissionSerial = admissionCounter
            group.sequences.append(child)
            running.append(child)
            accept(child, sampler.sample(logits, state: &child.sampling), time: time)
        }
        parent.forks = 0
    }

    /// Appends a sampled token, checks the stop conditions and streams the delta.
    func accept(_ sequence: SequenceState, _ sampled: SampledToken, time: Double) {
        let token = sampled.token
        if sequence.generated == 0, let export = sequence.group.kvExport { exportPrefill(sequence, sampled, to: export) }
        sequence.tokens.append(token)
        stats.generatedTokens += 1
        if sequence.generated == 1 {
            stats.timeToFirstToken.observe(time - sequence.group.arrival)
        } else {
            stats.interTokenLatency.observe(time - sequence.lastTokenTime)
        }
        sequence.lastTokenTime = time

        let params = sequence.sampling.params
        var delta = OutputDelta(requestID: sequence.group.id, index: sequence.choice, tokenIDs: [Int(token)],
                                logprobs: sampled.logprob.map { [$0] }, usage: sequence.usage)
        var reason: FinishReason?
        var match: StopMatch?
        if !params.ignoreEOS && eosTokenIDs.contains(Int(token)) {
            reason = .stop; match = .eos(Int(token))
        } else if params.stopTokenIDs.contains(Int(token)) {
            reason = .stop; match = .token(Int(token))
        } else if let decoder = sequence.text {
            let piece = sequence.stopMatcher.feed(decoder.push(Int(token)))
            delta.text = piece.emit
            if let stop = piece.matched { reason = .stop; match = .string(stop) }
        }
        if reason == nil && sequence.generated >= sequence.maxTokens { reason = .length }
        if let reason {
            finish(sequence, reason: reason, match: match, pendingDelta: delta)
        } else {
            sequence.group.sink(.delta(delta))
        }
    }

    /// Ends a choice: final delta (with any held-back text unless a stop string cut it), memory back.
    func finish(_ sequence: SequenceState, reason: FinishReason, match: StopMatch?, pendingDelta: OutputDelta?) {
        let group = sequence.group
        var delta = pendingDelta ?? OutputDelta(requestID: group.id, index: sequence.choice, usage: sequence.usage)
        delta.finishReason = reason
        delta.matchedStop = match
        if case .string = match {} else { delta.text += flushText(sequence) }
        retire(sequence)
        group.sink(.delta(delta))
        stats.endToEndLatency.observe(now() - group.arrival)
        group.unfinished -= 1
        if group.unfinished == 0 && sequence.forks == 0 {
            groups[group.id] = nil
            stats.finishedRequests += 1
            group.sink(.finished)
        }
    }

    /// Text the decoder and the stop matcher still hold.
    func flushText(_ sequence: SequenceState) -> String {
        guard let decoder = sequence.text else { return "" }
        var matcher = sequence.stopMatcher
        let text = matcher.feed(decoder.flush()).emit + matcher.flush()
        sequence.stopMatcher = matcher
        return text
    }
}
