import TernBackend

extension EngineCore {
    /// Runs one scheduling round and, when anything is scheduled, one model step.
    /// Returns false when there was nothing to do.
    ///
    /// Order of work (overlap schedule on): schedule step N, launch its forward and sampling on the
    /// executor, deliver step N−1's outputs (detokenization, stop strings, stream delivery) while the
    /// device runs, wait for step N's ids and record them (tokens, EOS / stop-token / length finishes,
    /// memory of finished sequences). With the overlap off, a step's outputs are delivered at its end.
    @discardableResult
    public func step() -> Bool {
        let start = now()
        let plan = schedule()
        guard !plan.isEmpty else {
            let had = !pendingOutput.isEmpty
            flushOutput()
            stats.schedulerSeconds += now() - start
            return had
        }
        let batch = batchBuilder.build(plan)
        routeRows(plan)
        let modelStart = now()
        var overlapped = 0.0
        let output: StepOutput
        do {
            let pending = try executor.launch(batch, rows: rowRoutes)
            if config.overlapSchedule && !pendingOutput.isEmpty {
                let flushStart = now()
                flushOutput()
                overlapped = now() - flushStart
            }
            output = try pending.wait()
        } catch {
            stats.modelSeconds += now() - modelStart - overlapped
            flushOutput()
            fail(plan, error: .modelFailed("\(error)"))
            return true
        }
        let modelEnd = now()
        stats.modelSeconds += modelEnd - modelStart - overlapped
        stats.steps += 1
        stats.computedTokens += batch.tokenCount
        process(plan, output: output, time: modelEnd)
        if !config.overlapSchedule { flushOutput() }
        stats.schedulerSeconds += (modelStart - start) + (now() - modelEnd) + overlapped
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
        for chunk in plan where chunk.sequence.phase != .finished {  // finished ones delivered their output already
            let group = chunk.sequence.group
            guard failed.insert(ObjectIdentifier(group)).inserted else { continue }
            for sequence in group.sequences where sequence.phase != .finished { retire(sequence) }
            groups[group.id] = nil
            stats.failedRequests += 1
            group.sink(.failed(error))
        }
        dropRetired()
    }

    /// Where each logits row of the plan is sampled: on the device when the executor can and the
    /// row needs nothing only the host sampler does (logprobs, logit bias, min-tokens suppression,
    /// n > 1 forks sample several choices from one row). Device rows take their uniform draw here.
    func routeRows(_ plan: [ScheduledChunk]) {
        rowRoutes.removeAll(keepingCapacity: true)
        let onDevice = executor.samplesOnDevice
        for chunk in plan where chunk.wantsLogits {
            let sequence = chunk.sequence
            guard onDevice, sequence.forks == 0, let row = Self.deviceRow(&sequence.sampling) else {
                rowRoutes.append(.host)
                continue
            }
            rowRoutes.append(.device(row))
        }
    }

    /// The device sampling row for `state`, or nil when the host sampler must do it. Advances the
    /// request's random stream once (as the host sampler does for every token).
    static func deviceRow(_ state: inout SamplingState) -> DeviceSamplingRow? {
        let params = state.params
        guard !params.logprobs, params.topLogprobs == 0, params.logitBias.isEmpty, !state.suppressing else { return nil }
        // Below 1 in fp32 (a draw within 2^-25 of 1 would round up).
        let uniform = min(Float(state.random.nextUnit()), 1 - Float.ulpOfOne / 2)
        var row = DeviceSamplingRow(temperature: params.isGreedy ? 0 : params.temperature, topK: params.topK, topP: params.topP,
                                    minP: params.minP, repetitionPenalty: params.repetitionPenalty,
                                    frequencyPenalty: params.frequencyPenalty, presencePenalty: params.presencePenalty,
                                    uniform: uniform)
        if params.repetitionPenalty != 1 {
            for id in state.seen {
                row.penaltyIDs.append(id)
                row.penaltyCounts.append(state.usesCounts ? state.outputCounts[id] ?? 0 : 0)
            }
        } else if state.usesCounts {
            for (id, count) in state.outputCounts {
                row.penaltyIDs.append(id)
                row.penaltyCounts.append(count)
            }
        }
        return row
    }

