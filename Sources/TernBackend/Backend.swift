import TernCore

/// Rotary embedding parameters for the `rope` op. The cos/sin table is built once per model
/// (`[maxPositions, rotaryDim / 2]` each, scaling already applied) and lives on the backend.
public struct RotaryTable: Sendable {
    public var cos: Tensor
    public var sin: Tensor
    /// Leading elements of each head that rotate (partial rotary leaves the rest untouched).
    public var rotaryDim: Int
    /// true: pairs are (x[2i], x[2i+1]) (GPT-J / DeepSeek); false: (x[i], x[i + d/2]) (NeoX / Llama).
    public var interleaved: Bool

    public init(cos: Tensor, sin: Tensor, rotaryDim: Int, interleaved: Bool) {
        self.cos = cos
        self.sin = sin
        self.rotaryDim = rotaryDim
        self.interleaved = interleaved
    }
}

/// A model step's batch as a backend holds it: the host description plus backend copies of the
/// index arrays. Built once per step by `Backend.prepare`.
public final class PreparedBatch: @unchecked Sendable {
    public let batch: ForwardBatch
    public let tokenIDs: Tensor
    public let positions: Tensor
    public let slots: Tensor
    public let logitRows: Tensor
    /// Backend-specific attention metadata (device page tables, split plans).
    public let attentionState: AnyObject?

    public init(batch: ForwardBatch, tokenIDs: Tensor, positions: Tensor, slots: Tensor, logitRows: Tensor,
                attentionState: AnyObject? = nil) {
        self.batch = batch
        self.tokenIDs = tokenIDs
        self.positions = positions
        self.slots = slots
        self.logitRows = logitRows
        self.attentionState = attentionState
    }
}

/// Attention settings of one layer.
public struct AttentionParameters: Sendable {
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var valueDim: Int
    public var scale: Float
    /// Tokens a query may look back (inclusive of itself); nil = unlimited.
    public var slidingWindow: Int?

    public init(heads: Int, kvHeads: Int, headDim: Int, valueDim: Int? = nil, scale: Float, slidingWindow: Int? = nil) {
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.valueDim = valueDim ?? headDim
        self.scale = scale
        self.slidingWindow = slidingWindow
    }
}

/// The backend-neutral operation set. Model code is written once against it; the CPU backend
/// (exact fp32, for tests and small models) and the CUDA backend implement it.
/// Ops write into caller-provided outputs so models control memory reuse.
/// Activations are 2-D `[tokens, features]`; weights keep Hugging Face layout (`[out, in]`).
public protocol Backend: AnyObject, Sendable {
    var name: String { get }
    /// dtype of activations between ops (fp32 on the CPU, bf16 on GPUs).
    var activationDType: DType { get }

    // MARK: memory
    /// A tensor whose every byte is zero. Only for buffers an op accumulates into or reads before
    /// writing all of it; outputs that ops fully overwrite take `zeroed: false`.
    func allocate(_ shape: [Int], dtype: DType) throws -> Tensor
    /// `zeroed: false`: contents undefined (the CUDA backend skips its memset; the CPU backend
    /// poisons the bytes with 0xFF, NaN for floats, so a reader that relied on zeros fails tests).
    /// Every op writes every element of its output, so op outputs never need zeroing.
    func allocate(_ shape: [Int], dtype: DType, zeroed: Bool) throws -> Tensor
    /// Moves a checkpoint tensor onto the backend, converting to `dtype` when given.
    /// The CPU backend may borrow the host memory without copying.
    func upload(_ tensor: HostTensor, as dtype: DType?) throws -> Tensor
    func upload(floats: [Float], shape: [Int], as dtype: DType) throws -> Tensor
    func upload(int32s: [Int32], shape: [Int]) throws -> Tensor
    func downloadFloats(_ tensor: Tensor) throws -> [Float]
    func downloadInt32s(_ tensor: Tensor) throws -> [Int32]
    func makeKVCache(layout: KVCacheLayout, pageSize: Int, pageCount: Int) throws -> KVCache
    /// Uploads the index arrays of a step.
    func prepare(_ batch: ForwardBatch) throws -> PreparedBatch
    /// Waits for queued work (no-op on the CPU).
    func synchronize() throws
    /// The device's memory now; nil where there is none to size against (default: nil).
    func deviceMemory() throws -> DeviceMemory?

