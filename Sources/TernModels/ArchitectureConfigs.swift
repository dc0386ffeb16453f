import Foundation
import TernBackend
import TernCore

/// Mixture-of-experts settings from config.json (Qwen3-MoE, Mixtral, DeepSeek-V2/V3).
public struct MoEConfig: Sendable {
    public var experts: Int
    public var topK: Int
    /// Intermediate size of each routed expert.
    public var expertIntermediateSize: Int
    /// Intermediate size of the always-on shared expert MLP (0: none).
    public var sharedIntermediateSize: Int
    /// Which decoder layers use experts (the others use a dense MLP of `intermediate_size`).
    public var sparseLayers: [Bool]
    public var scoring: Routing.Scoring
    public var groups: Int
    public var topKGroups: Int
    public var groupScore: Routing.GroupScore
    public var hasCorrectionBias: Bool
    public var normalize: Bool
    public var scale: Float
    /// Mixtral names experts `block_sparse_moe.experts.E.w1/w2/w3`; the others `mlp.experts.E.gate_proj/...`.
    public var mixtralNames: Bool

    static func parse(_ json: JSONValue, architecture: ModelArchitecture, layers: Int, fields: ConfigFields) throws -> MoEConfig? {
        switch architecture {
        case .llama, .mistral, .qwen2, .qwen3:
            return nil
        case .qwen3Moe:
            let step = try fields.optionalInt("decoder_sparse_step") ?? 1
            let denseOnly = Set((json["mlp_only_layers"]?.array ?? []).compactMap(\.int))
            // transformers ≥ 5 writes `num_local_experts`; published checkpoints say `num_experts`.
            let experts = try fields.optionalInt("num_experts") ?? fields.int("num_local_experts")
            return MoEConfig(experts: experts, topK: try fields.int("num_experts_per_tok"),
                             expertIntermediateSize: try fields.int("moe_intermediate_size"), sharedIntermediateSize: 0,
                             sparseLayers: (0..<layers).map { !denseOnly.contains($0) && ($0 + 1) % step == 0 },
                             scoring: .softmax, groups: 1, topKGroups: 1, groupScore: .max, hasCorrectionBias: false,
                             normalize: json["norm_topk_prob"]?.bool ?? false, scale: 1, mixtralNames: false)
        case .mixtral:
            return MoEConfig(experts: try fields.int("num_local_experts"), topK: try fields.int("num_experts_per_tok"),
                             expertIntermediateSize: try fields.int("intermediate_size"), sharedIntermediateSize: 0,
                             sparseLayers: Array(repeating: true, count: layers), scoring: .softmax, groups: 1, topKGroups: 1,
                             groupScore: .max, hasCorrectionBias: false, normalize: true, scale: 1, mixtralNames: true)
        case .deepseekV2, .deepseekV3:
            let experts = try fields.int("n_routed_experts")
            let firstDense = try fields.optionalInt("first_k_dense_replace") ?? 0
            let frequency = try fields.optionalInt("moe_layer_freq") ?? 1
            let shared = (json["n_shared_experts"]?.int ?? 0) * (try fields.int("moe_intermediate_size"))
            let method = json["topk_method"]?.string ?? (architecture == .deepseekV3 ? "noaux_tc" : "greedy")
            let scoringName = json["scoring_func"]?.string ?? (architecture == .deepseekV3 ? "sigmoid" : "softmax")
            guard let scoring: Routing.Scoring = ["softmax": .softmax, "sigmoid": .sigmoid][scoringName] else {
                throw ConfigError.invalidField(name: "scoring_func", file: fields.source, reason: "'\(scoringName)' is not softmax or sigmoid")
            }
            var groups = 1, topKGroups = 1
            let groupScore: Routing.GroupScore
            switch method {
            case "greedy": groupScore = .max
            case "group_limited_greedy":
                groups = try fields.optionalInt("n_group") ?? 1; topKGroups = try fields.optionalInt("topk_group") ?? groups; groupScore = .max
            case "noaux_tc":
                groups = try fields.optionalInt("n_group") ?? 1; topKGroups = try fields.optionalInt("topk_group") ?? groups; groupScore = .topTwoSum
            default:
                throw ConfigError.invalidField(name: "topk_method", file: fields.source, reason: "'\(method)' is not greedy, group_limited_greedy or noaux_tc")
            }
            // DeepSeek's reference: V3 renormalises and then scales; V2 renormalises *instead of* scaling.
            let normalize = json["norm_topk_prob"]?.bool ?? false
            let routedScale = Float(json["routed_scaling_factor"]?.double ?? 1)
            let scale: Float = architecture == .deepseekV2 && normalize ? 1 : routedScale
            guard experts % groups == 0 else {
                throw ConfigError.invalidField(name: "n_group", file: fields.source, reason: "(\(groups)) must divide n_routed_experts (\(experts))")
            }
            return MoEConfig(experts: experts, topK: try fields.int("num_experts_per_tok"),
                             expertIntermediateSize: try fields.int("moe_intermediate_size"), sharedIntermediateSize: shared,
                             sparseLayers: (0..<layers).map { $0 >= firstDense && $0 % frequency == 0 },
                             scoring: scoring, groups: groups, topKGroups: topKGroups, groupScore: groupScore,
                             hasCorrectionBias: method == "noaux_tc", normalize: normalize,
                             scale: scale, mixtralNames: false)
        }
    }
}

