import Foundation
import Testing
@testable import TernModels

/// The DeepSeek-V3 slices under configs/ (benchmarks of the full per-layer shapes on one GPU).
@Suite struct DeepSeekSliceConfigTests {
    static func load(_ name: String) throws -> ModelConfig {
        let root = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
        return try ModelConfig.load(directory: root.appendingPathComponent("configs/\(name)"))
    }

    @Test func fp8SliceKeepsV3ShapesWithOneDenseAndThreeMoELayers() throws {
        let c = try Self.load("deepseek-v3-slice-fp8")
        let moe = try #require(c.moe)
        #expect(moe.experts == 256 && moe.topK == 8 && moe.groups == 8 && moe.topKGroups == 4)
        #expect(moe.sparseLayers == [false, true, true, true])
        #expect(c.quantization == .fp8Block(blockRows: 128, blockColumns: 128, dynamicActivations: true))
    }

    @Test func nvfp4SliceQuantizesOnlyTheRoutedExperts() throws {
        let c = try Self.load("deepseek-v3-slice-nvfp4")
        #expect(try #require(c.moe).sparseLayers == [false, true, true, true])
        let q = try #require(c.quantization)
        #expect(q.quantizes("model.layers.2.mlp.experts.17.gate_proj"))
        #expect(q.quantizes("model.layers.3.mlp.experts.255.down_proj"))
        #expect(!q.quantizes("model.layers.2.mlp.shared_experts.up_proj"))
        #expect(!q.quantizes("model.layers.0.mlp.gate_proj"))
        #expect(!q.quantizes("model.layers.1.self_attn.q_a_proj"))
        #expect(!q.quantizes("model.layers.1.mlp.gate"))
        #expect(!q.quantizes("lm_head"))
    }
}
