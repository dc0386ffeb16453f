/// A generation request as the server or a test submits it.
public struct GenerateRequest: Sendable {
    /// Unique among live requests; `abort` uses it.
    public var id: String
    public var promptTokens: [Int]
    public var sampling: SamplingParams
    /// Set on a prefill server (PD disaggregation): called on the engine thread with a copy of the
    /// prompt's KV and the first sampled token, before the request's pages are released.
    public var kvExport: (@Sendable (Result<PrefillExport, EngineError>) -> Void)?

    public init(id: String, promptTokens: [Int], sampling: SamplingParams = SamplingParams()) {
        self.id = id
        self.promptTokens = promptTokens
        self.sampling = sampling
    }
}

public enum FinishReason: String, Sendable, Hashable {
    /// EOS, a stop token or a stop string.
    case stop
    /// `max_new_tokens`, the context length, or KV memory for a request that runs alone.
    case length
    case abort
}

/// What ended a request with reason `stop`.
public enum StopMatch: Sendable, Hashable {
    case eos(Int)
    case token(Int)
    case string(String)
}

/// Token counts of one choice (OpenAI `usage`).
public struct Usage: Sendable, Hashable {
    public var promptTokens: Int
    public var completionTokens: Int
    /// Prompt tokens whose KV came from the prefix cache instead of being computed.
    public var cachedTokens: Int

    public init(promptTokens: Int = 0, completionTokens: Int = 0, cachedTokens: Int = 0) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedTokens = cachedTokens
    }
}

/// Log-probability of a generated token and, when asked, the most likely alternatives.
public struct TokenLogprob: Sendable, Hashable {
    public var token: Int
    public var logprob: Float
    /// Most likely first.
    public var top: [(token: Int, logprob: Float)] {
        get { zip(topTokens, topLogprobs).map { ($0, $1) } }
        set { topTokens = newValue.map(\.token); topLogprobs = newValue.map(\.logprob) }
    }
    public var topTokens: [Int]
    public var topLogprobs: [Float]

    public init(token: Int, logprob: Float, topTokens: [Int] = [], topLogprobs: [Float] = []) {
        self.token = token
        self.logprob = logprob
        self.topTokens = topTokens
        self.topLogprobs = topLogprobs
    }
}

/// One streamed piece of output for one choice of a request.
public struct OutputDelta: Sendable {
    public var requestID: String
    /// Choice index (0..<n).
    public var index: Int
    /// Tokens generated since the previous delta of this choice.
    public var tokenIDs: [Int]
    /// One entry per token in `tokenIDs` when logprobs were asked for.
    public var logprobs: [TokenLogprob]?
    /// Text since the previous delta (always whole UTF-8 characters; empty without a text decoder).
    /// Text that could be the start of a stop string is held back until it is resolved.
    public var text: String
    /// Set on the last delta of the choice.
    public var finishReason: FinishReason?
    public var matchedStop: StopMatch?
    /// Running totals for this choice.
    public var usage: Usage

    public init(requestID: String, index: Int, tokenIDs: [Int] = [], logprobs: [TokenLogprob]? = nil, text: String = "",
                finishReason: FinishReason? = nil, matchedStop: StopMatch? = nil, usage: Usage = Usage()) {
        self.requestID = requestID
        self.index = index
        self.tokenIDs = tokenIDs
        self.logprobs = logprobs
        self.text = text
        self.finishReason = finishReason
        self.matchedStop = matchedStop
        self.usage = usage
    }
}

public enum EngineError: Error, Sendable, Hashable, CustomStringConvertible {
    case emptyPrompt
    case invalidParameter(name: String, reason: String)
    case invalidToken(id: Int, vocabSize: Int)
    /// prompt + 1 tokens exceed the context length.
    case promptTooLong(tokens: Int, contextLength: Int)
    /// prompt + 1 tokens can never fit in the KV pool, even empty.
    case exceedsKVPool(tokensNeeded: Int, poolTokens: Int)
    case duplicateRequestID(String)
    case stopStringsNeedTextDecoder
    case modelFailed(String)
    case shutDown
    /// PD disaggregation: the prompt's KV did not arrive from (or could not be sent to) the other server.
    case transferFailed(String)

    public var description: String {
        switch self {
        case .emptyPrompt: return "the prompt is empty"
        case let .invalidParameter(name, reason): return "invalid '\(name)': \(reason)"
        case let .invalidToken(id, vocab): return "prompt token id \(id) is outside the vocabulary (0..<\(vocab))"
        case let .promptTooLong(tokens, limit):
            return "the prompt has \(tokens) tokens; the context length is \(limit), which leaves no room to generate"
        case let .exceedsKVPool(needed, pool):
            return "the request needs \(needed) tokens of KV cache but the whole pool holds \(pool); raise --max-total-tokens or shorten the prompt"
        case let .duplicateRequestID(id): return "a request with id '\(id)' is already running"
        case .stopStringsNeedTextDecoder: return "stop strings need a tokenizer, and the engine has none"
        case let .modelFailed(message): return "model step failed: \(message)"
        case .shutDown: return "the engine is shutting down"
        case let .transferFailed(message): return "KV transfer failed: \(message)"
        }
    }
}
