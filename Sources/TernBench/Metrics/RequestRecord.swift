/// What the client saw of one request: when its chunks arrived and what the server reported.
/// Times are seconds; `chunkTimes` are measured from the request's start.
public struct RequestRecord: Sendable, Equatable {
    /// Prompt tokens sent (exact for ids; the local tokenizer's count for text).
    public var promptTokens: Int
    public var promptIsExact: Bool
    public var requestedOutputTokens: Int
    public var succeeded: Bool
    public var error: String?
    /// Seconds from the run's start to this request's start.
    public var startTime: Double
    /// Arrival time of each chunk that carried tokens; the first is the TTFT.
    public var chunkTimes: [Double]
    /// Tokens each of those chunks carried.
    public var chunkTokens: [Int]
    /// Request start to the end of the response.
    public var latency: Double
    /// `usage` / `meta_info` counts from the server, when it sent them.
    public var reportedPromptTokens: Int?
    public var reportedCompletionTokens: Int?

    public init(promptTokens: Int, promptIsExact: Bool = true, requestedOutputTokens: Int, succeeded: Bool = true,
                error: String? = nil, startTime: Double = 0, chunkTimes: [Double], chunkTokens: [Int], latency: Double,
                reportedPromptTokens: Int? = nil, reportedCompletionTokens: Int? = nil) {
        self.promptTokens = promptTokens
        self.promptIsExact = promptIsExact
        self.requestedOutputTokens = requestedOutputTokens
        self.succeeded = succeeded
        self.error = error
        self.startTime = startTime
        self.chunkTimes = chunkTimes
        self.chunkTokens = chunkTokens
        self.latency = latency
        self.reportedPromptTokens = reportedPromptTokens
        self.reportedCompletionTokens = reportedCompletionTokens
    }

    /// Time to the first chunk that carried a token.
    public var ttft: Double? { chunkTimes.first }
    /// Tokens counted off the stream.
    public var receivedTokens: Int { chunkTokens.reduce(0, +) }
    /// Output length: the server's count when given, else what the stream carried.
    public var outputTokens: Int { reportedCompletionTokens ?? receivedTokens }

    /// (latency − TTFT) / (output − 1); nil for fewer than two output tokens.
    public var tpot: Double? {
        guard let ttft, outputTokens > 1 else { return nil }
        return (latency - ttft) / Double(outputTokens - 1)
    }

    /// Gaps between consecutive chunks; a chunk carrying k tokens gives k gaps of gap/k.
    public var interTokenLatencies: [Double] {
        var gaps: [Double] = []
        guard chunkTimes.count > 1 else { return gaps }
        gaps.reserveCapacity(receivedTokens)
        for i in 1..<chunkTimes.count {
            let k = max(chunkTokens[i], 1)
            let gap = (chunkTimes[i] - chunkTimes[i - 1]) / Double(k)
            for _ in 0..<k { gaps.append(gap) }
        }
        return gaps
    }

    /// The server counted a different prompt than was sent (checked only for ids).
    public var promptCountMismatch: Bool {
        guard promptIsExact, let reported = reportedPromptTokens else { return false }
        return reported != promptTokens
    }

    /// The server's output count disagrees with the stream, or (with ignore_eos) with what was asked.
    public func outputCountMismatch(ignoreEOS: Bool) -> Bool {
        if let reported = reportedCompletionTokens, reported != receivedTokens { return true }
        return ignoreEOS && outputTokens != requestedOutputTokens
    }
}
