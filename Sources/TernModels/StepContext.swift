import TernBackend
import TernCore

/// What every block of a model step needs: the backend, the step's batch and the KV cache.
struct StepContext {
    let backend: any Backend
    let batch: PreparedBatch
    let cache: KVCache
    let positions: Tensor
    /// Per-step values blocks derive once and every layer reuses.
    let shared = StepShared()
    var tokens: Int { batch.batch.tokenCount }

    /// A step temporary for an op's output: not zeroed (every op writes its whole output; the CPU
    /// backend poisons unzeroed memory with NaN, so a block that read unwritten memory fails tests).
    func buffer(_ shape: [Int], dtype: DType? = nil) throws -> Tensor {
        try backend.allocate(shape, dtype: dtype ?? backend.activationDType, zeroed: false)
    }
}

/// The attention part of a decoder layer (GQA or MLA).
protocol AttentionBlock: Sendable {
    /// Reads normalised hidden states, writes the attention output `[T, hidden]` into `out`.
    func forward(_ x: Tensor, layer: Int, context: StepContext, out: Tensor) throws
}

/// The feed-forward part of a decoder layer (dense SwiGLU or mixture of experts).
protocol FeedForwardBlock: Sendable {
    func forward(_ x: Tensor, context: StepContext, out: Tensor) throws
}

/// Values derived from the step's batch, computed by the first layer that needs them.
final class StepShared {
    /// MLA's expanded form: the step's sequences laid out over one-token pages, sequence after sequence.
    var expandedMLABatch: PreparedBatch?
}
