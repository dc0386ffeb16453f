/// Which HTTP API the client speaks.
public enum BenchBackend: String, CaseIterable, Sendable {
    /// SGLang's native `/generate` (what `tern serve` and SGLang serve); per-chunk token counts are exact.
    case tern
    /// OpenAI `/v1/completions`: prompt text or token ids.
    case openai
    /// OpenAI `/v1/chat/completions`: prompt text as one user message.
    case openaiChat = "openai-chat"

    public var path: String {
        switch self {
        case .tern: "/generate"
        case .openai: "/v1/completions"
        case .openaiChat: "/v1/chat/completions"
        }
    }
}
