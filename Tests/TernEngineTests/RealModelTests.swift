import Foundation
import Testing
import TernBackend
import TernModels
import TernTokenizer
@testable import TernEngine

/// The engine driving the real DenseTransformer on the tiny fixture checkpoints.
@Suite struct RealModelTests {
    struct Reference: Decodable {
        struct Prompt: Decodable {
            let input_ids: [Int]
            let greedy_continuation: [Int]
        }
        let prompts: [Prompt]
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../fixtures/models").standardizedFileURL

    func load(_ name: String) throws -> (any LanguageModel, Reference) {
        let directory = Self.fixtures.appendingPathComponent(name)
        let model = try ModelLoader.load(directory: directory, backend: CPUBackend())
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: directory.appendingPathComponent("reference.json")))
        return (model, reference)
    }

    func requests(_ reference: Reference) -> [GenerateRequest] {
        reference.prompts.enumerated().map { i, prompt in
            GenerateRequest(id: "p\(i)", promptTokens: prompt.input_ids,
                            sampling: SamplingParams(temperature: 0, maxNewTokens: prompt.greedy_continuation.count, ignoreEOS: true))
        }
    }

    @Test(arguments: ["llama", "qwen3"])
    func batchedChunkedCachedGreedyMatchesTransformers(_ name: String) throws {
        let (model, reference) = try load(name)
        let requests = requests(reference)
        // Small pages and chunks so prompts straddle pages and chunk boundaries; staggered arrivals.
        let config = EngineConfig(maxTotalTokens: 4096, pageSize: 4, chunkedPrefillSize: 7)
        let (out, core) = try runWorkload(model, config: config, requests: requests, arrivals: requests.indices.map { $0 * 2 })
        for (i, prompt) in reference.prompts.enumerated() {
            #expect(out.tokens("p\(i)") == prompt.greedy_continuation, "\(name) prompt \(i)")
        }
        #expect(core.pageAccountingProblems().isEmpty)
    }

    @Test func prefixCacheHitComputesOnlyNewTokensWithTheRealModel() throws {
        let (inner, reference) = try load("llama")
        let model = CountingModel(inner)
        let longest = reference.prompts.max { $0.input_ids.count < $1.input_ids.count }!
        let prompt = longest.input_ids
        let config = EngineConfig(maxTotalTokens: 2048, pageSize: 4)
        let core = try EngineCore(model: model, config: config)
        let out = OutputCollector()
        let params = SamplingParams(temperature: 0, maxNewTokens: longest.greedy_continuation.count, ignoreEOS: true)
        core.add(GenerateRequest(id: "first", promptTokens: prompt, sampling: params), sink: out.sink("first"))
        core.runUntilIdle()
        let before = model.tokens
        core.add(GenerateRequest(id: "again", promptTokens: prompt, sampling: params), sink: out.sink("again"))
        core.runUntilIdle()
        let cached = (prompt.count - 1) / 4 * 4
        #expect(model.tokens - before == prompt.count - cached + params.maxNewTokens - 1)
        #expect(out.tokens("again") == longest.greedy_continuation)
        #expect(out.tokens("first") == longest.greedy_continuation)
    }

    @Test func tokenizerStreamsTextAndStopStringsCutIt() throws {
        let directory = Self.fixtures.appendingPathComponent("llama")
        let tokenizer = try Tokenizer(directory: directory)
        let (model, reference) = try load("llama")
        let prompt = reference.prompts.max { $0.greedy_continuation.count < $1.greedy_continuation.count }!
        let factory = TokenizerTextDecoderFactory(tokenizer)
        let params = SamplingParams(temperature: 0, maxNewTokens: prompt.greedy_continuation.count, ignoreEOS: true)
        let (free, _) = try runWorkload(model, config: EngineConfig(maxTotalTokens: 1024, pageSize: 4),
                                        requests: [GenerateRequest(id: "t", promptTokens: prompt.input_ids, sampling: params)],
                                        textDecoder: factory)
        let text = free.choice("t").text
        #expect(text == tokenizer.decode(prompt.greedy_continuation, skipSpecialTokens: true))
        let scalars = Array(text.unicodeScalars)
        guard scalars.count >= 6 else { return }
        var stopScalars = String.UnicodeScalarView()
        stopScalars.append(contentsOf: scalars[(scalars.count / 2)..<(scalars.count / 2 + 3)])
        let stop = String(stopScalars)
        var stopping = params
        stopping.stopStrings = [stop]
        let (cut, _) = try runWorkload(model, config: EngineConfig(maxTotalTokens: 1024, pageSize: 4),
                                       requests: [GenerateRequest(id: "t", promptTokens: prompt.input_ids, sampling: stopping)],
                                       textDecoder: factory)
        #expect(cut.choice("t").match == .string(stop))
        #expect(cut.choice("t").text == String(text[..<text.firstRange(of: stop)!.lowerBound]))
    }
}
