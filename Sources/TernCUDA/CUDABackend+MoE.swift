import CCUDA
import Foundation
import TernBackend
import TernCore

/// Device tables of weight-matrix descriptors (Kernels/moe_common.cuh `MatDesc`), uploaded once per
/// distinct content: an expert set's pointers and scales do not change between steps, so the
/// MoE layer launches with no host→device copy after its first call (CUDA-graph friendly).
final class MatrixTableCache: @unchecked Sendable {
    /// A checked expert set's device table (descriptors, then slotOfExpert) and weight format.
    struct ExpertTable {
        var table: Tensor
        var slotTableOffset: Int
        var code: CUDABackend.WeightCode
        /// Every weight matrix 16-byte aligned with rows a multiple of 16 bytes (tern_moe_gemv_tc).
        var vectorAligned: Bool
    }

    private var tables: [[Int32]: Tensor] = [:]
    /// Expert sets by fingerprint (`CUDABackend.fingerprint`): nil when the kernels cannot read
    /// them. Checking 256 experts' descriptors on every call would cost the host ~0.1 ms per layer.
    private var expertTables: [UInt64: ExpertTable?] = [:]
    private let lock = NSLock()

    func expertTable(_ key: UInt64, make: () throws -> ExpertTable?) rethrows -> ExpertTable? {
        lock.lock()
        if let known = expertTables[key] { lock.unlock(); return known }
        lock.unlock()
        let made = try make()
        lock.lock()
        expertTables[key] = made
        lock.unlock()
        return made
    }

    func table(_ key: [Int32], make: () throws -> Tensor) rethrows -> Tensor {
        lock.lock()
        defer { lock.unlock() }
        if let t = tables[key] { return t }
        let t = try make()
        tables[key] = t
        return t
    }
}

extension CUDABackend {
    /// Weight storage codes of the MoE kernels (moe_common.cuh WQ_*).
    enum WeightCode: Int32 { case bf16 = 0, fp8 = 1, nvfp4 = 2 }

    /// TERN_MOE_GEMV=1 forces the GEMV kernels for every MoE/quantized product, 0 the tensor-core
    /// GEMM; unset picks by expected rows per expert.
    static let moeGemvSetting = ProcessInfo.processInfo.environment["TERN_MOE_GEMV"]
    /// TERN_MOE_GEMV_KERNEL=old: decode-size MoE and quantized products use the CUDA-core GEMV
    /// (tern_moe_gemv*) instead of the tensor-core one (tern_moe_gemv_tc*, the default).
    static let tensorCoreGemvEnabled = ProcessInfo.processInfo.environment["TERN_MOE_GEMV_KERNEL"] != "old"
    /// TERN_MOE_GEMM_KERNEL=old: prefill-size MoE (not FP8 w8a8) uses tern_moe_gemm(_gate_up)
    /// (64 × 64 tiles, register staging) instead of the cp.async-pipelined tern_moe_gemm_tc.
    static let pipelinedGemmEnabled = ProcessInfo.processInfo.environment["TERN_MOE_GEMM_KERNEL"] != "old"
    /// Dynamic shared memory of tern_moe_gemm_tc: 3 stages × (128 + 128) rows × 40 bf16.
    static let pipelinedGemmShared = 3 * 256 * 40 * 2
    /// TERN_CUDA_QUANT_KERNELS=0: quantized linears dequantize to bf16 for cuBLASLt (the old path).
    static let quantizedKernelsEnabled = ProcessInfo.processInfo.environment["TERN_CUDA_QUANT_KERNELS"] != "0"
    /// TERN_CUDA_GROUPED_MOE=0: the per-expert MoE with a host round trip (the old path).
    static let groupedMoEEnabled = ProcessInfo.processInfo.environment["TERN_CUDA_GROUPED_MOE"] != "0"

    /// The 12 words of one `MatDesc`, or nil when the kernels cannot read this layer's weight.
    func matrixDescriptor(_ l: Linear) -> (code: WeightCode, words: [Int32])? {
        guard l.bias == nil, l.inFeatures % 8 == 0 else { return nil }
        let w = l.weight, wa = address(w)
        var code = WeightCode.bf16
        var scales: UInt64 = 0, scaleStride = 0, global: Float = 1, br = 1, bc = 1
        switch l.quantization {
        case nil:
            guard w.dtype == .bf16, wa % 16 == 0, w.rowStride % 8 == 0 else { return nil }
        case let .fp8Block(s, blockRows, blockColumns)?:
            guard w.dtype == .f8e4m3, s.dtype == .f32, blockColumns % 8 == 0, blockRows > 0, wa % 8 == 0, w.rowStride % 8 == 0 else { return nil }
            code = .fp8
            (scales, scaleStride, br, bc) = (address(s), s.rowStride, blockRows, blockColumns)
        case let .nvfp4(s, g)?:
            guard w.dtype == .u8, s.dtype == .f8e4m3, l.inFeatures % 16 == 0, wa % 4 == 0, w.rowStride % 4 == 0 else { return nil }
            code = .nvfp4
            (scales, scaleStride, global) = (address(s), s.rowStride, g)
        }
        func split(_ v: UInt64) -> [Int32] { [Int32(bitPattern: UInt32(v & 0xFFFF_FFFF)), Int32(bitPattern: UInt32(v >> 32))] }
        let words = split(wa) + split(scales) + split(UInt64(w.rowStride)) + split(UInt64(scaleStride))
            + [Int32(bitPattern: global.bitPattern), Int32(br), Int32(bc), 0]
        return (code, words)
    }

