import TernBackend
import TernModels

/// Measures what the engine costs outside the model: scheduling, batch building, sampling and
/// output handling per decode step, with `concurrency` requests running. `tern bench-engine` and
/// the opt-in benchmark test call it.
public enum EngineBenchmark {
    public struct Result: Sendable, CustomStringConvertible {
        public var concurrency: Int
        public var steps: Int
        public var tokensPerStep: Double
        /// Mean seconds per decode step: the whole step, the model's part, and the rest.
        public var stepSeconds: Double
        public var modelSeconds: Double
        public var overheadSeconds: Double
        public var overheadFraction: Double { overheadSeconds / stepSeconds }

        public var description: String {
            func ms(_ s: Double) -> String { String(Int((s * 1e6).rounded()) / 1) + " µs" }
            return "concurrency \(concurrency), \(steps) decode steps, \(tokensPerStep) tokens/step: step \(ms(stepSeconds)), "
                + "model \(ms(modelSeconds)), engine overhead \(ms(overheadSeconds)) "
                + "(\(Int((overheadFraction * 1000).rounded()) / 10)% of the step)"
        }
    }

    /// Starts `concurrency` requests of `promptLength` random tokens, lets every prefill finish, then
    /// times `steps` pure decode steps. `sampling` defaults to greedy; pass a sampled setting to include
    /// the sampler's heavier path.
    public static func decodeOverhead(model: any LanguageModel, concurrency: Int = 256, promptLength: Int = 32,
                                      steps: Int = 64, pageSize: Int = 16,
                                      sampling: SamplingParams = SamplingParams(temperature: 0),
                                      overlapSchedule: Bool = true,
                                      executor: (any StepExecutor)? = nil) throws -> Result {
        let total = promptLength + steps + 40
        var config = EngineConfig(maxTotalTokens: concurrency * ((total + pageSize - 1) / pageSize + 1) * pageSize,
                                  pageSize: pageSize, maxRunningRequests: concurrency, overlapSchedule: overlapSchedule)
        config.contextLength = min(model.config.maxPositionEmbeddings, total + 8)
        let core = try EngineCore(model: model, config: config, eosTokenIDs: [], executor: executor)
        var params = sampling
        params.maxNewTokens = steps + 32
        params.ignoreEOS = true
        var state: UInt64 = 12345
        let vocab = UInt64(model.config.vocabSize)
        for i in 0..<concurrency {
            let prompt = (0..<promptLength).map { _ -> Int in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Int((state >> 33) % vocab)
            }
            core.add(GenerateRequest(id: "bench\(i)", promptTokens: prompt, sampling: params), sink: { _ in })
        }
        while core.running.count < concurrency || core.running.contains(where: { $0.pendingTokens > 1 }) { core.step() }
        core.step()  // first step with every request decoding (buffers reach their size)
        let before = core.metrics()
        let start = now()
        for _ in 0..<steps { core.step() }
        let elapsed = now() - start
        let after = core.metrics()
        let model = after.modelSeconds - before.modelSeconds
        let n = Double(after.steps - before.steps)
        return Result(concurrency: concurrency, steps: after.steps - before.steps,
                      tokensPerStep: Double(after.computedTokens - before.computedTokens) / n,
                      stepSeconds: elapsed / n, modelSeconds: model / n, overheadSeconds: (elapsed - model) / n)
    }
}
