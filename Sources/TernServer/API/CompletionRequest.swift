import TernEngine

/// A parsed POST /v1/completions body.
struct CompletionRequest: Sendable {
    var prompts: [PromptInput]
    var sampling: SamplingRequest
    var stream: Bool
    var includeUsage: Bool
    /// `logprobs: int` — alternatives per token (0 = chosen token only); nil = none.
    var logprobs: Int?
    var echo: Bool

    init(_ f: RequestFields) throws(APIError) {
        guard let prompts = try f.prompts("prompt") else {
            throw .invalid("'prompt' is required.", param: "prompt", code: "missing_field")
        }
        self.prompts = prompts
        sampling = try f.sampling(.openAI)
        stream = try f.bool("stream") ?? false
        includeUsage = try f.object("stream_options")?.bool("include_usage") ?? false
        logprobs = try f.int("logprobs", in: 0...20)
        echo = try f.bool("echo") ?? false
        if let best = try f.int("best_of"), best != sampling.params.n {
            throw .invalid("'best_of' other than n is not supported.", param: "best_of")
        }
        if let lp = logprobs {
            sampling.params.logprobs = true
            sampling.params.topLogprobs = lp
        }
    }
}

/// A parsed POST /v1/chat/completions body (the messages are rendered separately).
struct ChatRequest: Sendable {
    var sampling: SamplingRequest
    var stream: Bool
    var includeUsage: Bool
    var logprobs: Bool
    var topLogprobs: Int
    var addGenerationPrompt: Bool

    init(_ f: RequestFields) throws(APIError) {
        guard let messages = f.values["messages"], !messages.isNull else {
            throw .invalid("'messages' is required.", param: "messages", code: "missing_field")
        }
        guard let list = messages.array else { throw f.wrongType("messages", "a list of messages") }
        guard !list.isEmpty else { throw f.outOfRange("messages", "must not be empty") }
        for (i, m) in list.enumerated() {
            guard let o = m.object else { throw f.wrongType("messages", "a list of message objects") }
            guard o["role"]?.string != nil else {
                throw .invalid("'messages[\(i)].role' must be a string.", param: "messages", code: "invalid_type")
            }
            if let content = o["content"], !content.isNull, content.string == nil, content.array == nil {
                throw .invalid("'messages[\(i)].content' must be a string or a list of content parts.",
                               param: "messages", code: "invalid_type")
            }
        }
        sampling = try f.sampling(.openAI)
        stream = try f.bool("stream") ?? false
        includeUsage = try f.object("stream_options")?.bool("include_usage") ?? false
        logprobs = try f.bool("logprobs") ?? false
        topLogprobs = try f.int("top_logprobs", in: 0...20) ?? 0
        if topLogprobs > 0 && !logprobs {
            throw .invalid("'top_logprobs' needs 'logprobs' set to true.", param: "top_logprobs")
        }
        addGenerationPrompt = try f.bool("add_generation_prompt") ?? true
        if logprobs {
            sampling.params.logprobs = true
            sampling.params.topLogprobs = topLogprobs
        }
    }
}
