/// Order in which waiting requests are admitted.
public enum SchedulePolicy: String, Sendable, CaseIterable {
    /// Longest prefix match first: requests that reuse the most cached KV go first (SGLang's default).
    case lpm
    /// First come, first served.
    case fcfs
}

/// Engine settings, named after SGLang's server arguments so CLI flags map one to one.
public struct EngineConfig: Sendable, Hashable {
    /// Cap on the KV pool in tokens (`--max-total-tokens`); nil: sized from the memory budget.
    public var maxTotalTokens: Int?
    /// Tokens per KV page (`--page-size`). Only whole pages are shared through the prefix cache.
    public var pageSize: Int
    /// Largest prefill chunk (`--chunked-prefill-size`); long prompts are split across steps.
    /// 0 or negative disables chunking (a prompt is prefilled in one step).
    public var chunkedPrefillSize: Int
    /// Prefill tokens per step across all requests (`--max-prefill-tokens`).
    public var maxPrefillTokens: Int
    /// Requests decoding at once (`--max-running-requests`).
    public var maxRunningRequests: Int
    /// `--schedule-policy`.
    public var schedulePolicy: SchedulePolicy
    /// `--disable-radix-cache`: no prefix sharing between requests (n > 1 still shares its prompt).
    public var disableRadixCache: Bool
    /// Fraction of device memory for weights + KV (`--mem-fraction-static`); used by GPU backends.
    public var memFractionStatic: Double
    /// KV byte budget where the backend has no device memory to measure (the CPU).
    public var kvCacheBytes: Int
    /// Longest sequence (prompt + output) a request may reach (`--context-length`); nil: the model's.
    public var contextLength: Int?
    /// Expected fraction of `max_new_tokens` a running request will still need; admission keeps that
    /// much room free so decodes rarely need preemption (SGLang's new-token ratio).
    public var newTokenReserveRatio: Double
    /// Above this many waiting requests `lpm` falls back to `fcfs` (matching every prompt costs time).
    public var lpmQueueLimit: Int
    /// `--random-seed`: where a request gives no `seed`, its seed is drawn from a generator started
    /// here, so a run's sampled outputs repeat for the same arrival order. nil: system randomness.
    public var randomSeed: UInt64?

    public init(maxTotalTokens: Int? = nil, pageSize: Int = 16, chunkedPrefillSize: Int = 2048,
                maxPrefillTokens: Int = 16384, maxRunningRequests: Int = 256, schedulePolicy: SchedulePolicy = .lpm,
                disableRadixCache: Bool = false, memFractionStatic: Double = 0.88, kvCacheBytes: Int = 512 << 20,
                contextLength: Int? = nil, newTokenReserveRatio: Double = 0.3, lpmQueueLimit: Int = 128,
                randomSeed: UInt64? = nil) {
        self.maxTotalTokens = maxTotalTokens
        self.pageSize = pageSize
        self.chunkedPrefillSize = chunkedPrefillSize
        self.maxPrefillTokens = maxPrefillTokens
        self.maxRunningRequests = maxRunningRequests
        self.schedulePolicy = schedulePolicy
        self.disableRadixCache = disableRadixCache
        self.memFractionStatic = memFractionStatic
        self.kvCacheBytes = kvCacheBytes
        self.contextLength = contextLength
        self.newTokenReserveRatio = newTokenReserveRatio
        self.lpmQueueLimit = lpmQueueLimit
        self.randomSeed = randomSeed
    }

    /// Pages in the KV pool for a model storing `bytesPerToken` per token.
    public func pageCount(bytesPerToken: Int) -> Int {
        if let maxTotalTokens { return max(0, maxTotalTokens / pageSize) }
        return max(0, kvCacheBytes / max(1, bytesPerToken * pageSize))
    }

    /// Prefill tokens one step may carry.
    var prefillBudget: Int {
        chunkedPrefillSize > 0 ? min(chunkedPrefillSize, maxPrefillTokens) : maxPrefillTokens
    }
}
