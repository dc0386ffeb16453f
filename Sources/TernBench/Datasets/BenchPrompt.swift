/// One request's prompt and how many tokens it asks for.
public struct BenchPrompt: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        case text(String)
        case ids([Int])
    }

    public var content: Content
    /// Prompt length in tokens: exact for ids; for text, its length under the local tokenizer.
    public var promptTokens: Int
    public var outputTokens: Int

    public init(content: Content, promptTokens: Int, outputTokens: Int) {
        self.content = content
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
    }

    /// Whether `promptTokens` is what the server must count (ids go through untouched).
    public var promptIsExact: Bool {
        if case .ids = content { return true }
        return false
    }
}
