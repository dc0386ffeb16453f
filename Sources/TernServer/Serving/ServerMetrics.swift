import CoreMetrics
import Foundation
import Metrics
import Prometheus
import Synchronization
import TernEngine

/// Prometheus metrics named after SGLang's (`sglang:` → `tern:`), recorded through swift-metrics
/// into a registry owned by this server (not the global bootstrap, so several servers can live in
/// one process, as tests need).
///
/// Latency histograms are observed here, per request, as clients see them (front-end overhead
/// included). Gauges and token counters come from the engine's snapshot when /metrics is scraped.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    let timeToFirstToken: Metrics.Timer
    let interTokenLatency: Metrics.Timer
    let endToEndLatency: Metrics.Timer
    let requestsFinished: CoreMetrics.Counter
    let requestsAborted: CoreMetrics.Counter
    let requestErrors: CoreMetrics.Counter

    private let gauges: [String: CoreMetrics.Gauge]
    private let counters: [String: CoreMetrics.Counter]
    private let secondsCounters: [String: CoreMetrics.FloatingPointCounter]
    /// Engine totals already added to the counters (the engine's are cumulative).
    private let exported = Mutex(EngineMetrics())

    static let latencyBuckets: [Duration] = Histogram.latencyBounds.map { .nanoseconds(Int64($0 * 1e9)) }
    static let interTokenBuckets: [Duration] = [0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15,
                                                0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5].map { .nanoseconds(Int64($0 * 1e9)) }

    public init(modelName: String) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.latencyBuckets
        factory.durationHistogramBuckets["tern:inter_token_latency_seconds"] = Self.interTokenBuckets
        self.factory = factory
        let labels = [("model_name", modelName)]
        func timer(_ name: String) -> Metrics.Timer { Metrics.Timer(label: name, dimensions: labels, factory: factory) }
        func counter(_ name: String) -> CoreMetrics.Counter { CoreMetrics.Counter(label: name, dimensions: labels, factory: factory) }
        timeToFirstToken = timer("tern:time_to_first_token_seconds")
        interTokenLatency = timer("tern:inter_token_latency_seconds")
        endToEndLatency = timer("tern:e2e_request_latency_seconds")
        requestsFinished = counter("tern:num_requests_total")
        requestsAborted = counter("tern:num_aborted_requests_total")
        requestErrors = counter("tern:num_bad_requests_total")
        var gauges: [String: CoreMetrics.Gauge] = [:]
        for name in ["num_running_reqs", "num_queue_reqs", "token_usage", "cache_hit_rate", "num_used_tokens",
                     "max_total_num_tokens", "num_cached_pages"] {
            gauges[name] = CoreMetrics.Gauge(label: "tern:" + name, dimensions: labels, factory: factory)
        }
        self.gauges = gauges
        var counters: [String: CoreMetrics.Counter] = [:]
        for name in ["prompt_tokens_total", "generation_tokens_total", "cached_tokens_total", "computed_tokens_total",
                     "num_preemptions_total", "num_evicted_pages_total", "engine_steps_total"] {
            counters[name] = counter("tern:" + name)
        }
        self.counters = counters
        var seconds: [String: CoreMetrics.FloatingPointCounter] = [:]
        for name in ["model_step_seconds_total", "scheduler_seconds_total"] {
            seconds[name] = CoreMetrics.FloatingPointCounter(label: "tern:" + name, dimensions: labels, factory: factory)
        }
        secondsCounters = seconds
    }

    /// Copies an engine snapshot into the gauges and advances the counters by what is new.
    public func update(from engine: EngineMetrics) {
        gauges["num_running_reqs"]!.record(engine.runningRequests)
        gauges["num_queue_reqs"]!.record(engine.queuedRequests)
        gauges["token_usage"]!.record(engine.kvUsage)
        gauges["cache_hit_rate"]!.record(engine.cacheHitRate)
        gauges["num_used_tokens"]!.record(engine.kvPagesUsed * engine.pageSize)
        gauges["max_total_num_tokens"]!.record(engine.kvPagesTotal * engine.pageSize)
        gauges["num_cached_pages"]!.record(engine.kvPagesCached)
        let previous = exported.withLock { previous in
            defer { previous = engine }
            return previous
        }
        func advance(_ name: String, _ keyPath: KeyPath<EngineMetrics, Int>) {
            let delta = engine[keyPath: keyPath] - previous[keyPath: keyPath]
            if delta > 0 { counters[name]!.increment(by: delta) }
        }
        advance("prompt_tokens_total", \.promptTokens)
        advance("generation_tokens_total", \.generatedTokens)
        advance("cached_tokens_total", \.cachedPromptTokens)
        advance("computed_tokens_total", \.computedTokens)
        advance("num_preemptions_total", \.preemptions)
        advance("num_evicted_pages_total", \.evictedPages)
        advance("engine_steps_total", \.steps)
        let model = engine.modelSeconds - previous.modelSeconds
        if model > 0 { secondsCounters["model_step_seconds_total"]!.increment(by: model) }
        let scheduler = engine.schedulerSeconds - previous.schedulerSeconds
        if scheduler > 0 { secondsCounters["scheduler_seconds_total"]!.increment(by: scheduler) }
    }

    /// The Prometheus text exposition of everything recorded so far.
    public func exposition(engine: EngineMetrics) -> [UInt8] {
        update(from: engine)
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}

/// Times one request as its client sees it: first token, gaps between tokens, whole request.
struct RequestClock {
    let start = ContinuousClock.now
    private var last: ContinuousClock.Instant?
    private(set) var firstTokenSeconds: Double?

    /// Call when `tokens` new tokens reached the client.
    mutating func tokens(_ count: Int, metrics: ServerMetrics) {
        guard count > 0 else { return }
        let now = ContinuousClock.now
        if let last {
            // Several tokens in one delta share the gap.
            let gap = (now - last) / count
            for _ in 0..<count { metrics.interTokenLatency.recordNanoseconds(gap.nanoseconds) }
        } else {
            let ttft = now - start
            metrics.timeToFirstToken.recordNanoseconds(ttft.nanoseconds)
            firstTokenSeconds = ttft.seconds
        }
        last = now
    }

    func finish(aborted: Bool, metrics: ServerMetrics) -> Double {
        let elapsed = ContinuousClock.now - start
        metrics.endToEndLatency.recordNanoseconds(elapsed.nanoseconds)
        if aborted { metrics.requestsAborted.increment() } else { metrics.requestsFinished.increment() }
        return elapsed.seconds
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, attos) = components
        return s * 1_000_000_000 + attos / 1_000_000_000
    }
    var seconds: Double { Double(nanoseconds) * 1e-9 }
}
