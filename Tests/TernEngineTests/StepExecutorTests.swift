import Foundation
import Testing
import TernBackend
import TernModels
@testable import TernEngine

/// A stand-in for the CUDA executor on the CPU: decode-only batches count as graph replays, rows
/// routed `.device` are sampled here from the row's settings and uniform (penalties as the GPU
/// kernel applies them), and every call is recorded.
final class FakeDeviceExecutor: StepExecutor {
    let model: any LanguageModel
    let samplesOnDevice: Bool
    let extraKVPages: Int
    var cache: KVCache?
    var poolPages = 0
    var limits: StepLimits?
    /// Sequence counts of the batches a graph would have replayed (decode only), and the others.
    var graphBatches: [Int] = []
    var plainBatches = 0
    var routes: [[RowSampling]] = []
    var onLaunch: (() -> Void)?

    init(model: any LanguageModel, samplesOnDevice: Bool = true, extraKVPages: Int = 1) {
        self.model = model
        self.samplesOnDevice = samplesOnDevice
        self.extraKVPages = extraKVPages
    }

    func install(cache: KVCache, poolPages: Int, limits: StepLimits) throws {
        self.cache = cache
        self.poolPages = poolPages
        self.limits = limits
    }

    func launch(_ batch: ForwardBatch, rows: [RowSampling]) throws -> any PendingStepResult {
        onLaunch?()
        routes.append(rows)
        if batch.sequences.allSatisfy({ $0.queryLength == 1 }) { graphBatches.append(batch.sequences.count) } else { plainBatches += 1 }
        // The engine never hands out the executor's own pages.
        for slot in batch.slots { precondition(Int(slot) / batch.pageSize < poolPages, "slot in the executor's scratch page") }
        let logits = try model.backend.downloadFloats(try model.forward(batch, cache: cache!))
        let vocab = model.config.vocabSize
        var tokens: [Int32] = [], host: [Float] = []
        for (i, route) in rows.enumerated() {
            var row = Array(logits[i * vocab..<(i + 1) * vocab])
            switch route {
            case .host:
                host += row
                tokens.append(0)
            case .device(let d):
                for (id, count) in zip(d.penaltyIDs, d.penaltyCounts) {
                    var v = row[Int(id)]
                    if d.repetitionPenalty != 1 { v = v > 0 ? v / d.repetitionPenalty : v * d.repetitionPenalty }
                    if count > 0 { v -= d.frequencyPenalty * Float(count) + d.presencePenalty }
                    row[Int(id)] = v
                }
                tokens.append(Self.pick(row, d))
            }
        }
        return ReadyStep(StepOutput(tokens: tokens, hostLogits: host))
    }

    static func pick(_ row: [Float], _ d: DeviceSamplingRow) -> Int32 {
        var best = 0
        for i in row.indices where row[i] > row[best] { best = i }
        guard d.temperature > 0 else { return Int32(best) }
        let weights = row.map { Double(expf(($0 - row[best]) / d.temperature)) }
        var target = Double(d.uniform) * weights.reduce(0, +)
        for (i, w) in weights.enumerated() {
            target -= w
            if target < 0 { return Int32(i) }
        }
        return Int32(row.count - 1)
    }
}

@Suite struct StepExecutorTests {
    let letters = WindowedTextDecoderFactory(LetterDecoder())

    // MARK: KV pool sizing

    @Test func devicePoolTakesTheMemFractionLessUsedMemoryAndTheReserve() {
        let gib = 1 << 30
        var config = EngineConfig(pageSize: 16, memFractionStatic: 0.8, deviceReserveBytes: gib)
        let device = DeviceMemory(free: 60 * gib, total: 100 * gib, heldByBackend: 38 * gib)
        // 0.8 × 100 − 40 used − 1 reserve = 39 GiB, at 1 KiB per token: 39 × 2^20 tokens.
        let plan = KVMemoryPlan(config: config, bytesPerToken: 1024, device: device)
        #expect(plan.kvBytes == 39 * gib)
        #expect(plan.pages == 39 * gib / (1024 * 16))
        #expect(plan.tokens == plan.pages * 16)
        #expect(plan.limitedBy == .memFractionStatic)
        // --max-total-tokens caps it …
        config.maxTotalTokens = 1000
        let capped = KVMemoryPlan(config: config, bytesPerToken: 1024, device: device)
        #expect(capped.pages == 62 && capped.limitedBy == .maxTotalTokens)
        // … but never raises it past the budget.
        config.maxTotalTokens = 1 << 40
        #expect(KVMemoryPlan(config: config, bytesPerToken: 1024, device: device).pages == plan.pages)
        // Nothing left: an empty pool, not a negative one.
        let full = DeviceMemory(free: 10 * gib, total: 100 * gib, heldByBackend: 90 * gib)
        #expect(KVMemoryPlan(config: EngineConfig(memFractionStatic: 0.8), bytesPerToken: 1024, device: full).pages == 0)
    }

