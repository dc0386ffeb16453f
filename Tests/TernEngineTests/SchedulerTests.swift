import Testing
import TernModels
@testable import TernEngine

/// Runs `requests` through a fresh core; request i is added before step `arrivals[i]`.
func runWorkload(_ model: any LanguageModel, config: EngineConfig, requests: [GenerateRequest],
                 arrivals: [Int]? = nil, textDecoder: (any TextDecoderFactory)? = nil) throws -> (OutputCollector, EngineCore) {
    let core = try EngineCore(model: model, config: config, textDecoder: textDecoder)
    let out = OutputCollector()
    let arrivals = arrivals ?? Array(repeating: 0, count: requests.count)
    let order = requests.indices.sorted { arrivals[$0] < arrivals[$1] }
    var next = 0
    var step = 0
    while next < order.count || core.hasWork {
        while next < order.count && arrivals[order[next]] <= step {
            let request = requests[order[next]]
            core.add(request, sink: out.sink(request.id))
            next += 1
        }
        core.step()
        step += 1
        precondition(step < 1_000_000, "engine does not finish")
    }
    return (out, core)
}


func mixedRequests(count: Int, seed: UInt64, promptLengths: ClosedRange<Int>, outputLengths: ClosedRange<Int>,
                   sampling: SamplingParams = .greedy) -> [GenerateRequest] {
    var random = WorkloadRandom(state: seed)
    return (0..<count).map { i in
        var params = sampling
        params.maxNewTokens = random.int(outputLengths)
        return GenerateRequest(id: "r\(i)", promptTokens: random.tokens(random.int(promptLengths)), sampling: params)
    }
}

@Suite struct SchedulerTests {
    @Test func greedyOutputIsTheSameAloneOrInABatchOf32WithStaggeredArrivals() throws {
        let requests = mixedRequests(count: 32, seed: 7, promptLengths: 1...90, outputLengths: 1...40)
        let config = EngineConfig(maxTotalTokens: 8192, pageSize: 4, chunkedPrefillSize: 48)
        var random = WorkloadRandom(state: 99)
        let arrivals = requests.map { _ in random.int(0...30) }
        let (batched, core) = try runWorkload(HistoryModel(), config: config, requests: requests, arrivals: arrivals)
        #expect(core.metrics().steps < requests.count * 40)  // it really batched
        for request in requests {
            let (alone, _) = try runWorkload(HistoryModel(), config: EngineConfig(maxTotalTokens: 8192, pageSize: 4, disableRadixCache: true),
                                             requests: [request])
            #expect(batched.tokens(request.id) == alone.tokens(request.id), "request \(request.id)")
            #expect(!alone.tokens(request.id).isEmpty)
            #expect(batched.finished.contains(request.id))
        }
        #expect(core.pageAccountingProblems().isEmpty)
    }

    @Test func chunkedPrefillSplitsALongPromptAcrossStepsAndMixesItWithDecodes() throws {
        let model = CountingModel(HistoryModel())
        let config = EngineConfig(maxTotalTokens: 4096, pageSize: 8, chunkedPrefillSize: 16)
        let core = try EngineCore(model: model, config: config)
        let out = OutputCollector()
        var short = SamplingParams.greedy
        short.maxNewTokens = 30
        short.ignoreEOS = true
        core.add(GenerateRequest(id: "short", promptTokens: [5, 6, 7], sampling: short), sink: out.sink("short"))
        core.step()
        core.add(GenerateRequest(id: "long", promptTokens: Array(repeating: 3, count: 100), sampling: .greedy), sink: out.sink("long"))
        var stepsWithBoth = 0
        var longPrefillSteps = 0
        while core.hasWork {
            let before = out.tokens("short").count
            let computedBefore = model.tokens
            core.step()
            let tokens = model.tokens - computedBefore
            // Decodes add one token per sequence (at most 2 here); more means a prefill chunk ran.
            if tokens > 2 { longPrefillSteps += 1 }
            if tokens > 2 && out.tokens("short").count == before + 1 { stepsWithBoth += 1 }
            #expect(tokens <= 16 + 1)
        }
        #expect(longPrefillSteps == 7)  // ceil(100 / 16)
        #expect(stepsWithBoth >= 6)
        let (alone, _) = try runWorkload(HistoryModel(), config: EngineConfig(maxTotalTokens: 4096, pageSize: 8, chunkedPrefillSize: 0),
                                         requests: [GenerateRequest(id: "long", promptTokens: Array(repeating: 3, count: 100), sampling: .greedy)])
        #expect(out.tokens("long") == alone.tokens("long"))
    }

