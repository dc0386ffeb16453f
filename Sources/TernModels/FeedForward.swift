import TernBackend
import TernCore

/// SwiGLU MLP: down(silu(gate(x)) · up(x)).
struct DenseMLP: FeedForwardBlock {
    /// gate and up as one layer (gate rows, then up rows) when the checkpoint allows, else separately.
    enum Projection { case fused(Linear), separate(gate: Linear, up: Linear) }
    let gateUp: Projection
    let down: Linear
    let intermediate: Int

    init(prefix: String, hidden: Int, intermediate: Int, bias: Bool = false, weights: WeightLoader) throws {
        if let fused = try weights.fusedLinear(["\(prefix).gate_proj", "\(prefix).up_proj"], outs: [intermediate, intermediate],
                                               in: hidden, bias: bias, name: "\(prefix).gate_up_proj") {
            gateUp = .fused(fused)
        } else {
            gateUp = .separate(gate: try weights.linear("\(prefix).gate_proj", out: intermediate, in: hidden, bias: bias),
                               up: try weights.linear("\(prefix).up_proj", out: intermediate, in: hidden, bias: bias))
        }
        down = try weights.linear("\(prefix).down_proj", out: hidden, in: intermediate, bias: bias)
        self.intermediate = intermediate
    }

    func forward(_ x: Tensor, context: StepContext, out: Tensor) throws {
        try forward(input: .normalized(x), context: context, out: out)
    }

    /// A fused gate/up projection takes the pre-norm with it (`Backend.addRMSNormLinearSiLUAndMul`).
    func forward(_ input: PreNorm, context: StepContext, out: Tensor) throws {
        try forward(input: .preNorm(input), context: context, out: out)
    }

    private func forward(input: BlockInput, context: StepContext, out: Tensor) throws {
        let b = context.backend, n = intermediate
        let gateUp = try context.buffer([context.tokens, 2 * n])
        let activated = try context.buffer([context.tokens, n])
        switch (self.gateUp, input) {
        case let (.fused(layer), .preNorm(pre)):
            try pre.linearSiLUAndMul(b, layer, scratch: gateUp, out: activated)
        case let (.fused(layer), .normalized(x)):
            try b.linearSiLUAndMul(x, layer, scratch: gateUp, out: activated)
        case let (.separate(gate, up), _):
            let x = try input.normalized(b)
            try b.linear(x, gate, out: gateUp.columns(0..<n))
            try b.linear(x, up, out: gateUp.columns(n..<2 * n))
            try b.siluAndMul(gateUp, out: activated)
        }
        try b.linear(activated, down, out: out)
    }
}

/// Which rank holds each expert: the data expert parallelism and redundant experts change,
/// never the model code. `slot[e]` is expert e's index among its rank's experts.
public struct ExpertPlacement: Sendable, Equatable {
    public var rankOfExpert: [Int]
    public var slotOfExpert: [Int]

    /// Experts split into `ranks` contiguous, equal shares (expert e on rank e / (E / ranks)).
    public static func contiguous(experts: Int, ranks: Int = 1) -> ExpertPlacement {
        let share = (experts + ranks - 1) / ranks
        return ExpertPlacement(rankOfExpert: (0..<experts).map { $0 / share }, slotOfExpert: (0..<experts).map { $0 % share })
    }

    /// Global ids of the experts `rank` holds, in slot order.
    public func experts(on rank: Int) -> [Int] {
        rankOfExpert.indices.filter { rankOfExpert[$0] == rank }.sorted { slotOfExpert[$0] < slotOfExpert[$1] }
    }
}

/// Routed experts (+ optional shared experts) of one MoE layer.
struct MixtureOfExperts: FeedForwardBlock {
    let router: Linear
    let routing: Routing
    let experts: ExpertSet
    let shared: DenseMLP?

    init(config c: ModelConfig, moe m: MoEConfig, layer i: Int, weights: WeightLoader, placement: ExpertPlacement, rank: Int) throws {
        let prefix = m.mixtralNames ? "model.layers.\(i).block_sparse_moe" : "model.layers.\(i).mlp"
        router = try weights.linear("\(prefix).gate", out: m.experts, in: c.hiddenSize)
        let bias = m.hasCorrectionBias ? try weights.tensor("\(prefix).gate.e_score_correction_bias", [m.experts], dtype: .f32) : nil
        routing = Routing(scoring: m.scoring, topK: m.topK, groups: m.groups, topKGroups: m.topKGroups, groupScore: m.groupScore,
                          correctionBias: bias, normalize: m.normalize, scale: m.scale)
        let local = placement.experts(on: rank)
        let mlps: [ExpertMLP] = try local.map { e in
            let p = "\(prefix).experts.\(e)"
            let (g, u, d) = m.mixtralNames ? ("w1", "w3", "w2") : ("gate_proj", "up_proj", "down_proj")
            return ExpertMLP(gate: try weights.linear("\(p).\(g)", out: m.expertIntermediateSize, in: c.hiddenSize),
                             up: try weights.linear("\(p).\(u)", out: m.expertIntermediateSize, in: c.hiddenSize),
                             down: try weights.linear("\(p).\(d)", out: c.hiddenSize, in: m.expertIntermediateSize))
        }
        experts = ExpertSet(slotOfExpert: (0..<m.experts).map { placement.rankOfExpert[$0] == rank ? placement.slotOfExpert[$0] : -1 },
                            local: mlps)
        shared = m.sharedIntermediateSize > 0
            ? try DenseMLP(prefix: "\(prefix).shared_experts", hidden: c.hiddenSize, intermediate: m.sharedIntermediateSize, weights: weights)
            : nil
    }

    func forward(_ x: Tensor, context: StepContext, out: Tensor) throws {
        let b = context.backend, t = context.tokens
        // Router logits in fp32, as every reference implementation computes them.
        let logits = try context.buffer([t, experts.expertCount], dtype: .f32)
        try b.linear(x, router, out: logits)
        let ids = try context.buffer([t, routing.topK], dtype: .i32)
        let weights = try context.buffer([t, routing.topK], dtype: .f32)
        try b.route(logits, routing: routing, expertIDs: ids, expertWeights: weights)
        try b.moe(x, expertIDs: ids, expertWeights: weights, experts: experts, out: out)
        if let shared {
            let sharedOut = try context.buffer([t, out.rowSize])
            try shared.forward(x, context: context, out: sharedOut)
            try b.add(out, sharedOut, out: out)
        }
    }
}
