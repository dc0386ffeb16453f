/// Groups of requests sharing one long system prompt (`--dataset-name generated-shared-prefix`):
/// every request after the first of its group can reuse the group's prefix from the radix cache.
public struct SharedPrefixDataset: Sendable {
    public var numGroups: Int
    public var promptsPerGroup: Int
    public var systemPromptLength: Int
    public var questionLength: Int
    public var outputLength: Int

    public init(numGroups: Int, promptsPerGroup: Int, systemPromptLength: Int, questionLength: Int, outputLength: Int) {
        self.numGroups = numGroups
        self.promptsPerGroup = promptsPerGroup
        self.systemPromptLength = systemPromptLength
        self.questionLength = questionLength
        self.outputLength = outputLength
    }

    /// `numGroups × promptsPerGroup` prompts, groups interleaved in a seeded random order.
    public func prompts(renderer: PromptRenderer, rng: inout SeededGenerator) -> [BenchPrompt] {
        var prompts: [BenchPrompt] = []
        prompts.reserveCapacity(numGroups * promptsPerGroup)
        for _ in 0..<numGroups {
            let system = renderer.randomIDs(count: systemPromptLength, using: &rng)
            for _ in 0..<promptsPerGroup {
                let question = renderer.randomIDs(count: questionLength, using: &rng)
                prompts.append(renderer.prompt(ids: system + question, outputTokens: outputLength))
            }
        }
        prompts.shuffle(using: &rng)
        return prompts
    }
}
