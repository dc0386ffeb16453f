/// The figures of one run, computed from its request records and its duration.
public struct BenchMetrics: Sendable, Equatable {
    public var completed: Int
    public var failed: Int
    public var duration: Double
    public var totalInputTokens: Int
    public var totalOutputTokens: Int
    public var requestThroughput: Double
    public var inputThroughput: Double
    public var outputThroughput: Double
    public var totalThroughput: Double
    public var numGPUs: Int
    /// Milliseconds.
    public var ttft: Distribution
    public var tpot: Distribution
    public var itl: Distribution
    public var e2eLatency: Distribution
    /// Tokens per second per user: 1000 / TPOT_ms of each request.
    public var interactivity: Distribution
    /// Σ latency / duration: how many requests were in flight on average.
    public var concurrency: Double
    /// Requests whose server-reported prompt count differs from the ids sent.
    public var promptTokenMismatches: Int
    /// Requests whose server-reported output count differs from the stream or (ignore_eos) from what was asked.
    public var outputTokenMismatches: Int

    public var inputThroughputPerGPU: Double { inputThroughput / Double(numGPUs) }
    public var outputThroughputPerGPU: Double { outputThroughput / Double(numGPUs) }
    public var totalThroughputPerGPU: Double { totalThroughput / Double(numGPUs) }

    /// `duration` is the measured wall time (warm-ups excluded); failed requests count only in `failed`.
    public init(records: [RequestRecord], duration: Double, numGPUs: Int = 1, ignoreEOS: Bool) {
        let ok = records.filter(\.succeeded)
        completed = ok.count
        failed = records.count - ok.count
        self.duration = duration
        self.numGPUs = max(numGPUs, 1)
        totalInputTokens = ok.reduce(0) { $0 + $1.promptTokens }
        totalOutputTokens = ok.reduce(0) { $0 + $1.outputTokens }
        let perSecond = duration > 0 ? 1 / duration : 0
        requestThroughput = Double(completed) * perSecond
        inputThroughput = Double(totalInputTokens) * perSecond
        outputThroughput = Double(totalOutputTokens) * perSecond
        totalThroughput = Double(totalInputTokens + totalOutputTokens) * perSecond
        ttft = Distribution(ok.compactMap(\.ttft)).scaled(by: 1000)
        let tpots = ok.compactMap(\.tpot)
        tpot = Distribution(tpots).scaled(by: 1000)
        itl = Distribution(ok.flatMap(\.interTokenLatencies)).scaled(by: 1000)
        e2eLatency = Distribution(ok.map(\.latency)).scaled(by: 1000)
        interactivity = Distribution(tpots.filter { $0 > 0 }.map { 1 / $0 })
        concurrency = ok.reduce(0) { $0 + $1.latency } * perSecond
        promptTokenMismatches = ok.count { $0.promptCountMismatch }
        outputTokenMismatches = ok.count { $0.outputCountMismatch(ignoreEOS: ignoreEOS) }
    }
}
