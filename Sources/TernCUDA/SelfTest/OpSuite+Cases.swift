import Foundation
import TernBackend
import TernCore

extension OpSuite {
    mutating func elementwise() {
        for tokens in [1, 37] {
            check("embedding", "tokens \(tokens), vocab 100 × 64") { s in
                let (tc, tg) = try s.pair(100, 64)
                let ids = (0..<tokens).map { _ in Int32(s.random.below(100)) }
                let (oc, og) = try s.outputs(tokens, 64)
                try s.cpu.embedding(ids: try s.cpu.upload(int32s: ids, shape: [tokens]), table: tc, out: oc)
                try s.gpu.embedding(ids: try s.gpu.upload(int32s: ids, shape: [tokens]), table: tg, out: og)
                try s.compare("embedding", "tokens \(tokens), vocab 100 × 64", oc, og)
            }
        }
        check("embedding", "tokens 3, vocab 50 × 600 (several blocks per row)") { s in
            let (tc, tg) = try s.pair(50, 600)
            let ids: [Int32] = [49, 0, 17]
            let (oc, og) = try s.outputs(3, 600)
            try s.cpu.embedding(ids: try s.cpu.upload(int32s: ids, shape: [3]), table: tc, out: oc)
            try s.gpu.embedding(ids: try s.gpu.upload(int32s: ids, shape: [3]), table: tg, out: og)
            try s.compare("embedding", "tokens 3, vocab 50 × 600 (several blocks per row)", oc, og, tolerance: 0)
        }
        for rows in [1, 13] {
            check("siluAndMul", "rows \(rows), n 96, strided input") { s in
                let (gc, gg) = try s.pair(rows, 192, pad: 8, scale: 3)
                let (oc, og) = try s.outputs(rows, 96)
                try s.cpu.siluAndMul(gc, out: oc)
                try s.gpu.siluAndMul(gg, out: og)
                try s.compare("siluAndMul", "rows \(rows), n 96, strided input", oc, og)
            }
        }
        check("siluAndMul", "rows 3, n 1024 (16-byte path)") { s in
            let (gc, gg) = try s.pair(3, 2048, scale: 3)
            let (oc, og) = try s.outputs(3, 1024)
            try s.cpu.siluAndMul(gc, out: oc)
            try s.gpu.siluAndMul(gg, out: og)
            try s.compare("siluAndMul", "rows 3, n 1024 (16-byte path)", oc, og)
        }
        check("storeKV", "5 rows k 256 v 128, strided, shuffled slots") { s in
            let layout = KVCacheLayout(layers: 2, kvHeads: 2, keyDim: 128, valueDim: 64, dtype: .f32)
            var gpuLayout = layout
            gpuLayout.dtype = .bf16
            let cc = try s.cpu.makeKVCache(layout: layout, pageSize: 4, pageCount: 3)
            let cg = try s.gpu.makeKVCache(layout: gpuLayout, pageSize: 4, pageCount: 3)
            let (kc, kg) = try s.pair(5, 256, pad: 16), (vc, vg) = try s.pair(5, 128, pad: 32)
            let slots: [Int32] = [7, 0, 11, 3, 4]
            let batch = ForwardBatch(tokenIDs: Array(repeating: 0, count: 5), positions: Array(repeating: 0, count: 5), slots: slots,
                                     sequences: [SequenceSpan(queryStart: 0, queryLength: 5, kvLength: 5, pageTableStart: 0)],
                                     pageTable: [0, 1, 2], pageSize: 4, logitRows: [4])
            try s.cpu.storeKV(key: kc, value: vc, cache: cc, layer: 1, batch: try s.cpu.prepare(batch))
            try s.gpu.storeKV(key: kg, value: vg, cache: cg, layer: 1, batch: try s.gpu.prepare(batch))
            try s.compare("storeKV", "keys", cc.keys[1], cg.keys[1], tolerance: 0)
            try s.compare("storeKV", "values", cc.values[1], cg.values[1], tolerance: 0)
        }
        check("add", "rows 9 × 70, strided, out aliases a") { s in
            let (ac, ag) = try s.pair(9, 70, pad: 6), (bc, bg) = try s.pair(9, 70)
            try s.cpu.add(ac, bc, out: ac)
            try s.gpu.add(ag, bg, out: ag)
            try s.compare("add", "rows 9 × 70, strided, out aliases a", ac, ag)
        }
        check("gatherRows", "7 of 20 rows × 64") { s in
            let (xc, xg) = try s.pair(20, 64)
            let rows = (0..<7).map { _ in Int32(s.random.below(20)) }
            let (oc, og) = try s.outputs(7, 64)
            try s.cpu.gatherRows(xc, rows: try s.cpu.upload(int32s: rows, shape: [7]), out: oc)
            try s.gpu.gatherRows(xg, rows: try s.gpu.upload(int32s: rows, shape: [7]), out: og)
            try s.compare("gatherRows", "7 of 20 rows × 64", oc, og, tolerance: 0)
        }
        for (width, pad) in [(48, 16), (3, 2), (64, 0)] {
            check("copy", "11 × \(width), pad \(pad)") { s in
                let (xc, xg) = try s.pair(11, width, pad: pad)
                let (oc, og) = try s.outputs(11, width, pad: pad + 2)
                try s.cpu.copy(xc, to: oc)
                try s.gpu.copy(xg, to: og)
                try s.compare("copy", "11 × \(width), pad \(pad)", oc, og, tolerance: 0)
            }
        }
    }