/// Multi-head latent attention (DeepSeek-V2/V3).
public struct MLAConfig: Sendable {
    public var qLoraRank: Int?
    public var kvLoraRank: Int
    public var qkNopeHeadDim: Int
    public var qkRopeHeadDim: Int
    public var vHeadDim: Int
    /// Softmax scale: qk_head_dim^-0.5, times yarn's mscale² when the rope is scaled.
    public var softmaxScale: Float

    public var qkHeadDim: Int { qkNopeHeadDim + qkRopeHeadDim }
    /// Elements one token stores per layer: the latent plus the rotary key.
    public var cacheWidth: Int { kvLoraRank + qkRopeHeadDim }

    static func parse(_ json: JSONValue, architecture: ModelArchitecture, heads: Int, rope: RopeScaling,
                      fields: ConfigFields) throws -> MLAConfig? {
        guard architecture.isDeepSeek else { return nil }
        let nope = try fields.int("qk_nope_head_dim"), ropeDim = try fields.int("qk_rope_head_dim")
        var scale = 1 / Double(nope + ropeDim).squareRoot()
        if case let .yarn(factor, _, _, _, _, mscaleAllDim, _, _) = rope, let mscaleAllDim, mscaleAllDim != 0, factor > 1 {
            let m = 0.1 * mscaleAllDim * Foundation.log(factor) + 1
            scale *= m * m
        }
        return MLAConfig(qLoraRank: try fields.optionalInt("q_lora_rank"), kvLoraRank: try fields.int("kv_lora_rank"),
                         qkNopeHeadDim: nope, qkRopeHeadDim: ropeDim, vHeadDim: try fields.int("v_head_dim"),
                         softmaxScale: Float(scale))
    }
}

/// Quantized checkpoint formats Tern loads.
public enum QuantizationConfig: Sendable, Equatable {
    /// DeepSeek-V3 style FP8: e4m3 weights, fp32 `weight_scale_inv` per block; `dynamicActivations`
    /// quantizes activations per token group of `blockColumns` at run time.
    case fp8Block(blockRows: Int, blockColumns: Int, dynamicActivations: Bool)
    /// NVIDIA ModelOpt NVFP4: e2m1 weights, e4m3 scales per `groupSize`, fp32 global scale, for the
    /// modules not matched by `excluded` (glob patterns over module names).
    case nvfp4(groupSize: Int, excluded: [String])

    static func parse(_ json: JSONValue, source: String) throws -> QuantizationConfig? {
        guard let q = json["quantization_config"], !q.isNull else { return nil }
        let method = q["quant_method"]?.string ?? ""
        switch method {
        case "fp8":
            guard q["fmt"]?.string ?? "e4m3" == "e4m3" else {
                throw ConfigError.invalidField(name: "quantization_config.fmt", file: source, reason: "'\(q["fmt"]?.string ?? "")' is not supported (e4m3 only)")
            }
            guard let block = q["weight_block_size"]?.array?.compactMap(\.int), block.count == 2 else {
                throw ConfigError.invalidField(name: "quantization_config.weight_block_size", file: source,
                                               reason: "must be [rows, columns]; per-tensor FP8 is not supported")
            }
            let scheme = q["activation_scheme"]?.string ?? "dynamic"
            guard scheme == "dynamic" else {
                throw ConfigError.invalidField(name: "quantization_config.activation_scheme", file: source, reason: "'\(scheme)' is not supported (dynamic only)")
            }
            return .fp8Block(blockRows: block[0], blockColumns: block[1], dynamicActivations: true)
        case "modelopt":
            let algo = q["quant_algo"]?.string ?? q["quantization"]?["quant_algo"]?.string ?? ""
            guard algo == "NVFP4" else {
                throw ConfigError.invalidField(name: "quantization_config.quant_algo", file: source, reason: "'\(algo)' is not supported (NVFP4 only)")
            }
            let group = q["group_size"]?.int ?? 16
            guard group == 16 else {
                throw ConfigError.invalidField(name: "quantization_config.group_size", file: source, reason: "NVFP4 uses groups of 16, found \(group)")
            }
            let excluded = (q["exclude_modules"]?.array ?? q["ignore"]?.array ?? []).compactMap(\.string)
            return .nvfp4(groupSize: group, excluded: excluded)
        default:
            throw ConfigError.invalidField(name: "quantization_config.quant_method", file: source,
                                           reason: "'\(method)' is not supported (fp8 block-scaled, modelopt NVFP4)")
        }
    }

    /// Whether the linear layer `module` (e.g. `model.layers.3.mlp.experts.7.up_proj`) is stored quantized.
    func quantizes(_ module: String) -> Bool {
        // Routers, embeddings and the LM head stay in full precision in every format we load.
        if module.hasSuffix("mlp.gate") || module.hasSuffix("block_sparse_moe.gate") || module == "lm_head" { return false }
        switch self {
        case .fp8Block: return true
        case let .nvfp4(_, excluded): return !excluded.contains { globMatches($0, module) }
        }
    }
}

/// fnmatch-style `*` / `?` matching, as ModelOpt's exclude lists use.
func globMatches(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern), t = Array(text)
    var pi = 0, ti = 0, star = -1, mark = 0
    while ti < t.count {
        if pi < p.count && (p[pi] == "?" || p[pi] == t[ti]) { pi += 1; ti += 1 }
        else if pi < p.count && p[pi] == "*" { star = pi; mark = ti; pi += 1 }
        else if star >= 0 { pi = star + 1; mark += 1; ti = mark }
        else { return false }
    }
    while pi < p.count && p[pi] == "*" { pi += 1 }
    return pi == p.count
}
