import CCUDA
import Foundation
import TernBackend
import TernCore

/// One measured configuration of `benchMoE`.
public struct MoEBenchRow: Sendable {
    public var format: String
    public var tokens: Int
    public var milliseconds: Double
    /// FLOP/s of the layer (6 · rows · hidden · inner).
    public var flopRate: Double
    /// Milliseconds of a cuBLASLt bf16 GEMM with the same FLOPs ([rows, hidden] × [hidden, 3·inner]).
    public var denseMilliseconds: Double?
    /// Distinct experts the routing touched, and their weight bytes.
    public var touchedExperts: Int
    public var touchedBytes: Int
    /// touchedBytes / copy bandwidth, in milliseconds.
    public var rooflineMilliseconds: Double
    /// Under TERN_CUDA_PROFILE=1: the op profiler's table and totals (name → ms over
    /// `profiledCalls` timed layer calls, each followed by one routing of random logits).
    public var profileReport: String?
    public var profileTotals: [String: Double]?
    public var profiledCalls: Int
}

extension CUDABackend {
    /// Times one MoE layer (`moe`: permutation, gate/up, down, combine) with random weights of the
    /// given shape in bf16, FP8 block-scaled (with w8a8 activation rounding) or NVFP4, and random
    /// top-k routing (distinct experts per token, uniform), per token count. Weights are tiled from
    /// one random block on the device, so building even DeepSeek-V3's 256 experts takes little time.
    public func benchMoE(format: String, experts: Int, topK: Int, hidden: Int, inner: Int, tokenCounts: [Int],
                         copyBandwidth bandwidth: Double, compareDense: Bool, denseFrom: Int = 1024, repeats: Int = 10) throws -> [MoEBenchRow] {
        try bind()
        var random = SelfTestRandom(seed: 11)
        func tiled(_ count: Int, dtype: DType, bytes block: [UInt8]) throws -> Tensor {
            let t = try allocate([count], dtype: dtype)
            let source = try allocate([block.count], dtype: .u8)
            try block.withUnsafeBytes { try copyToDevice($0.baseAddress!, bytes: block.count, to: address(source)) }
            let total = count * dtype.byteSize
            var offset = 0
            while offset < total {
                let n = min(block.count, total - offset)
                try driver.check(driver.cuMemcpyDtoDAsync(address(t) + UInt64(offset), address(source), n, stream), "cuMemcpyDtoDAsync")
                offset += n
            }
            return t
        }
        let blockBytes = 1 << 24
        func randomBlock() -> [UInt8] { (0..<blockBytes).map { _ in UInt8(truncatingIfNeeded: random.below(256)) } }
        let matrices = [(inner, hidden), (inner, hidden), (hidden, inner)]
        var expertBytes = 0
        var layers: [[Linear]] = Array(repeating: [], count: experts)
        for (n, k) in matrices {
            let weight: Tensor, perExpert: Int
            switch format {
            case "bf16":
                let values = (0..<(blockBytes / 2)).map { _ in floatToBF16(random.signed() * 0.05) }
                weight = try tiled(experts * n * k, dtype: .bf16, bytes: values.withUnsafeBytes { Array($0) })
                perExpert = n * k * 2
                for e in 0..<experts {
                    layers[e].append(Linear(weight: Tensor(storage: weight.storage, byteOffset: e * perExpert, shape: [n, k], dtype: .bf16)))
                }
            case "fp8":
                let codes = randomBlock().map { $0 & 0x7F == 0x7F ? 0x30 : $0 }
                weight = try tiled(experts * n * k, dtype: .f8e4m3, bytes: codes)
                let sr = (n + 127) / 128, sk = (k + 127) / 128
                let scales = try upload(floats: (0..<(experts * sr * sk)).map { _ in 1e-4 + abs(random.signed()) * 1e-4 },
                                        shape: [experts * sr, sk], as: .f32)
                perExpert = n * k + sr * sk * 4
                for e in 0..<experts {
                    let w = Tensor(storage: weight.storage, byteOffset: e * n * k, shape: [n, k], dtype: .f8e4m3)
                    layers[e].append(Linear(weight: w, quantization: .fp8Block(scales: scales.rows(e * sr..<(e + 1) * sr), blockRows: 128,
                                                                               blockColumns: 128), activationGroupSize: 128))
                }
            case "nvfp4":
                weight = try tiled(experts * n * k / 2, dtype: .u8, bytes: randomBlock())
                let scaleCodes = (0..<blockBytes).map { _ in UInt8(0x28 + random.below(24)) }
                let scales = try tiled(experts * n * k / 16, dtype: .f8e4m3, bytes: scaleCodes)
                perExpert = n * k / 2 + n * k / 16
                for e in 0..<experts {
                    let w = Tensor(storage: weight.storage, byteOffset: e * n * k / 2, shape: [n, k / 2], dtype: .u8)
                    let s = Tensor(storage: scales.storage, byteOffset: e * n * k / 16, shape: [n, k / 16], dtype: .f8e4m3)
                    layers[e].append(Linear(weight: w, quantization: .nvfp4(scales: s, globalScale: 0.002), inFeatures: k))
                }
            default:
                throw BackendError.invalidArgument("bench-moe: format \(format) (bf16, fp8, nvfp4)")
            }
            expertBytes += perExpert
        }
        let set = ExpertSet(slotOfExpert: Array(0..<experts), local: layers.map { ExpertMLP(gate: $0[0], up: $0[1], down: $0[2]) })
        var rows: [MoEBenchRow] = []
        for tokens in tokenCounts {
            var ids: [Int32] = []
            ids.reserveCapacity(tokens * topK)
            var touched = Set<Int32>()
            for _ in 0..<tokens {
                var chosen: [Int32] = []
                while chosen.count < topK {
                    let e = Int32(random.below(experts))
                    if !chosen.contains(e) { chosen.append(e) }
                }
                touched.formUnion(chosen)
                ids += chosen
            }
            let idTensor = try upload(int32s: ids, shape: [tokens, topK])
            let weights = try upload(floats: (0..<(tokens * topK)).map { _ in 0.1 + abs(random.signed()) * 0.2 }, shape: [tokens, topK], as: .f32)
            let x = try tiled(tokens * hidden, dtype: .bf16, bytes: (0..<(blockBytes / 2)).map { _ in floatToBF16(random.signed()) }
                .withUnsafeBytes { Array($0) }).reshaped([tokens, hidden])
            let out = try allocate([tokens, hidden], dtype: .bf16)
            // Profiled runs also route random logits (DeepSeek-V3's sigmoid, grouped top-k), outside
            // the timed layer call, so the table has the router's row; its result is not used.
            let profiling = profiler != nil
            var router: (logits: Tensor, routing: Routing, ids: Tensor, weights: Tensor)?
            if profiling {
                let groups = experts % 8 == 0 && topK <= 32 ? 8 : 1
                let bias = try upload(floats: (0..<experts).map { _ in random.signed() * 0.01 }, shape: [experts], as: .f32)
                let routing = Routing(scoring: .sigmoid, topK: topK, groups: groups, topKGroups: groups == 8 ? 4 : 1, groupScore: .topTwoSum,
                                      correctionBias: bias, normalize: true, scale: 2.5)
                router = (try upload(floats: (0..<(tokens * experts)).map { _ in random.signed() }, shape: [tokens, experts], as: .f32),
                          routing, try allocate([tokens, topK], dtype: .i32), try allocate([tokens, topK], dtype: .f32))
            }
            var times: [Double] = []
            for i in 0..<(repeats + 2) {
                if i == 2 && profiling { try synchronize(); resetProfile() }  // the warm-up calls are not in the table
                let ms = try time { try moe(x, expertIDs: idTensor, expertWeights: weights, experts: set, out: out) }
                if i >= 2 { times.append(ms) }
                if let router { try route(router.logits, routing: router.routing, expertIDs: router.ids, expertWeights: router.weights) }
            }
            if profiling { try synchronize() }
            let report = profileReport(steps: repeats), totals = profileTotals()
            let ms = times.sorted()[times.count / 2]
            let flops = 6.0 * Double(tokens * topK) * Double(hidden) * Double(inner)
            var dense: Double?
            if compareDense && tokens >= denseFrom {
                let rate = try gemmRate(m: tokens * topK, n: 3 * inner, k: hidden, repeats: repeats)
                dense = flops / rate * 1e3
            }
            let bytes = touched.count * expertBytes
            rows.append(MoEBenchRow(format: format, tokens: tokens, milliseconds: ms, flopRate: flops / (ms / 1e3), denseMilliseconds: dense,
                                    touchedExperts: touched.count, touchedBytes: bytes, rooflineMilliseconds: Double(bytes) / bandwidth * 1e3,
                                    profileReport: report, profileTotals: totals, profiledCalls: repeats))
        }
        return rows
    }
}
