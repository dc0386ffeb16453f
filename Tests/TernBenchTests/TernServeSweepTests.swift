import Foundation
import Logging
import Testing
import TernBackend
import TernEngine
import TernModels
import TernServer
@testable import TernBench

/// The benchmark client against a real `tern serve` (the tiny Llama fixture on the CPU backend,
/// in this process, on a free loopback port): a short concurrency sweep.
@Suite(.serialized)
struct TernServeSweepTests {
    static let modelDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../fixtures/models/llama").standardizedFileURL

    @Test func shortSweepAgainstTernServeCountsEveryTokenTheServerReports() async throws {
        let model = try ModelLoader.load(directory: Self.modelDirectory, backend: CPUBackend())
        var logger = Logger(label: "tern.bench-test")
        logger.logLevel = .warning
        let service = try ModelService(model: model, modelDirectory: Self.modelDirectory,
                                       engineConfig: EngineConfig(maxTotalTokens: 8192, pageSize: 16),
                                       options: ServerOptions(host: "127.0.0.1", port: 0), logger: logger)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let server = Task { try await TernServer(service: service).runUntilCancelled { continuation.yield($0) } }
        defer {
            server.cancel()
            service.engine.shutdown()
        }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())

        let base = BenchConfig(baseURL: "http://127.0.0.1:\(port)", backend: .tern,
                               dataset: .random(inputLength: 24, outputLength: 8, rangeRatio: 0.5, sendIDs: true),
                               seed: 11, showProgress: false)
        let results = try await Sweep(base: base, concurrencies: [1, 4], numPrompts: 6, warmupRequests: 1).run { _ in }
        #expect(results.count == 2)
        for r in results {
            let m = r.metrics
            #expect(m.completed == 6 && m.failed == 0)
            // ignore_eos: the server produced exactly the requested tokens and its usage agrees.
            #expect(m.promptTokenMismatches == 0 && m.outputTokenMismatches == 0)
            #expect(m.totalOutputTokens == r.records.reduce(0) { $0 + $1.requestedOutputTokens })
            #expect(m.ttft.median > 0 && m.outputThroughput > 0)
        }
        let engine = service.engine.metrics()
        #expect(engine.runningRequests == 0 && engine.generatedTokens >= 2 * 6 * 4)
    }
}
