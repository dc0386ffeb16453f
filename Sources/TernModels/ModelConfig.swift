import Foundation
import TernCore

/// Architectures Tern runs, by the `architectures` name in config.json.
public enum ModelArchitecture: String, Sendable, CaseIterable {
    case llama = "LlamaForCausalLM"
    case mistral = "MistralForCausalLM"
    case qwen2 = "Qwen2ForCausalLM"
    case qwen3 = "Qwen3ForCausalLM"
    case qwen3Moe = "Qwen3MoeForCausalLM"
    case mixtral = "MixtralForCausalLM"
    case deepseekV2 = "DeepseekV2ForCausalLM"
    case deepseekV3 = "DeepseekV3ForCausalLM"

    var isDeepSeek: Bool { self == .deepseekV2 || self == .deepseekV3 }
}

/// Rotary position embedding variants (`rope_scaling` / `rope_parameters` in config.json).
public enum RopeScaling: Sendable, Equatable {
    case none
    case linear(factor: Double)
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalMaxPositions: Int)
    case yarn(factor: Double, originalMaxPositions: Int, betaFast: Double, betaSlow: Double,
              mscale: Double?, mscaleAllDim: Double?, attentionFactor: Double?, truncate: Bool)
}

public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case unsupportedArchitecture(name: String, file: String)
    case missingField(name: String, file: String)
    case invalidField(name: String, file: String, reason: String)
    case unsupportedRopeScaling(type: String, file: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read config: \(reason)"
        case let .unsupportedArchitecture(name, file):
            let known = ModelArchitecture.allCases.map(\.rawValue).joined(separator: ", ")
            return "\(file): unsupported architecture '\(name)' (supported: \(known))"
        case let .missingField(name, file): return "\(file): missing required field '\(name)'"
        case let .invalidField(name, file, reason): return "\(file): field '\(name)' \(reason)"
        case let .unsupportedRopeScaling(type, file): return "\(file): unsupported rope_scaling type '\(type)' (supported: default, linear, llama3, yarn)"
        }
    }
}

/// The parts of a Hugging Face `config.json` the models use, validated.
public struct ModelConfig: Sendable {
    public var architecture: ModelArchitecture
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var vocabSize: Int
    public var rmsNormEps: Float
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling
    public var partialRotaryFactor: Double
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    /// Bias on q/k/v projections (Qwen2) — and on o_proj when `outputBias`.
    public var qkvBias: Bool
    public var outputBias: Bool
    public var mlpBias: Bool
    /// Per-head RMSNorm of q and k (Qwen3).
    public var qkNorm: Bool
    /// Sliding window per layer (nil: full attention).
    public var slidingWindows: [Int?]
    public var dtype: DType
    public var bosTokenID: Int?
    public var eosTokenIDs: [Int]
    /// Mixture-of-experts settings (nil for dense models).
    public var moe: MoEConfig?
    /// Multi-head latent attention settings (DeepSeek; nil for GQA models).
    public var mla: MLAConfig?
    /// How the checkpoint's weights are quantized (nil: plain floats).
    public var quantization: QuantizationConfig?
    /// The whole document, for architecture-specific fields.
    public var raw: JSONValue
    /// Where it came from, for error messages.
    public var source: String

    public static func load(directory: URL) throws -> ModelConfig {
        let file = directory.appendingPathComponent("config.json")
        let data: Data
        do { data = try Data(contentsOf: file) } catch { throw ConfigError.unreadable(file: file.path, reason: "\(error.localizedDescription)") }
        var config = try parse(data, source: file.path)
        // ModelOpt checkpoints may describe their quantization in hf_quant_config.json instead.
        let quantFile = directory.appendingPathComponent("hf_quant_config.json")
        if config.quantization == nil, let quantData = try? Data(contentsOf: quantFile) {
            guard let section = (try? JSONValue(parsing: quantData))?["quantization"]?.object else {
                throw ConfigError.unreadable(file: quantFile.path, reason: "no 'quantization' object")
            }
            var merged = section
            merged["quant_method"] = .string("modelopt")
            config.quantization = try QuantizationConfig.parse(.object(["quantization_config": .object(merged)]), source: quantFile.path)
        }
        return config
    }

