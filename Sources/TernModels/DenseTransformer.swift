import Foundation
import TernBackend
import TernCore

/// Llama-family decoder: Llama, Mistral, Qwen2 and Qwen3 differ only in configuration
/// (GQA, head_dim, q/k/v bias, per-head q/k RMSNorm, sliding windows, RoPE scaling, tied embeddings).
public final class DenseTransformer: LanguageModel, @unchecked Sendable {
    public let config: ModelConfig
    public let backend: any Backend
    public let kvLayout: KVCacheLayout

    struct Layer {
        var inputNorm: Tensor
        var q: Linear, k: Linear, v: Linear, o: Linear
        var qNorm: Tensor?, kNorm: Tensor?
        var postAttentionNorm: Tensor
        var gate: Linear, up: Linear, down: Linear
        var attention: AttentionParameters
    }

    let embedding: Tensor
    let layers: [Layer]
    let finalNorm: Tensor
    let lmHead: Tensor
    let rotary: RotaryTable

    public init(config c: ModelConfig, weights: WeightLoader, maxPositions: Int? = nil) throws {
        self.config = c
        self.backend = weights.backend
        let kvDim = c.kvHeads * c.headDim, qDim = c.heads * c.headDim
        kvLayout = KVCacheLayout(layers: c.layers, kvHeads: c.kvHeads, keyDim: c.headDim, valueDim: c.headDim,
                                 dtype: backend.activationDType == .f32 ? .f32 : .bf16)
        embedding = try weights.tensor("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize])
        let scale = 1 / Float(c.headDim).squareRoot()
        layers = try (0..<c.layers).map { i in
            let p = "model.layers.\(i)"
            return Layer(
                inputNorm: try weights.tensor("\(p).input_layernorm.weight", [c.hiddenSize]),
                q: try weights.linear("\(p).self_attn.q_proj", out: qDim, in: c.hiddenSize, bias: c.qkvBias),
                k: try weights.linear("\(p).self_attn.k_proj", out: kvDim, in: c.hiddenSize, bias: c.qkvBias),
                v: try weights.linear("\(p).self_attn.v_proj", out: kvDim, in: c.hiddenSize, bias: c.qkvBias),
                o: try weights.linear("\(p).self_attn.o_proj", out: c.hiddenSize, in: qDim, bias: c.outputBias),
                qNorm: c.qkNorm ? try weights.tensor("\(p).self_attn.q_norm.weight", [c.headDim]) : nil,
                kNorm: c.qkNorm ? try weights.tensor("\(p).self_attn.k_norm.weight", [c.headDim]) : nil,
                postAttentionNorm: try weights.tensor("\(p).post_attention_layernorm.weight", [c.hiddenSize]),
                gate: try weights.linear("\(p).mlp.gate_proj", out: c.intermediateSize, in: c.hiddenSize, bias: c.mlpBias),
                up: try weights.linear("\(p).mlp.up_proj", out: c.intermediateSize, in: c.hiddenSize, bias: c.mlpBias),
                down: try weights.linear("\(p).mlp.down_proj", out: c.hiddenSize, in: c.intermediateSize, bias: c.mlpBias),
                attention: AttentionParameters(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, scale: scale,
                                               slidingWindow: c.slidingWindows[i]))
        }
        finalNorm = try weights.tensor("model.norm.weight", [c.hiddenSize])
        if c.tieWordEmbeddings && !weights.source.contains("lm_head.weight") {
            lmHead = embedding
        } else {
            lmHead = try weights.tensor("lm_head.weight", [c.vocabSize, c.hiddenSize])
        }
        let rotaryDim = Int(Double(c.headDim) * c.partialRotaryFactor)
        rotary = try RotaryEmbedding.table(rotaryDim: rotaryDim, theta: c.ropeTheta, scaling: c.ropeScaling,
                                           maxPositions: maxPositions ?? c.maxPositionEmbeddings,
                                           interleaved: false, backend: backend)
    }

    public func forward(_ batch: ForwardBatch, cache: KVCache) throws -> Tensor {
        let c = config, b = backend, t = batch.tokenCount, act = b.activationDType
        let prepared = try b.prepare(batch)
        let qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim
        let residual = try b.allocate([t, c.hiddenSize], dtype: act)
        let normed = try b.allocate([t, c.hiddenSize], dtype: act)
        let x = try b.allocate([t, c.hiddenSize], dtype: act)
        let qkv = try b.allocate([t, qDim + 2 * kvDim], dtype: act)
        let attended = try b.allocate([t, qDim], dtype: act)
        let gateUp = try b.allocate([t, 2 * c.intermediateSize], dtype: act)
        let activated = try b.allocate([t, c.intermediateSize], dtype: act)
        let q = qkv.columns(0..<qDim), k = qkv.columns(qDim..<qDim + kvDim), v = qkv.columns(qDim + kvDim..<qDim + 2 * kvDim)

        try b.embedding(ids: prepared.tokenIDs, table: embedding, out: residual)
        try b.rmsNorm(residual, weight: layers[0].inputNorm, eps: c.rmsNormEps, out: normed)
        for (i, layer) in layers.enumerated() {
            if i > 0 { try b.addRMSNorm(x, residual: residual, weight: layer.inputNorm, eps: c.rmsNormEps, out: normed) }
            try layer.q(normed, into: q, on: b)
            try layer.k(normed, into: k, on: b)
            try layer.v(normed, into: v, on: b)
            if let qNorm = layer.qNorm, let kNorm = layer.kNorm {
                try b.rmsNorm(q, weight: qNorm, eps: c.rmsNormEps, out: q)
                try b.rmsNorm(k, weight: kNorm, eps: c.rmsNormEps, out: k)
            }
            try b.rope(q, headDim: c.headDim, positions: prepared.positions, table: rotary)
            try b.rope(k, headDim: c.headDim, positions: prepared.positions, table: rotary)
            try b.storeKV(key: k, value: v, cache: cache, layer: i, batch: prepared)
            try b.attention(query: q, cache: cache, layer: i, batch: prepared, parameters: layer.attention, out: attended)
            try layer.o(attended, into: x, on: b)
            try b.addRMSNorm(x, residual: residual, weight: layer.postAttentionNorm, eps: c.rmsNormEps, out: normed)
            try layer.gate(normed, into: gateUp.columns(0..<c.intermediateSize), on: b)
            try layer.up(normed, into: gateUp.columns(c.intermediateSize..<2 * c.intermediateSize), on: b)
            try b.siluAndMul(gateUp, out: activated)
            try layer.down(activated, into: x, on: b)
        }
        // Only the rows whose logits are wanted go through the final norm and the LM head.
        let rows = batch.logitRows.count
        let lastX = try b.allocate([rows, c.hiddenSize], dtype: act)
        let lastResidual = try b.allocate([rows, c.hiddenSize], dtype: act)
        try b.gatherRows(x, rows: prepared.logitRows, out: lastX)
        try b.gatherRows(residual, rows: prepared.logitRows, out: lastResidual)
        let finalHidden = try b.allocate([rows, c.hiddenSize], dtype: act)
        try b.addRMSNorm(lastX, residual: lastResidual, weight: finalNorm, eps: c.rmsNormEps, out: finalHidden)
        let logits = try b.allocate([rows, c.vocabSize], dtype: .f32)
        try b.linear(finalHidden, weight: lmHead, bias: nil, out: logits)
        return logits
    }
}