    // MARK: operations
    /// out[t] = table[ids[t]]
    func embedding(ids: Tensor, table: Tensor, out: Tensor) throws
    /// RMS-normalises each group of `weight.elementCount` elements of every row of `x`
    /// (a whole row, or each head of a row for per-head q/k norms); `out` may alias `x`.
    func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float, out: Tensor) throws
    /// residual += x; out = rmsNorm(residual). The fused pre-norm of every decoder layer.
    func addRMSNorm(_ x: Tensor, residual: Tensor, weight: Tensor, eps: Float, out: Tensor) throws
    /// out = x · Wᵀ (+ bias). x `[T, in]`, out `[T, out]`; W plain, FP8 block-scaled or NVFP4.
    func linear(_ x: Tensor, _ layer: Linear, out: Tensor) throws
    /// Rotates, in place, elements `rotaryOffset ..< rotaryOffset + table.rotaryDim` of each head
    /// (`headDim` wide) of every row of `x` by its token's position.
    func rope(_ x: Tensor, headDim: Int, rotaryOffset: Int, positions: Tensor, table: RotaryTable) throws
    /// Writes each token's key/value rows into its cache slot for `layer`.
    func storeKV(key: Tensor, value: Tensor?, cache: KVCache, layer: Int, batch: PreparedBatch) throws
    /// rope of `query` and `key` (every head, `table.rotaryDim` from offset 0), then storeKV of the
    /// rotated key and `value`: a GQA layer's steps between its qkv projection and attention, which
    /// backends may run as one kernel. The default runs `rope`, `rope`, `storeKV`.
    func ropeAndStoreKV(query: Tensor, key: Tensor, value: Tensor, headDim: Int, positions: Tensor, table: RotaryTable,
                        cache: KVCache, layer: Int, batch: PreparedBatch) throws
    /// Causal attention of every new token over its sequence's cached keys/values (paged), GQA.
    /// q `[T, heads * headDim]`, out `[T, heads * valueDim]`.
    func attention(query: Tensor, cache: KVCache, layer: Int, batch: PreparedBatch,
                   parameters: AttentionParameters, out: Tensor) throws
    /// out = silu(gateUp[:, :n]) * gateUp[:, n:], gateUp `[T, 2n]`.
    func siluAndMul(_ gateUp: Tensor, out: Tensor) throws
    /// A SwiGLU MLP's first half: `scratch` = x · gateUpᵀ (`[T, 2n]`, gate rows then up rows), then
    /// out = siluAndMul(scratch) (`[T, n]`); backends may fuse the two and leave `scratch` unwritten.
    /// The default runs `linear`, `siluAndMul`.
    func linearSiLUAndMul(_ x: Tensor, _ gateUp: Linear, scratch: Tensor, out: Tensor) throws
    /// A pre-norm and the projection that consumes it: residual += x (x nil: residual as it is), then
    /// out = rmsNorm(residual) · Wᵀ, with `normed` receiving rmsNorm(residual) unless the backend fuses
    /// the two (then it may be left unwritten). None of the tensors may alias another. The default
    /// runs `addRMSNorm` (or `rmsNorm`) and `linear`.
    func addRMSNormLinear(_ x: Tensor?, residual: Tensor, weight: Tensor, eps: Float, _ layer: Linear, normed: Tensor,
                          out: Tensor) throws
    /// The same before a SwiGLU MLP's gate/up projection: residual += x, then
    /// `linearSiLUAndMul(rmsNorm(residual), gateUp, scratch, out)`; `normed` and `scratch` may be left
    /// unwritten. The default runs `addRMSNorm` (or `rmsNorm`) and `linearSiLUAndMul`.
    func addRMSNormLinearSiLUAndMul(_ x: Tensor?, residual: Tensor, weight: Tensor, eps: Float, _ gateUp: Linear, normed: Tensor,
                                    scratch: Tensor, out: Tensor) throws
    /// A GQA layer from its pre-norm to attention: `addRMSNormLinear` into `out` (the fused qkv
    /// projection: q, k and v columns of `heads`, `kvHeads` and `kvHeads` heads of `headDim`), then
    /// `ropeAndStoreKV` of those three column ranges. The default runs the two.
    func addRMSNormQKVRopeStoreKV(_ x: Tensor?, residual: Tensor, weight: Tensor, eps: Float, _ qkv: Linear, normed: Tensor,
                                  out: Tensor, heads: Int, kvHeads: Int, headDim: Int, positions: Tensor, table: RotaryTable,
                                  cache: KVCache, layer: Int, batch: PreparedBatch) throws
    /// out = a + b (same shapes); `out` may alias either.
    func add(_ a: Tensor, _ b: Tensor, out: Tensor) throws
    /// out[i] = x[rows[i]]
    func gatherRows(_ x: Tensor, rows: Tensor, out: Tensor) throws
    /// Element-wise copy between tensors of the same shape (either may be a strided view).
    func copy(_ source: Tensor, to destination: Tensor) throws
    /// One linear per head, all heads in one op (MLA's absorbed W_UK / W_UV): for every head h,
    /// `out[:, h·outputHeadStride ..< + dOut] = x[:, h·inputHeadStride ..< + dIn] · weight[h]ᵀ`, with
    /// `weight` `[heads, dOut, dIn]` (contiguous, plain). `x` and `out` are 2-D (strided views allowed)
    /// whose rows hold every head's slice. The default runs one `linear` per head.
    func headLinear(_ x: Tensor, inputHeadStride: Int, weight: Tensor, out: Tensor, outputHeadStride: Int) throws
    /// Copies `heads` slices of `width` columns per row: for every head h,
    /// `destination[:, h·destinationHeadStride ..< + width] = source[:, h·sourceHeadStride ..< + width]`
    /// (`sourceHeadStride` 0 broadcasts one slice to every head). The default runs one `copy` per head.
    func copyHeads(_ source: Tensor, sourceHeadStride: Int, to destination: Tensor, destinationHeadStride: Int,
                   heads: Int, width: Int) throws
    /// Whether MLA's `.automatic` form should run a prefill step of `tokens` query rows in the absorbed
    /// (latent) form too: backends whose latent attention kernel beats their attention at the expanded
    /// shapes (query/key 192, value 128). The default (false) keeps expanded prefill.
    func prefersAbsorbedMLAPrefill(tokens: Int) -> Bool
    /// Every cached key row of every sequence of `batch`, in sequence order, into `out`
    /// `[Σ kvLength, keyWidth]` (MLA's expanded prefill reads the latents this way).
    func gatherCachedKeys(cache: KVCache, layer: Int, batch: PreparedBatch, out: Tensor) throws
    /// Router logits `[T, experts]` → each token's `topK` expert ids (i32) and weights (f32).
    func route(_ logits: Tensor, routing: Routing, expertIDs: Tensor, expertWeights: Tensor) throws
    /// out = Σ_k weight[t,k] · expert[id[t,k]](x[t]) over the experts this rank holds.
    func moe(_ x: Tensor, expertIDs: Tensor, expertWeights: Tensor, experts: ExpertSet, out: Tensor) throws
    /// Index of the maximum of each row (first on ties).
    func argmax(_ x: Tensor) throws -> [Int32]
}

