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
    /// Device bytes kept out of the KV pool beyond what `memFractionStatic` leaves, for activations,
    /// CUDA graphs and sampling buffers allocated after the pool (GPU backends only).
    public var deviceReserveBytes: Int
    /// Overlap a step's output processing (detokenization, stop strings, stream delivery) with the
    /// next step's model run (SGLang's overlap schedule; `--disable-overlap-schedule` turns it off).
    /// Outputs are the same either way.
    public var overlapSchedule: Bool

    public init(maxTotalTokens: Int? = nil, pageSize: Int = 16, chunkedPrefillSize: Int = 2048,
                maxPrefillTokens: Int = 16384, maxRunningRequests: Int = 256, schedulePolicy: SchedulePolicy = .lpm,
                disableRadixCache: Bool = false, memFractionStatic: Double = 0.88, kvCacheBytes: Int = 512 << 20,
                contextLength: Int? = nil, newTokenReserveRatio: Double = 0.3, lpmQueueLimit: Int = 128,
                randomSeed: UInt64? = nil, deviceReserveBytes: Int = EngineConfig.defaultDeviceReserveBytes,
                overlapSchedule: Bool = true) {
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
        self.deviceReserveBytes = deviceReserveBytes
        self.overlapSchedule = overlapSchedule
    }

    /// 1 GiB: Llama-3.1-8B's prefill activations at 16k tokens, graph buffers for buckets up to 256
    /// and the sampler's `[256, vocab]` scratch fit in it with room to spare.
    public static let defaultDeviceReserveBytes = 1 << 30

    /// Pages in the KV pool for a model storing `bytesPerToken` per token on a backend without
    /// device memory (see `KVMemoryPlan` for devices).
    public func pageCount(bytesPerToken: Int) -> Int {
        KVMemoryPlan(config: self, bytesPerToken: bytesPerToken, device: nil).pages
    }

    /// Prefill tokens one step may carry.
    var prefillBudget: Int {
        chunkedPrefillSize > 0 ? min(chunkedPrefillSize, maxPrefillTokens) : maxPrefillTokens
    }
}
