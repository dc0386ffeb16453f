import Foundation
import Testing
import TernDisaggregation
import TernEngine

/// Shared-prefix traffic over two regular workers: the cache-aware policy keeps each prefix on one
/// worker, so the workers' prefix caches hit more often than under round-robin.
@Suite(.serialized) struct RouterPolicyTests {
    /// Prompt-token cache hit rate of the workers after the workload, and the router's prefix-routed count.
    func hitRate(_ policy: RoutingPolicyKind) async throws -> (rate: Double, byPrefix: Int) {
        let workers = [try await Node.start(.null), try await Node.start(.null)]
        let router = try await RouterNode.start(workers.map(\.workerSpec), policy: policy)
        let prefixes = (0..<3).map { prompt(500 + $0, words: 40) }
        for i in 0..<18 {
            let r = try await post(router.base, "/v1/completions",
                                   json: ["prompt": prefixes[i % 3] + " " + prompt(i, words: 5), "max_tokens": 1, "temperature": 0])
            #expect(r.status == 200)
        }
        var promptTotal = 0, cached = 0
        for w in workers {
            let m = try await w.idleMetrics()
            promptTotal += m.promptTokens
            cached += m.cachedPromptTokens
        }
        let byPrefix = router.router.regular?.routedByPrefix.prefix ?? 0
        await router.stop()
        for w in workers { await w.stop() }
        return (Double(cached) / Double(promptTotal), byPrefix)
    }

    @Test func cacheAwareBeatsRoundRobinOnSharedPrefixes() async throws {
        let aware = try await hitRate(.cacheAware)
        let roundRobin = try await hitRate(.roundRobin)
        // 18 requests over 3 prefixes: cache-aware misses only each prefix's first request.
        #expect(aware.byPrefix == 15)
        #expect(aware.rate > roundRobin.rate + 0.05, "cache-aware \(aware.rate), round-robin \(roundRobin.rate)")
    }

    @Test func leastLoadAndRoundRobinSpreadRequests() async throws {
        let workers = [try await Node.start(.null), try await Node.start(.null)]
        let router = try await RouterNode.start(workers.map(\.workerSpec), policy: .leastLoad)
        for i in 0..<4 {
            #expect(try await post(router.base, "/v1/completions", json: ["prompt": prompt(i, words: 5), "max_tokens": 1]).status == 200)
        }
        #expect(router.router.workers.map(\.requestCount) == [2, 2])
        let models = try await get(router.base, "/v1/models")
        #expect(models.status == 200 && models.body.contains("llama"))
        let metrics = try await get(router.base, "/metrics")
        #expect(metrics.body.contains("tern_router_requests_total 4"))
        await router.stop()
        for w in workers { await w.stop() }
    }
}
