import Foundation
import Logging
import Synchronization
import TernBackend
import TernChatTemplate
import TernEngine
import TernModels
import TernTokenizer

/// Everything a request handler needs: the engine, the tokenizer and chat template, the names
/// the model answers to, and the metrics. Immutable after start-up, shared by all handlers.
public final class ModelService: Sendable {
    public let engine: Engine
    /// nil when the server runs with `skipTokenizerInit`: prompts must be token ids, outputs carry no text.
    public let tokenizer: Tokenizer?
    public let chatTemplate: ChatTemplate?
    public let servedModelName: String
    public let modelPath: String
    public let contextLength: Int
    public let vocabSize: Int
    public let engineConfig: EngineConfig
    public let options: ServerOptions
    public let device: String
    public let metrics: ServerMetrics
    public let created: Int
    public let logger: Logger
    /// Runs engine requests: the engine itself, or a PD prefill/decode wrapper around it.
    public let runner: any PromptRunner
    let requestCounter = RequestCounter()

    /// Builds the engine around a loaded model. `modelDirectory` supplies tokenizer.json and the chat template
    /// (neither is read with `options.skipTokenizerInit`).
    public init(model: any LanguageModel, modelDirectory: URL, engineConfig: EngineConfig, options: ServerOptions,
                device: String = "cpu", logger: Logger = Logger(label: "tern.server"),
                makeRunner: ((Engine) throws -> any PromptRunner)? = nil, executor: (any StepExecutor)? = nil) throws {
        let tokenizer = options.skipTokenizerInit ? nil : try Tokenizer(directory: modelDirectory)
        var eos = Set(model.config.eosTokenIDs)
        if let tokenizer { eos.formUnion(tokenizer.eosTokenIDs) }
        let engine = try Engine(model: model, config: engineConfig, eosTokenIDs: eos.sorted(),
                                textDecoder: tokenizer.map { TokenizerTextDecoderFactory($0) }, executor: executor)
        self.engine = engine
        runner = try makeRunner?(engine) ?? EngineRunner(engine: engine)
        self.tokenizer = tokenizer
        chatTemplate = try tokenizer?.config?.chatTemplate.map { try ChatTemplate(source: $0) }
        modelPath = modelDirectory.path
        servedModelName = options.servedModelName ?? modelDirectory.standardizedFileURL.lastPathComponent
        contextLength = engineConfig.contextLength ?? model.config.maxPositionEmbeddings
        vocabSize = model.config.vocabSize
        self.engineConfig = engineConfig
        self.options = options
        self.device = device
        metrics = ServerMetrics(modelName: servedModelName)
        created = Int(Date().timeIntervalSince1970)
        self.logger = logger
    }

    /// Whether `name` (a request's `model`) refers to this model. Absent names match.
    public func answersTo(_ name: String?) -> Bool {
        guard let name, !name.isEmpty else { return true }
        return name == servedModelName || name == modelPath
    }

    /// Throws 404 when the request names another model.
    func checkModel(_ fields: RequestFields) throws(APIError) {
        let name = try fields.string("model")
        guard answersTo(name) else { throw .modelNotFound(name!) }
    }

    /// Tokens the engine may still generate after a prompt of `promptCount`.
    func room(after promptCount: Int) -> Int { contextLength - promptCount }

    /// Turns a requested `max_tokens` into the engine's `maxNewTokens`: a prompt that fills the context
    /// or an explicit limit past it is refused (as OpenAI and vLLM do); the default is clamped.
    func maxNewTokens(prompt: Int, sampling: SamplingRequest, defaultTokens: Int?) throws(APIError) -> Int {
        let room = room(after: prompt)
        guard prompt > 0 else { throw .invalid("The prompt is empty.", param: "prompt") }
        guard room >= 1 else {
            throw .invalid("This model's maximum context length is \(contextLength) tokens, and the prompt has \(prompt) tokens.",
                           param: "prompt", code: "context_length_exceeded")
        }
        if let asked = sampling.maxTokens {
            guard asked <= room else {
                throw .invalid("This model's maximum context length is \(contextLength) tokens. However, you requested "
                               + "\(prompt + asked) tokens (\(prompt) in the prompt, \(asked) in the completion).",
                               param: sampling.maxTokensField, code: "context_length_exceeded")
            }
            return asked
        }
        return min(defaultTokens ?? room, room)
    }

    /// Token ids of a prompt; ids are checked against the vocabulary.
    func tokens(of prompt: PromptInput, addSpecialTokens: Bool = true, param: String = "prompt") throws(APIError) -> [Int] {
        switch prompt {
        case .text(let text):
            return try requireTokenizer(param: param).encode(text, addSpecialTokens: addSpecialTokens)
        case .tokens(let ids):
            if let bad = ids.first(where: { $0 < 0 || $0 >= vocabSize }) {
                throw .invalid("Token id \(bad) is outside the vocabulary (0..<\(vocabSize)).", param: param, code: "invalid_token")
            }
            return ids
        }
    }

    /// A fresh request id with the given prefix, unique in this process.
    func makeRequestID(prefix: String) -> String {
        "\(prefix)-\(String(requestCounter.next(), radix: 16))\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }

    /// Text of one token as logprobs report it (special tokens kept); empty without a tokenizer.
    func tokenText(_ id: Int) -> String { tokenizer?.decode([id], skipSpecialTokens: false) ?? "" }

    /// The tokenizer, or a 400 naming `param` when the server was started with `--skip-tokenizer-init`.
    func requireTokenizer(param: String) throws(APIError) -> Tokenizer {
        guard let tokenizer else {
            throw .invalid("The server runs with --skip-tokenizer-init and has no tokenizer: send token ids "
                           + "('input_ids' for /generate, a list of token ids as 'prompt' for /v1/completions).",
                           param: param, code: "tokenizer_not_initialized")
        }
        return tokenizer
    }
}

/// A process-wide counter (request ids).
final class RequestCounter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}
