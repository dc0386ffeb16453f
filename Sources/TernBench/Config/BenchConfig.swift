import Foundation

/// Which prompts to send.
public enum DatasetSpec: Sendable, Equatable {
    /// Random token ids; each length uniform in [max(1, L·r), L].
    case random(inputLength: Int, outputLength: Int, rangeRatio: Double, sendIDs: Bool)
    /// A ShareGPT-format JSON file (conversations[0] human, [1] gpt); `outputLength` overrides the reply's length.
    case sharegpt(path: String, outputLength: Int?)
    /// Groups of requests that share one long system prompt (radix-cache workload).
    case generatedSharedPrefix(numGroups: Int, promptsPerGroup: Int, systemPromptLength: Int, questionLength: Int, outputLength: Int)

    /// The name bench_serving records as `dataset_name`.
    public var name: String {
        switch self {
        case .random: "random"
        case .sharegpt: "sharegpt"
        case .generatedSharedPrefix: "generated-shared-prefix"
        }
    }
}

/// Everything one benchmark run needs.
public struct BenchConfig: Sendable {
    public var baseURL: String
    public var backend: BenchBackend
    /// `model` sent in OpenAI requests; nil asks the server's `/v1/models`.
    public var model: String?
    public var dataset: DatasetSpec
    public var numPrompts: Int
    /// Requests per second with Poisson arrivals; `.infinity` sends all at once.
    public var requestRate: Double
    public var maxConcurrency: Int?
    public var warmupRequests: Int
    public var ignoreEOS: Bool
    public var seed: UInt64
    public var numGPUs: Int
    /// Token-id range for random prompts; nil: the tokenizer's or the server's vocabulary size.
    public var vocabSize: Int?
    /// A directory with tokenizer.json: renders random ids to text and counts ShareGPT tokens.
    public var tokenizerPath: String?
    /// Name of the run in results and plot legends.
    public var label: String?
    public var showProgress: Bool
    /// Seconds a single request may take before it counts as failed.
    public var requestTimeout: Double

    public init(baseURL: String, backend: BenchBackend = .tern, model: String? = nil,
                dataset: DatasetSpec = .random(inputLength: 1024, outputLength: 1024, rangeRatio: 0, sendIDs: true),
                numPrompts: Int = 1000, requestRate: Double = .infinity, maxConcurrency: Int? = nil, warmupRequests: Int = 1,
                ignoreEOS: Bool = true, seed: UInt64 = 1, numGPUs: Int = 1, vocabSize: Int? = nil, tokenizerPath: String? = nil,
                label: String? = nil, showProgress: Bool = true, requestTimeout: Double = 3600) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.backend = backend
        self.model = model
        self.dataset = dataset
        self.numPrompts = numPrompts
        self.requestRate = requestRate
        self.maxConcurrency = maxConcurrency
        self.warmupRequests = warmupRequests
        self.ignoreEOS = ignoreEOS
        self.seed = seed
        self.numGPUs = numGPUs
        self.vocabSize = vocabSize
        self.tokenizerPath = tokenizerPath
        self.label = label
        self.showProgress = showProgress
        self.requestTimeout = requestTimeout
    }
}