/// A device's memory as the backend sees it (GPU backends; the CPU has none to size against).
public struct DeviceMemory: Sendable, Hashable {
    /// Bytes the driver reports free right now.
    public var free: Int
    /// Bytes the device has.
    public var total: Int
    /// Bytes this backend holds in its own allocations now (weights and buffers).
    public var heldByBackend: Int

    public init(free: Int, total: Int, heldByBackend: Int) {
        self.free = free
        self.total = total
        self.heldByBackend = heldByBackend
    }
}

extension Backend {
    public func linearSiLUAndMul(_ x: Tensor, _ gateUp: Linear, scratch: Tensor, out: Tensor) throws {
        try linear(x, gateUp, out: scratch)
        try siluAndMul(scratch, out: out)
    }

    public func addRMSNormLinear(_ x: Tensor?, residual: Tensor, weight: Tensor, eps: Float, _ layer: Linear, normed: Tensor,
                                 out: Tensor) throws {
        try preNorm(x, residual: residual, weight: weight, eps: eps, out: normed)
        try linear(normed, layer, out: out)
    }

    public func addRMSNormLinearSiLUAndMul(_ x: Tensor?, residual: Tensor, weight: Tensor, eps: Float, _ gateUp: Linear,
                                           normed: Tensor, scratch: Tensor, out: Tensor) throws {
        try preNorm(x, residual: residual, weight: weight, eps: eps, out: normed)
        try linearSiLUAndMul(normed, gateUp, scratch: scratch, out: out)
    }

