import TernBackend
import TernCore

/// Grouped-query attention with optional q/k/v bias, per-head q/k RMSNorm (Qwen3) and a
/// sliding window (Mistral), over the paged KV cache.
struct GQAAttention: AttentionBlock {
    /// q, k and v as one layer (rows q, then k, then v) when the checkpoint allows, else separately.
    enum Projection { case fused(Linear), separate(q: Linear, k: Linear, v: Linear) }
    let qkv: Projection
    let o: Linear
    let qNorm: Tensor?, kNorm: Tensor?
    let normEps: Float
    let parameters: AttentionParameters
    let rotary: RotaryTable

    init(config c: ModelConfig, layer i: Int, weights: WeightLoader, rotary: RotaryTable) throws {
        let p = "model.layers.\(i).self_attn"
        let qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim
        if let fused = try weights.fusedLinear(["\(p).q_proj", "\(p).k_proj", "\(p).v_proj"], outs: [qDim, kvDim, kvDim],
                                               in: c.hiddenSize, bias: c.qkvBias, name: "\(p).qkv_proj") {
            qkv = .fused(fused)
        } else {
            qkv = .separate(q: try weights.linear("\(p).q_proj", out: qDim, in: c.hiddenSize, bias: c.qkvBias),
                            k: try weights.linear("\(p).k_proj", out: kvDim, in: c.hiddenSize, bias: c.qkvBias),
                            v: try weights.linear("\(p).v_proj", out: kvDim, in: c.hiddenSize, bias: c.qkvBias))
        }
        o = try weights.linear("\(p).o_proj", out: c.hiddenSize, in: qDim, bias: c.outputBias)
        qNorm = c.qkNorm ? try weights.tensor("\(p).q_norm.weight", [c.headDim]) : nil
        kNorm = c.qkNorm ? try weights.tensor("\(p).k_norm.weight", [c.headDim]) : nil
        normEps = c.rmsNormEps
        parameters = AttentionParameters(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                                         scale: 1 / Float(c.headDim).squareRoot(), slidingWindow: c.slidingWindows[i])
        self.rotary = rotary
    }

    func forward(_ x: Tensor, layer: Int, context: StepContext, out: Tensor) throws {
        try forward(input: .normalized(x), layer: layer, context: context, out: out)
    }

    /// A fused qkv projection takes the pre-norm with it (`Backend.addRMSNormLinear`).
    func forward(_ input: PreNorm, layer: Int, context: StepContext, out: Tensor) throws {
        try forward(input: .preNorm(input), layer: layer, context: context, out: out)
    }

    private func forward(input: BlockInput, layer: Int, context: StepContext, out: Tensor) throws {
        let b = context.backend, p = parameters
        let qDim = p.heads * p.headDim, kvDim = p.kvHeads * p.headDim
        let qkv = try context.buffer([context.tokens, qDim + 2 * kvDim])
        let qs = qkv.columns(0..<qDim), ks = qkv.columns(qDim..<qDim + kvDim), vs = qkv.columns(qDim + kvDim..<qDim + 2 * kvDim)
        var roped = false
        switch (self.qkv, input) {
        case let (.fused(projection), .preNorm(pre)) where qNorm == nil:
            // Norm, projection, rope and K/V store: one op (one kernel at batch 1 on the GPU).
            try pre.qkvRopeStoreKV(b, projection, out: qkv, heads: p.heads, kvHeads: p.kvHeads, headDim: p.headDim, table: rotary,
                                   context: context, layer: layer)
            roped = true
        case let (.fused(projection), .preNorm(pre)):
            try pre.linear(b, projection, out: qkv)
        case let (.fused(projection), .normalized(x)):
            try b.linear(x, projection, out: qkv)
        case let (.separate(q, k, v), _):
            let x = try input.normalized(b)
            try b.linear(x, q, out: qs)
            try b.linear(x, k, out: ks)
            try b.linear(x, v, out: vs)
        }
        if let qNorm, let kNorm {
            try b.rmsNorm(qs, weight: qNorm, eps: normEps, out: qs)
            try b.rmsNorm(ks, weight: kNorm, eps: normEps, out: ks)
        }
        if !roped {
            try b.ropeAndStoreKV(query: qs, key: ks, value: vs, headDim: p.headDim, positions: context.positions, table: rotary,
                                 cache: context.cache, layer: layer, batch: context.batch)
        }
        let attended = try context.buffer([context.tokens, qDim])
        try b.attention(query: qs, cache: context.cache, layer: layer, batch: context.batch, parameters: p, out: attended)
        try b.linear(attended, o, out: out)
    }
}
