import Foundation
import TernBackend
import TernCore

/// Which of MLA's two equivalent forms a step uses.
public enum MLAForm: String, Sendable, CaseIterable {
    /// Attention in the latent space: kv_b_proj folded into the query and output sides, so the
    /// cache's latent rows are read directly (the decode form of fast engines, FlashMLA).
    case absorbed
    /// Latents expanded back to per-head keys and values, then ordinary attention (prefill form).
    case expanded
    /// Absorbed for decode-only steps, expanded when a step carries prefill tokens (absorbed for
    /// those too where the backend prefers it: `Backend.prefersAbsorbedMLAPrefill`).
    case automatic
}

/// DeepSeek's multi-head latent attention. The KV cache stores, per token, only the normalised
/// latent (`kv_lora_rank`) and the rotated shared key (`qk_rope_head_dim`).
struct MLAAttention: AttentionBlock {
    let mla: MLAConfig
    let heads: Int
    let normEps: Float
    let qProj: Linear?
    let qA: Linear?, qANorm: Tensor?, qB: Linear?
    let kvA: Linear?
    /// q_a_proj (or q_proj without q_lora) and kv_a_proj_with_mqa as one layer (`[q_lora_rank or
    /// heads × qk_head_dim + cache width, hidden]`: both read the same input, so one GEMV / GEMM and one
    /// activation quantization instead of two). nil when the checkpoint's formats do not fuse, or with
    /// TERN_MLA_FUSED_A=0.
    let qAKVA: Linear?
    let kvANorm: Tensor
    let kvB: Linear
    let o: Linear
    /// All heads' W_UKᵀ `[heads, kv_lora_rank, nope]` (query side) and W_UV `[heads, v, kv_lora_rank]`
    /// (output side), for `Backend.headLinear`.
    let absorbedKey: Tensor
    let absorbedValue: Tensor
    let rotary: RotaryTable
    let form: MLAForm

    init(config c: ModelConfig, mla m: MLAConfig, layer i: Int, weights: WeightLoader, rotary: RotaryTable, form: MLAForm) throws {
        let p = "model.layers.\(i).self_attn"
        mla = m
        heads = c.heads
        // DeepSeek's q_a_layernorm and kv_a_layernorm use RMSNorm's default eps whatever the config says.
        normEps = 1e-6
        self.rotary = rotary
        self.form = form
        // q_a (or q) and kv_a fused where the formats allow (then not loaded separately).
        let fused: Linear?
        if ProcessInfo.processInfo.environment["TERN_MLA_FUSED_A"] != "0" {
            // q_proj has no bias in DeepSeek's checkpoints (nor does q_a_proj unless qkvBias); keep both unfused then.
            fused = m.qLoraRank == nil && c.qkvBias ? nil
                : try weights.fusedLinear([m.qLoraRank == nil ? "\(p).q_proj" : "\(p).q_a_proj", "\(p).kv_a_proj_with_mqa"],
                                          outs: [m.qLoraRank ?? c.heads * m.qkHeadDim, m.cacheWidth], in: c.hiddenSize,
                                          bias: c.qkvBias, name: "\(p).q_a_kv_a_proj", fp8Blocks: true)
        } else {
            fused = nil
        }
        qAKVA = fused
        if let rank = m.qLoraRank {
            qProj = nil
            qA = fused == nil ? try weights.linear("\(p).q_a_proj", out: rank, in: c.hiddenSize, bias: c.qkvBias) : nil
            qANorm = try weights.tensor("\(p).q_a_layernorm.weight", [rank])
            qB = try weights.linear("\(p).q_b_proj", out: c.heads * m.qkHeadDim, in: rank)
        } else {
            qProj = fused == nil ? try weights.linear("\(p).q_proj", out: c.heads * m.qkHeadDim, in: c.hiddenSize) : nil
            qA = nil; qANorm = nil; qB = nil
        }
        kvA = fused == nil ? try weights.linear("\(p).kv_a_proj_with_mqa", out: m.cacheWidth, in: c.hiddenSize, bias: c.qkvBias) : nil
        kvANorm = try weights.tensor("\(p).kv_a_layernorm.weight", [m.kvLoraRank])
        let perHead = m.qkNopeHeadDim + m.vHeadDim
        // kv_b_proj sees full-precision latents even in FP8 w8a8 checkpoints: DeepSeek's reference
        // folds it in dequantized (absorbed form), and the expanded form must compute the same function.
        var kvB = try weights.linear("\(p).kv_b_proj", out: c.heads * perHead, in: m.kvLoraRank)
        kvB.activationGroupSize = nil
        self.kvB = kvB
        o = try weights.linear("\(p).o_proj", out: c.hiddenSize, in: c.heads * m.vHeadDim, bias: c.outputBias)

        // Fold kv_b_proj into per-head query and output projections, from its fp32 values.
        let w = try weights.dequantizedWeight("\(p).kv_b_proj", out: c.heads * perHead, in: m.kvLoraRank)
        let r = m.kvLoraRank, nope = m.qkNopeHeadDim, v = m.vHeadDim
        let storage: DType = weights.backend.activationDType
        var keys = [Float](repeating: 0, count: c.heads * r * nope), values: [Float] = []
        values.reserveCapacity(c.heads * v * r)
        for h in 0..<c.heads {
            for d in 0..<nope { for j in 0..<r { keys[(h * r + j) * nope + d] = w[(h * perHead + d) * r + j] } }
            values += w[((h * perHead + nope) * r)..<((h * perHead + nope + v) * r)]
        }
        absorbedKey = try weights.backend.upload(floats: keys, shape: [c.heads, r, nope], as: storage)
        absorbedValue = try weights.backend.upload(floats: values, shape: [c.heads, v, r], as: storage)
    }

