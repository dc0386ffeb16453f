import Foundation
import Testing
import TernModels

@Suite struct ModelConfigTests {
    func config(_ fields: String) throws -> ModelConfig {
        let json = """
        {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 4, "vocab_size": 100\(fields.isEmpty ? "" : ", " + fields)}
        """
        return try ModelConfig.parse(Data(json.utf8), source: "test/config.json")
    }

    @Test func defaultsFollowTransformers() throws {
        let c = try config("")
        #expect(c.kvHeads == 4 && c.headDim == 16 && c.ropeTheta == 10000 && c.ropeScaling == .none)
        #expect(!c.tieWordEmbeddings && c.slidingWindows == [nil, nil])
    }

    @Test func unsupportedArchitectureIsNamed() {
        let json = #"{"architectures": ["GPTNeoXForCausalLM"], "hidden_size": 8}"#
        #expect(throws: ConfigError.unsupportedArchitecture(name: "GPTNeoXForCausalLM", file: "c.json")) {
            try ModelConfig.parse(Data(json.utf8), source: "c.json")
        }
    }

    @Test func missingFieldIsNamed() {
        let json = #"{"architectures": ["LlamaForCausalLM"], "hidden_size": 8}"#
        #expect(throws: ConfigError.missingField(name: "num_attention_heads", file: "c.json")) {
            try ModelConfig.parse(Data(json.utf8), source: "c.json")
        }
    }

    @Test func kvHeadsMustDivideHeads() {
        #expect(throws: ConfigError.self) { try config(#""num_key_value_heads": 3"#) }
    }

    @Test func ropeScalingVariantsParse() throws {
        let llama3 = try config(#""rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}"#)
        #expect(llama3.ropeScaling == .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 8192))
        let linear = try config(#""rope_scaling": {"type": "linear", "factor": 2.0}"#)
        #expect(linear.ropeScaling == .linear(factor: 2))
        let yarn = try config(#""rope_parameters": {"rope_type": "yarn", "rope_theta": 1000.0, "factor": 4.0, "original_max_position_embeddings": 64}"#)
        #expect(yarn.ropeTheta == 1000)
        if case .yarn(let factor, let original, _, _, _, _, _, _) = yarn.ropeScaling { #expect(factor == 4 && original == 64) } else { Issue.record("not yarn") }
        #expect(throws: ConfigError.unsupportedRopeScaling(type: "dynamic", file: "test/config.json")) {
            try config(#""rope_scaling": {"type": "dynamic", "factor": 2.0}"#)
        }
    }

    @Test func yarnAttentionFactorUsesMscaleRatio() {
        let (_, factor) = RotaryEmbedding.inverseFrequencies(
            rotaryDim: 64, theta: 10000,
            scaling: .yarn(factor: 40, originalMaxPositions: 4096, betaFast: 32, betaSlow: 1, mscale: 1, mscaleAllDim: 1,
                           attentionFactor: nil, truncate: true))
        #expect(factor == 1)
        let (_, plain) = RotaryEmbedding.inverseFrequencies(
            rotaryDim: 64, theta: 10000,
            scaling: .yarn(factor: 4, originalMaxPositions: 64, betaFast: 32, betaSlow: 1, mscale: nil, mscaleAllDim: nil,
                           attentionFactor: nil, truncate: true))
        #expect(abs(plain - Float(0.1 * log(4.0) + 1)) < 1e-6)
    }

    @Test func slidingWindowFollowsArchitectureRules() throws {
        let mistral = try ModelConfig.parse(Data(#"{"architectures": ["MistralForCausalLM"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100, "sliding_window": 8}"#.utf8))
        #expect(mistral.slidingWindows == [8, 8])
        let qwen = try ModelConfig.parse(Data(#"{"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100, "sliding_window": 8, "use_sliding_window": false}"#.utf8))
        #expect(qwen.slidingWindows == [nil, nil])
    }
}
