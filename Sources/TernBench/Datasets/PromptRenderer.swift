import TernTokenizer

/// Turns token ids into what is sent: the ids themselves, or their text under a tokenizer.
public struct PromptRenderer: Sendable {
    public let tokenizer: Tokenizer?
    public let sendIDs: Bool
    /// Ids random prompts draw from: [0, vocabSize) minus the tokenizer's special tokens.
    public let vocabSize: Int
    private let special: Set<Int>

    public init(tokenizer: Tokenizer?, sendIDs: Bool, vocabSize: Int) {
        self.tokenizer = tokenizer
        self.sendIDs = sendIDs || tokenizer == nil
        self.vocabSize = vocabSize
        special = tokenizer?.specialTokenIDs ?? []
    }

    public func randomIDs(count: Int, using rng: inout SeededGenerator) -> [Int] {
        var ids = [Int]()
        ids.reserveCapacity(count)
        while ids.count < count {
            let id = rng.int(in: 0...(vocabSize - 1))
            if !special.contains(id) { ids.append(id) }
        }
        return ids
    }

    /// A prompt from ids: as ids (exact length), or as text whose length is re-counted by the tokenizer
    /// (decoding and re-encoding random ids rarely gives the same ids back).
    public func prompt(ids: [Int], outputTokens: Int) -> BenchPrompt {
        guard !sendIDs, let tokenizer else {
            return BenchPrompt(content: .ids(ids), promptTokens: ids.count, outputTokens: outputTokens)
        }
        let text = tokenizer.decode(ids)
        return BenchPrompt(content: .text(text), promptTokens: tokenizer.encode(text, addSpecialTokens: false).count,
                           outputTokens: outputTokens)
    }
}