    /// Whether tern_moe_gemv_tc can stream this weight: 16-byte aligned start and rows.
    func vectorAligned(_ l: Linear) -> Bool {
        address(l.weight) % 16 == 0 && (l.weight.rowStride * l.weight.dtype.byteSize) % 16 == 0
    }

    /// The k of one warp step of tern_moe_gemv_tc for a weight format: depths must be multiples.
    static func tensorCoreGemvStep(_ code: WeightCode) -> Int { code == .bf16 ? 64 : 128 }

    /// A device copy of `words` (descriptors, then any index table), uploaded on first use.
    func matrixTable(_ words: [Int32]) throws -> Tensor {
        try matrixTables.table(words) { try upload(int32s: words, shape: [words.count]) }
    }

    /// `x` as bf16 with 16-byte aligned rows (what the kernels' vector loads need).
    func alignedBF16(_ x: Tensor) throws -> Tensor {
        let b = try asBF16(x)
        if address(b) % 16 == 0 && b.rowStride % 8 == 0 { return b }
        let copy = try allocateScratch([b.rows, b.rowSize], dtype: .bf16)
        try self.copy(b, to: copy)
        return copy
    }

    /// Rounds each group of `group` values per row to e4m3 with a per-group scale (w8a8).
    func fakeQuantE4M3(_ x: Tensor, group: Int, out: Tensor) throws {
        try launch("tern_fake_quant_e4m3", grid: (x.rows, (x.rowSize + group - 1) / group, 1), block: max(32, (group + 31) / 32 * 32),
                   [ptr(x), .int(1), .int64(Int64(x.rowStride)), ptr(out), .int(1), .int64(Int64(out.rowStride)),
                    .int(Int32(x.rowSize)), .int(Int32(group))])
    }

    /// TERN_MOE_FP8_MMA=0: FP8 block-scaled weights are dequantized to bf16 in the GEMM instead of
    /// running w8a8 on the FP8 tensor cores.
    static let fp8TensorCoresEnabled = ProcessInfo.processInfo.environment["TERN_MOE_FP8_MMA"] != "0"

    /// Whether FP8 layers with these parameters can run w8a8 on the FP8 tensor cores: activation
    /// groups, weight blocks 128 × 128 and a depth that is a multiple of 128.
    func fp8TensorCoreShape(_ l: Linear) -> Bool {
        guard Self.fp8TensorCoresEnabled, case let .fp8Block(_, br, bc)? = l.quantization else { return false }
        return br == 128 && bc == 128 && l.activationGroupSize == 128 && l.inFeatures % 128 == 0
            && address(l.weight) % 16 == 0 && l.weight.rowStride % 16 == 0
    }

    /// x → e4m3 codes `[rows, width]` and fp32 scales `[rows, width / 128]` (per token and 128 columns).
    func quantizeE4M3Groups(_ x: Tensor) throws -> (codes: Tensor, scales: Tensor) {
        let rows = x.rows, width = x.rowSize
        let codes = try allocateScratch([rows, width], dtype: .u8)
        let scales = try allocateScratch([rows, width / 128], dtype: .f32)
        try launch("tern_quant_e4m3_groups", grid: (rows, width / 128, 1), block: 128,
                   [ptr(x), .int(try Self.code(x.dtype)), .int64(Int64(x.rowStride)), ptr(codes), .int64(Int64(width)), ptr(scales),
                    .int64(Int64(width / 128)), .int(Int32(width)), .int(128)])
        return (codes, scales)
    }