    func forward(_ x: Tensor, layer: Int, context: StepContext, out: Tensor) throws {
        let b = context.backend, t = context.tokens, m = mla
        // Queries: [T, heads × (nope + rope)]; the cache entry (latent and shared key, from kv_a).
        let q: Tensor
        let entry: Tensor
        if let qAKVA {
            // [compressed q (or q) | entry] from one projection; both parts are used as column views.
            let first = qAKVA.outFeatures - m.cacheWidth
            let both = try context.buffer([t, qAKVA.outFeatures])
            try b.linear(x, qAKVA, out: both)
            if let qANorm, let qB {
                let compressed = both.columns(0..<first)
                try b.rmsNorm(compressed, weight: qANorm, eps: normEps, out: compressed)
                q = try context.buffer([t, heads * m.qkHeadDim])
                try b.linear(compressed, qB, out: q)
            } else {
                q = both.columns(0..<first)
            }
            entry = both.columns(first..<qAKVA.outFeatures)
        } else {
            q = try context.buffer([t, heads * m.qkHeadDim])
            if let qProj {
                try b.linear(x, qProj, out: q)
            } else if let qA, let qANorm, let qB {
                let compressed = try context.buffer([t, qA.outFeatures])
                try b.linear(x, qA, out: compressed)
                try b.rmsNorm(compressed, weight: qANorm, eps: normEps, out: compressed)
                try b.linear(compressed, qB, out: q)
            }
            guard let kvA else { throw BackendError.invalidArgument("MLA: neither kv_a_proj nor the fused q_a/kv_a projection loaded") }
            entry = try context.buffer([t, m.cacheWidth])
            try b.linear(x, kvA, out: entry)
        }
        try b.rope(q, headDim: m.qkHeadDim, rotaryOffset: m.qkNopeHeadDim, positions: context.positions, table: rotary)
        // The cache entry: normalised latent and rotated shared key.
        let latent = entry.columns(0..<m.kvLoraRank)
        try b.rmsNorm(latent, weight: kvANorm, eps: normEps, out: latent)
        try b.rope(entry.columns(m.kvLoraRank..<m.cacheWidth), headDim: m.qkRopeHeadDim, rotaryOffset: 0,
                   positions: context.positions, table: rotary)
        try b.storeKV(key: entry, value: nil, cache: context.cache, layer: layer, batch: context.batch)

        let attended = try context.buffer([t, heads * m.vHeadDim])
        let decodeOnly = context.batch.batch.sequences.allSatisfy { $0.queryLength == 1 }
        if form == .absorbed || (form == .automatic && (decodeOnly || b.prefersAbsorbedMLAPrefill(tokens: t))) {
            try absorbed(q, layer: layer, context: context, out: attended)
        } else {
            try expanded(q, layer: layer, context: context, out: attended)
        }
        try b.linear(attended, o, out: out)
    }

