import Foundation
import Testing
import TernBackend
import TernModels

/// Logits and greedy continuations of the dense architectures against transformers.
@Suite struct DenseModelReferenceTests {
    static let fixtures = ["llama", "llama-bf16", "mistral", "mistral-bf16", "qwen2", "qwen2-bf16", "qwen3", "qwen3-bf16"]

    @Test(arguments: fixtures)
    func logitsMatchTransformers(fixture: String) throws {
        let model = try ModelLoader.load(directory: Fixtures.directory(fixture), backend: CPUBackend())
        let runner = ReferenceRunner(model: model, pageSize: 4)
        for prompt in try Fixtures.reference(fixture) {
            let logits = try runner.promptLogits(prompt.inputIDs)
            for (i, position) in prompt.logitPositions.enumerated() {
                let expected = prompt.logits[i]
                let range = (expected.max()! - expected.min()!)
                let error = zip(expected, logits[position]).map { abs($0 - $1) }.max()!
                #expect(error <= 1e-4 * range, "\(fixture) prompt of \(prompt.inputIDs.count), position \(position): max error \(error), range \(range)")
            }
        }
    }

    @Test(arguments: fixtures)
    func greedyContinuationMatchesTransformers(fixture: String) throws {
        let model = try ModelLoader.load(directory: Fixtures.directory(fixture), backend: CPUBackend())
        let runner = ReferenceRunner(model: model, pageSize: 4)
        for prompt in try Fixtures.reference(fixture) {
            #expect(try runner.greedy(prompt.inputIDs, newTokens: prompt.greedy.count) == prompt.greedy,
                    "\(fixture), prompt of \(prompt.inputIDs.count) tokens")
        }
    }

    @Test func chunkedPrefillOverCachedPrefixGivesTheSameContinuation() throws {
        let model = try ModelLoader.load(directory: Fixtures.directory("mistral"), backend: CPUBackend())
        let runner = ReferenceRunner(model: model, pageSize: 4)
        let prompt = try Fixtures.reference("mistral").last!
        #expect(try runner.greedy(prompt.inputIDs, newTokens: prompt.greedy.count, chunk: 7) == prompt.greedy)
    }

    @Test func batchedSequencesMatchSingleSequences() throws {
        let model = try ModelLoader.load(directory: Fixtures.directory("qwen3"), backend: CPUBackend())
        let prompts = try Fixtures.reference("qwen3").map(\.inputIDs)
        let runner = ReferenceRunner(model: model, pageSize: 4)
        let single = try prompts.map { try runner.promptLogits($0).last! }
        let cache = try model.makeKVCache(pageSize: 4, pageCount: prompts.map { ($0.count + 3) / 4 }.reduce(0, +))
        let batch = ForwardBatch.contiguousPrefill(prompts, pageSize: 4)
        let flat = try model.backend.downloadFloats(try model.forward(batch, cache: cache))
        for (i, expected) in single.enumerated() {
            let row = Array(flat[i * 512..<(i + 1) * 512])
            #expect(zip(row, expected).map { abs($0 - $1) }.max()! < 1e-4)
        }
    }
}