    public func addRMSNormQKVRopeStoreKV(_ x: Tensor?, residual: Tensor, weight: Tensor, eps: Float, _ qkv: Linear, normed: Tensor,
                                         out: Tensor, heads: Int, kvHeads: Int, headDim: Int, positions: Tensor, table: RotaryTable,
                                         cache: KVCache, layer: Int, batch: PreparedBatch) throws {
        try addRMSNormLinear(x, residual: residual, weight: weight, eps: eps, qkv, normed: normed, out: out)
        let q = heads * headDim, kv = kvHeads * headDim
        try ropeAndStoreKV(query: out.columns(0..<q), key: out.columns(q..<q + kv), value: out.columns(q + kv..<q + 2 * kv),
                           headDim: headDim, positions: positions, table: table, cache: cache, layer: layer, batch: batch)
    }

    /// residual += x, out = rmsNorm(residual) (`addRMSNorm`); x nil: out = rmsNorm(residual).
    public func preNorm(_ x: Tensor?, residual: Tensor, weight: Tensor, eps: Float, out: Tensor) throws {
        if let x {
            try addRMSNorm(x, residual: residual, weight: weight, eps: eps, out: out)
        } else {
            try rmsNorm(residual, weight: weight, eps: eps, out: out)
        }
    }

    public func ropeAndStoreKV(query: Tensor, key: Tensor, value: Tensor, headDim: Int, positions: Tensor, table: RotaryTable,
                               cache: KVCache, layer: Int, batch: PreparedBatch) throws {
        try rope(query, headDim: headDim, rotaryOffset: 0, positions: positions, table: table)
        try rope(key, headDim: headDim, rotaryOffset: 0, positions: positions, table: table)
        try storeKV(key: key, value: value, cache: cache, layer: layer, batch: batch)
    }

    public func prefersAbsorbedMLAPrefill(tokens: Int) -> Bool { false }

    public func headLinear(_ x: Tensor, inputHeadStride: Int, weight: Tensor, out: Tensor, outputHeadStride: Int) throws {
        try perHeadLinear(x, inputHeadStride: inputHeadStride, weight: weight, out: out, outputHeadStride: outputHeadStride)
    }

    public func copyHeads(_ source: Tensor, sourceHeadStride: Int, to destination: Tensor, destinationHeadStride: Int,
                          heads: Int, width: Int) throws {
        try perHeadCopy(source, sourceHeadStride: sourceHeadStride, to: destination, destinationHeadStride: destinationHeadStride,
                        heads: heads, width: width)
    }

    /// `headLinear` as one `linear` per head (the reference; the CPU backend's implementation).
    public func perHeadLinear(_ x: Tensor, inputHeadStride: Int, weight: Tensor, out: Tensor, outputHeadStride: Int) throws {
        precondition(weight.rank == 3 && weight.isContiguous, "headLinear: weight must be [heads, out, in], got \(weight.shape)")
        let heads = weight.shape[0], dOut = weight.shape[1], dIn = weight.shape[2]
        precondition(heads == 0 || ((heads - 1) * inputHeadStride + dIn <= x.rowSize && (heads - 1) * outputHeadStride + dOut <= out.rowSize),
                     "headLinear: \(heads) heads of \(dIn) → \(dOut) do not fit \(x.shape) → \(out.shape)")
        for h in 0..<heads {
            let w = weight.rows(h..<(h + 1)).reshaped([dOut, dIn])
            try linear(x.columns((h * inputHeadStride)..<(h * inputHeadStride + dIn)), Linear(weight: w),
                       out: out.columns((h * outputHeadStride)..<(h * outputHeadStride + dOut)))
        }
    }

    /// `copyHeads` as one `copy` per head.
    public func perHeadCopy(_ source: Tensor, sourceHeadStride: Int, to destination: Tensor, destinationHeadStride: Int,
                            heads: Int, width: Int) throws {
        for h in 0..<heads {
            try copy(source.columns((h * sourceHeadStride)..<(h * sourceHeadStride + width)),
                     to: destination.columns((h * destinationHeadStride)..<(h * destinationHeadStride + width)))
        }
    }

    /// The device's memory now, nil for backends without device memory (the CPU): the engine sizes
    /// its KV pool from it (`--mem-fraction-static`).
    public func deviceMemory() throws -> DeviceMemory? { nil }
}
