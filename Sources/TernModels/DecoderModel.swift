import Foundation
import TernBackend
import TernCore

/// Settings that shape how a model is built, beyond its config.json.
public struct ModelBuildOptions: Sendable {
    /// Rotary table length (longest supported sequence).
    public var maxPositions: Int?
    /// MLA's form for DeepSeek models.
    public var mlaForm: MLAForm
    /// Expert placement and this process's rank (expert parallelism).
    public var expertPlacement: ExpertPlacement?
    public var rank: Int
    /// For FP8 checkpoints with dynamic activation scales: quantize activations per token group
    /// (w8a8, as deployed) or keep them in full precision (weight-only dequantization).
    public var quantizeActivations: Bool
    /// KV cache storage (`--kv-cache-dtype`).
    public var kvCacheDType: KVCacheDTypeChoice

    public init(maxPositions: Int? = nil, mlaForm: MLAForm = .automatic, expertPlacement: ExpertPlacement? = nil,
                rank: Int = 0, quantizeActivations: Bool = true, kvCacheDType: KVCacheDTypeChoice = .auto) {
        self.kvCacheDType = kvCacheDType
        self.maxPositions = maxPositions
        self.mlaForm = mlaForm
        self.expertPlacement = expertPlacement
        self.rank = rank
        self.quantizeActivations = quantizeActivations
    }
}

/// Every supported architecture is this decoder: embedding, layers of (RMSNorm → attention →
/// RMSNorm → feed-forward) with residual adds, final norm, LM head. Architectures differ in
/// their attention block (GQA, MLA) and feed-forward block (dense SwiGLU, mixture of experts).
public final class DecoderModel: LanguageModel, @unchecked Sendable {
    public let config: ModelConfig
    public let backend: any Backend
    public let kvLayout: KVCacheLayout
    public let kvScales: (keys: [Float], values: [Float])?

    struct Layer {
        var inputNorm: Tensor
        var attention: any AttentionBlock
        var postAttentionNorm: Tensor
        var feedForward: any FeedForwardBlock
    }

    let embedding: Tensor
    let layers: [Layer]
    let finalNorm: Tensor
    let lmHead: Linear