    mutating func norms() {
        for rows in [1, 9] {
            check("rmsNorm", "rows \(rows) × 512") { s in
                let (xc, xg) = try s.pair(rows, 512, scale: 4)
                let (wc, wg) = try s.pair(1, 512, dtype: .f32)
                let (oc, og) = try s.outputs(rows, 512)
                try s.cpu.rmsNorm(xc, weight: wc.reshaped([512]), eps: 1e-6, out: oc)
                try s.gpu.rmsNorm(xg, weight: wg.reshaped([512]), eps: 1e-6, out: og)
                try s.compare("rmsNorm", "rows \(rows) × 512", oc, og)
            }
        }
        check("rmsNorm", "per head 8 × 64, strided, in place") { s in
            let (xc, xg) = try s.pair(5, 512, pad: 32)
            let (wc, wg) = try s.pair(1, 64, dtype: .f32)
            try s.cpu.rmsNorm(xc, weight: wc.reshaped([64]), eps: 1e-6, out: xc)
            try s.gpu.rmsNorm(xg, weight: wg.reshaped([64]), eps: 1e-6, out: xg)
            try s.compare("rmsNorm", "per head 8 × 64, strided, in place", xc, xg)
        }
        check("rmsNorm", "rows 3 × 100 (generic path)") { s in
            let (xc, xg) = try s.pair(3, 100, scale: 4)
            let (wc, wg) = try s.pair(1, 100, dtype: .f32)
            let (oc, og) = try s.outputs(3, 100)
            try s.cpu.rmsNorm(xc, weight: wc.reshaped([100]), eps: 1e-6, out: oc)
            try s.gpu.rmsNorm(xg, weight: wg.reshaped([100]), eps: 1e-6, out: og)
            try s.compare("rmsNorm", "rows 3 × 100 (generic path)", oc, og)
        }
        for (rows, width) in [(1, 256), (6, 256), (2, 4096), (1, 8192)] {
            check("addRMSNorm", "rows \(rows) × \(width)") { s in
                let (xc, xg) = try s.pair(rows, width), (rc, rg) = try s.pair(rows, width, scale: 2)
                let (wc, wg) = try s.pair(1, width, dtype: .f32)
                let (oc, og) = try s.outputs(rows, width)
                try s.cpu.addRMSNorm(xc, residual: rc, weight: wc.reshaped([width]), eps: 1e-5, out: oc)
                try s.gpu.addRMSNorm(xg, residual: rg, weight: wg.reshaped([width]), eps: 1e-5, out: og)
                try s.compare("addRMSNorm", "rows \(rows) × \(width) (output)", oc, og)
                try s.compare("addRMSNorm", "rows \(rows) × \(width) (residual)", rc, rg)
            }
        }
    }

