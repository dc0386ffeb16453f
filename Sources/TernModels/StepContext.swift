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

/// A block's input as a pre-norm not yet applied: rmsNorm(residual += x) (x nil: rmsNorm(residual)).
/// The block uses it exactly once (each use adds x into residual): `normalized` writes the normalised
/// rows into `normed` (blocks that read them several times), `linear` / `linearSiLUAndMul` /
/// `qkvRopeStoreKV` hand the norm to the one projection that consumes it (`Backend.addRMSNormLinear`
/// and its kin, which backends may run as one kernel).
struct PreNorm {
    let x: Tensor?
    let residual: Tensor
    let weight: Tensor
    let eps: Float
    /// Where the normalised rows go when they are materialized.
    let normed: Tensor

    func normalized(_ b: any Backend) throws -> Tensor {
        try b.preNorm(x, residual: residual, weight: weight, eps: eps, out: normed)
        return normed
    }

    func linear(_ b: any Backend, _ layer: Linear, out: Tensor) throws {
        try b.addRMSNormLinear(x, residual: residual, weight: weight, eps: eps, layer, normed: normed, out: out)
    }

    func qkvRopeStoreKV(_ b: any Backend, _ qkv: Linear, out: Tensor, heads: Int, kvHeads: Int, headDim: Int, table: RotaryTable,
                        context: StepContext, layer: Int) throws {
        try b.addRMSNormQKVRopeStoreKV(x, residual: residual, weight: weight, eps: eps, qkv, normed: normed, out: out, heads: heads,
                                       kvHeads: kvHeads, headDim: headDim, positions: context.positions, table: table,
                                       cache: context.cache, layer: layer, batch: context.batch)
    }

    func linearSiLUAndMul(_ b: any Backend, _ gateUp: Linear, scratch: Tensor, out: Tensor) throws {
        try b.addRMSNormLinearSiLUAndMul(x, residual: residual, weight: weight, eps: eps, gateUp, normed: normed, scratch: scratch, out: out)
    }
}

/// What a block reads: normalised rows, or the pre-norm that produces them.
enum BlockInput {
    case normalized(Tensor), preNorm(PreNorm)

    /// The normalised rows (a pre-norm is applied here).
    func normalized(_ b: any Backend) throws -> Tensor {
        switch self {
        case let .normalized(x): return x
        case let .preNorm(pre): return try pre.normalized(b)
        }
    }
}

/// The attention part of a decoder layer (GQA or MLA).
protocol AttentionBlock: Sendable {
    /// Reads normalised hidden states, writes the attention output `[T, hidden]` into `out`.
    func forward(_ x: Tensor, layer: Int, context: StepContext, out: Tensor) throws
    /// The same from the layer's pre-norm; the default materializes it.
    func forward(_ input: PreNorm, layer: Int, context: StepContext, out: Tensor) throws
}

extension AttentionBlock {
    func forward(_ input: PreNorm, layer: Int, context: StepContext, out: Tensor) throws {
        try forward(try input.normalized(context.backend), layer: layer, context: context, out: out)
    }
}

/// The feed-forward part of a decoder layer (dense SwiGLU or mixture of experts).
protocol FeedForwardBlock: Sendable {
    func forward(_ x: Tensor, context: StepContext, out: Tensor) throws
    /// The same from the layer's post-attention pre-norm; the default materializes it.
    func forward(_ input: PreNorm, context: StepContext, out: Tensor) throws
}

extension FeedForwardBlock {
    func forward(_ input: PreNorm, context: StepContext, out: Tensor) throws {
        try forward(try input.normalized(context.backend), context: context, out: out)
    }
}

/// Values derived from the step's batch, computed by the first layer that needs them.
final class StepShared {
    /// MLA's expanded form: the step's sequences laid out over one-token pages, sequence after sequence.
    var expandedMLABatch: PreparedBatch?
}
