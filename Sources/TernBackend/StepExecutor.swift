
/// One logits row's sampling on the device: the settings the GPU kernel supports, the request's
/// next uniform draw (the host keeps each request's seeded `SamplingRandom`) and its penalty list.
public struct DeviceSamplingRow: Sendable, Hashable {
    /// ≤ 0: greedy.
    public var temperature: Float
    public var topK: Int
    public var topP: Float
    public var minP: Float
    public var repetitionPenalty: Float
    public var frequencyPenalty: Float
    public var presencePenalty: Float
    /// In [0, 1).
    public var uniform: Float
    /// Token ids the penalties touch with their output counts (0: seen only in the prompt, which
    /// gets the repetition penalty but no frequency / presence penalty).
    public var penaltyIDs: [Int32]
    public var penaltyCounts: [Int32]

    public init(temperature: Float, topK: Int = 0, topP: Float = 1, minP: Float = 0, repetitionPenalty: Float = 1,
                frequencyPenalty: Float = 0, presencePenalty: Float = 0, uniform: Float,
                penaltyIDs: [Int32] = [], penaltyCounts: [Int32] = []) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.frequencyPenalty = frequencyPenalty
        self.presencePenalty = presencePenalty
        self.uniform = uniform
        self.penaltyIDs = penaltyIDs
        self.penaltyCounts = penaltyCounts
    }
}

/// Where one logits row of a step is sampled.
public enum RowSampling: Sendable, Hashable {
    /// On the device; only the id comes back.
    case device(DeviceSamplingRow)
    /// On the host: the row's logits come back (logprobs, logit bias, min-tokens, n > 1 forks).
    case host
}

/// What a step gave back: an id for every device row (host rows hold 0) and the logits of the
/// host rows, `[hostRows, vocab]`, in row order.
public struct StepOutput: Sendable {
    public var tokens: [Int32]
    public var hostLogits: [Float]

    public init(tokens: [Int32], hostLogits: [Float]) {
        self.tokens = tokens
        self.hostLogits = hostLogits
    }
}

/// A step the executor has queued; `wait` blocks until its results are on the host.
public protocol PendingStepResult: AnyObject {
    func wait() throws -> StepOutput
}

/// The engine's seam to the device for one step: run the model on a batch and sample its logits
/// rows. The plain implementation (`ModelStepExecutor` in TernEngine) calls `model.forward` and
/// downloads every row; `CUDAStepExecutor` (TernCUDA) replays CUDA graphs for decode batches and
/// samples on the device.
/// `launch` may return before the device finishes, so the engine does host work meanwhile.
public protocol StepExecutor: AnyObject {
    /// Whether `.device` rows are sampled by the executor (false: the engine asks only `.host`).
    var samplesOnDevice: Bool { get }
    /// KV pages the executor needs beyond the engine's pool (a scratch page for padded graph rows).
    var extraKVPages: Int { get }
    /// Called once with the engine's KV cache before the first step: pages `poolPages ..<
    /// poolPages + extraKVPages` are the executor's. Graph capture happens here (start-up, not
    /// on the first request).
    func install(cache: KVCache, poolPages: Int, limits: StepLimits) throws
    /// Queues the forward of `batch` and the sampling of its logits rows (`rows[i]` for
    /// `batch.logitRows[i]`).
    func launch(_ batch: ForwardBatch, rows: [RowSampling]) throws -> any PendingStepResult
}

/// What the engine promises about the batches it will send.
public struct StepLimits: Sendable, Hashable {
    public var pageSize: Int
    /// Longest sequence (prompt + output).
    public var contextLength: Int
    /// Most sequences in one step (`--max-running-requests`).
    public var maxRunningRequests: Int

    public init(pageSize: Int, contextLength: Int, maxRunningRequests: Int) {
        self.pageSize = pageSize
        self.contextLength = contextLength
        self.maxRunningRequests = maxRunningRequests
    }
}

/// A step whose results are already on the host.
public final class ReadyStep: PendingStepResult {
    let output: StepOutput
    public init(_ output: StepOutput) { self.output = output }
    public func wait() throws -> StepOutput { output }
}
