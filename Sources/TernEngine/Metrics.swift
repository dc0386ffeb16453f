import Foundation

/// A Prometheus-style histogram: per-bucket counts for upper bounds `bounds` plus +Inf, sum, count.
public struct Histogram: Sendable, Hashable {
    public let bounds: [Double]
    /// `bounds.count + 1` non-cumulative counts; the last is the +Inf bucket.
    public private(set) var counts: [Int]
    public private(set) var sum: Double = 0
    public private(set) var count: Int = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count + 1)
    }

    public mutating func observe(_ value: Double) {
        var i = 0
        while i < bounds.count && value > bounds[i] { i += 1 }
        counts[i] += 1
        sum += value
        count += 1
    }

    /// Cumulative counts per bound, as Prometheus exposes `_bucket{le=...}`.
    public var cumulativeCounts: [Int] {
        var running = 0
        return counts.map { running += $0; return running }
    }

    /// Latency buckets in seconds (SGLang-like spread from 1 ms to 5 min).
    public static let latencyBounds: [Double] = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5,
                                                 7.5, 10, 15, 20, 30, 40, 60, 120, 300]
}

/// What the engine exports, as one consistent snapshot (the server maps it onto swift-metrics).
public struct EngineMetrics: Sendable, Hashable {
    public var runningRequests = 0
    public var queuedRequests = 0
    public var kvPagesUsed = 0
    public var kvPagesTotal = 0
    /// Pages held by the prefix cache (some also used by running requests).
    public var kvPagesCached = 0
    /// Pages held for KV arriving from a prefill server (PD decode side).
    public var kvPagesReserved = 0
    public var pageSize = 0
    public var promptTokens = 0
    /// Prompt tokens served from the prefix cache.
    public var cachedPromptTokens = 0
    public var generatedTokens = 0
    /// Tokens the model actually ran (prefill chunks + decodes, recomputation included).
    public var computedTokens = 0
    public var finishedRequests = 0
    public var abortedRequests = 0
    public var failedRequests = 0
    public var preemptions = 0
    public var evictedPages = 0
    public var steps = 0
    /// Seconds spent inside `model.forward` (and reading logits) and outside it (scheduling, sampling, output).
    public var modelSeconds: Double = 0
    public var schedulerSeconds: Double = 0
    public var timeToFirstToken = Histogram(bounds: Histogram.latencyBounds)
    public var interTokenLatency = Histogram(bounds: Histogram.latencyBounds)
    public var endToEndLatency = Histogram(bounds: Histogram.latencyBounds)

    public init() {}

    /// cached prompt tokens / prompt tokens.
    public var cacheHitRate: Double { promptTokens == 0 ? 0 : Double(cachedPromptTokens) / Double(promptTokens) }
    public var kvUsage: Double { kvPagesTotal == 0 ? 0 : Double(kvPagesUsed) / Double(kvPagesTotal) }
}

/// Monotonic seconds.
@inline(__always) func now() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) * 1e-9
}
