import Foundation
import Testing
@testable import TernBench

struct DatasetTests {
    let renderer = PromptRenderer(tokenizer: nil, sendIDs: true, vocabSize: 100)

    @Test func lengthRangeIsFromLTimesRatioToL() {
        #expect(RandomDataset.lengthRange(1024, ratio: 0.8) == 819...1024)
        #expect(RandomDataset.lengthRange(1024, ratio: 0) == 1...1024)
        #expect(RandomDataset.lengthRange(10, ratio: 1) == 10...10)
    }

    @Test func randomPromptsStayInRangeAndRepeatForASeed() {
        var rng = SeededGenerator(seed: 7)
        let prompts = RandomDataset(inputLength: 50, outputLength: 20, rangeRatio: 0.8).prompts(count: 200, renderer: renderer, rng: &rng)
        #expect(prompts.allSatisfy { (40...50).contains($0.promptTokens) && (16...20).contains($0.outputTokens) })
        #expect(Set(prompts.map(\.promptTokens)).count > 5)
        for p in prompts {
            guard case .ids(let ids) = p.content else { Issue.record("expected ids"); return }
            #expect(ids.count == p.promptTokens && ids.allSatisfy { (0..<100).contains($0) })
        }
        var again = SeededGenerator(seed: 7)
        #expect(RandomDataset(inputLength: 50, outputLength: 20, rangeRatio: 0.8).prompts(count: 200, renderer: renderer, rng: &again) == prompts)
    }

    @Test func sharedPrefixGroupsShareTheirSystemPromptOnly() {
        var rng = SeededGenerator(seed: 3)
        let prompts = SharedPrefixDataset(numGroups: 3, promptsPerGroup: 4, systemPromptLength: 30, questionLength: 5, outputLength: 8)
            .prompts(renderer: renderer, rng: &rng)
        #expect(prompts.count == 12)
        let prefixes = prompts.map { p -> [Int] in
            guard case .ids(let ids) = p.content else { return [] }
            #expect(ids.count == 35 && p.outputTokens == 8)
            return Array(ids[..<30])
        }
        let groups = Dictionary(grouping: prefixes, by: { $0 })
        #expect(groups.count == 3)
        #expect(groups.values.allSatisfy { $0.count == 4 })
    }

    @Test func shareGPTTakesTheFirstHumanAndGPTTurns() throws {
        let json = Data(#"""
        [{"id": "a", "conversations": [{"from": "human", "value": "Hello there"}, {"from": "gpt", "value": "Hi!"}]},
         {"id": "b", "conversations": [{"from": "human", "value": "only one turn"}]},
         {"id": "c", "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}, {"from": "human", "value": "more"}]}]
        """#.utf8)
        let d = try ShareGPTDataset(json: json)
        #expect(d.pairs == [.init(prompt: "Hello there", reply: "Hi!"), .init(prompt: "Q", reply: "A")])
    }

    @Test func poissonGapsAverageOneOverTheRate() {
        var rng = SeededGenerator(seed: 11)
        let n = 20000
        let mean = (0..<n).reduce(0.0) { acc, _ in acc + rng.exponential(rate: 4) } / Double(n)
        #expect(abs(mean - 0.25) < 0.01)
    }

    @Test func sweepPointsAreInferenceMAXSizedWithTheirOwnSeeds() {
        let sweep = Sweep(base: BenchConfig(baseURL: "http://x/"), concurrencies: [4, 8])
        let c4 = sweep.config(concurrency: 4), c8 = sweep.config(concurrency: 8)
        #expect(c4.maxConcurrency == 4 && c4.numPrompts == 40 && c4.warmupRequests == 8)
        #expect(c8.numPrompts == 80 && c8.warmupRequests == 16)
        #expect(c4.seed != c8.seed)
        #expect(c4.baseURL == "http://x")
        let fixed = Sweep(base: BenchConfig(baseURL: "http://x"), concurrencies: [4], numPrompts: 6, warmupRequests: 0)
        #expect(fixed.config(concurrency: 4).numPrompts == 6 && fixed.config(concurrency: 4).warmupRequests == 0)
        #expect(Preset.named("8k1k")?.inputLength == 8192 && Preset.named("1k8k")?.outputLength == 8192)
    }
}
