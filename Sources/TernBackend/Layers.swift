import TernCore

/// How a linear layer's weight is stored when it is not plain f32/bf16/f16.
public enum WeightQuantization: Sendable {
    /// FP8 e4m3 weight with one fp32 scale per `[blockRows, blockColumns]` block
    /// (DeepSeek-V3's `weight_scale_inv`, shape `[ceil(out/br), ceil(in/bc)]`).
    case fp8Block(scales: Tensor, blockRows: Int, blockColumns: Int)
    /// NVFP4 (ModelOpt): e2m1 codes packed two per byte (even index in the low nibble) in a
    /// `[out, in/2]` u8 weight, one e4m3 scale per 16 inputs (`[out, in/16]`), one fp32 global scale.
    case nvfp4(scales: Tensor, globalScale: Float)
}

/// A linear layer's parameters on a backend. Weights keep Hugging Face layout `[out, in]`.
public struct Linear: Sendable {
    public var weight: Tensor
    public var bias: Tensor?
    public var quantization: WeightQuantization?
    /// When set, activations are quantized to FP8 e4m3 in groups of this many values per token
    /// (dynamic scales) before the product, as w8a8 FP8 inference does.
    public var activationGroupSize: Int?
    public let inFeatures: Int
    public let outFeatures: Int

    public init(weight: Tensor, bias: Tensor? = nil, quantization: WeightQuantization? = nil,
                activationGroupSize: Int? = nil, inFeatures: Int? = nil) {
        self.weight = weight
        self.bias = bias
        self.quantization = quantization
        self.activationGroupSize = activationGroupSize
        self.outFeatures = weight.rows
        if case .nvfp4 = quantization { self.inFeatures = inFeatures ?? weight.rowSize * 2 } else { self.inFeatures = inFeatures ?? weight.rowSize }
    }

    /// Output rows `range` of this layer (e.g. one head's slice of a fused projection).
    public func outputRows(_ range: Range<Int>) -> Linear {
        var quantization = self.quantization
        if case let .fp8Block(scales, br, bc) = quantization {
            precondition(range.lowerBound % br == 0, "row slice must start on a scale block")
            let blocks = (range.lowerBound / br)..<((range.upperBound + br - 1) / br)
            quantization = .fp8Block(scales: scales.rows(blocks), blockRows: br, blockColumns: bc)
        } else if case let .nvfp4(scales, global) = quantization {
            quantization = .nvfp4(scales: scales.rows(range), globalScale: global)
        }
        return Linear(weight: weight.rows(range), bias: bias.map { $0.rows(range) },
                      quantization: quantization, activationGroupSize: activationGroupSize, inFeatures: inFeatures)
    }
}

/// One expert's SwiGLU MLP.
public struct ExpertMLP: Sendable {
    public var gate: Linear
    public var up: Linear
    public var down: Linear

    public init(gate: Linear, up: Linear, down: Linear) {
        self.gate = gate
        self.up = up
        self.down = down
    }
}

/// The experts of one MoE layer held by this rank: `slotOfExpert[e]` is the local slot of
/// global expert `e`, or -1 when another rank owns it.
public struct ExpertSet: Sendable {
    public var slotOfExpert: [Int]
    public var local: [ExpertMLP]

    public init(slotOfExpert: [Int], local: [ExpertMLP]) {
        self.slotOfExpert = slotOfExpert
        self.local = local
    }

    public var expertCount: Int { slotOfExpert.count }
}

/// How router logits become each token's experts and weights.
public struct Routing: Sendable {
    public enum Scoring: Sendable { case softmax, sigmoid }
    /// How a group of experts is scored for group-limited routing.
    public enum GroupScore: Sendable { case max, topTwoSum }

    public var scoring: Scoring
    public var topK: Int
    /// Expert groups (1: no group limit) and how many groups a token may use.
    public var groups: Int
    public var topKGroups: Int
    public var groupScore: GroupScore
    /// Added to scores for choosing experts only (DeepSeek-V3 `e_score_correction_bias`).
    public var correctionBias: Tensor?
    /// Renormalise the chosen weights to sum to one.
    public var normalize: Bool
    /// Multiplies the final weights (`routed_scaling_factor`).
    public var scale: Float

    public init(scoring: Scoring, topK: Int, groups: Int = 1, topKGroups: Int = 1, groupScore: GroupScore = .max,
                correctionBias: Tensor? = nil, normalize: Bool, scale: Float = 1) {
        self.scoring = scoring
        self.topK = topK
        self.groups = groups
        self.topKGroups = topKGroups
        self.groupScore = groupScore
        self.correctionBias = correctionBias
        self.normalize = normalize
        self.scale = scale
    }
}
