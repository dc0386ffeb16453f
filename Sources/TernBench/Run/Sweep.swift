/// A concurrency sweep: one run per concurrency, InferenceMAX-sized unless overridden.
public struct Sweep: Sendable {
    public var base: BenchConfig
    public var concurrencies: [Int]
    /// nil: 10 × concurrency.
    public var numPrompts: Int?
    /// nil: 2 × concurrency.
    public var warmupRequests: Int?
    public var preset: String?

    public init(base: BenchConfig, concurrencies: [Int], numPrompts: Int? = nil, warmupRequests: Int? = nil, preset: String? = nil) {
        self.base = base
        self.concurrencies = concurrencies
        self.numPrompts = numPrompts
        self.warmupRequests = warmupRequests
        self.preset = preset
    }

    /// The run at one concurrency. Each point gets its own seed, so no point replays an earlier point's
    /// prompts into a warm prefix cache.
    public func config(concurrency: Int) -> BenchConfig {
        var c = base
        c.maxConcurrency = concurrency
        c.numPrompts = numPrompts ?? Preset.numPrompts(concurrency: concurrency)
        c.warmupRequests = warmupRequests ?? Preset.warmupRequests(concurrency: concurrency)
        c.seed = base.seed &+ UInt64(concurrency) &* 1_000_003
        if let label = base.label { c.label = "\(label) c\(concurrency)" } else { c.label = "c\(concurrency)" }
        return c
    }

    /// Runs every point in order; `onPoint` sees each result as it lands (to print and append it).
    public func run(onPoint: (BenchResult) throws -> Void) async throws -> [BenchResult] {
        var results: [BenchResult] = []
        for concurrency in concurrencies {
            var result = try await BenchRunner().run(config(concurrency: concurrency), preset: preset)
            result.config.label = base.label
            try onPoint(result)
            results.append(result)
        }
        return results
    }
}
