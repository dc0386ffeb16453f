import Synchronization

/// Picks one worker of a group (all regular workers, or the prefill or the decode workers of a PD
/// router) for a request, among the healthy ones.
public final class WorkerSelector: Sendable {
    public let policy: RoutingPolicyKind
    let workers: [Worker]
    let table: PrefixMatchTable
    private let next = Mutex(0)
    private let cacheThreshold: Double
    private let balanceAbs: Int
    private let balanceRel: Double
    private let counters = Mutex((prefixRouted: 0, routed: 0))

    init(policy: RoutingPolicyKind, workers: [Worker], config: RouterConfig) {
        self.policy = policy
        self.workers = workers
        table = PrefixMatchTable(workers: workers.count)
        cacheThreshold = config.cacheThreshold
        balanceAbs = config.balanceAbsThreshold
        balanceRel = config.balanceRelThreshold
    }

    /// Requests the cache-aware policy sent where their prefix was, and all requests routed.
    public var routedByPrefix: (prefix: Int, all: Int) { counters.withLock { ($0.prefixRouted, $0.routed) } }

    /// A healthy worker for a request whose routing text is `key`, or nil when none is healthy.
    /// `excluding` skips workers a retry already failed on (unless nothing else is left).
    func select(key: [UInt8], excluding: Set<Int> = []) -> Worker? {
        var candidates = workers.filter { $0.isHealthy && !excluding.contains($0.index) }
        if candidates.isEmpty { candidates = workers.filter(\.isHealthy) }
        guard !candidates.isEmpty else { return nil }
        let chosen: Worker
        var byPrefix = false
        switch policy {
        case .roundRobin:
            let i = next.withLock { n -> Int in defer { n &+= 1 }; return n }
            chosen = candidates[i % candidates.count]
        case .leastLoad:
            chosen = leastLoaded(candidates)
        case .cacheAware:
            (chosen, byPrefix) = cacheAware(key: key, candidates: candidates)
            table.insert(key, worker: local(chosen))
        }
        counters.withLock { $0.routed += 1; if byPrefix { $0.prefixRouted += 1 } }
        return chosen
    }

    private func local(_ worker: Worker) -> Int { workers.firstIndex { $0 === worker }! }

    private func leastLoaded(_ candidates: [Worker]) -> Worker {
        // Ties go round-robin so an idle group still spreads requests.
        let loads = candidates.map(\.inFlight)
        let low = loads.min()!
        let tied = candidates.indices.filter { loads[$0] == low }
        let i = next.withLock { n -> Int in defer { n &+= 1 }; return n }
        return candidates[tied[i % tied.count]]
    }

    /// SGLang's rule: balance by load when it is badly skewed; otherwise the best prefix match when it
    /// covers enough of the request, else the worker that has been sent the least (room to cache).
    private func cacheAware(key: [UInt8], candidates: [Worker]) -> (Worker, Bool) {
        let loads = candidates.map(\.inFlight)
        let (low, high) = (loads.min()!, loads.max()!)
        if high - low > balanceAbs && Double(high) > Double(low) * balanceRel { return (leastLoaded(candidates), false) }
        let matched = table.matchedBytes(key, workers: workers.count)
        var best = candidates[0]
        for worker in candidates.dropFirst() {
            let (m, b) = (matched[local(worker)], matched[local(best)])
            if m > b || (m == b && worker.inFlight < best.inFlight) { best = worker }
        }
        if !key.isEmpty && Double(matched[local(best)]) / Double(key.count) >= cacheThreshold { return (best, true) }
        let sizes = table.sizes()
        var emptiest = candidates[0]
        for worker in candidates.dropFirst() {
            let (s, e) = (sizes[local(worker)], sizes[local(emptiest)])
            if s < e || (s == e && worker.inFlight < emptiest.inFlight) { emptiest = worker }
        }
        return (emptiest, false)
    }
}
