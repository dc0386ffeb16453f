import Foundation
import Testing
@testable import TernBench

/// Runs the client against a local fake server that streams deterministic chunks.
@Suite(.serialized)
struct EndToEndTests {
    @Test func shortSweepMeasuresEveryRequestUnderTheConcurrencyCap() async throws {
        let server = try await FakeServer.start(firstTokenDelay: .milliseconds(30), tokenInterval: .milliseconds(3))
        defer { Task { await server.stop() } }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ternbench-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("sweep.jsonl").path

        let base = BenchConfig(baseURL: server.baseURL, backend: .tern,
                               dataset: .random(inputLength: 32, outputLength: 12, rangeRatio: 0.5, sendIDs: true),
                               seed: 5, showProgress: false)
        let sweep = Sweep(base: base, concurrencies: [1, 4], numPrompts: 8, warmupRequests: 2)
        let results = try await sweep.run { try RunRecord.append($0, to: output) }
        #expect(results.count == 2)
        for r in results {
            let m = r.metrics
            #expect(m.completed == 8 && m.failed == 0)
            #expect(m.promptTokenMismatches == 0 && m.outputTokenMismatches == 0)
            #expect(m.totalOutputTokens == r.records.reduce(0) { $0 + $1.requestedOutputTokens })
            #expect(r.records.allSatisfy { ($0.ttft ?? 0) >= 0.03 })  // the server's first-token delay
            #expect(m.tpot.median >= 3 && m.tpot.median < 100)
            #expect(m.itl.count == r.records.reduce(0) { $0 + $1.requestedOutputTokens - 1 })
            #expect(m.concurrency <= Double(r.config.maxConcurrency!) + 0.05)
        }
        // Serial requests keep one in flight; the server saw warm-ups plus measured requests.
        #expect(results[0].metrics.concurrency < 1.05)
        #expect(await server.inFlight.peak <= 4)
        #expect(await server.inFlight.total == 2 * (8 + 2))
        #expect(try RunRecord.read(output).map { $0["max_concurrency"] as? Int } == [1, 4])
    }

    @Test func openAIBackendReadsModelNameUsageAndVocabularyFromTheServer() async throws {
        let server = try await FakeServer.start(firstTokenDelay: .milliseconds(5), tokenInterval: .milliseconds(1))
        defer { Task { await server.stop() } }
        let config = BenchConfig(baseURL: server.baseURL, backend: .openai,
                                 dataset: .random(inputLength: 20, outputLength: 6, rangeRatio: 1, sendIDs: true),
                                 numPrompts: 5, requestRate: 200, warmupRequests: 0, showProgress: false)
        let result = try await BenchRunner().run(config)
        #expect(result.model == "fake-model")
        #expect(result.metrics.completed == 5)
        #expect(result.metrics.totalInputTokens == 100 && result.metrics.totalOutputTokens == 30)
        #expect(result.records.allSatisfy { $0.reportedPromptTokens == 20 && $0.chunkTokens == [1, 1, 1, 1, 1, 1] })
        #expect(result.metrics.outputTokenMismatches == 0)
    }

    @Test func unreachableServerGivesFailedRequestsNotACrash() async throws {
        let config = BenchConfig(baseURL: "http://127.0.0.1:1", backend: .tern, model: "m",
                                 dataset: .random(inputLength: 4, outputLength: 2, rangeRatio: 1, sendIDs: true),
                                 numPrompts: 3, warmupRequests: 0, vocabSize: 10, showProgress: false, requestTimeout: 1)
        let result = try await BenchRunner().run(config)
        #expect(result.metrics.failed == 3 && result.metrics.completed == 0)
        #expect(!result.errorSamples.isEmpty)
    }
}