    /// Quantized dense linear (FP8 block-scaled or NVFP4 weights): the GEMV kernel that
    /// dequantizes while streaming the weights for few tokens; otherwise w8a8 on the FP8 tensor
    /// cores, or the bf16 tensor-core GEMM that dequantizes while staging. Activation rounding
    /// (w8a8) is done here. False when the kernels cannot read this layer (the caller falls back
    /// to dequantize + cuBLASLt).
    func quantizedLinear(_ x: Tensor, _ layer: Linear, out: Tensor) throws -> Bool {
        guard layer.quantization != nil, let (code, words) = matrixDescriptor(layer) else { return false }
        let t = x.rows, n = layer.outFeatures, k = layer.inFeatures
        let table = try matrixTable(words)
        let gemv = Self.moeGemvSetting.map { $0 == "1" } ?? (t <= 32)
        if gemv && Self.tensorCoreGemvEnabled && vectorAligned(layer) && k % Self.tensorCoreGemvStep(code) == 0
            && (code != .fp8 || fp8TensorCoreShape(layer)) {
            // Tensor-core GEMV (FP8: w8a8 with per-token 128-group activation scales).
            var a: Tensor, aScales: KernelArgument = .pointer(0), aScaleStride: Int64 = 0
            if code == .fp8 {
                let (codes, scales) = try quantizeE4M3Groups(x)
                (a, aScales, aScaleStride) = (codes, ptr(scales), Int64(k / 128))
            } else {
                a = try alignedBF16(x)
                if let group = layer.activationGroupSize {
                    let rounded = try allocateScratch([t, k], dtype: .bf16)
                    try fakeQuantE4M3(a, group: group, out: rounded)
                    a = rounded
                }
            }
            try launch("tern_moe_gemv_tc", grid: ((n + 15) / 16, (t + 7) / 8, 1), block: 128,
                       [ptr(a), .int64(Int64(a.rowStride)), aScales, .int64(aScaleStride), .pointer(0), .pointer(0), .pointer(0), .pointer(0),
                        .int(Int32(t)), ptr(table), .int(0), .int(code.rawValue), .int(Int32(n)), .int(Int32(k)),
                        ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride))])
            return true
        }
        if !gemv && code == .fp8 && fp8TensorCoreShape(layer) && Self.pipelinedGemmEnabled && vectorAligned(layer) {
            let (codes, scales) = try quantizeE4M3Groups(x)
            let kernel = pipelinedFP8GemmKernel()
            try launch(kernel.name, grid: ((n + kernel.tileN - 1) / kernel.tileN, (t + 127) / 128, 1), block: kernel.block, sharedBytes: kernel.shared,
                       [ptr(codes), .int64(Int64(k)), ptr(scales), .int64(Int64(k / 128)), .pointer(0), .pointer(0), .pointer(0), .pointer(0),
                        .int(Int32(t)), ptr(table), .int(0), .int(Int32(n)), .int(Int32(k)),
                        ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride))])
            return true
        }
        if !gemv && code == .fp8 && fp8TensorCoreShape(layer) {
            let (codes, scales) = try quantizeE4M3Groups(x)
            try launch("tern_moe_gemm_fp8", grid: ((n + 63) / 64, (t + 63) / 64, 1), block: 128,
                       [ptr(codes), .int64(Int64(k)), ptr(scales), .int64(Int64(k / 128)), .pointer(0), .pointer(0), .pointer(0), .pointer(0),
                        .int(Int32(t)), ptr(table), .int(0), .int(Int32(n)), .int(Int32(k)),
                        ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride))])
            return true
        }
        var a = try alignedBF16(x)
        if let group = layer.activationGroupSize {
            let rounded = try allocateScratch([t, k], dtype: .bf16)
            try fakeQuantE4M3(a, group: group, out: rounded)
            a = rounded
        }
        if !gemv && Self.pipelinedGemmEnabled && k % 32 == 0 {
            // Dequantized once per block into the pipelined GEMM's stages (tiles of 128 rows).
            let kernel = pipelinedGemmKernel(code, depths: [k], aligned: vectorAligned(layer))
            try launch(kernel.name, grid: ((n + kernel.tileN - 1) / kernel.tileN, (t + 127) / 128, 1), block: kernel.block, sharedBytes: kernel.shared,
                       [ptr(a), .int64(Int64(a.rowStride)), .pointer(0), .pointer(0), .pointer(0), .pointer(0), .int(Int32(t)), ptr(table),
                        .int(0), .int(code.rawValue), .int(Int32(n)), .int(Int32(k)), ptr(out), .int(try Self.code(out.dtype)),
                        .int64(Int64(out.rowStride))])
            return true
        }
        let args: [KernelArgument] = [ptr(a), .int64(Int64(a.rowStride)), .pointer(0), .pointer(0), .pointer(0), .pointer(0),
                                      .int(Int32(t)), ptr(table), .int(0), .int(code.rawValue), .int(Int32(n)), .int(Int32(k)),
                                      ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride))]
        if gemv {
            try launch("tern_moe_gemv", grid: ((n + 7) / 8, (t + 7) / 8, 1), block: 256, args)
        } else {
            try launch("tern_moe_gemm", grid: ((n + 63) / 64, (t + 63) / 64, 1), block: 128, args)
        }
        return true
    }

    /// Mixture of experts. The grouped path (all on the device, no host synchronisation): a
    /// one-block permutation groups the (token, k) assignments by local expert and writes a tile
    /// table; fused gate/up GEMM with SiLU-and-mul over the expert segments; down GEMM; weighted
    /// combine in token order. Expert sets the kernels cannot read fall back to per-expert
    /// cuBLASLt with a host round trip.
    public func moe(_ x: Tensor, expertIDs: Tensor, expertWeights: Tensor, experts: ExpertSet, out: Tensor) throws {
        try bind()
        try expect(out.rows == x.rows && out.rowSize == x.rowSize, "moe: output \(out.shape) for \(x.shape)")
        guard x.rows > 0 else { return }
        if Self.groupedMoEEnabled, try groupedMoE(x, expertIDs: expertIDs, expertWeights: expertWeights, experts: experts, out: out) { return }
        try moeByExpert(x, expertIDs: expertIDs, expertWeights: expertWeights, experts: experts, out: out)
    }

    /// A 64-bit hash of everything about an expert set that its device table and the kernels'
    /// checks depend on (weight and scale addresses, strides, shapes, formats, slots); no allocation.
    func fingerprint(_ experts: ExpertSet) -> UInt64 {
        var h: UInt64 = 0x6D6F_6531
        func mix(_ v: UInt64) { h = SplitMix64.mix(h ^ v) }
        func mix(_ v: Int) { mix(UInt64(bitPattern: Int64(v))) }
        func mix(_ l: Linear) {
            mix(address(l.weight))
            mix(l.weight.rowStride)
            mix(l.weight.dtype.byteSize)
            mix(l.inFeatures)
            mix(l.outFeatures)
            mix(l.activationGroupSize ?? -1)
            mix(l.bias == nil ? 0 : 1)
            switch l.quantization {
            case nil: mix(0)
            case let .fp8Block(scales, br, bc)?:
                mix(1); mix(address(scales)); mix(scales.rowStride); mix(br); mix(bc)
            case let .nvfp4(scales, global)?:
                mix(2); mix(address(scales)); mix(scales.rowStride); mix(UInt64(global.bitPattern))
            }
        }
        mix(experts.expertCount)
        for s in experts.slotOfExpert { mix(s) }
        mix(experts.local.count)
        for mlp in experts.local {
            mix(mlp.gate)
            mix(mlp.up)
            mix(mlp.down)
        }
        return h
    }

    /// The expert set's descriptor table, or nil when the grouped kernels cannot read it.
    private func expertTable(_ experts: ExpertSet, hidden: Int) throws -> MatrixTableCache.ExpertTable? {
        let local = experts.local
        guard let first = local.first, local.count <= 1024 else { return nil }
        let inner = first.gate.outFeatures, group = first.gate.activationGroupSize, downGroup = first.down.activationGroupSize
        var words: [Int32] = []
        words.reserveCapacity(local.count * 36 + experts.expertCount + 1)
        var code: WeightCode?
        var aligned = true
        for mlp in local {
            guard mlp.gate.inFeatures == hidden, mlp.up.inFeatures == hidden, mlp.gate.outFeatures == inner, mlp.up.outFeatures == inner,
                  mlp.down.inFeatures == inner, mlp.down.outFeatures == hidden, mlp.gate.activationGroupSize == group,
                  mlp.up.activationGroupSize == group, mlp.down.activationGroupSize == downGroup else { return nil }
            for l in [mlp.gate, mlp.up, mlp.down] {
                guard let (c, w) = matrixDescriptor(l), code == nil || code == c else { return nil }
                code = c
                words += w
                aligned = aligned && vectorAligned(l)
            }
        }
        guard let code else { return nil }
        let slotTableOffset = words.count
        words += experts.slotOfExpert.map { Int32($0) }
        words.append(code.rawValue)  // part of the cache key only
        return MatrixTableCache.ExpertTable(table: try matrixTable(words), slotTableOffset: slotTableOffset, code: code,
                                          vectorAligned: aligned)
    }

    private func groupedMoE(_ x: Tensor, expertIDs: Tensor, expertWeights: Tensor, experts: ExpertSet, out: Tensor) throws -> Bool {
        let local = experts.local, slots = local.count, hidden = x.rowSize, tokens = x.rows, topK = expertIDs.rowSize
        guard slots >= 1, slots <= 1024, let first = local.first, expertIDs.dtype == .i32, expertWeights.dtype == .f32,
              expertWeights.rowSize == topK, expertWeights.rows == tokens, expertIDs.rows == tokens, topK >= 1,
              first.gate.inFeatures == hidden else { return false }
        guard let entry = try matrixTables.expertTable(fingerprint(experts), make: { try expertTable(experts, hidden: hidden) }) else {
            return false
        }
        let inner = first.gate.outFeatures, group = first.gate.activationGroupSize, downGroup = first.down.activationGroupSize
        let table = entry.table, code = entry.code
        let slotTable = Tensor(storage: table.storage, byteOffset: table.byteOffset + entry.slotTableOffset * 4,
                               shape: [experts.expertCount], dtype: .i32)

        let assignments = tokens * topK
        let gemv: Bool
        switch Self.moeGemvSetting {
        case "1"?: gemv = true
        case "0"?: gemv = false
        // Up to ~8 rows per expert the weight-streaming GEMV wins: on the H200 (bb242a7, DeepSeek-V3
        // layer, 256 tokens = 8 rows per expert) it took 8.1 / 4.5 / 5.1 ms (bf16 / FP8 / NVFP4)
        // against the grouped GEMM's 9.6 / 11.5 / 13.8 ms. The GEMM wins at 4k tokens (128 rows).
        // NVFP4 up to 16 rows per expert (TERN_MOE_GEMV_NVFP4_ROWS): on the H200 (e1e4211) at 384 /
        // 512 tokens (12 / 16 rows) the dequantizing grouped GEMM took 15.9 / 16.0 ms against the
        // GEMV's 7.1 / 8.8 ms, while bf16 / FP8 were faster in the GEMM (5.9 / 3.8 ms vs 11.0 / 6.2).
        default: gemv = assignments <= (code == .nvfp4 ? Self.gemvNVFP4RowsPerExpert : 8) * slots
        }
        // Every expert has the first one's shapes and formats (checked with the table).
        let w8a8 = code == .fp8 && fp8TensorCoreShape(first.gate) && fp8TensorCoreShape(first.up) && fp8TensorCoreShape(first.down)
        let pipelined = !gemv && Self.pipelinedGemmEnabled && entry.vectorAligned && hidden % 32 == 0 && inner % 32 == 0
        let gemv2 = gemv && gemv2Usable(code: code, w8a8: w8a8, aligned: entry.vectorAligned, hidden: hidden, inner: inner)
        let tileRows = gemv ? (gemv2 ? Self.gemv2TileRows : 8) : (pipelined ? 128 : 64)
        let maxTiles = assignments / tileRows + min(slots, assignments) + 1
        guard maxTiles < 65_536 else { return false }
        let ints = try allocateScratch([2 * assignments + 3 * maxTiles], dtype: .i32)
        func view(_ offset: Int, _ count: Int) -> Tensor {
            Tensor(storage: ints.storage, byteOffset: ints.byteOffset + offset * 4, shape: [count], dtype: .i32)
        }
        let rowToken = view(0, assignments), assignRow = view(assignments, assignments)
        let tileSlot = view(2 * assignments, maxTiles), tileStart = view(2 * assignments + maxTiles, maxTiles)
        let tileEnd = view(2 * assignments + 2 * maxTiles, maxTiles)
        try launch("tern_moe_permute", grid: (1, 1, 1), block: 1024,
                   [ptr(expertIDs), .int64(Int64(expertIDs.rowStride)), .int(Int32(tokens)), .int(Int32(topK)), ptr(slotTable),
                    .int(Int32(experts.expertCount)), .int(Int32(slots)), .int(Int32(tileRows)), .int(Int32(maxTiles)),
                    ptr(rowToken), ptr(assignRow), ptr(tileSlot), ptr(tileStart), ptr(tileEnd)])

        let tiles: [KernelArgument] = [ptr(tileSlot), ptr(tileStart), ptr(tileEnd), .int(Int32(assignments)), ptr(table)]
        if gemv && Self.tensorCoreGemvEnabled && entry.vectorAligned && (code != .fp8 || w8a8) {
            let step = Self.tensorCoreGemvStep(code)
            if gemv2 || hidden % step == 0 || inner % step == 0 {
                try tensorCoreGemvMoE(x, tiles: tiles, rowToken: rowToken, assignRow: assignRow, maxTiles: maxTiles, code: code, v2: gemv2,
                                      hidden: hidden, inner: inner, group: group, downGroup: downGroup, expertWeights: expertWeights,
                                      topK: topK, out: out)
                return true
            }
        }
        if !gemv && w8a8 && pipelined {
            // tern_moe_wgmma_fp8 or tern_moe_gemm_tc_fp8: w8a8, gate and up side by side, then SiLU-and-mul.
            let (codes, scales) = try quantizeE4M3Groups(x)
            let gateUp = try allocateScratch([assignments, 2 * inner], dtype: .bf16)
            let kernel = pipelinedFP8GemmKernel(), tileN = kernel.tileN
            try launch(kernel.name, grid: ((inner + tileN - 1) / tileN, maxTiles, 2), block: kernel.block, sharedBytes: kernel.shared, label: kernel.name + " [gate/up]",
                       [ptr(codes), .int64(Int64(hidden)), ptr(scales), .int64(Int64(hidden / 128)), ptr(rowToken)] + tiles
                       + [.int(0), .int(Int32(inner)), .int(Int32(hidden)), ptr(gateUp), .int(1), .int64(Int64(2 * inner))])
            let activated = try allocateScratch([assignments, inner], dtype: .bf16)
            try siluAndMul(gateUp, out: activated)
            let (innerCodes, innerScales) = try quantizeE4M3Groups(activated)
            let expertOut = try allocateScratch([assignments, hidden], dtype: .bf16)
            try launch(kernel.name, grid: ((hidden + tileN - 1) / tileN, maxTiles, 1), block: kernel.block, sharedBytes: kernel.shared, label: kernel.name + " [down]",
                       [ptr(innerCodes), .int64(Int64(inner)), ptr(innerScales), .int64(Int64(inner / 128)), .pointer(0)] + tiles
                       + [.int(2), .int(Int32(hidden)), .int(Int32(inner)), ptr(expertOut), .int(1), .int64(Int64(hidden))])
            try combine(expertOut, assignRow: assignRow, expertWeights: expertWeights, topK: topK, out: out)
            return true
        }
        if !gemv && w8a8 {
            // w8a8 on the FP8 tensor cores: token codes/scales once, gathered by the GEMM.
            let (codes, scales) = try quantizeE4M3Groups(x)
            let activated = try allocateScratch([assignments, inner], dtype: .bf16)
            try launch("tern_moe_gemm_fp8_gate_up", grid: ((inner + 63) / 64, maxTiles, 1), block: 128, label: "tern_moe_gemm_fp8_gate_up [gate/up]",
                       [ptr(codes), .int64(Int64(hidden)), ptr(scales), .int64(Int64(hidden / 128)), ptr(rowToken)] + tiles
                       + [.int(Int32(inner)), .int(Int32(hidden)), ptr(activated), .int(1), .int64(Int64(inner))])
            let (innerCodes, innerScales) = try quantizeE4M3Groups(activated)
            let expertOut = try allocateScratch([assignments, hidden], dtype: .bf16)
            try launch("tern_moe_gemm_fp8", grid: ((hidden + 63) / 64, maxTiles, 1), block: 128, label: "tern_moe_gemm_fp8 [down]",
                       [ptr(innerCodes), .int64(Int64(inner)), ptr(innerScales), .int64(Int64(inner / 128)), .pointer(0)] + tiles
                       + [.int(2), .int(Int32(hidden)), .int(Int32(inner)), ptr(expertOut), .int(1), .int64(Int64(hidden))])
            try combine(expertOut, assignRow: assignRow, expertWeights: expertWeights, topK: topK, out: out)
            return true
        }
        var input = try alignedBF16(x)
        if let group {
            let rounded = try allocateScratch([tokens, hidden], dtype: .bf16)
            try fakeQuantE4M3(input, group: group, out: rounded)
            input = rounded
        }
        let activated = try allocateScratch([assignments, inner], dtype: .bf16)
        if pipelined {
            // tern_moe_wgmma(_dq) or tern_moe_gemm_tc: gate (z = 0) and up (z = 1) side by side, then SiLU-and-mul.
            let gateUp = try allocateScratch([assignments, 2 * inner], dtype: .bf16)
            let kernel = pipelinedGemmKernel(code, depths: [hidden, inner], aligned: entry.vectorAligned), tileN = kernel.tileN
            try launch(kernel.name, grid: ((inner + tileN - 1) / tileN, maxTiles, 2), block: kernel.block, sharedBytes: kernel.shared, label: kernel.name + " [gate/up]",
                       [ptr(input), .int64(Int64(input.rowStride)), ptr(rowToken)] + tiles
                       + [.int(0), .int(code.rawValue), .int(Int32(inner)), .int(Int32(hidden)), ptr(gateUp), .int(1), .int64(Int64(2 * inner))])
            try siluAndMul(gateUp, out: activated)
            if let downGroup { try fakeQuantE4M3(activated, group: downGroup, out: activated) }
            let expertOut = try allocateScratch([assignments, hidden], dtype: .bf16)
            try launch(kernel.name, grid: ((hidden + tileN - 1) / tileN, maxTiles, 1), block: kernel.block, sharedBytes: kernel.shared, label: kernel.name + " [down]",
                       [ptr(activated), .int64(Int64(inner)), .pointer(0)] + tiles
                       + [.int(2), .int(code.rawValue), .int(Int32(hidden)), .int(Int32(inner)), ptr(expertOut), .int(1), .int64(Int64(hidden))])
            try combine(expertOut, assignRow: assignRow, expertWeights: expertWeights, topK: topK, out: out)
            return true
        }
        try launch(gemv ? "tern_moe_gemv_gate_up" : "tern_moe_gemm_gate_up",
                   grid: gemv ? ((inner + 7) / 8, maxTiles, 1) : ((inner + 63) / 64, maxTiles, 1), block: gemv ? 256 : 128,
                   label: (gemv ? "tern_moe_gemv_gate_up" : "tern_moe_gemm_gate_up") + " [gate/up]",
                   [ptr(input), .int64(Int64(input.rowStride)), ptr(rowToken)] + tiles
                   + [.int(code.rawValue), .int(Int32(inner)), .int(Int32(hidden)), ptr(activated), .int(1), .int64(Int64(inner))])
        if let downGroup { try fakeQuantE4M3(activated, group: downGroup, out: activated) }
        let expertOut = try allocateScratch([assignments, hidden], dtype: .bf16)
        try launch(gemv ? "tern_moe_gemv" : "tern_moe_gemm",
                   grid: gemv ? ((hidden + 7) / 8, maxTiles, 1) : ((hidden + 63) / 64, maxTiles, 1), block: gemv ? 256 : 128,
                   label: (gemv ? "tern_moe_gemv" : "tern_moe_gemm") + " [down]",
                   [ptr(activated), .int64(Int64(inner)), .pointer(0)] + tiles
                   + [.int(2), .int(code.rawValue), .int(Int32(hidden)), .int(Int32(inner)), ptr(expertOut), .int(1), .int64(Int64(hidden))])
        try combine(expertOut, assignRow: assignRow, expertWeights: expertWeights, topK: topK, out: out)
        return true
    }

    /// Decode-size grouped MoE through tern_moe_gemv_tc(_gate_up) (tiles of ≤ 8 rows), or with
    /// `v2` tern_moe_gemv2_*(_gate_up) (tiles of ≤ 16 rows, both depths multiples of its step); a
    /// projection whose depth is not a multiple of the kernel's step takes tern_moe_gemv(_gate_up).
    /// FP8 (w8a8 shapes only) quantizes activations to e4m3 codes with per-token 128-group scales.
    private func tensorCoreGemvMoE(_ x: Tensor, tiles: [KernelArgument], rowToken: Tensor, assignRow: Tensor, maxTiles: Int,
                                   code: WeightCode, v2: Bool, hidden: Int, inner: Int, group: Int?, downGroup: Int?,
                                   expertWeights: Tensor, topK: Int, out: Tensor) throws {
        let assignments = assignRow.elementCount, step = v2 ? Self.gemv2Step(code) : Self.tensorCoreGemvStep(code)
        let formatArgument: [KernelArgument] = v2 ? [] : [.int(code.rawValue)]  // the v2 kernels are per format
        let outCode = Int32(1)  // bf16 intermediates
        /// (a, aStride, aScales, aScaleStride) for the tensor-core kernel from bf16 `input`.
        func operands(_ input: Tensor, width: Int, group: Int?) throws -> [KernelArgument] {
            if code == .fp8 {
                let (codes, scales) = try quantizeE4M3Groups(input)
                return [ptr(codes), .int64(Int64(width)), ptr(scales), .int64(Int64(width / 128))]
            }
            var a = try alignedBF16(input)
            if let group {
                let rounded = try allocateScratch([a.rows, width], dtype: .bf16)
                try fakeQuantE4M3(a, group: group, out: rounded)
                a = rounded
            }
            return [ptr(a), .int64(Int64(a.rowStride)), .pointer(0), .int64(0)]
        }
        let activated = try allocateScratch([assignments, inner], dtype: .bf16)
        if hidden % step == 0 {
            let name = v2 ? Self.gemv2Kernel(code, fused: true) : "tern_moe_gemv_tc_gate_up"
            if v2 { Self.moeGemv2Launches.increment() }
            try launch(name, grid: ((inner + 15) / 16, maxTiles, 1), block: 128, label: name + " [gate/up]",
                       try operands(x, width: hidden, group: group) + [ptr(rowToken)] + tiles
                       + formatArgument + [.int(Int32(inner)), .int(Int32(hidden)), ptr(activated), .int(outCode), .int64(Int64(inner))])
        } else {
            var input = try alignedBF16(x)
            if let group {
                let rounded = try allocateScratch([x.rows, hidden], dtype: .bf16)
                try fakeQuantE4M3(input, group: group, out: rounded)
                input = rounded
            }
            try launch("tern_moe_gemv_gate_up", grid: ((inner + 7) / 8, maxTiles, 1), block: 256, label: "tern_moe_gemv_gate_up [gate/up]",
                       [ptr(input), .int64(Int64(input.rowStride)), ptr(rowToken)] + tiles
                       + [.int(code.rawValue), .int(Int32(inner)), .int(Int32(hidden)), ptr(activated), .int(outCode), .int64(Int64(inner))])
        }
        let expertOut = try allocateScratch([assignments, hidden], dtype: .bf16)
        if inner % step == 0 {
            let name = v2 ? Self.gemv2Kernel(code, fused: false) : "tern_moe_gemv_tc"
            if v2 { Self.moeGemv2Launches.increment() }
            try launch(name, grid: ((hidden + 15) / 16, maxTiles, 1), block: 128, label: name + " [down]",
                       try operands(activated, width: inner, group: downGroup) + [.pointer(0)] + tiles
                       + [.int(2)] + formatArgument + [.int(Int32(hidden)), .int(Int32(inner)), ptr(expertOut), .int(outCode),
                          .int64(Int64(hidden))])
        } else {
            if let downGroup { try fakeQuantE4M3(activated, group: downGroup, out: activated) }
            try launch("tern_moe_gemv", grid: ((hidden + 7) / 8, maxTiles, 1), block: 256, label: "tern_moe_gemv [down]",
                       [ptr(activated), .int64(Int64(inner)), .pointer(0)] + tiles
                       + [.int(2), .int(code.rawValue), .int(Int32(hidden)), .int(Int32(inner)), ptr(expertOut), .int(outCode),
                          .int64(Int64(hidden))])
        }
        try combine(expertOut, assignRow: assignRow, expertWeights: expertWeights, topK: topK, out: out)
    }

    /// out[t] = Σ_k weight[t, k] · expertOut[assignRow[t, k]] (rows this rank computed).
    private func combine(_ expertOut: Tensor, assignRow: Tensor, expertWeights: Tensor, topK: Int, out: Tensor) throws {
        let hidden = out.rowSize
        try launch("tern_moe_combine", grid: (out.rows, (hidden + 255) / 256, 1), block: 256,
                   [ptr(expertOut), .int64(Int64(hidden)), ptr(assignRow), ptr(expertWeights), .int64(Int64(expertWeights.rowStride)),
                    .int(Int32(topK)), ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride)), .int(Int32(hidden))])
    }

    /// Per-expert fallback: expert ids come back to the host, which lists each expert's tokens;
    /// per expert the GPU gathers its rows, runs the SwiGLU MLP through `linear` and adds the
    /// weighted result into an fp32 accumulator.
    func moeByExpert(_ x: Tensor, expertIDs: Tensor, expertWeights: Tensor, experts: ExpertSet, out: Tensor) throws {
        let tokens = x.rows, topK = expertIDs.rowSize, hidden = x.rowSize
        let ids = try downloadInt32s(expertIDs)
        let weights = try downloadFloats(expertWeights)
        var rowsOf = [[Int32]](repeating: [], count: experts.expertCount)
        var weightOf = [[Float]](repeating: [], count: experts.expertCount)
        for t in 0..<tokens {
            for j in 0..<topK {
                let e = Int(ids[t * topK + j])
                try expect(e >= 0 && e < experts.expertCount, "moe: expert id \(e)")
                rowsOf[e].append(Int32(t))
                weightOf[e].append(weights[t * topK + j])
            }
        }
        let accumulator = try allocateScratch([tokens, hidden], dtype: .f32)
        try driver.check(driver.cuMemsetD8Async(address(accumulator), 0, tokens * hidden * 4, stream), "cuMemsetD8Async")
        let used = (0..<experts.expertCount).filter { !rowsOf[$0].isEmpty && experts.slotOfExpert[$0] >= 0 }
        let allRows = try upload(int32s: used.flatMap { rowsOf[$0] }, shape: [max(1, used.reduce(0) { $0 + rowsOf[$1].count })])
        let allWeights = try upload(floats: used.flatMap { weightOf[$0] }, shape: [max(1, used.reduce(0) { $0 + weightOf[$1].count })], as: .f32)
        var offset = 0
        for e in used {
            let mlp = experts.local[experts.slotOfExpert[e]]
            let count = rowsOf[e].count, inner = mlp.gate.outFeatures
            let rows = Tensor(storage: allRows.storage, byteOffset: offset * 4, shape: [count], dtype: .i32)
            let rowWeights = Tensor(storage: allWeights.storage, byteOffset: offset * 4, shape: [count], dtype: .f32)
            offset += count
            let gathered = try allocate([count, hidden], dtype: x.dtype)
            try gatherRows(x, rows: rows, out: gathered)
            let gateUp = try allocate([count, 2 * inner], dtype: .bf16)
            try linear(gathered, mlp.gate, out: gateUp.columns(0..<inner))
            try linear(gathered, mlp.up, out: gateUp.columns(inner..<2 * inner))
            let activated = try allocate([count, inner], dtype: .bf16)
            try siluAndMul(gateUp, out: activated)
            let result = try allocate([count, hidden], dtype: .f32)
            try linear(activated, mlp.down, out: result)
            try launch("tern_scatter_add", grid: (count, (hidden + 255) / 256, 1), block: 256,
                       [ptr(result), .int(0), .int64(Int64(hidden)), ptr(rows), ptr(rowWeights), ptr(accumulator),
                        .int64(Int64(hidden)), .int(Int32(hidden))])
        }
        try launch("tern_convert", grid: (tokens, (hidden + 255) / 256, 1), block: 256,
                   [ptr(accumulator), .int(0), .int64(Int64(hidden)), ptr(out), .int(try Self.code(out.dtype)), .int64(Int64(out.rowStride)),
                    .int(Int32(hidden))])
    }
}
