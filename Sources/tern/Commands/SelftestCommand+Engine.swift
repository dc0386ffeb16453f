import Foundation
import TernBackend
import TernCore
import TernCUDA
import TernEngine
import TernModels

extension OpSuite {
    /// The engine on the GPU with its CUDA step executor (decode graphs + GPU sampling) against the
    /// CPU engine: a fixture model's reference prompts (lengths 1…40, greedy continuations with a
    /// top-1 margin) submitted together, twice over (8 concurrent requests, prefix sharing), must
    /// give the same greedy ids; seeded sampled requests must give valid ids that repeat for the
    /// same seed; and decode steps must have gone through the graphs.
    mutating func runEngine(directory: String, models: [String] = ["llama-bf16", "qwen3-bf16", "mistral-bf16", "qwen2-bf16"]) {
        for name in models {
            let dir = URL(fileURLWithPath: directory).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("config.json").path) else { continue }
            check("engine", name + " (greedy)") { s in try s.engineGreedy(dir, name: name) }
            check("engine", name + " (seeded)") { s in try s.engineSeeded(dir, name: name) }
        }
    }

    static func engineConfig() -> EngineConfig {
        EngineConfig(maxTotalTokens: 4096, pageSize: 4, chunkedPrefillSize: 32, maxRunningRequests: 8)
    }

    /// Runs `requests` to the end on a fresh engine core; returns each request's ids.
    static func engineOutputs(_ model: any LanguageModel, executor: (any StepExecutor)?, requests: [GenerateRequest]) throws -> [String: [Int]] {
        let core = try EngineCore(model: model, config: engineConfig(), executor: executor)
        let box = EngineOutputs()
        for request in requests {
            core.add(request) { event in
                switch event {
                case .delta(let d): box.tokens[request.id, default: []] += d.tokenIDs
                case .failed(let e): box.errors.append("\(request.id): \(e)")
                case .finished: break
                }
            }
        }
        core.runUntilIdle(maxSteps: 10_000)
        if let error = box.errors.first { throw BackendError.invalidArgument("engine: \(error)") }
        return box.tokens
    }

    static func cudaExecutor(_ model: any LanguageModel, gpu: CUDABackend) -> CUDAStepExecutor {
        CUDAStepExecutor(backend: gpu, vocabSize: model.config.vocabSize) { batch, cache in try model.forward(batch, cache: cache) }
    }

    mutating func engineGreedy(_ dir: URL, name: String) throws {
        let prompts = try Self.referencePrompts(dir)
        let lengths = try Self.referenceContinuationLengths(dir)
        var requests: [GenerateRequest] = []
        for copy in 0..<2 {
            for (i, prompt) in prompts.enumerated() {
                var params = SamplingParams.greedy
                params.maxNewTokens = max(1, lengths[i])
                params.ignoreEOS = true
                requests.append(GenerateRequest(id: "\(copy)-\(i)", promptTokens: prompt.map(Int.init), sampling: params))
            }
        }
        let cpuModel = try ModelLoader.load(directory: dir, backend: cpu)
        let gpuModel = try ModelLoader.load(directory: dir, backend: gpu)
        let expected = try Self.engineOutputs(cpuModel, executor: nil, requests: requests)
        let executor = Self.cudaExecutor(gpuModel, gpu: gpu)
        let got = try Self.engineOutputs(gpuModel, executor: executor, requests: requests)
        var same = 0, total = 0, mismatched: [String] = []
        for request in requests {
            let a = expected[request.id] ?? [], b = got[request.id] ?? []
            total += a.count
            same += zip(a, b).prefix { $0 == $1 }.count
            if a != b { mismatched.append(request.id) }
        }
        let graphNote = executor.captureError.map { "capture failed: \($0)" }
            ?? "\(executor.graphSteps) graph / \(executor.plainSteps) plain steps, capture \(String(format: "%.2f", executor.captureSeconds)) s"
        // Every request identical, and decode steps replayed from graphs.
        let error = Double(mismatched.count) + (executor.graphSteps > 0 ? 0 : 1)
        record("engine", name + " (greedy, 8 requests)", error: error, tolerance: 0,
               note: "\(same)/\(total) ids agree\(mismatched.isEmpty ? "" : ", differ: " + mismatched.joined(separator: ",")); \(graphNote)")
    }

    mutating func engineSeeded(_ dir: URL, name: String) throws {
        let gpuModel = try ModelLoader.load(directory: dir, backend: gpu)
        let vocab = gpuModel.config.vocabSize
        let prompts = try Self.referencePrompts(dir)
        var requests: [GenerateRequest] = []
        let settings = [
            SamplingParams(temperature: 0.8, seed: 11),
            SamplingParams(temperature: 1.0, topK: 20, topP: 0.9, seed: 12),
            SamplingParams(temperature: 0.7, minP: 0.05, frequencyPenalty: 0.5, presencePenalty: 0.3, repetitionPenalty: 1.2, seed: 13),
            SamplingParams(temperature: 0.9, topP: 0.8, seed: 14, logprobs: true),  // host fallback row
        ]
        for (i, var params) in settings.enumerated() {
            params.maxNewTokens = 12
            params.ignoreEOS = true
            requests.append(GenerateRequest(id: "s\(i)", promptTokens: prompts[i % prompts.count].map(Int.init), sampling: params))
        }
        let first = try Self.engineOutputs(gpuModel, executor: Self.cudaExecutor(gpuModel, gpu: gpu), requests: requests)
        let second = try Self.engineOutputs(gpuModel, executor: Self.cudaExecutor(gpuModel, gpu: gpu), requests: requests)
        var invalid = 0, differing: [String] = []
        for request in requests {
            let a = first[request.id] ?? []
            invalid += a.filter { $0 < 0 || $0 >= vocab }.count + (a.count == 12 ? 0 : 1)
            if a != second[request.id] { differing.append(request.id) }
        }
        record("engine", name + " (seeded sampling, repeat)", error: Double(invalid + differing.count), tolerance: 0,
               note: "\(invalid) invalid ids\(differing.isEmpty ? "" : ", not repeated: " + differing.joined(separator: ","))")
    }

    /// Greedy continuation lengths of a fixture's reference.json (8 where it has none).
    static func referenceContinuationLengths(_ dir: URL) throws -> [Int] {
        let url = dir.appendingPathComponent("reference.json")
        guard let data = try? Data(contentsOf: url),
              let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let prompts = object["prompts"] as? [[String: Any]] else { return [8] }
        return prompts.compactMap { ($0["input_ids"] as? [Int]) == nil ? nil : (($0["greedy_continuation"] as? [Int])?.count ?? 8) }
    }
}

/// Collects an engine core's output (sinks run on the stepping thread).
private final class EngineOutputs: @unchecked Sendable {
    var tokens: [String: [Int]] = [:]
    var errors: [String] = []
}