    /// Attention in latent space: one shared KV head of width latent + rope, values = latent.
    private func absorbed(_ q: Tensor, layer: Int, context: StepContext, out: Tensor) throws {
        let b = context.backend, t = context.tokens, m = mla, width = m.cacheWidth
        let qLatent = try context.buffer([t, heads * width])
        // Per head: [q_nope · W_UKᵀ, q_rope], as one head-batched matmul and one strided copy.
        try b.headLinear(q, inputHeadStride: m.qkHeadDim, weight: absorbedKey, out: qLatent, outputHeadStride: width)
        try b.copyHeads(q.columns(m.qkNopeHeadDim..<(heads * m.qkHeadDim)), sourceHeadStride: m.qkHeadDim,
                        to: qLatent.columns(m.kvLoraRank..<(heads * width)), destinationHeadStride: width,
                        heads: heads, width: m.qkRopeHeadDim)
        let latentOut = try context.buffer([t, heads * m.kvLoraRank])
        try b.attention(query: qLatent, cache: context.cache, layer: layer, batch: context.batch,
                        parameters: AttentionParameters(heads: heads, kvHeads: 1, headDim: width, valueDim: m.kvLoraRank, scale: m.softmaxScale),
                        out: latentOut)
        try b.headLinear(latentOut, inputHeadStride: m.kvLoraRank, weight: absorbedValue, out: out, outputHeadStride: m.vHeadDim)
    }

    /// Expands every cached latent of the step's sequences into per-head keys and values.
    private func expanded(_ q: Tensor, layer: Int, context: StepContext, out: Tensor) throws {
        let b = context.backend, m = mla, step = context.batch.batch
        let total = step.kvRowCount
        let cached = try context.buffer([total, m.cacheWidth])
        try b.gatherCachedKeys(cache: context.cache, layer: layer, batch: context.batch, out: cached)
        let perHead = m.qkNopeHeadDim + m.vHeadDim
        let expandedKV = try context.buffer([total, heads * perHead])
        try b.linear(cached.columns(0..<m.kvLoraRank), kvB, out: expandedKV)
        let keys = try context.buffer([total, heads * m.qkHeadDim])
        let values = try context.buffer([total, heads * m.vHeadDim])
        // Per head: keys [k_nope, shared k_rope], values v; three strided copies over all heads.
        try b.copyHeads(expandedKV, sourceHeadStride: perHead, to: keys, destinationHeadStride: m.qkHeadDim,
                        heads: heads, width: m.qkNopeHeadDim)
        try b.copyHeads(cached.columns(m.kvLoraRank..<m.cacheWidth), sourceHeadStride: 0,
                        to: keys.columns(m.qkNopeHeadDim..<(heads * m.qkHeadDim)), destinationHeadStride: m.qkHeadDim,
                        heads: heads, width: m.qkRopeHeadDim)
        try b.copyHeads(expandedKV.columns(m.qkNopeHeadDim..<(heads * perHead)), sourceHeadStride: perHead,
                        to: values, destinationHeadStride: m.vHeadDim, heads: heads, width: m.vHeadDim)
        // The expanded rows as a one-layer cache with one-token pages, sequence after sequence.
        let layout = KVCacheLayout(layers: 1, kvHeads: heads, keyDim: m.qkHeadDim, valueDim: m.vHeadDim, dtype: keys.dtype)
        let dense = KVCache(layout: layout, pageSize: 1, pageCount: total, keys: [keys], values: [values])
        try b.attention(query: q, cache: dense, layer: 0, batch: try expandedBatch(step, context: context),
                        parameters: AttentionParameters(heads: heads, kvHeads: heads, headDim: m.qkHeadDim, valueDim: m.vHeadDim,
                                                        scale: m.softmaxScale),
                        out: out)
    }

    /// The step's batch over the expanded rows (one-token pages), prepared once per step.
    private func expandedBatch(_ step: ForwardBatch, context: StepContext) throws -> PreparedBatch {
        if let prepared = context.shared.expandedMLABatch { return prepared }
        let prepared = try context.backend.prepare(step.overDenseKVRows())
        context.shared.expandedMLABatch = prepared
        return prepared
    }
}
