import Testing
@testable import TernEngine

@Suite struct EngineAsyncTests {
    func collect(_ stream: AsyncThrowingStream<OutputDelta, Error>) async throws -> [Int: [Int]] {
        var tokens: [Int: [Int]] = [:]
        for try await delta in stream { tokens[delta.index, default: []] += delta.tokenIDs }
        return tokens
    }

    @Test func streamsMatchTheSynchronousCore() async throws {
        let requests = mixedRequests(count: 8, seed: 4, promptLengths: 3...40, outputLengths: 3...20)
        let config = EngineConfig(maxTotalTokens: 2048, pageSize: 4)
        let (reference, _) = try runWorkload(HistoryModel(), config: config, requests: requests)
        let engine = try Engine(model: HistoryModel(), config: config)
        try await withThrowingTaskGroup(of: (String, [Int]).self) { group in
            for request in requests {
                let stream = engine.submit(request)
                group.addTask { (request.id, try await collect(stream)[0] ?? []) }
            }
            for try await (id, tokens) in group { #expect(tokens == reference.tokens(id), "\(id)") }
        }
        let metrics = engine.metrics()
        #expect(metrics.finishedRequests == requests.count)
        engine.shutdown()
    }

    @Test func refusedRequestsThrowTheirError() async throws {
        let engine = try Engine(model: HistoryModel(), config: EngineConfig(maxTotalTokens: 64, pageSize: 8))
        defer { engine.shutdown() }
        do {
            _ = try await collect(engine.submit(GenerateRequest(id: "big", promptTokens: Array(repeating: 1, count: 64))))
            Issue.record("expected an error")
        } catch let error as EngineError {
            #expect(error == .exceedsKVPool(tokensNeeded: 65, poolTokens: 64))
        }
    }

    @Test func abortAndShutdownEndStreams() async throws {
        // A budget no request reaches before its abort lands, even when the consuming task is starved
        // of CPU for a while (the step loop runs on its own thread and keeps generating meanwhile).
        let budget = 1_000_000
        let engine = try Engine(model: HistoryModel(maxPositions: budget + 16),
                                config: EngineConfig(maxTotalTokens: budget + 64, pageSize: 16))
        let long = SamplingParams(temperature: 0, maxNewTokens: budget, ignoreEOS: true)
        let stream = engine.submit(GenerateRequest(id: "a", promptTokens: [1, 2, 3], sampling: long))
        var count = 0
        var reason: FinishReason?
        for try await delta in stream {
            count += delta.tokenIDs.count
            if count >= 3 && reason == nil { engine.abort("a") }
            reason = delta.finishReason ?? reason
        }
        #expect(reason == .abort && count < budget)
        let other = engine.submit(GenerateRequest(id: "b", promptTokens: [1, 2, 3], sampling: long))
        engine.shutdown()
        var last: FinishReason?
        for try await delta in other { last = delta.finishReason ?? last }
        #expect(last == .abort)
        do {
            _ = try await collect(engine.submit(GenerateRequest(id: "c", promptTokens: [1])))
            Issue.record("expected shutDown")
        } catch let error as EngineError {
            #expect(error == .shutDown)
        }
    }
}