    @Test func sharedPrefixIsComputedOnceAndGivesTheSameOutput() throws {
        var random = WorkloadRandom(state: 3)
        let prefix = random.tokens(200)
        var params = SamplingParams.greedy
        params.maxNewTokens = 10
        let first = GenerateRequest(id: "a", promptTokens: prefix + [9, 9, 9], sampling: params)
        let second = GenerateRequest(id: "b", promptTokens: prefix + [4, 5, 6, 7, 8], sampling: params)
        let model = CountingModel(HistoryModel())
        let config = EngineConfig(maxTotalTokens: 4096, pageSize: 16)
        let core = try EngineCore(model: model, config: config)
        let out = OutputCollector()
        core.add(first, sink: out.sink("a"))
        core.runUntilIdle()
        let afterFirst = model.tokens
        core.add(second, sink: out.sink("b"))
        core.runUntilIdle()
        // 200 = 12 whole pages (192 tokens) cached; the second computes 205 - 192 prompt tokens + 9 decodes.
        #expect(model.tokens - afterFirst == (205 - 192) + 9)
        #expect(out.choice("b").usage.cachedTokens == 192)
        #expect(core.metrics().cachedPromptTokens == 192)
        let (uncached, _) = try runWorkload(HistoryModel(), config: EngineConfig(maxTotalTokens: 4096, pageSize: 16, disableRadixCache: true),
                                            requests: [second])
        #expect(out.tokens("b") == uncached.tokens("b"))
        #expect(core.pageAccountingProblems().isEmpty)
    }

    @Test func longestPrefixMatchPolicyAdmitsCacheHitsFirst() throws {
        var random = WorkloadRandom(state: 11)
        let prefix = random.tokens(64)
        let model = CountingModel(HistoryModel())
        let config = EngineConfig(maxTotalTokens: 4096, pageSize: 8, maxRunningRequests: 1, schedulePolicy: .lpm)
        let core = try EngineCore(model: model, config: config)
        let out = OutputCollector()
        var params = SamplingParams.greedy
        params.maxNewTokens = 2
        core.add(GenerateRequest(id: "warm", promptTokens: prefix + [1], sampling: params), sink: out.sink("warm"))
        core.runUntilIdle()
        var finishOrder: [String] = []
        for id in ["cold", "hit"] {
            let prompt = id == "hit" ? prefix + [2, 3] : random.tokens(66)
            core.add(GenerateRequest(id: id, promptTokens: prompt, sampling: params), sink: { event in
                if case .finished = event { finishOrder.append(id) }
                out.sink(id)(event)
            })
        }
        core.runUntilIdle()
        #expect(finishOrder == ["hit", "cold"])
    }

    @Test func smallPoolCompletesEveryRequestWithTheSameOutputsAsAnAmplePool() throws {
        let requests = mixedRequests(count: 40, seed: 21, promptLengths: 10...120, outputLengths: 20...60)
        let ample = EngineConfig(maxTotalTokens: 1 << 16, pageSize: 4, chunkedPrefillSize: 64)
        var tight = ample
        tight.maxTotalTokens = 400  // ~4 requests' worth
        let (reference, _) = try runWorkload(HistoryModel(), config: ample, requests: requests)
        let (squeezed, core) = try runWorkload(HistoryModel(), config: tight, requests: requests)
        for request in requests {
            #expect(squeezed.tokens(request.id) == reference.tokens(request.id), "request \(request.id)")
            #expect(squeezed.choice(request.id).finish == reference.choice(request.id).finish)
        }
        let metrics = core.metrics()
        #expect(metrics.preemptions > 0)
        #expect(metrics.evictedPages > 0)
        #expect(metrics.finishedRequests == requests.count)
        #expect(core.pageAccountingProblems().isEmpty)
    }

