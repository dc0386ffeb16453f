import Foundation
import Testing
import TernBackend
import TernModels

/// One fixture checked one way: which reference file, with which build options.
struct ReferenceCase: CustomTestStringConvertible, Sendable {
    var fixture: String
    var reference = "reference.json"
    var mlaForm: MLAForm = .automatic
    var quantizeActivations = true

    var testDescription: String { "\(fixture) \(reference) \(mlaForm.rawValue)\(quantizeActivations ? "" : " no-act-quant")" }

    func load() throws -> any LanguageModel {
        try ModelLoader.load(directory: Fixtures.directory(fixture), backend: CPUBackend(),
                             options: ModelBuildOptions(mlaForm: mlaForm, quantizeActivations: quantizeActivations))
    }
}

/// Logits and greedy continuations of every architecture against transformers (fp32 forward;
/// bf16 fixtures against the fp32 forward of their bf16 weights; quantized fixtures against the
/// fp32 forward of their dequantized weights, with DeepSeek's activation quantization where named).
@Suite struct ModelReferenceTests {
    static let dense = ["llama", "llama-bf16", "mistral", "mistral-bf16", "qwen2", "qwen2-bf16", "qwen3", "qwen3-bf16"]
    static let moe = ["qwen3moe", "qwen3moe-bf16", "mixtral", "mixtral-bf16"]
    static let deepseek = ["deepseek-v2", "deepseek-v2-bf16", "deepseek-v3", "deepseek-v3-bf16"]

    static let cases: [ReferenceCase] =
        (dense + moe).map { ReferenceCase(fixture: $0) }
        + deepseek.flatMap { name in [MLAForm.absorbed, .expanded].map { ReferenceCase(fixture: name, mlaForm: $0) } }
        + [MLAForm.absorbed, .expanded].flatMap { form in [
            ReferenceCase(fixture: "deepseek-v3-fp8", reference: "reference.json", mlaForm: form, quantizeActivations: false),
            ReferenceCase(fixture: "deepseek-v3-fp8", reference: "reference_actquant.json", mlaForm: form),
            ReferenceCase(fixture: "deepseek-v3-nvfp4", mlaForm: form),
        ] }

    @Test(arguments: cases)
    func logitsMatchTransformers(_ test: ReferenceCase) throws {
        let runner = ReferenceRunner(model: try test.load(), pageSize: 4)
        for prompt in try Fixtures.reference(test.fixture, file: test.reference) {
            let logits = try runner.promptLogits(prompt.inputIDs)
            for (i, position) in prompt.logitPositions.enumerated() {
                let expected = prompt.logits[i]
                let range = expected.max()! - expected.min()!
                let error = zip(expected, logits[position]).map { abs($0 - $1) }.max()!
                #expect(error <= 1e-4 * range, "prompt of \(prompt.inputIDs.count), position \(position): max error \(error), range \(range)")
            }
        }
    }

    @Test(arguments: cases)
    func greedyContinuationMatchesTransformers(_ test: ReferenceCase) throws {
        let runner = ReferenceRunner(model: try test.load(), pageSize: 4)
        for prompt in try Fixtures.reference(test.fixture, file: test.reference) {
            #expect(try runner.greedy(prompt.inputIDs, newTokens: prompt.greedy.count) == prompt.greedy,
                    "prompt of \(prompt.inputIDs.count) tokens")
        }
    }

    @Test(arguments: ["mistral", "deepseek-v3"])
    func chunkedPrefillOverCachedPrefixGivesTheSameContinuation(fixture: String) throws {
        let model = try ModelLoader.load(directory: Fixtures.directory(fixture), backend: CPUBackend())
        let runner = ReferenceRunner(model: model, pageSize: 4)
        let prompt = try Fixtures.reference(fixture).last!
        #expect(try runner.greedy(prompt.inputIDs, newTokens: prompt.greedy.count, chunk: 7) == prompt.greedy)
    }

    @Test(arguments: ["qwen3", "qwen3moe", "deepseek-v2"])
    func batchedSequencesMatchSingleSequences(fixture: String) throws {
        let model = try ModelLoader.load(directory: Fixtures.directory(fixture), backend: CPUBackend())
        let prompts = try Fixtures.reference(fixture).map(\.inputIDs)
        let runner = ReferenceRunner(model: model, pageSize: 4)
        let single = try prompts.map { try runner.promptLogits($0).last! }
        let cache = try model.makeKVCache(pageSize: 4, pageCount: prompts.map { ($0.count + 3) / 4 }.reduce(0, +))
        let batch = ForwardBatch.contiguousPrefill(prompts, pageSize: 4)
        let flat = try model.backend.downloadFloats(try model.forward(batch, cache: cache))
        let vocab = model.config.vocabSize
        for (i, expected) in single.enumerated() {
            let row = Array(flat[i * vocab..<(i + 1) * vocab])
            #expect(zip(row, expected).map { abs($0 - $1) }.max()! < 1e-4)
        }
    }

    @Test func mlaCacheHoldsOnlyTheLatentAndRotaryKey() throws {
        let model = try ModelLoader.load(directory: Fixtures.directory("deepseek-v3"), backend: CPUBackend())
        let mla = try #require(model.config.mla)
        #expect(model.kvLayout.kvHeads == 1 && model.kvLayout.keyDim == mla.kvLoraRank + mla.qkRopeHeadDim && model.kvLayout.valueDim == 0)
    }
}
