/// Random-token prompts (`--dataset-name random`): lengths uniform in [max(1, L·r), L], seeded.
public struct RandomDataset: Sendable {
    public var inputLength: Int
    public var outputLength: Int
    public var rangeRatio: Double

    public init(inputLength: Int, outputLength: Int, rangeRatio: Double) {
        self.inputLength = inputLength
        self.outputLength = outputLength
        self.rangeRatio = rangeRatio
    }

    /// The range a length L with ratio r is drawn from.
    public static func lengthRange(_ length: Int, ratio: Double) -> ClosedRange<Int> {
        let low = max(1, Int((Double(length) * ratio).rounded(.down)))
        return min(low, length)...max(length, 1)
    }

    public func prompts(count: Int, renderer: PromptRenderer, rng: inout SeededGenerator) -> [BenchPrompt] {
        let inRange = Self.lengthRange(inputLength, ratio: rangeRatio)
        let outRange = Self.lengthRange(outputLength, ratio: rangeRatio)
        return (0..<count).map { _ in
            let inLen = rng.int(in: inRange)
            let outLen = rng.int(in: outRange)
            return renderer.prompt(ids: renderer.randomIDs(count: inLen, using: &rng), outputTokens: outLen)
        }
    }
}
