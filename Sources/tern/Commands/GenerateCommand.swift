import ArgumentParser
import Foundation
import TernBackend
import TernChatTemplate
import TernCore
import TernModels
import TernTokenizer

/// `tern generate`: one prompt through the model, printing the output ids as JSON.
/// This exact interface is how outsiders check the model math against their own reference.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "Generate from one prompt.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Prompt token ids, comma separated.")
    var inputIds: String?

    @Option(help: "Prompt text, tokenized with the model's tokenizer.json (special tokens added as its post-processor says).")
    var prompt: String?

    @Flag(help: "Treat --prompt as one user message and render it through the model's chat template.")
    var chat = false

    @Option(help: "A JSON file with an array of OpenAI-style messages, rendered through the chat template.")
    var messages: String?

    @Flag(help: "Keep generating past end-of-sequence tokens (from generation_config.json / tokenizer_config.json).")
    var ignoreEos = false

    @Option(help: "Tokens to generate.")
    var maxNewTokens: Int = 16

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Double = 0

    @Option(help: "Seed for sampling.")
    var seed: UInt64 = 0

    @Option(help: "Output format: json.")
    var output: String = "json"

    @Option(help: "Alternatives listed per prompt position in prompt_logits_top.")
    var logitsTop: Int = 5

    func run() throws {
        let directory = URL(fileURLWithPath: modelOptions.model)
        let tokenizer = FileManager.default.fileExists(atPath: directory.appendingPathComponent("tokenizer.json").path)
            ? try Tokenizer(directory: directory) : nil
        let ids = try promptIDs(tokenizer: tokenizer, directory: directory).map(Int32.init)
        guard !ids.isEmpty else { throw ValidationError("the prompt is empty") }
        let model = try modelOptions.loadModel()
        // End-of-sequence ids: generation_config.json / tokenizer_config.json, else config.json.
        var eos = Set((tokenizer?.eosTokenIDs ?? []).map(Int32.init))
        if eos.isEmpty { eos = Set(model.config.eosTokenIDs.map(Int32.init)) }
        let result = try SimpleGenerator(model: model).generate(prompt: ids, maxNewTokens: maxNewTokens, temperature: temperature,
                                                                seed: seed, logitsTop: logitsTop, stopIDs: ignoreEos ? [] : eos)
        var object: [String: Any] = [
            "prompt_ids": ids.map(Int.init),
            "output_ids": result.outputIDs.map(Int.init),
            "prompt_logits_top": result.promptTop.map { position in position.map { ["id": Int($0.id), "logit": Double($0.logit)] } },
        ]
        if let tokenizer { object["text"] = tokenizer.decode(result.outputIDs.map(Int.init)) }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    private func promptIDs(tokenizer: Tokenizer?, directory: URL) throws -> [Int] {
        let sources = [inputIds != nil, prompt != nil && !chat, chat || messages != nil].filter { $0 }.count
        guard sources == 1 else { throw ValidationError("give exactly one of --input-ids, --prompt, --chat --prompt or --messages") }
        if let inputIds {
            return try inputIds.split(separator: ",").map { part in
                guard let id = Int(part.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("bad token id '\(part)'") }
                return id
            }
        }
        guard let tokenizer else { throw ValidationError("\(directory.path) has no tokenizer.json; use --input-ids") }
        if let prompt, !chat { return tokenizer.encode(prompt, addSpecialTokens: true) }
        let list: [JinjaValue]
        if let messages {
            guard case .array(let parsed) = try JinjaValue.parse(jsonData: try Data(contentsOf: URL(fileURLWithPath: messages))) else {
                throw ValidationError("\(messages) must hold a JSON array of messages")
            }
            list = parsed
        } else {
            guard let prompt else { throw ValidationError("--chat needs --prompt or --messages") }
            list = [.object(JinjaObject([("role", .string("user")), ("content", .string(prompt))]))]
        }
        let template = try ModelChatTemplate.load(directory: directory)
        // The template writes BOS itself where the model wants one.
        return tokenizer.encode(try template.render(messages: list, addGenerationPrompt: true), addSpecialTokens: false)
    }
}

/// A single-sequence generation loop straight on the model (no scheduler): a prefill of the whole
/// prompt with every position's logits, then one decode step per token. Used by `tern generate`
/// and as the reference path engine tests compare against.
struct SimpleGenerator {
    let model: any LanguageModel
    let pageSize = 16

    struct Result {
        var outputIDs: [Int32]
        var promptTop: [[(id: Int32, logit: Float)]]
    }

    func generate(prompt: [Int32], maxNewTokens: Int, temperature: Double, seed: UInt64, logitsTop: Int,
                  stopIDs: Set<Int32> = []) throws -> Result {
        let vocab = model.config.vocabSize
        let total = prompt.count + maxNewTokens
        let pages = (total + pageSize - 1) / pageSize
        let cache = try model.makeKVCache(pageSize: pageSize, pageCount: pages)
        let pageTable = (0..<pages).map { Int32($0) }

        var batch = ForwardBatch.contiguousPrefill([prompt], pageSize: pageSize, allLogits: true)
        batch.pageTable = pageTable
        let logits = try model.backend.downloadFloats(try model.forward(batch, cache: cache))
        let promptTop = (0..<prompt.count).map { row in top(Array(logits[row * vocab..<(row + 1) * vocab]), logitsTop) }

        var generator = SplitMix64(seed: seed)
        var output: [Int32] = []
        var last = Array(logits[(prompt.count - 1) * vocab..<prompt.count * vocab])
        for step in 0..<maxNewTokens {
            let next = pick(last, temperature: temperature, random: &generator)
            output.append(next)
            if step == maxNewTokens - 1 || stopIDs.contains(next) { break }
            let position = prompt.count + step
            let decode = ForwardBatch(tokenIDs: [next], positions: [Int32(position)],
                                      slots: [Int32(position)],
                                      sequences: [SequenceSpan(queryStart: 0, queryLength: 1, kvLength: position + 1, pageTableStart: 0)],
                                      pageTable: pageTable, pageSize: pageSize, logitRows: [0])
            last = try model.backend.downloadFloats(try model.forward(decode, cache: cache))
        }
        return Result(outputIDs: output, promptTop: promptTop)
    }

    private func top(_ row: [Float], _ k: Int) -> [(id: Int32, logit: Float)] {
        row.enumerated().sorted { $0.element > $1.element || ($0.element == $1.element && $0.offset < $1.offset) }
            .prefix(k).map { (Int32($0.offset), $0.element) }
    }

    private func pick(_ logits: [Float], temperature: Double, random: inout SplitMix64) -> Int32 {
        if temperature <= 0 {
            var best = 0
            for i in logits.indices where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        let maxLogit = logits.max() ?? 0
        let weights = logits.map { Foundation.exp(Double($0 - maxLogit) / temperature) }
        var target = Double(random.next() >> 11) / Double(1 << 53) * weights.reduce(0, +)
        for (i, w) in weights.enumerated() {
            target -= w
            if target <= 0 { return Int32(i) }
        }
        return Int32(weights.count - 1)
    }
}
