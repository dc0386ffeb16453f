/// How one request's tokens are chosen and when it stops (OpenAI / SGLang request fields).
public struct SamplingParams: Sendable, Hashable {
    /// 0 = greedy.
    public var temperature: Float
    /// Keep the k most likely tokens; 0 or negative = off.
    public var topK: Int
    /// Keep the smallest set of tokens whose probability reaches p; 1 = off.
    public var topP: Float
    /// Drop tokens less likely than `minP` × the most likely one; 0 = off.
    public var minP: Float
    /// OpenAI: subtract `frequencyPenalty × count` over generated tokens.
    public var frequencyPenalty: Float
    /// OpenAI: subtract `presencePenalty` once for every token already generated.
    public var presencePenalty: Float
    /// HF: divide positive / multiply negative logits of every token seen in prompt or output; 1 = off.
    public var repetitionPenalty: Float
    /// Added to the logits of the given token ids.
    public var logitBias: [Int: Float]
    /// Same seed ⇒ same tokens, alone or batched. nil: a random seed.
    public var seed: UInt64?
    public var maxNewTokens: Int
    /// EOS and stop tokens are suppressed until this many tokens have been generated.
    public var minTokens: Int
    public var ignoreEOS: Bool
    /// Finish when the output text contains one of these (the match is cut from the text).
    public var stopStrings: [String]
    /// Finish when one of these token ids is generated.
    public var stopTokenIDs: [Int]
    /// Return the chosen token's log-probability.
    public var logprobs: Bool
    /// Also return this many most likely alternatives per token.
    public var topLogprobs: Int
    /// Parallel samples of one prompt; the prompt's KV is computed once and shared.
    public var n: Int

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0,
                frequencyPenalty: Float = 0, presencePenalty: Float = 0, repetitionPenalty: Float = 1,
                logitBias: [Int: Float] = [:], seed: UInt64? = nil, maxNewTokens: Int = 128, minTokens: Int = 0,
                ignoreEOS: Bool = false, stopStrings: [String] = [], stopTokenIDs: [Int] = [],
                logprobs: Bool = false, topLogprobs: Int = 0, n: Int = 1) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.frequencyPenalty = frequencyPenalty
        self.presencePenalty = presencePenalty
        self.repetitionPenalty = repetitionPenalty
        self.logitBias = logitBias
        self.seed = seed
        self.maxNewTokens = maxNewTokens
        self.minTokens = minTokens
        self.ignoreEOS = ignoreEOS
        self.stopStrings = stopStrings
        self.stopTokenIDs = stopTokenIDs
        self.logprobs = logprobs
        self.topLogprobs = topLogprobs
        self.n = n
    }

    public static let greedy = SamplingParams(temperature: 0)

    var isGreedy: Bool { temperature <= 0 || topK == 1 }

    /// Rejects values the sampler cannot honour, naming the field.
    public func validate(vocabSize: Int) throws(EngineError) {
        func bad(_ name: String, _ reason: String) -> EngineError { .invalidParameter(name: name, reason: reason) }
        guard temperature.isFinite, temperature >= 0 else { throw bad("temperature", "must be ≥ 0") }
        guard topP.isFinite, topP > 0, topP <= 1 else { throw bad("top_p", "must be in (0, 1]") }
        guard minP.isFinite, minP >= 0, minP <= 1 else { throw bad("min_p", "must be in [0, 1]") }
        guard frequencyPenalty.isFinite, abs(frequencyPenalty) <= 2 else { throw bad("frequency_penalty", "must be in [-2, 2]") }
        guard presencePenalty.isFinite, abs(presencePenalty) <= 2 else { throw bad("presence_penalty", "must be in [-2, 2]") }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else { throw bad("repetition_penalty", "must be > 0") }
        guard maxNewTokens >= 1 else { throw bad("max_new_tokens", "must be ≥ 1") }
        guard minTokens >= 0 else { throw bad("min_tokens", "must be ≥ 0") }
        guard topLogprobs >= 0, topLogprobs <= 20 else { throw bad("top_logprobs", "must be in [0, 20]") }
        guard n >= 1, n <= 128 else { throw bad("n", "must be in [1, 128]") }
        for id in logitBias.keys where id < 0 || id >= vocabSize {
            throw bad("logit_bias", "token id \(id) outside the vocabulary (0..<\(vocabSize))")
        }
        for id in stopTokenIDs where id < 0 || id >= vocabSize {
            throw bad("stop_token_ids", "token id \(id) outside the vocabulary (0..<\(vocabSize))")
        }
        if stopStrings.contains(where: \.isEmpty) { throw bad("stop", "stop strings must not be empty") }
    }
}
