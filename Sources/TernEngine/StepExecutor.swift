import TernBackend
import TernModels

/// The plain step: `model.forward`, then every logits row downloaded for the host sampler.
public final class ModelStepExecutor: StepExecutor {
    public let model: any LanguageModel
    private var cache: KVCache?

    public init(model: any LanguageModel) { self.model = model }

    public var samplesOnDevice: Bool { false }
    public var extraKVPages: Int { 0 }

    public func install(cache: KVCache, poolPages: Int, limits: StepLimits) throws { self.cache = cache }

    public func launch(_ batch: ForwardBatch, rows: [RowSampling]) throws -> any PendingStepResult {
        guard let cache else { throw BackendError.invalidArgument("step executor used before install") }
        let logits = try model.backend.downloadFloats(try model.forward(batch, cache: cache))
        return ReadyStep(StepOutput(tokens: [Int32](repeating: 0, count: rows.count), hostLogits: logits))
    }
}