    public static func parse(_ data: Data, source: String = "config.json") throws -> ModelConfig {
        let json: JSONValue
        do { json = try JSONValue(parsing: data) } catch { throw ConfigError.unreadable(file: source, reason: "not valid JSON") }
        guard json.object != nil else { throw ConfigError.unreadable(file: source, reason: "top level is not an object") }
        let fields = ConfigFields(json: json, source: source)

        guard let archName = json["architectures"]?.array?.first?.string else { throw ConfigError.missingField(name: "architectures", file: source) }
        guard let architecture = ModelArchitecture(rawValue: archName) else {
            throw ConfigError.unsupportedArchitecture(name: archName, file: source)
        }
        let hidden = try fields.int("hidden_size")
        let heads = try fields.int("num_attention_heads")
        let kvHeads = try fields.optionalInt("num_key_value_heads") ?? heads
        let headDim = try fields.optionalInt("head_dim") ?? hidden / heads
        guard heads > 0, kvHeads > 0, heads % kvHeads == 0 else {
            throw ConfigError.invalidField(name: "num_key_value_heads", file: source, reason: "(\(kvHeads)) must divide num_attention_heads (\(heads))")
        }
        let layers = try fields.int("num_hidden_layers")
        let rope = try parseRope(json, fields: fields, source: source)

        // Sliding windows: Mistral sets `sliding_window`; Qwen2/3 only when `use_sliding_window`,
        // for layers from `max_window_layers` on; transformers 5 may spell it out in `layer_types`.
        let window = try fields.optionalInt("sliding_window")
        var windows = [Int?](repeating: nil, count: layers)
        if let window {
            if let types = json["layer_types"]?.array?.compactMap(\.string), types.count == layers {
                windows = types.map { $0 == "sliding_attention" ? window : nil }
            } else {
                switch architecture {
                case .mistral:
                    windows = Array(repeating: window, count: layers)
                case .qwen2, .qwen3:
                    if json["use_sliding_window"]?.bool == true {
                        let first = try fields.optionalInt("max_window_layers") ?? layers
                        windows = (0..<layers).map { $0 >= first ? window : nil }
                    }
                default:
                    break
                }
            }
        }

        let dtypeName = json["torch_dtype"]?.string ?? json["dtype"]?.string ?? "bfloat16"
        guard let dtype = DType(torchName: dtypeName) else {
            throw ConfigError.invalidField(name: "torch_dtype", file: source, reason: "'\(dtypeName)' is not a supported weight dtype")
        }
        var eos: [Int] = []
        if let id = json["eos_token_id"]?.int { eos = [id] } else if let ids = json["eos_token_id"]?.array { eos = ids.compactMap(\.int) }

        let attentionBias = json["attention_bias"]?.bool ?? false
        let intermediate = try fields.int("intermediate_size")
        return ModelConfig(
            architecture: architecture, hiddenSize: hidden,
            intermediateSize: intermediate, layers: layers, heads: heads, kvHeads: kvHeads,
            headDim: headDim, vocabSize: try fields.int("vocab_size"),
            rmsNormEps: Float(try fields.optionalDouble("rms_norm_eps") ?? 1e-6),
            ropeTheta: rope.theta, ropeScaling: rope.scaling, partialRotaryFactor: rope.partial,
            maxPositionEmbeddings: try fields.optionalInt("max_position_embeddings") ?? 2048,
            tieWordEmbeddings: json["tie_word_embeddings"]?.bool ?? false,
            qkvBias: architecture == .qwen2 || attentionBias,
            outputBias: architecture != .qwen2 && attentionBias,
            mlpBias: json["mlp_bias"]?.bool ?? false,
            qkNorm: architecture == .qwen3 || architecture == .qwen3Moe,
            slidingWindows: windows, dtype: dtype,
            bosTokenID: json["bos_token_id"]?.int, eosTokenIDs: eos,
            moe: try MoEConfig.parse(json, architecture: architecture, layers: layers, fields: fields),
            mla: try MLAConfig.parse(json, architecture: architecture, heads: heads, rope: rope.scaling, fields: fields),
            quantization: try QuantizationConfig.parse(json, source: source),
            raw: json, source: source)
    }