    @Test func hostPoolUsesTheByteBudgetUnlessTokensAreGiven() {
        let budget = KVMemoryPlan(config: EngineConfig(pageSize: 4, kvCacheBytes: 4096), bytesPerToken: 16, device: nil)
        #expect(budget.pages == 64 && budget.limitedBy == .hostBudget && budget.device == nil)
        let tokens = KVMemoryPlan(config: EngineConfig(maxTotalTokens: 40, pageSize: 4, kvCacheBytes: 4096), bytesPerToken: 16, device: nil)
        #expect(tokens.pages == 10 && tokens.limitedBy == .maxTotalTokens)
    }

    @Test func executorPagesLieOutsideThePool() throws {
        let model = HistoryModel()
        let executor = FakeDeviceExecutor(model: model, extraKVPages: 1)
        let core = try EngineCore(model: model, config: EngineConfig(maxTotalTokens: 64, pageSize: 4), executor: executor)
        #expect(core.totalPages == 16 && executor.poolPages == 16)
        #expect(executor.cache?.pageCount == 17)
        #expect(executor.limits == StepLimits(pageSize: 4, contextLength: 4096, maxRunningRequests: 256))
    }

    // MARK: the executor seam

    @Test func greedyOnTheDeviceExecutorMatchesThePlainEngineAndDecodeStepsReachTheGraphPath() throws {
        let requests = mixedRequests(count: 12, seed: 21, promptLengths: 1...30, outputLengths: 1...25)
        let config = EngineConfig(maxTotalTokens: 2048, pageSize: 4, chunkedPrefillSize: 16)
        let (plain, _) = try runWorkload(HistoryModel(), config: config, requests: requests)
        let model = HistoryModel()
        let executor = FakeDeviceExecutor(model: model)
        let core = try EngineCore(model: model, config: config, executor: executor)
        let out = OutputCollector()
        for request in requests { core.add(request, sink: out.sink(request.id)) }
        core.runUntilIdle()
        for request in requests { #expect(out.tokens(request.id) == plain.tokens(request.id), "\(request.id)") }
        // Every greedy row went to the device; decode-only steps were graph candidates, prefills not.
        #expect(executor.routes.allSatisfy { $0.allSatisfy { $0 != RowSampling.host } })
        #expect(!executor.graphBatches.isEmpty && executor.plainBatches > 0)
        #expect(executor.graphBatches.count + executor.plainBatches == core.metrics().steps)
        #expect(core.pageAccountingProblems().isEmpty)
    }

    @Test func rowsNeedingTheHostSamplerFallBackToDownloadedLogits() throws {
        let model = HistoryModel()
        let executor = FakeDeviceExecutor(model: model)
        let core = try EngineCore(model: model, config: EngineConfig(maxTotalTokens: 1024, pageSize: 4), executor: executor)
        let out = OutputCollector()
        func add(_ id: String, _ params: SamplingParams) {
            var p = params
            p.maxNewTokens = 4
            p.ignoreEOS = true
            core.add(GenerateRequest(id: id, promptTokens: [1, 2, 3], sampling: p), sink: out.sink(id))
        }
        add("greedy", .greedy)
        add("logprobs", SamplingParams(temperature: 0, logprobs: true))
        add("bias", SamplingParams(temperature: 0, logitBias: [5: 1]))
        add("minTokens", SamplingParams(temperature: 0, minTokens: 2, stopTokenIDs: [5]))
        add("n", SamplingParams(temperature: 1, seed: 3, n: 2))
        core.step()  // one prefill step: rows in admission order
        let first = executor.routes[0]
        #expect(first.count == 5)
        #expect(first[0] != RowSampling.host)      // greedy
        #expect(first[1] == RowSampling.host)      // logprobs
        #expect(first[2] == RowSampling.host)      // logit bias
        #expect(first[3] == RowSampling.host)      // min_tokens suppression still on
        #expect(first[4] == RowSampling.host)      // n > 1: both choices sample from this row
        core.runUntilIdle()
        // min_tokens moves to the device once two tokens exist; the forked choices sample there too.
        let later = executor.routes[2]
        #expect(later.filter { $0 == RowSampling.host }.count == 2)  // logprobs and bias only
        #expect(out.choice("logprobs").logprobs.count == 4)
        #expect(out.finished.count == 5)
    }

    @Test func deviceRowsCarryTheRequestsOwnDrawsAndPenalties() throws {
        var params = SamplingParams(temperature: 0.7, topK: 5, topP: 0.9, minP: 0.05, frequencyPenalty: 0.5, presencePenalty: 0.25,
                                    repetitionPenalty: 1.3, seed: 77)
        params.maxNewTokens = 5
        params.ignoreEOS = true
        let model = HistoryModel()
        let executor = FakeDeviceExecutor(model: model)
        let core = try EngineCore(model: model, config: EngineConfig(maxTotalTokens: 256, pageSize: 4), executor: executor)
        let out = OutputCollector()
        core.add(GenerateRequest(id: "a", promptTokens: [4, 4, 9], sampling: params), sink: out.sink("a"))
        core.runUntilIdle()
        var expected = SamplingRandom(seed: 77, choice: 0)
        let rows = executor.routes.map { routes -> DeviceSamplingRow in
            guard case .device(let row) = routes[0] else { fatalError("expected a device row") }
            return row
        }
        #expect(rows.count == 5)
        let tokens = out.tokens("a")
        for (i, row) in rows.enumerated() {
            #expect(row.uniform == Float(expected.nextUnit()))
            #expect(row.temperature == 0.7 && row.topK == 5 && row.topP == 0.9 && row.minP == 0.05)
            #expect(row.repetitionPenalty == 1.3 && row.frequencyPenalty == 0.5 && row.presencePenalty == 0.25)
            // Prompt tokens with count 0, output tokens with their counts so far.
            var counts: [Int32: Int32] = [4: 0, 9: 0]
            for t in tokens[0..<i] { counts[Int32(t), default: 0] += 1 }
            #expect(Dictionary(uniqueKeysWithValues: zip(row.penaltyIDs, row.penaltyCounts)) == counts)
        }
        // The same seed gives the same tokens again.
        let again = OutputCollector()
        let core2 = try EngineCore(model: model, config: EngineConfig(maxTotalTokens: 256, pageSize: 4),
                                   executor: FakeDeviceExecutor(model: model))
        core2.add(GenerateRequest(id: "a", promptTokens: [4, 4, 9], sampling: params), sink: again.sink("a"))
        core2.runUntilIdle()
        #expect(again.tokens("a") == tokens)
    }

    @Test func greedyWithPenaltiesGivesTheSameTokensOnTheDeviceRouteAsOnTheHost() throws {
        var params = SamplingParams(temperature: 0, frequencyPenalty: 1.5, presencePenalty: 0.5, repetitionPenalty: 1.2)
        params.maxNewTokens = 12
        params.ignoreEOS = true
        let requests = [GenerateRequest(id: "p", promptTokens: [3, 1, 4, 1, 5], sampling: params)]
        let config = EngineConfig(maxTotalTokens: 256, pageSize: 4)
        let (host, _) = try runWorkload(HistoryModel(scale: 0.5), config: config, requests: requests)
        let model = HistoryModel(scale: 0.5)
        let core = try EngineCore(model: model, config: config, executor: FakeDeviceExecutor(model: model))
        let out = OutputCollector()
        core.add(requests[0], sink: out.sink("p"))
        core.runUntilIdle()
        #expect(out.tokens("p") == host.tokens("p"))
        #expect(out.tokens("p").count == 12)
    }

    // MARK: overlap

    /// A workload with everything output processing does: stop strings (which finish a step late
    /// under the overlap), EOS, length, n > 1, logprobs, seeded sampling, preemption pressure.
    func overlapWorkload() -> [GenerateRequest] {
        var random = WorkloadRandom(state: 5)
        return (0..<24).map { i in
            var p = SamplingParams(temperature: i % 3 == 0 ? 0 : 0.8, topK: i % 4 == 1 ? 8 : 0, seed: UInt64(i))
            p.maxNewTokens = random.int(4...30)
            if i % 3 == 2 { p.stopStrings = ["ab", "e"] }
            if i % 7 == 3 { p.n = 2 }
            if i % 6 == 4 { p.logprobs = true; p.topLogprobs = 2 }
            if i % 8 == 5 { p.stopTokenIDs = [9, 17] }
            return GenerateRequest(id: "o\(i)", promptTokens: random.tokens(random.int(2...40)), sampling: p)
        }
    }

    func run(overlap: Bool, device: Bool) throws -> (OutputCollector, EngineCore) {
        let config = EngineConfig(maxTotalTokens: 256, pageSize: 4, chunkedPrefillSize: 24, overlapSchedule: overlap)
        let model = HistoryModel(eos: 7, scale: 1)
        let executor: (any StepExecutor)? = device ? FakeDeviceExecutor(model: model) : nil
        let core = try EngineCore(model: model, config: config, textDecoder: letters, executor: executor)
        let out = OutputCollector()
        let requests = overlapWorkload()
        var step = 0
        var next = 0
        while next < requests.count || core.hasWork {
            while next < requests.count && next <= step * 2 {
                core.add(requests[next], sink: out.sink(requests[next].id))
                next += 1
            }
            core.step()
            step += 1
            precondition(step < 100_000)
        }
        return (out, core)
    }

    @Test(arguments: [false, true])
    func overlapOnAndOffGiveTheSameOutputs(device: Bool) throws {
        let (on, coreOn) = try run(overlap: true, device: device)
        let (off, coreOff) = try run(overlap: false, device: device)
        #expect(on.finished.count == 24 && off.finished.count == 24)
        #expect(on.errors.isEmpty && off.errors.isEmpty)
        for request in overlapWorkload() {
            for index in 0..<request.sampling.n {
                let a = on.choice(request.id, index), b = off.choice(request.id, index)
                #expect(a.tokens == b.tokens, "\(request.id)/\(index)")
                #expect(a.text == b.text && a.finish == b.finish && a.match == b.match && a.usage == b.usage, "\(request.id)/\(index)")
                #expect(a.logprobs == b.logprobs && a.deltas == b.deltas, "\(request.id)/\(index)")
            }
        }
        #expect(on.choices.values.contains { $0.values.contains { if case .string = $0.match { true } else { false } } })
        #expect(coreOn.pageAccountingProblems().isEmpty && coreOff.pageAccountingProblems().isEmpty)
        #expect(!coreOn.hasWork && !coreOff.hasWork)
    }

    @Test func withOverlapAStepsOutputIsDeliveredWhileTheNextStepRuns() throws {
        func order(overlap: Bool) throws -> [String] {
            let model = HistoryModel()
            let executor = FakeDeviceExecutor(model: model)
            let core = try EngineCore(model: model, config: EngineConfig(maxTotalTokens: 256, pageSize: 4, overlapSchedule: overlap),
                                      executor: executor)
            let events = EventLog()
            executor.onLaunch = { events.items.append("launch") }
            var params = SamplingParams.greedy
            params.maxNewTokens = 3
            params.ignoreEOS = true
            core.add(GenerateRequest(id: "a", promptTokens: [1, 2], sampling: params)) { event in
                if case .delta = event { events.items.append("delta") }
            }
            core.runUntilIdle()
            return events.items
        }
        #expect(try order(overlap: false) == ["launch", "delta", "launch", "delta", "launch", "delta"])
        #expect(try order(overlap: true) == ["launch", "launch", "delta", "launch", "delta", "delta"])
    }

    /// A lone sequence whose pool cannot grow finishes with `length` from the scheduler; under the
    /// overlap its previous token's output is still queued then, and when that token completes a stop
    /// string the choice has already ended: it must not get a second final delta (or `.finished`).
    @Test func aStopStringCompletedJustBeforeThePoolRunsOutEndsTheChoiceOnce() throws {
        func run(overlap: Bool, stop: [String]) throws -> (events: [String], text: String, tokens: [Int], core: EngineCore) {
            let core = try EngineCore(model: HistoryModel(), config: EngineConfig(maxTotalTokens: 8, pageSize: 4, overlapSchedule: overlap),
                                      textDecoder: letters)
            var params = SamplingParams.greedy
            params.maxNewTokens = 100
            params.ignoreEOS = true
            params.stopStrings = stop
            let events = EventLog()
            let text = EventLog()
            let tokens = TokenLog()
            core.add(GenerateRequest(id: "a", promptTokens: [1, 2, 3, 4], sampling: params)) { event in
                switch event {
                case .delta(let d):
                    text.items.append(d.text)
                    tokens.items += d.tokenIDs
                    events.items.append("delta \(d.tokenIDs) \(d.finishReason.map { "\($0)" } ?? "-")")
                case .finished: events.items.append("finished")
                case .failed: events.items.append("failed")
                }
            }
            core.runUntilIdle(maxSteps: 100)
            return (events.items, text.items.joined(), tokens.items, core)
        }
        // Two pages hold the prompt and four generated tokens; the fifth is sampled, then memory runs out.
        let plain = try run(overlap: false, stop: [])
        #expect(plain.events.last == "finished" && plain.events.dropLast().last?.hasSuffix("length") == true)
        let lastPiece = try #require(plain.events.dropLast().dropLast().last)
        #expect(lastPiece.hasSuffix("-"))
        // Stop at the whole text: it completes with the fifth token, the one before the length finish.
        let stop = plain.text
        try #require(plain.tokens.count == 5 && LetterDecoder.pieces[try #require(plain.tokens.last)] != "")
        let off = try run(overlap: false, stop: [stop])
        let on = try run(overlap: true, stop: [stop])
        #expect(off.events.filter { $0 == "finished" }.count == 1)
        #expect(on.events == off.events)
        #expect(on.core.pageAccountingProblems().isEmpty && !on.core.hasWork)
    }
}

final class EventLog: @unchecked Sendable {
    var items: [String] = []
}

final class TokenLog: @unchecked Sendable {
    var items: [Int] = []
}