    @Test func requestsThatCanNeverFitFailClearly() throws {
        let core = try EngineCore(model: HistoryModel(maxPositions: 64), config: EngineConfig(maxTotalTokens: 32, pageSize: 8))
        let out = OutputCollector()
        core.add(GenerateRequest(id: "huge", promptTokens: Array(repeating: 1, count: 32)), sink: out.sink("huge"))
        core.add(GenerateRequest(id: "long", promptTokens: Array(repeating: 1, count: 64)), sink: out.sink("long"))
        core.add(GenerateRequest(id: "empty", promptTokens: []), sink: out.sink("empty"))
        core.add(GenerateRequest(id: "token", promptTokens: [64]), sink: out.sink("token"))
        core.add(GenerateRequest(id: "stop", promptTokens: [1], sampling: SamplingParams(stopStrings: ["x"])), sink: out.sink("stop"))
        core.add(GenerateRequest(id: "temp", promptTokens: [1], sampling: SamplingParams(temperature: -1)), sink: out.sink("temp"))
        #expect(out.errors["huge"] == .exceedsKVPool(tokensNeeded: 33, poolTokens: 32))
        #expect(out.errors["long"] == .promptTooLong(tokens: 64, contextLength: 64))
        #expect(out.errors["empty"] == .emptyPrompt)
        #expect(out.errors["token"] == .invalidToken(id: 64, vocabSize: 64))
        #expect(out.errors["stop"] == .stopStringsNeedTextDecoder)
        #expect(out.errors["temp"] == .invalidParameter(name: "temperature", reason: "must be ≥ 0"))
        #expect(!core.hasWork)
    }

    @Test func aRequestOutgrowingThePoolAloneEndsWithLengthInsteadOfHanging() throws {
        let core = try EngineCore(model: HistoryModel(), config: EngineConfig(maxTotalTokens: 32, pageSize: 8))
        let out = OutputCollector()
        core.add(GenerateRequest(id: "grow", promptTokens: [1, 2, 3],
                                 sampling: SamplingParams(temperature: 0, maxNewTokens: 100, ignoreEOS: true)), sink: out.sink("grow"))
        core.runUntilIdle(maxSteps: 1000)
        #expect(out.choice("grow").finish == .length)
        #expect(out.tokens("grow").count == 32 - 3 + 1)  // the last token needs no KV slot
        #expect(core.pageAccountingProblems().isEmpty)
    }

    @Test func contextLengthCapsGeneration() throws {
        let core = try EngineCore(model: HistoryModel(maxPositions: 20), config: EngineConfig(maxTotalTokens: 256, pageSize: 4))
        let out = OutputCollector()
        core.add(GenerateRequest(id: "c", promptTokens: Array(repeating: 2, count: 15),
                                 sampling: SamplingParams(temperature: 0, maxNewTokens: 100, ignoreEOS: true)), sink: out.sink("c"))
        core.runUntilIdle()
        #expect(out.tokens("c").count == 5 && out.choice("c").finish == .length)
    }

    @Test func abortEndsWaitingAndRunningRequestsAndFreesTheirPages() throws {
        let core = try EngineCore(model: HistoryModel(), config: EngineConfig(maxTotalTokens: 512, pageSize: 4, maxRunningRequests: 1))
        let out = OutputCollector()
        let params = SamplingParams(temperature: 0, maxNewTokens: 50, ignoreEOS: true, n: 1)
        core.add(GenerateRequest(id: "run", promptTokens: [1, 2, 3, 4, 5], sampling: params), sink: out.sink("run"))
        core.add(GenerateRequest(id: "wait", promptTokens: [6, 7], sampling: params), sink: out.sink("wait"))
        for _ in 0..<5 { core.step() }
        core.abort("run")
        core.abort("wait")
        core.abort("unknown")
        #expect(out.choice("run").finish == .abort && out.tokens("run").count == 5)
        #expect(out.choice("wait").finish == .abort && out.tokens("wait").isEmpty)
        #expect(out.finished == ["run", "wait"])
        #expect(!core.hasWork && core.pageAccountingProblems().isEmpty)
        #expect(core.freePages + core.cachedPages == core.totalPages)
    }

    @Test func aFailingModelFailsItsRequestsWithoutCrashing() throws {
        let core = try EngineCore(model: FailingModel(), config: EngineConfig(maxTotalTokens: 256, pageSize: 4))
        let out = OutputCollector()
        core.add(GenerateRequest(id: "x", promptTokens: [1, 2]), sink: out.sink("x"))
        core.runUntilIdle()
        guard case .modelFailed = out.errors["x"] else { Issue.record("expected modelFailed"); return }
        #expect(core.pageAccountingProblems().isEmpty && core.freePages == core.totalPages)
    }
}