    private static func parseRope(_ json: JSONValue, fields: ConfigFields, source: String) throws -> (theta: Double, scaling: RopeScaling, partial: Double) {
        // transformers ≥ 5 writes `rope_parameters` (holding rope_theta); checkpoints use `rope_scaling` + `rope_theta`.
        let parameters = json["rope_parameters"].flatMap { $0.isNull ? nil : $0 }
        let scaling = json["rope_scaling"].flatMap { $0.isNull ? nil : $0 } ?? parameters
        let theta = parameters?["rope_theta"]?.double ?? json["rope_theta"]?.double ?? 10000
        let partial = parameters?["partial_rotary_factor"]?.double ?? json["partial_rotary_factor"]?.double ?? 1
        guard let scaling else { return (theta, .none, partial) }
        let type = scaling["rope_type"]?.string ?? scaling["type"]?.string ?? "default"
        func number(_ key: String) throws -> Double {
            guard let v = scaling[key]?.double else { throw ConfigError.missingField(name: "rope_scaling.\(key)", file: source) }
            return v
        }
        func optional(_ key: String) -> Double? { scaling[key]?.double }
        switch type {
        case "default":
            return (theta, .none, partial)
        case "linear":
            return (theta, .linear(factor: try number("factor")), partial)
        case "llama3":
            return (theta, .llama3(factor: try number("factor"), lowFrequencyFactor: try number("low_freq_factor"),
                                   highFrequencyFactor: try number("high_freq_factor"),
                                   originalMaxPositions: Int(try number("original_max_position_embeddings"))), partial)
        case "yarn":
            let original = try optional("original_max_position_embeddings")
                ?? Double(try fields.int("max_position_embeddings"))
            var factor = optional("factor")
            if factor == nil, let maxPositions = json["max_position_embeddings"]?.double { factor = maxPositions / original }
            return (theta, .yarn(factor: factor ?? 1, originalMaxPositions: Int(original),
                                 betaFast: optional("beta_fast") ?? 32, betaSlow: optional("beta_slow") ?? 1,
                                 mscale: optional("mscale"), mscaleAllDim: optional("mscale_all_dim"),
                                 attentionFactor: optional("attention_factor"),
                                 truncate: scaling["truncate"]?.bool ?? true), partial)
        default:
            throw ConfigError.unsupportedRopeScaling(type: type, file: source)
        }
    }
}

/// Typed field access with errors that name the field and file.
struct ConfigFields {
    let json: JSONValue
    let source: String

    func int(_ name: String) throws -> Int {
        guard let value = json[name], !value.isNull else { throw ConfigError.missingField(name: name, file: source) }
        guard let n = value.int, n > 0 else { throw ConfigError.invalidField(name: name, file: source, reason: "must be a positive integer") }
        return n
    }

    func optionalInt(_ name: String) throws -> Int? {
        guard let value = json[name], !value.isNull else { return nil }
        guard let n = value.int, n > 0 else { throw ConfigError.invalidField(name: name, file: source, reason: "must be a positive integer") }
        return n
    }

    func optionalDouble(_ name: String) throws -> Double? {
        guard let value = json[name], !value.isNull else { return nil }
        guard let n = value.double else { throw ConfigError.invalidField(name: name, file: source, reason: "must be a number") }
        return n
    }
}