    /// The same layer on both backends: values rounded to bf16; f32 on the CPU, bf16 on the GPU.
    mutating func plainLayer(n: Int, k: Int, bias: Bool) throws -> (cpu: Linear, gpu: Linear) {
        let (wc, wg) = try pair(n, k, scale: 0.2)
        guard bias else { return (Linear(weight: wc), Linear(weight: wg)) }
        let (bc, bg) = try pair(1, n, dtype: .f32)
        return (Linear(weight: wc, bias: bc.reshaped([n])), Linear(weight: wg, bias: bg.reshaped([n])))
    }

    /// A host tensor of raw bytes (quantized codes and scales), uploaded unchanged to both.
    func raw(_ name: String, _ bytes: [UInt8], shape: [Int], dtype: DType) throws -> (cpu: Tensor, gpu: Tensor) {
        let owner = OwnedBytes(count: bytes.count)
        bytes.withUnsafeBytes { owner.pointer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        let host = HostTensor(name: name, dtype: dtype, shape: shape, data: owner.buffer, owner: owner)
        return (try cpu.upload(host, as: nil), try gpu.upload(host, as: nil))
    }

    mutating func linears() {
        for (t, k, n) in [(1, 256, 384), (7, 256, 100), (300, 512, 256)] {
            check("linear", "bf16 \(t)×\(k) → \(n)") { s in
                let (lc, lg) = try s.plainLayer(n: n, k: k, bias: false)
                let (xc, xg) = try s.pair(t, k)
                let (oc, og) = try s.outputs(t, n)
                try s.cpu.linear(xc, lc, out: oc)
                try s.gpu.linear(xg, lg, out: og)
                try s.compare("linear", "bf16 \(t)×\(k) → \(n)", oc, og)
            }
        }
        check("linear", "f32 out, strided in/out, bias 5×128 → 96") { s in
            let (lc, lg) = try s.plainLayer(n: 96, k: 128, bias: true)
            let (xc, xg) = try s.pair(5, 128, pad: 64)
            let (oc, og) = try s.outputs(5, 96, dtype: .f32, pad: 32)
            try s.cpu.linear(xc, lc, out: oc)
            try s.gpu.linear(xg, lg, out: og)
            try s.compare("linear", "f32 out, strided in/out, bias 5×128 → 96", oc, og)
        }
        for actQuant in [false, true] {
            let detail = "fp8 block 128, 9×384 → 256" + (actQuant ? ", act quant" : "")
            check("linear", detail) { s in
                let (n, k) = (256, 384)
                let codes = (0..<(n * k)).map { _ -> UInt8 in let c = UInt8(s.random.below(256)); return c & 0x7F == 0x7F ? 0x30 : c }
                let (wc, wg) = try s.raw("w", codes, shape: [n, k], dtype: .f8e4m3)
                let scales = (0..<(2 * 3)).map { _ in 0.001 + abs(s.random.signed()) * 0.01 }
                let sc = try s.cpu.upload(floats: scales, shape: [2, 3], as: .f32), sg = try s.gpu.upload(floats: scales, shape: [2, 3], as: .f32)
                let lc = Linear(weight: wc, quantization: .fp8Block(scales: sc, blockRows: 128, blockColumns: 128), activationGroupSize: actQuant ? 128 : nil)
                let lg = Linear(weight: wg, quantization: .fp8Block(scales: sg, blockRows: 128, blockColumns: 128), activationGroupSize: actQuant ? 128 : nil)
                let (xc, xg) = try s.pair(9, k)
                let (oc, og) = try s.outputs(9, n)
                try s.cpu.linear(xc, lc, out: oc)
                try s.gpu.linear(xg, lg, out: og)
                try s.compare("linear", detail, oc, og)
            }
        }
        check("linear", "nvfp4 4×256 → 128") { s in
            let (n, k) = (128, 256)
            let packed = (0..<(n * k / 2)).map { _ in UInt8(s.random.below(256)) }
            let scaleCodes = (0..<(n * k / 16)).map { _ in UInt8(0x28 + s.random.below(24)) }
            let (wc, wg) = try s.raw("w", packed, shape: [n, k / 2], dtype: .u8)
            let (sc, sg) = try s.raw("weight_scale", scaleCodes, shape: [n, k / 16], dtype: .f8e4m3)
            let lc = Linear(weight: wc, quantization: .nvfp4(scales: sc, globalScale: 0.01), inFeatures: k)
            let lg = Linear(weight: wg, quantization: .nvfp4(scales: sg, globalScale: 0.01), inFeatures: k)
            let (xc, xg) = try s.pair(4, k)
            let (oc, og) = try s.outputs(4, n)
            try s.cpu.linear(xc, lc, out: oc)
            try s.gpu.linear(xg, lg, out: og)
            try s.compare("linear", "nvfp4 4×256 → 128", oc, og)
        }
    }

    /// The decode GEMV itself (every variant, whatever bound `linear` uses it up to): token counts
    /// 1…16, widths that leave a k tail shorter than a warp step and n that is no multiple of a
    /// block's rows, strided x, bf16 and f32 outputs.
    mutating func gemvs() {
        for (t, n, k, pad, f32) in [(1, 77, 264, 0, false), (2, 130, 1032, 16, false), (3, 45, 512, 0, true), (4, 300, 2056, 0, false),
                                    (5, 33, 96, 16, false), (8, 257, 4104, 0, true), (11, 70, 520, 16, false), (16, 131, 1288, 0, false),
                                    (16, 64, 8, 0, true), (1, 1000, 4096, 0, true)] {
            let detail = "t \(t) n \(n) k \(k)\(pad > 0 ? " strided" : "")\(f32 ? " f32 out" : "")"
            check("gemv", detail) { s in
                let (wc, wg) = try s.pair(n, k, scale: 0.2)
                let (xc, xg) = try s.pair(t, k, pad: pad)
                let (oc, og) = try s.outputs(t, n, dtype: f32 ? .f32 : .bf16)
                try s.cpu.linear(xc, Linear(weight: wc), out: oc)
                guard try s.gpu.gemv(xg, wg, out: og) else { throw BackendError.invalidArgument("gemv declined \(detail)") }
                try s.compare("gemv", detail, oc, og)
            }
        }
        // T = 1 through tern_gemv_bf16_t1s, forced whatever TERN_CUDA_GEMV_T1S_MAX_K says (k % 256 == 0:
        // 8, 4, 2, 8 rows per block with 3 loads per thread, 1 row with 7; n no multiple of the rows;
        // weights loaded before the PDL wait or after it) and the warp-per-row kernel it replaces.
        for (n, k, f32, flat, early) in [(77, 2048, false, true, true), (1000, 4096, false, true, false), (300, 8192, true, true, true),
                                         (45, 768, false, true, true), (6144, 4096, false, true, true), (1000, 4096, false, false, true),
                                         (70, 14336, false, true, true)] {
            let detail = "t 1 n \(n) k \(k)\(f32 ? " f32 out" : "") \(flat ? "flat" : "warp per row")\(early ? " early weights" : "")"
            check("gemv", detail) { s in
                let (wc, wg) = try s.pair(n, k, scale: 0.2)
                let (xc, xg) = try s.pair(1, k)
                let (oc, og) = try s.outputs(1, n, dtype: f32 ? .f32 : .bf16)
                try s.cpu.linear(xc, Linear(weight: wc), out: oc)
                guard try s.gpu.gemv(xg, wg, out: og, weightIsStatic: early, flat: flat) else {
                    throw BackendError.invalidArgument("gemv declined \(detail)")
                }
                try s.compare("gemv", detail, oc, og)
            }
        }
    }

    /// Gate/up projection fused with SiLU-and-mul at T = 1 (`tern_gemv_bf16_t1s_silu`, forced whatever
    /// TERN_CUDA_GEMV_T1S_MAX_K says: 4, 8, 8 (3 loads per thread) and 2 rows per block, n/2 no
    /// multiple of the pairs) against the CPU's linear then siluAndMul; and `linearSiLUAndMul` at
    /// T = 1 and T = 3 (the two-kernel path) through the backend entry point.
    mutating func gateUpSiLU() {
        for (half, k) in [(300, 4096), (77, 2048), (45, 768), (101, 8192)] {
            let detail = "t 1 2×\(half) k \(k)"
            check("gate_up_silu", detail) { s in
                let (wc, wg) = try s.pair(2 * half, k, scale: 0.2)
                let (xc, xg) = try s.pair(1, k)
                // The CPU backend computes in f32 (its activations are f32).
                let scratch = try s.cpu.allocate([1, 2 * half], dtype: .f32, zeroed: false)
                let (oc, og) = try s.outputs(1, half)
                try s.cpu.linear(xc, Linear(weight: wc), out: scratch)
                try s.cpu.siluAndMul(scratch, out: oc)
                guard try s.gpu.gemvSiLU(xg, wg, out: og, weightIsStatic: true, maxK: 16384) else {
                    throw BackendError.invalidArgument("gate_up_silu declined \(detail)")
                }
                try s.compare("gate_up_silu", detail, oc, og)
            }
        }
        for t in [1, 3] {
            check("gate_up_silu", "linearSiLUAndMul t \(t) 2×128 k 512") { s in
                let (wc, wg) = try s.pair(256, 512, scale: 0.2)
                let (xc, xg) = try s.pair(t, 512)
                let (oc, og) = try s.outputs(t, 128)
                try s.cpu.linearSiLUAndMul(xc, Linear(weight: wc), scratch: try s.cpu.allocate([t, 256], dtype: .f32, zeroed: false), out: oc)
                try s.gpu.linearSiLUAndMul(xg, Linear(weight: wg), scratch: try s.gpu.allocate([t, 256], dtype: .bf16, zeroed: false), out: og)
                try s.compare("gate_up_silu", "linearSiLUAndMul t \(t)", oc, og)
            }
        }
    }

    mutating func ropes() {
        for (interleaved, rotary, offset, pad) in [(false, 64, 0, 0), (true, 32, 16, 0), (false, 32, 0, 24), (true, 64, 0, 8)] {
            let detail = "\(interleaved ? "interleaved" : "neox") rot \(rotary) off \(offset)\(pad > 0 ? " strided" : "")"
            check("rope", detail) { s in
                let maxPositions = 64, half = rotary / 2
                let angles = (0..<(maxPositions * half)).map { _ in s.random.signed() * 3.14 }
                let cosValues = angles.map { Foundation.cos($0) }, sinValues = angles.map { Foundation.sin($0) }
                func table(_ b: any Backend) throws -> RotaryTable {
                    RotaryTable(cos: try b.upload(floats: cosValues, shape: [maxPositions, half], as: .f32),
                                sin: try b.upload(floats: sinValues, shape: [maxPositions, half], as: .f32), rotaryDim: rotary, interleaved: interleaved)
                }
                let positions = (0..<6).map { _ in Int32(s.random.below(maxPositions)) }
                let (xc, xg) = try s.pair(6, 4 * 64, pad: pad)
                try s.cpu.rope(xc, headDim: 64, rotaryOffset: offset, positions: try s.cpu.upload(int32s: positions, shape: [6]), table: try table(s.cpu))
                try s.gpu.rope(xg, headDim: 64, rotaryOffset: offset, positions: try s.gpu.upload(int32s: positions, shape: [6]), table: try table(s.gpu))
                try s.compare("rope", detail, xc, xg)
            }
        }
    }

    /// q and k heads of a fused qkv row rotated by one call (40 heads × 64 pairs: several blocks
    /// per row), v columns left alone — the decode layout of Llama-3.1-8B.
    mutating func fusedRope() {
        check("rope", "q+k of fused qkv, 32+8 heads d128, v untouched") { s in
            let (heads, kvHeads, d, rows, maxPositions) = (32, 8, 128, 3, 16)
            let half = d / 2, width = (heads + 2 * kvHeads) * d
            let angles = (0..<(maxPositions * half)).map { _ in s.random.signed() * 3.14 }
            let cosValues = angles.map { Foundation.cos($0) }, sinValues = angles.map { Foundation.sin($0) }
            func table(_ b: any Backend) throws -> RotaryTable {
                RotaryTable(cos: try b.upload(floats: cosValues, shape: [maxPositions, half], as: .f32),
                            sin: try b.upload(floats: sinValues, shape: [maxPositions, half], as: .f32), rotaryDim: d, interleaved: false)
            }
            let positions: [Int32] = [0, 7, 15]
            let (xc, xg) = try s.pair(rows, width)
            let qk = 0..<((heads + kvHeads) * d)
            try s.cpu.rope(xc.columns(qk), headDim: d, rotaryOffset: 0, positions: try s.cpu.upload(int32s: positions, shape: [rows]), table: try table(s.cpu))
            try s.gpu.rope(xg.columns(qk), headDim: d, rotaryOffset: 0, positions: try s.gpu.upload(int32s: positions, shape: [rows]), table: try table(s.gpu))
            try s.compare("rope", "q+k of fused qkv, 32+8 heads d128, v untouched", xc, xg)
        }
    }

    /// ropeAndStoreKV: the CUDA backend's one-launch kernel (NeoX pairs) and its fallback (interleaved
    /// pairs: one rope over the adjacent q, k columns + storeKV) against the CPU's rope, rope, storeKV
    /// on a fused qkv row layout.
    mutating func ropeStores() {
        for interleaved in [false, true] {
            let detail = "qkv 8+2+2 heads d64, 5 rows, \(interleaved ? "interleaved (fallback)" : "neox (one kernel)")"
            check("ropeAndStoreKV", detail) { s in
                let (heads, kvHeads, d, rows, maxPositions) = (8, 2, 64, 5, 32)
                let half = d / 2, qDim = heads * d, kvDim = kvHeads * d
                let angles = (0..<(maxPositions * half)).map { _ in s.random.signed() * 3.14 }
                let cosValues = angles.map { Foundation.cos($0) }, sinValues = angles.map { Foundation.sin($0) }
                func table(_ b: any Backend) throws -> RotaryTable {
                    RotaryTable(cos: try b.upload(floats: cosValues, shape: [maxPositions, half], as: .f32),
                                sin: try b.upload(floats: sinValues, shape: [maxPositions, half], as: .f32), rotaryDim: d, interleaved: interleaved)
                }
                let layout = KVCacheLayout(layers: 2, kvHeads: kvHeads, keyDim: d, valueDim: d, dtype: .f32)
                var gpuLayout = layout
                gpuLayout.dtype = .bf16
                let cc = try s.cpu.makeKVCache(layout: layout, pageSize: 4, pageCount: 3)
                let cg = try s.gpu.makeKVCache(layout: gpuLayout, pageSize: 4, pageCount: 3)
                let slots: [Int32] = [9, 2, 11, 0, 5]
                let positions: [Int32] = [3, 31, 0, 17, 8]
                let batch = ForwardBatch(tokenIDs: Array(repeating: 0, count: rows), positions: positions, slots: slots,
                                         sequences: [SequenceSpan(queryStart: 0, queryLength: rows, kvLength: rows, pageTableStart: 0)],
                                         pageTable: [0, 1, 2], pageSize: 4, logitRows: [Int32(rows - 1)])
                let (xc, xg) = try s.pair(rows, qDim + 2 * kvDim)
                let pc = try s.cpu.prepare(batch), pg = try s.gpu.prepare(batch)
                try s.cpu.ropeAndStoreKV(query: xc.columns(0..<qDim), key: xc.columns(qDim..<qDim + kvDim),
                                         value: xc.columns(qDim + kvDim..<qDim + 2 * kvDim), headDim: d, positions: pc.positions,
                                         table: try table(s.cpu), cache: cc, layer: 1, batch: pc)
                try s.gpu.ropeAndStoreKV(query: xg.columns(0..<qDim), key: xg.columns(qDim..<qDim + kvDim),
                                         value: xg.columns(qDim + kvDim..<qDim + 2 * kvDim), headDim: d, positions: pg.positions,
                                         table: try table(s.gpu), cache: cg, layer: 1, batch: pg)
                try s.compare("ropeAndStoreKV", detail + " (q, k rotated)", xc, xg)
                try s.compare("ropeAndStoreKV", detail + " (key cache)", cc.keys[1], cg.keys[1])
                try s.compare("ropeAndStoreKV", detail + " (value cache)", cc.values[1], cg.values[1], tolerance: 0)
            }
        }
    }

    mutating func argmaxes() {
        for (rows, width, dtype) in [(5, 1000, DType.f32), (3, 513, DType.bf16), (1, 1, DType.f32)] {
            check("argmax", "\(rows) × \(width) \(dtype)") { s in
                let (xc, xg) = try s.pair(rows, width, dtype: dtype)
                let a = try s.cpu.argmax(xc), b = try s.gpu.argmax(xg)
                let mismatches = zip(a, b).filter { $0 != $1 }.count
                s.record("argmax", "\(rows) × \(width) \(dtype)", error: Double(mismatches), tolerance: 0)
            }
        }
    }
}
