import Foundation
import Testing
import TernBackend
import TernModels

@Suite struct MoEConfigTests {
    @Test func deepseekV3ConfigParsesRoutingAndMLA() throws {
        let url = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("configs/deepseek-v3")
        let c = try ModelConfig.load(directory: url)
        let moe = try #require(c.moe)
        #expect(moe.experts == 256 && moe.topK == 8 && moe.groups == 8 && moe.topKGroups == 4)
        #expect(moe.scoring == .sigmoid && moe.hasCorrectionBias && moe.normalize && moe.scale == 2.5)
        #expect(moe.sparseLayers.prefix(3) == [false, false, false] && moe.sparseLayers[3] && moe.sharedIntermediateSize == 2048)
        let mla = try #require(c.mla)
        #expect(mla.qLoraRank == 1536 && mla.kvLoraRank == 512 && mla.cacheWidth == 576)
        // yarn factor 40, mscale_all_dim 1: scale = (0.1 ln 40 + 1)² / sqrt(192)
        let m = 0.1 * log(40.0) + 1
        #expect(abs(Double(mla.softmaxScale) - m * m / 192.0.squareRoot()) < 1e-6)
        #expect(c.quantization == .fp8Block(blockRows: 128, blockColumns: 128, dynamicActivations: true))
    }

    @Test func unsupportedQuantizationFailsAtLoad() {
        let json = #"{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 10, "quantization_config": {"quant_method": "awq", "bits": 4}}"#
        #expect(throws: ConfigError.self) { try ModelConfig.parse(Data(json.utf8)) }
        let tensorwise = #"{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 10, "quantization_config": {"quant_method": "fp8", "activation_scheme": "dynamic"}}"#
        #expect(throws: ConfigError.self) { try ModelConfig.parse(Data(tensorwise.utf8)) }
    }

    @Test func groupLimitedRoutingOnlyPicksExpertsOfTheBestGroups() throws {
        let cpu = CPUBackend()
        // 8 experts in 4 groups of 2; group scores (top-2 sums) pick groups 3 and 1.
        let logits = try cpu.upload(floats: [0.1, 0.2, 2.0, 1.5, 0.0, 0.3, 1.9, 1.8], shape: [1, 8], as: .f32)
        let ids = try cpu.allocate([1, 2], dtype: .i32), weights = try cpu.allocate([1, 2], dtype: .f32)
        let routing = Routing(scoring: .sigmoid, topK: 2, groups: 4, topKGroups: 1, groupScore: .topTwoSum, normalize: true, scale: 2)
        try cpu.route(logits, routing: routing, expertIDs: ids, expertWeights: weights)
        #expect(Set(try cpu.downloadInt32s(ids)) == [6, 7])
        let w = try cpu.downloadFloats(weights)
        #expect(abs(w[0] + w[1] - 2) < 1e-6)
    }

    @Test func expertPlacementSplitsExpertsAcrossRanks() {
        let placement = ExpertPlacement.contiguous(experts: 8, ranks: 4)
        #expect(placement.experts(on: 1) == [2, 3])
        #expect(placement.slotOfExpert == [0, 1, 0, 1, 0, 1, 0, 1])
    }

    @Test func expertParallelHalvesAddUpToTheWholeLayer() throws {
        let cpu = CPUBackend()
        let hidden = 8, inner = 4, experts = 4, tokens = 5
        var random = SystemRandomNumberGenerator()
        func tensor(_ shape: [Int]) throws -> Tensor {
            try cpu.upload(floats: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &random) }, shape: shape, as: .f32)
        }
        let mlps = try (0..<experts).map { _ in
            ExpertMLP(gate: Linear(weight: try tensor([inner, hidden])), up: Linear(weight: try tensor([inner, hidden])),
                      down: Linear(weight: try tensor([hidden, inner])))
        }
        let x = try tensor([tokens, hidden])
        let ids = try cpu.upload(int32s: [0, 1, 2, 3, 1, 2, 3, 0, 2, 2], shape: [tokens, 2])
        let weights = try tensor([tokens, 2])
        func run(_ set: ExpertSet) throws -> [Float] {
            let out = try cpu.allocate([tokens, hidden], dtype: .f32)
            try cpu.moe(x, expertIDs: ids, expertWeights: weights, experts: set, out: out)
            return try cpu.downloadFloats(out)
        }
        let whole = try run(ExpertSet(slotOfExpert: [0, 1, 2, 3], local: mlps))
        let placement = ExpertPlacement.contiguous(experts: experts, ranks: 2)
        let halves = try (0..<2).map { rank in
            try run(ExpertSet(slotOfExpert: (0..<experts).map { placement.rankOfExpert[$0] == rank ? placement.slotOfExpert[$0] : -1 },
                              local: placement.experts(on: rank).map { mlps[$0] }))
        }
        for i in whole.indices { #expect(abs(whole[i] - (halves[0][i] + halves[1][i])) < 1e-5) }
    }
}
