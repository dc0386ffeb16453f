import Foundation
import Testing
import TernCheckpoint
import TernCore

@Test func sameNameGivesSameBytesWhateverTheRequestOrder() throws {
    let first = DummyWeights(seed: 7), second = DummyWeights(seed: 7)
    let names = ["model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "lm_head.weight"]
    let shape = [3, 100_000]  // several chunks, so the parallel path is exercised
    let forward = try names.map { try bytes(of: first.tensor($0, shape: shape, dtype: .bf16)) }
    let backward = try names.reversed().map { try bytes(of: second.tensor($0, shape: shape, dtype: .bf16)) }
    #expect(forward == Array(backward.reversed()))
    #expect(forward[0] != forward[1])
}

@Test func generatedValuesDependOnlyOnTheElementIndexNotOnTensorLength() throws {
    // Chunks are seeded by (name, chunk index), so a prefix of a longer request is identical:
    // this is what makes results independent of how chunks are spread over threads.
    let dummy = DummyWeights(seed: 1)
    let long = try dummy.tensor("w", shape: [200_000], dtype: .f32).floats()
    let short = try dummy.tensor("w", shape: [70_001], dtype: .f32).floats()
    #expect(Array(long.prefix(70_001)) == short)
}

@Test func differentSeedsGiveDifferentWeights() throws {
    let a = try DummyWeights(seed: 1).tensor("w", shape: [64], dtype: .f32)
    let b = try DummyWeights(seed: 2).tensor("w", shape: [64], dtype: .f32)
    #expect(bytes(of: a) != bytes(of: b))
}

@Test(arguments: [DType.f32, .bf16, .f16])
func ordinaryWeightsAreSmallUniformValuesWithTheExpectedSpread(dtype: DType) throws {
    let dummy = DummyWeights()
    let values = try dummy.tensor("model.layers.3.self_attn.q_proj.weight", shape: [256, 512], dtype: dtype).floats()
    let bound = dummy.amplitude * 1.01
    #expect(values.allSatisfy { abs($0) <= bound })
    let mean = values.reduce(0, +) / Float(values.count)
    let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)).squareRoot()
    #expect(abs(mean) < 0.001)
    #expect(abs(std - 0.02) < 0.001)
}

@Test(arguments: ["model.norm.weight", "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
                  "model.layers.1.self_attn.q_norm.weight", "model.layers.2.self_attn.kv_a_layernorm.weight"])
func normWeightsAreOne(name: String) throws {
    for dtype in [DType.f32, .bf16, .f16] {
        #expect(try DummyWeights().tensor(name, shape: [4096], dtype: dtype).floats().allSatisfy { $0 == 1 })
    }
}

@Test func routingCorrectionBiasIsZero() throws {
    let values = try DummyWeights().tensor("model.layers.3.mlp.gate.e_score_correction_bias", shape: [256], dtype: .f32).floats()
    #expect(values.allSatisfy { $0 == 0 })
}

@Test(arguments: ["weight_scale_inv", "weight_scale", "weight_scale_2", "input_scale", "k_scale"])
func scaleTensorsArePositive(suffix: String) throws {
    let name = "model.layers.0.mlp.experts.0.down_proj." + suffix
    let dummy = DummyWeights()
    for dtype in [DType.f32, .bf16, .f8e4m3] {
        let values = try dummy.tensor(name, shape: [129], dtype: dtype).floats()
        #expect(values.allSatisfy { $0 > 0 && $0.isFinite }, "\(name) as \(dtype)")
    }
    let f32 = try dummy.tensor(name, shape: [1000], dtype: .f32).floats()
    #expect(f32.allSatisfy { $0 >= 0.75 / 448 && $0 <= 1.25 / 448 })
}

@Test func fp8WeightsAreValidCodesThatDequantizeToSmallValues() throws {
    let dummy = DummyWeights()
    let tensor = try dummy.tensor("model.layers.0.mlp.experts.0.up_proj.weight", shape: [128, 1024], dtype: .f8e4m3)
    let codes = Array(tensor.data)
    #expect(!codes.contains(0x7F) && !codes.contains(0xFF))  // the e4m3fn NaN codes
    let dequantized = tensor.floats().map { $0 * dummy.scaleCenter }
    #expect(dequantized.allSatisfy { abs($0) <= dummy.amplitude * 1.07 })  // fp8 rounding is ~6%
    #expect(Set(codes).count > 100)
}

@Test func integerTensorsGetRandomBitsDeterministically() throws {
    let a = try DummyWeights().tensor("model.layers.0.mlp.experts.0.up_proj.weight_packed", shape: [1001], dtype: .u8)
    let b = try DummyWeights().tensor("model.layers.0.mlp.experts.0.up_proj.weight_packed", shape: [1001], dtype: .u8)
    #expect(bytes(of: a) == bytes(of: b))
    #expect(Set(bytes(of: a)).count > 200)
    let i64 = try DummyWeights().tensor("ids", shape: [3], dtype: .i64)
    #expect(i64.data.count == 24)
}

@Test func dummyTensorsHaveTheRequestedShapeDTypeAndOwnTheirMemory() throws {
    let dummy = DummyWeights()
    #expect(dummy.origin == "dummy")
    #expect(dummy.contains("anything"))
    let tensor = try dummy.tensor("w", shape: [3, 0, 2], dtype: .bf16)
    #expect(tensor.shape == [3, 0, 2] && tensor.dtype == .bf16 && tensor.data.count == 0)
    let owned = try dummy.tensor("w", shape: [5, 3], dtype: .f16)
    #expect(owned.owner is OwnedBytes)
    #expect(owned.data.count == 30)
}

@Test func valueRulesFollowTheTensorName() {
    #expect(DummyWeights.rule(for: "model.norm.weight") == .constant(1))
    #expect(DummyWeights.rule(for: "model.layers.0.mlp.gate.e_score_correction_bias") == .constant(0))
    #expect(DummyWeights.rule(for: "x.weight_scale_inv") == .positiveScale)
    #expect(DummyWeights.rule(for: "x.q_proj.weight") == .uniform)
    #expect(DummyWeights.rule(for: "x.q_proj.bias") == .uniform)
}
