import TernTokenizer

/// Streams text through the tokenizer's own incremental detokenizer.
public struct TokenizerTextDecoderFactory: TextDecoderFactory {
    public let tokenizer: Tokenizer
    public var skipSpecialTokens: Bool

    public init(_ tokenizer: Tokenizer, skipSpecialTokens: Bool = true) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    public func makeDecoder(prompt: [Int]) -> any IncrementalTextDecoder {
        TokenizerStreamDecoder(IncrementalDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skipSpecialTokens))
    }
}

final class TokenizerStreamDecoder: IncrementalTextDecoder {
    private var detokenizer: IncrementalDetokenizer

    init(_ detokenizer: IncrementalDetokenizer) { self.detokenizer = detokenizer }

    func push(_ token: Int) -> String { detokenizer.append(token) }
    func flush() -> String { detokenizer.finish() }
}

extension Tokenizer: TokenTextDecoder {
    public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: true) }
}