    public init(config c: ModelConfig, weights: WeightLoader, options: ModelBuildOptions = ModelBuildOptions()) throws {
        config = c
        backend = weights.backend
        let cacheDType = options.kvCacheDType.dtype(activation: backend.activationDType == .f32 ? .f32 : .bf16)
        kvScales = cacheDType == .f8e4m3 ? try Self.kvScales(config: c, weights: weights) : nil
        let positions = min(options.maxPositions ?? c.maxPositionEmbeddings, c.maxPositionEmbeddings)
        let rotary: RotaryTable
        if let mla = c.mla {
            kvLayout = KVCacheLayout(layers: c.layers, kvHeads: 1, keyDim: mla.cacheWidth, valueDim: 0, dtype: cacheDType)
            rotary = try RotaryEmbedding.table(rotaryDim: mla.qkRopeHeadDim, theta: c.ropeTheta, scaling: c.ropeScaling,
                                               maxPositions: positions, interleaved: true, backend: backend)
        } else {
            kvLayout = KVCacheLayout(layers: c.layers, kvHeads: c.kvHeads, keyDim: c.headDim, valueDim: c.headDim, dtype: cacheDType)
            rotary = try RotaryEmbedding.table(rotaryDim: Int(Double(c.headDim) * c.partialRotaryFactor), theta: c.ropeTheta,
                                               scaling: c.ropeScaling, maxPositions: positions, interleaved: false, backend: backend)
        }
        embedding = try weights.tensor("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize])
        let placement = options.expertPlacement ?? c.moe.map { ExpertPlacement.contiguous(experts: $0.experts) }
        layers = try (0..<c.layers).map { i in
            let p = "model.layers.\(i)"
            let attention: any AttentionBlock = try c.mla.map {
                try MLAAttention(config: c, mla: $0, layer: i, weights: weights, rotary: rotary, form: options.mlaForm)
            } ?? GQAAttention(config: c, layer: i, weights: weights, rotary: rotary)
            let feedForward: any FeedForwardBlock
            if let moe = c.moe, moe.sparseLayers[i], let placement {
                feedForward = try MixtureOfExperts(config: c, moe: moe, layer: i, weights: weights, placement: placement, rank: options.rank)
            } else {
                feedForward = try DenseMLP(prefix: "\(p).mlp", hidden: c.hiddenSize, intermediate: c.intermediateSize,
                                           bias: c.mlpBias, weights: weights)
            }
            return Layer(inputNorm: try weights.tensor("\(p).input_layernorm.weight", [c.hiddenSize]), attention: attention,
                         postAttentionNorm: try weights.tensor("\(p).post_attention_layernorm.weight", [c.hiddenSize]),
                         feedForward: feedForward)
        }
        finalNorm = try weights.tensor("model.norm.weight", [c.hiddenSize])
        if c.tieWordEmbeddings && !(weights.source.contains("lm_head.weight") && !(weights.source is DummySourceMarker)) {
            lmHead = Linear(weight: embedding)
        } else {
            lmHead = try weights.linear("lm_head", out: c.vocabSize, in: c.hiddenSize)
        }
    }

    /// FP8 KV scales per layer from the checkpoint (`self_attn.k_scale` / `v_scale`, or the older
    /// `k_proj.k_scale` / `v_proj.v_scale` placement; MLA's latent uses `k_scale`), else 1.
    static func kvScales(config c: ModelConfig, weights: WeightLoader) throws -> (keys: [Float], values: [Float]) {
        guard !(weights.source is DummySourceMarker) else {
            return (Array(repeating: 1, count: c.layers), Array(repeating: 1, count: c.layers))
        }
        func scalar(_ names: [String]) throws -> Float {
            for name in names where weights.source.contains(name) {
                let shape = (weights.source as? ShapeReporting)?.shape(of: name) ?? []
                let values = try weights.source.tensor(name, shape: shape, dtype: .f32).floats()
                guard values.count == 1, values[0].isFinite, values[0] > 0 else {
                    throw BackendError.invalidArgument("\(name): expected one positive scale, found \(values)")
                }
                return values[0]
            }
            return 1
        }
        var keys: [Float] = [], values: [Float] = []
        for i in 0..<c.layers {
            let p = "model.layers.\(i).self_attn"
            keys.append(try scalar(["\(p).k_scale", "\(p).k_proj.k_scale", "\(p).attn.k_scale"]))
            values.append(c.mla != nil ? keys[i] : try scalar(["\(p).v_scale", "\(p).v_proj.v_scale", "\(p).attn.v_scale"]))
        }
        return (keys, values)
    }

    public func forward(_ batch: ForwardBatch, cache: KVCache) throws -> Tensor {
        let c = config, b = backend, t = batch.tokenCount
        let prepared = try b.prepare(batch)
        let context = StepContext(backend: b, batch: prepared, cache: cache, positions: prepared.positions)
        let residual = try context.buffer([t, c.hiddenSize])
        let normed = try context.buffer([t, c.hiddenSize])
        let x = try context.buffer([t, c.hiddenSize])

        try b.embedding(ids: prepared.tokenIDs, table: embedding, out: residual)
        // Each block receives its pre-norm unapplied (residual += x, then RMSNorm) so that it can hand
        // it to the projection that consumes it (one kernel at batch 1 on the GPU).
        for (i, layer) in layers.enumerated() {
            try layer.attention.forward(PreNorm(x: i > 0 ? x : nil, residual: residual, weight: layer.inputNorm, eps: c.rmsNormEps, normed: normed),
                                        layer: i, context: context, out: x)
            try layer.feedForward.forward(PreNorm(x: x, residual: residual, weight: layer.postAttentionNorm, eps: c.rmsNormEps, normed: normed),
                                          context: context, out: x)
        }
        // Only the rows whose logits are wanted go through the final norm and the LM head.
        let rows = batch.logitRows.count
        let lastX = try context.buffer([rows, c.hiddenSize])
        let lastResidual = try context.buffer([rows, c.hiddenSize])
        try b.gatherRows(x, rows: prepared.logitRows, out: lastX)
        try b.gatherRows(residual, rows: prepared.logitRows, out: lastResidual)
        let finalHidden = try context.buffer([rows, c.hiddenSize])
        let logits = try context.buffer([rows, c.vocabSize], dtype: .f32)
        try b.addRMSNormLinear(lastX, residual: lastResidual, weight: finalNorm, eps: c.rmsNormEps, lmHead, normed: finalHidden, out: logits)
        return logits
    }
}

/// Dummy sources claim to contain every tensor; tied embeddings must not be untied by that.
public protocol DummySourceMarker {}
