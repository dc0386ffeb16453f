/// What the sampler remembers about one choice between steps: its random stream and the token
/// statistics the penalties need. Lives with the sequence; costs nothing when penalties are off.
public struct SamplingState: Sendable {
    public let params: SamplingParams
    public var random: SamplingRandom
    /// Tokens generated so far.
    public private(set) var generated = 0
    /// Generated-token counts (frequency / presence penalties).
    private(set) var outputCounts: [Int32: Int32] = [:]
    /// Distinct tokens of prompt and output (repetition penalty).
    private(set) var seen: Set<Int32> = []
    /// Token ids whose logits are forced to -inf until `minTokens` tokens exist (EOS, stop tokens).
    let suppressedUntilMin: [Int32]

    public init(params: SamplingParams, prompt: [Int32], eosTokenIDs: [Int], choice: Int) {
        self.params = params
        let seed = params.seed ?? UInt64.random(in: .min ... .max)
        random = SamplingRandom(seed: seed, choice: choice)
        if params.repetitionPenalty != 1 { seen = Set(prompt) }
        var suppressed = params.stopTokenIDs
        if !params.ignoreEOS { suppressed += eosTokenIDs }
        suppressedUntilMin = params.minTokens > 0 ? suppressed.map { Int32($0) } : []
    }

    var usesCounts: Bool { params.frequencyPenalty != 0 || params.presencePenalty != 0 }

    var suppressing: Bool { generated < params.minTokens && !suppressedUntilMin.isEmpty }

    mutating func record(_ token: Int32) {
        generated += 1
        if usesCounts { outputCounts[token, default: 0] += 1 }
        if params.repetitionPenalty != 1 { seen.insert(token) }
    }
}
