import Testing
import TernBackend
import TernCheckpoint
import TernCore
import TernModels

/// q/k/v and gate/up are loaded as one concatenated layer; the fused product must be the separate
/// products side by side, bit for bit, and quantized layers must stay separate.
@Suite struct FusedProjectionTests {
    @Test func fusedLinearGivesExactlyTheSeparateLayersOutputsSideBySide() throws {
        let cpu = CPUBackend()
        let loader = WeightLoader(source: DummyWeights(seed: 5), backend: cpu, dtype: .bf16)
        let prefixes = ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj", "model.layers.0.self_attn.v_proj"]
        let outs = [24, 8, 8], k = 32, t = 3
        let fused = try #require(try loader.fusedLinear(prefixes, outs: outs, in: k, bias: true, name: "model.layers.0.self_attn.qkv_proj"))
        #expect(fused.outFeatures == 40 && fused.inFeatures == k)
        let x = try cpu.upload(floats: (0..<(t * k)).map { Float(($0 * 37) % 19) / 19 - 0.5 }, shape: [t, k], as: .f32)
        let out = try cpu.allocate([t, 40], dtype: .f32)
        try cpu.linear(x, fused, out: out)
        let together = try cpu.downloadFloats(out)
        var column = 0
        for (prefix, n) in zip(prefixes, outs) {
            let layer = try loader.linear(prefix, out: n, in: k, bias: true)
            let part = try cpu.allocate([t, n], dtype: .f32)
            try cpu.linear(x, layer, out: part)
            let alone = try cpu.downloadFloats(part)
            for r in 0..<t {
                #expect(Array(together[(r * 40 + column)..<(r * 40 + column + n)]) == Array(alone[(r * n)..<((r + 1) * n)]))
            }
            column += n
        }
    }

    @Test func fp8BlockLayersFuseOnBlockRowBoundariesWithTheSeparateOutputsSideBySide() throws {
        let cpu = CPUBackend()
        let loader = WeightLoader(source: DummyWeights(seed: 9), backend: cpu, dtype: .bf16,
                                  quantization: .fp8Block(blockRows: 16, blockColumns: 16, dynamicActivations: true))
        // MLA's q_a (a whole number of 16-row blocks) and kv_a (a partial last block), as in DeepSeek-V3.
        let prefixes = ["model.layers.0.self_attn.q_a_proj", "model.layers.0.self_attn.kv_a_proj_with_mqa"]
        let outs = [32, 40], k = 48, t = 3, total = 72
        let fused = try #require(try loader.fusedLinear(prefixes, outs: outs, in: k, name: "model.layers.0.self_attn.q_a_kv_a_proj",
                                                        fp8Blocks: true))
        #expect(fused.outFeatures == total && fused.inFeatures == k && fused.activationGroupSize == 16)
        let x = try cpu.upload(floats: (0..<(t * k)).map { Float(($0 * 37) % 19) / 19 - 0.5 }, shape: [t, k], as: .f32)
        let out = try cpu.allocate([t, total], dtype: .f32)
        try cpu.linear(x, fused, out: out)
        let together = try cpu.downloadFloats(out)
        var column = 0
        for (prefix, n) in zip(prefixes, outs) {
            let layer = try loader.linear(prefix, out: n, in: k)
            let part = try cpu.allocate([t, n], dtype: .f32)
            try cpu.linear(x, layer, out: part)
            let alone = try cpu.downloadFloats(part)
            for r in 0..<t {
                #expect(Array(together[(r * total + column)..<(r * total + column + n)]) == Array(alone[(r * n)..<((r + 1) * n)]))
            }
            column += n
        }
        // A first part ending inside a block row cannot share the block grid; without the flag nothing fuses.
        #expect(try loader.fusedLinear(prefixes, outs: [40, 40], in: k, name: "q_a_kv_a", fp8Blocks: true) == nil)
        #expect(try loader.fusedLinear(prefixes, outs: outs, in: k, name: "q_a_kv_a") == nil)
    }

    @Test func quantizedLayersAreNotFused() throws {
        let loader = WeightLoader(source: DummyWeights(seed: 5), backend: CPUBackend(), dtype: .bf16,
                                  quantization: .fp8Block(blockRows: 128, blockColumns: 128, dynamicActivations: false))
        let fused = try loader.fusedLinear(["model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj"], outs: [128, 128], in: 128,
                                           name: "model.layers.0.mlp.gate_up_proj")
        #expect(fused == nil)
    }
}
