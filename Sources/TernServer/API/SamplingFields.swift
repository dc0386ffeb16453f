import TernEngine

/// Which spelling of the sampling fields a request uses.
public enum SamplingDialect: Sendable {
    /// Top-level OpenAI fields plus the extras vLLM and SGLang accept there
    /// (`top_k`, `min_p`, `repetition_penalty`, `ignore_eos`, `min_tokens`, `stop_token_ids`, ...).
    case openAI
    /// SGLang's `sampling_params` object (`max_new_tokens`, `min_new_tokens`, ...).
    case sglang
}

/// Sampling settings read from a request, before the prompt is known.
public struct SamplingRequest: Sendable {
    public var params: SamplingParams
    /// nil: the endpoint's default (clamped to the room left in the context).
    public var maxTokens: Int?
    /// Which field set `maxTokens` (for error messages).
    public var maxTokensField: String
    public var skipSpecialTokens: Bool
}

extension RequestFields {
    /// Reads and range-checks the sampling fields. Ranges follow the OpenAI reference where it has
    /// one (temperature ≥ 0, top_p in (0, 1], penalties in [-2, 2], n ≥ 1) and the engine's limits elsewhere.
    public func sampling(_ dialect: SamplingDialect) throws(APIError) -> SamplingRequest {
        var p = SamplingParams()
        if let t = try double("temperature") {
            guard t >= 0, t.isFinite else { throw outOfRange("temperature", "must be ≥ 0") }
            p.temperature = Float(t)
        }
        if let v = try double("top_p") {
            guard v > 0, v <= 1 else { throw outOfRange("top_p", "must be in (0, 1]") }
            p.topP = Float(v)
        }
        if let k = try int("top_k") {
            guard k >= -1 else { throw outOfRange("top_k", "must be -1 (off) or a positive integer") }
            p.topK = k <= 0 ? 0 : k
        }
        if let v = try double("min_p") {
            guard v >= 0, v <= 1 else { throw outOfRange("min_p", "must be in [0, 1]") }
            p.minP = Float(v)
        }
        for (name, keyPath) in [("frequency_penalty", \SamplingParams.frequencyPenalty), ("presence_penalty", \.presencePenalty)] {
            if let v = try double(name) {
                guard v >= -2, v <= 2 else { throw outOfRange(name, "must be in [-2, 2]") }
                p[keyPath: keyPath] = Float(v)
            }
        }
        if let v = try double("repetition_penalty") {
            guard v > 0, v.isFinite else { throw outOfRange("repetition_penalty", "must be > 0") }
            p.repetitionPenalty = Float(v)
        }
        if let seed = try int("seed") { p.seed = UInt64(bitPattern: Int64(seed)) }
        if let n = try int("n") {
            guard n >= 1, n <= 128 else { throw outOfRange("n", "must be between 1 and 128") }
            p.n = n
        }
        if let stop = try strings("stop") {
            guard !stop.contains(where: \.isEmpty) else { throw outOfRange("stop", "must not contain empty strings") }
            guard stop.count <= 16 else { throw outOfRange("stop", "may hold at most 16 strings") }
            p.stopStrings = stop
        }
        if let ids = try ints("stop_token_ids") { p.stopTokenIDs = ids }
        if let ignore = try bool("ignore_eos") { p.ignoreEOS = ignore }
        let minField = dialect == .sglang ? "min_new_tokens" : "min_tokens"
        if let m = try int(minField) {
            guard m >= 0 else { throw outOfRange(minField, "must be ≥ 0") }
            p.minTokens = m
        }
        if let bias = try object("logit_bias") {
            for (key, value) in bias.values {
                guard let id = Int(key) else {
                    throw .invalid("'logit_bias' keys must be token ids, got '\(key)'.", param: "logit_bias", code: "invalid_type")
                }
                guard let b = value.double else { throw wrongType("logit_bias", "an object of token id → number") }
                guard b >= -100, b <= 100 else { throw outOfRange("logit_bias", "values must be in [-100, 100]") }
                p.logitBias[id] = Float(b)
            }
        }
        var maxTokens: Int?
        var maxField = "max_tokens"
        let maxFields = dialect == .sglang ? ["max_new_tokens"] : ["max_completion_tokens", "max_tokens"]
        for name in maxFields {
            if let m = try int(name) {
                guard m >= 1 else { throw outOfRange(name, "must be ≥ 1") }
                maxTokens = m
                maxField = name
                break
            }
        }
        let skip = try bool("skip_special_tokens") ?? true
        return SamplingRequest(params: p, maxTokens: maxTokens, maxTokensField: maxField, skipSpecialTokens: skip)
    }
}
