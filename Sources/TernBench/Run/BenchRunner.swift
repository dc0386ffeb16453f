import Foundation
import TernTokenizer

/// Prepares the prompts, warms the server up, runs the measured requests and computes the figures.
public struct BenchRunner: Sendable {
    public init() {}

    public func run(_ config: BenchConfig, preset: String? = nil) async throws -> BenchResult {
        let client = BenchClient(baseURL: config.baseURL, backend: config.backend,
                                 maxConnections: config.maxConcurrency ?? max(config.numPrompts, config.warmupRequests),
                                 timeout: config.requestTimeout)
        do {
            let result = try await run(config, client: client, preset: preset)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }

    func run(_ config: BenchConfig, client: BenchClient, preset: String?) async throws -> BenchResult {
        let tokenizer = try config.tokenizerPath.map { try Tokenizer(directory: URL(fileURLWithPath: $0)) }
        let model = try await resolveModel(config, client: client)
        let (warmups, prompts) = try await makePrompts(config, tokenizer: tokenizer, client: client)
        let load = LoadGenerator(client: client, model: model, ignoreEOS: config.ignoreEOS, requestRate: config.requestRate,
                                 maxConcurrency: config.maxConcurrency)
        let title = config.label.map { "[\($0)]" } ?? "[bench]"
        if !warmups.isEmpty {
            // Warm-ups go out at once under the same concurrency cap; their figures are dropped.
            let warm = LoadGenerator(client: client, model: model, ignoreEOS: config.ignoreEOS, requestRate: .infinity,
                                     maxConcurrency: config.maxConcurrency)
            let progress = config.showProgress ? ProgressLine(title: title + " warm-up", total: warmups.count) : nil
            let (records, _) = await warm.run(warmups, seed: config.seed, progress: progress)
            if records.allSatisfy({ !$0.succeeded }), let error = records.first?.error {
                throw BenchError.server("every warm-up request failed: \(error)")
            }
        }
        let progress = config.showProgress ? ProgressLine(title: title, total: prompts.count) : nil
        let (records, duration) = await load.run(prompts, seed: config.seed, progress: progress)
        let metrics = BenchMetrics(records: records, duration: duration, numGPUs: config.numGPUs, ignoreEOS: config.ignoreEOS)
        return BenchResult(config: config, model: model, preset: preset, metrics: metrics, records: records)
    }

    /// The `model` field OpenAI servers want: the flag, else the first entry of `/v1/models`.
    func resolveModel(_ config: BenchConfig, client: BenchClient) async throws -> String? {
        if let model = config.model { return model }
        let list = try? await client.getJSON("/v1/models")
        let first = (list?["data"] as? [[String: Any]])?.first?["id"] as? String
        if first == nil && config.backend != .tern {
            throw BenchError.server("could not read /v1/models for a model name; pass --model")
        }
        return first
    }

    /// Warm-up prompts (distinct from the measured ones, so they warm the server, not its prefix cache) and the measured prompts.
    func makePrompts(_ config: BenchConfig, tokenizer: Tokenizer?, client: BenchClient) async throws
        -> (warmups: [BenchPrompt], prompts: [BenchPrompt])
    {
        var rng = SeededGenerator(seed: config.seed)
        switch config.dataset {
        case .random(let inLen, let outLen, let ratio, let sendIDs):
            let renderer = PromptRenderer(tokenizer: tokenizer, sendIDs: sendIDs,
                                          vocabSize: try await vocabSize(config, tokenizer: tokenizer, client: client))
            let all = RandomDataset(inputLength: inLen, outputLength: outLen, rangeRatio: ratio)
                .prompts(count: config.warmupRequests + config.numPrompts, renderer: renderer, rng: &rng)
            return (Array(all[..<config.warmupRequests]), Array(all[config.warmupRequests...]))
        case .sharegpt(let path, let outLen):
            guard let tokenizer else { throw BenchError.badOption("--dataset-name sharegpt needs --tokenizer to count tokens") }
            let all = try ShareGPTDataset(path: path)
                .prompts(count: config.warmupRequests + config.numPrompts, tokenizer: tokenizer, outputLength: outLen, rng: &rng)
            return (Array(all[..<config.warmupRequests]), Array(all[config.warmupRequests...]))
        case .generatedSharedPrefix(let groups, let perGroup, let systemLen, let questionLen, let outLen):
            let renderer = PromptRenderer(tokenizer: tokenizer, sendIDs: config.backend != .openaiChat,
                                          vocabSize: try await vocabSize(config, tokenizer: tokenizer, client: client))
            let prompts = SharedPrefixDataset(numGroups: groups, promptsPerGroup: perGroup, systemPromptLength: systemLen,
                                              questionLength: questionLen, outputLength: outLen)
                .prompts(renderer: renderer, rng: &rng)
            let warmups = RandomDataset(inputLength: systemLen + questionLen, outputLength: outLen, rangeRatio: 1)
                .prompts(count: config.warmupRequests, renderer: renderer, rng: &rng)
            return (warmups, prompts)
        }
    }

    /// Random ids come from the flag's range, else the tokenizer's vocabulary, else the server's `vocab_size` (SGLang's /get_model_info).
    func vocabSize(_ config: BenchConfig, tokenizer: Tokenizer?, client: BenchClient) async throws -> Int {
        if let v = config.vocabSize { return v }
        if let tokenizer { return tokenizer.vocabSize }
        for path in ["/get_model_info", "/get_server_info"] {
            if let info = try? await client.getJSON(path), let v = info["vocab_size"] as? Int { return v }
        }
        throw BenchError.badOption("random prompts need a vocabulary size: pass --tokenizer or --random-vocab-size")
    }
}