    private func process(_ plan: [ScheduledChunk], output: StepOutput, time: Double) {
        let vocab = vocabSize
        var row = 0, hostRow = 0
        output.hostLogits.withUnsafeBufferPointer { all in
            for chunk in plan {
                let sequence = chunk.sequence
                var route: RowSampling?
                var token: Int32 = 0
                var rowLogits: UnsafeBufferPointer<Float>?
                if chunk.wantsLogits {
                    route = rowRoutes[row]
                    token = output.tokens[row]
                    row += 1
                    if case .host = route {
                        rowLogits = UnsafeBufferPointer(rebasing: all[hostRow * vocab..<(hostRow + 1) * vocab])
                        hostRow += 1
                    }
                }
                // Finished while this step ran (a stop string found by the overlapped output work of the
                // previous step): the step's token for it is dropped.
                guard sequence.phase != .finished else { continue }
                sequence.computed += chunk.length
                // Prefill chunks go to the prefix cache right away, so concurrent requests share them.
                if chunk.length > 1 { cacheComputedPrefix(sequence) }
                guard route != nil else { continue }
                if let rowLogits {
                    if sequence.forks > 0 { fork(sequence, logits: rowLogits, time: time) }
                    accept(sequence, sampler.sample(rowLogits, state: &sequence.sampling), time: time)
                } else {
                    sequence.sampling.record(token)
                    accept(sequence, SampledToken(token: token, logprob: nil), time: time)
                }
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

    /// Appends a sampled token and decides what the token alone decides (EOS, stop tokens, length):
    /// a finished sequence gives back its memory now, before the next step is scheduled. Its output
    /// (text, stop strings, the delta) is queued for `flushOutput`.
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
        var item = PendingOutput(sequence: sequence, token: token,
                                 delta: OutputDelta(requestID: sequence.group.id, index: sequence.choice, tokenIDs: [Int(token)],
                                                    logprobs: sampled.logprob.map { [$0] }, usage: sequence.usage))
        if !params.ignoreEOS && eosTokenIDs.contains(Int(token)) {
            item.reason = .stop; item.match = .eos(Int(token))
        } else if params.stopTokenIDs.contains(Int(token)) {
            item.reason = .stop; item.match = .token(Int(token))
        }
        item.atLength = sequence.generated >= sequence.maxTokens
        if item.reason != nil || item.atLength { retire(sequence) }
        pendingOutput.append(item)
    }

    /// The output work of accepted tokens: detokenization, stop strings, finishing and delivering
    /// deltas, in acceptance order.
    public func flushOutput() {
        guard !pendingOutput.isEmpty else { return }
        let items = pendingOutput
        pendingOutput.removeAll(keepingCapacity: true)
        for item in items { deliver(item) }
        dropRetired()
    }

    private func deliver(_ item: PendingOutput) {
        let sequence = item.sequence
        // A finish queued by the scheduler (a lone sequence out of memory) behind this sequence's last
        // token, whose output work just found a stop string: the choice has ended already.
        guard !sequence.ended else { return }
        var delta = item.delta
        var reason = item.reason, match = item.match
        if reason == nil, let token = item.token, let decoder = sequence.text {
            let piece = sequence.stopMatcher.feed(decoder.push(Int(token)))
            delta.text = piece.emit
            if let stop = piece.matched { reason = .stop; match = .string(stop) }
        }
        if reason == nil && item.atLength { reason = .length }
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
        sequence.ended = true
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

/// An accepted token whose output work is still to do.
struct PendingOutput {
    let sequence: SequenceState
    /// nil: no new token, only the finish (the scheduler ran out of memory for a lone sequence).
    let token: Int32?
    var delta: OutputDelta
    /// Decided from the token alone (EOS, stop token).
    var reason: FinishReason?
    var match: StopMatch?
    /// The sequence reached its token budget (finishes with `length` unless a stop string matched).
    var atLength = false

    init(sequence: SequenceState, token: Int32?, delta: OutputDelta) {
        self.sequence = sequence
        self.token = token
        self.delta = delta
    }
}
