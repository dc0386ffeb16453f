import Foundation
import TernTokenizer

/// Conversations from a ShareGPT-format file: `[{"conversations": [{"from": "human", "value": ...},
/// {"from": "gpt", "value": ...}, ...]}, ...]`. The first turn is the prompt; the second's length in
/// tokens is the output length unless `outputLength` fixes it.
public struct ShareGPTDataset: Sendable {
    public struct Pair: Sendable, Equatable {
        public var prompt: String
        public var reply: String
    }

    public let pairs: [Pair]

    public init(pairs: [Pair]) { self.pairs = pairs }

    public init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try self.init(json: data)
    }

    public init(json: Data) throws {
        guard let entries = try JSONSerialization.jsonObject(with: json) as? [[String: Any]] else {
            throw BenchError.badDataset("a ShareGPT file is a JSON array of objects")
        }
        pairs = entries.compactMap { entry in
            guard let turns = (entry["conversations"] ?? entry["conversation"]) as? [[String: Any]], turns.count >= 2,
                  let prompt = turns[0]["value"] as? String, let reply = turns[1]["value"] as? String else { return nil }
            return Pair(prompt: prompt, reply: reply)
        }
    }

    /// `count` prompts in a seeded random order; pairs too short to measure (under 2 tokens) are skipped.
    public func prompts(count: Int, tokenizer: Tokenizer, outputLength: Int?, rng: inout SeededGenerator) throws -> [BenchPrompt] {
        var order = Array(pairs.indices)
        order.shuffle(using: &rng)
        var prompts: [BenchPrompt] = []
        for index in order where prompts.count < count {
            let pair = pairs[index]
            let promptTokens = tokenizer.encode(pair.prompt, addSpecialTokens: false).count
            let outputTokens = outputLength ?? tokenizer.encode(pair.reply, addSpecialTokens: false).count
            guard promptTokens >= 2, outputTokens >= 2 else { continue }
            prompts.append(BenchPrompt(content: .text(pair.prompt), promptTokens: promptTokens, outputTokens: outputTokens))
        }
        guard prompts.count == count else {
            throw BenchError.badDataset("the ShareGPT file has \(prompts.count) usable conversations; \(count) requested")
        }
        return prompts
    }
}
