import Foundation
import TernBackend
import TernCore

extension OpSuite {
    /// The pre-norm fused into the T = 1 GEMV (`tern_gemv_bf16_t1_norm`, `tern_gemv_bf16_t1s_norm`,
    /// `tern_gemv_bf16_t1s_silu_norm`, forced whatever the environment says) against the CPU's
    /// addRMSNorm (or rmsNorm) then linear / siluAndMul: the projection and the updated residual, each
    /// call made twice in a row (the second launch finds the arrival counter the first left at 0, and
    /// adds x into the residual the first one wrote). Widths with a k tail shorter than a warp step,
    /// n no multiple of the block's rows, k up to the 8192 limit, f32 outputs, no residual add (the
    /// first layer; f32 outputs against a reference that rounds the residual and normed rows to bf16 as the
    /// kernel does). Then the backend entry points at T = 1 (fused only with TERN_CUDA_NORM_GEMV=1, else two kernels) and T = 3 (two kernels), with a bias,
    /// and the gate/up path of a model whose k the SiLU kernel does not take (norm GEMV + SiLU kernel).
    mutating func normGEMVs() {
        enum Kind: String { case warp = "warp per row", flat, silu }
        for (kind, n, k, add, f32) in [(Kind.warp, 96, 64, true, false), (.warp, 1000, 4096, true, false), (.warp, 6144, 4096, true, false),
                                       (.warp, 77, 264, false, true), (.warp, 45, 8192, true, false), (.warp, 300, 1032, true, false),
                                       (.flat, 1000, 4096, true, false), (.flat, 77, 2048, false, false), (.flat, 300, 8192, true, true),
                                       (.flat, 45, 768, true, false), (.silu, 600, 4096, true, false), (.silu, 154, 2048, false, false),
                                       (.silu, 202, 8192, true, false)] {
            let detail = "t 1 n \(n) k \(k) \(kind.rawValue)\(add ? " +residual" : "")\(f32 ? " f32 out" : "")"
            check("norm_gemv", detail) { s in
                let (wc, wg) = try s.pair(n, k, scale: 0.2)
                let (gc, gg) = try s.pair(1, k, dtype: .f32)
                let (rc, rg) = try s.pair(1, k, scale: 2)
                let (xc, xg) = try s.pair(1, k)
                let width = kind == .silu ? n / 2 : n
                let (oc, og) = try s.outputs(1, width, dtype: f32 ? .f32 : .bf16)
                let normed = try s.cpu.allocate([1, k], dtype: .f32, zeroed: false)
                let scratch = try s.cpu.allocate([1, n], dtype: .f32, zeroed: false)
                for call in 1...2 {
                    try s.cpu.preNorm(add ? xc : nil, residual: rc, weight: gc.reshaped([k]), eps: 1e-5, out: normed)
                    if f32 {
                        // The kernel keeps the residual stream and the normed row in bf16 (as tern_rms_norm_bf16x8
                        // writes them for the unfused GEMV); each rounding alone costs ~1.8e-3 relative against
                        // an f32 reference, more than the f32-out tolerance. Mirror both roundings here, so the
                        // f32 output checks the GEMV's own arithmetic at that tolerance.
                        try s.cpu.roundToBF16(rc)
                        try s.cpu.rmsNorm(rc, weight: gc.reshaped([k]), eps: 1e-5, out: normed)
                        try s.cpu.roundToBF16(normed)
                    }
                    try s.cpu.linear(normed, Linear(weight: wc), out: kind == .silu ? scratch : oc)
                    if kind == .silu { try s.cpu.siluAndMul(scratch, out: oc) }
                    guard try s.gpu.normGEMV(add ? xg : nil, residual: rg, weight: gg.reshaped([k]), eps: 1e-5, Linear(weight: wg), out: og,
                                             silu: kind == .silu, flat: kind == .warp ? false : true, force: true) else {
                        throw BackendError.invalidArgument("norm_gemv declined \(detail)")
                    }
                    try s.compare("norm_gemv", "\(detail) #\(call)", oc, og)
                    if add { try s.compare("norm_gemv", "\(detail) #\(call) residual", rc, rg) }
                }
            }
        }
        normGEMVRopes()
        for (t, k, bias) in [(1, 4096, true), (1, 512, false), (3, 512, true)] {
            let detail = "addRMSNormLinear t \(t) k \(k)\(bias ? " bias" : "")"
            check("norm_gemv", detail) { s in
                let (lc, lg) = try s.plainLayer(n: 384, k: k, bias: bias)
                let (gc, gg) = try s.pair(1, k, dtype: .f32)
                let (rc, rg) = try s.pair(t, k, scale: 2)
                let (xc, xg) = try s.pair(t, k)
                let (oc, og) = try s.outputs(t, 384)
                try s.cpu.addRMSNormLinear(xc, residual: rc, weight: gc.reshaped([k]), eps: 1e-6, lc,
                                           normed: try s.cpu.allocate([t, k], dtype: .f32, zeroed: false), out: oc)
                try s.gpu.addRMSNormLinear(xg, residual: rg, weight: gg.reshaped([k]), eps: 1e-6, lg,
                                           normed: try s.gpu.allocate([t, k], dtype: .bf16, zeroed: false), out: og)
                try s.compare("norm_gemv", detail, oc, og)
                try s.compare("norm_gemv", detail + " residual", rc, rg)
            }
        }
        for (t, k, add) in [(1, 64, true), (1, 512, false), (1, 4096, true), (3, 512, true)] {
            let detail = "addRMSNormLinearSiLUAndMul t \(t) k \(k)\(add ? "" : " no add")"
            check("norm_gemv", detail) { s in
                let (wc, wg) = try s.pair(256, k, scale: 0.2)
                let (gc, gg) = try s.pair(1, k, dtype: .f32)
                let (rc, rg) = try s.pair(t, k, scale: 2)
                let (xc, xg) = try s.pair(t, k)
                let (oc, og) = try s.outputs(t, 128)
                try s.cpu.addRMSNormLinearSiLUAndMul(add ? xc : nil, residual: rc, weight: gc.reshaped([k]), eps: 1e-6, Linear(weight: wc),
                                                     normed: try s.cpu.allocate([t, k], dtype: .f32, zeroed: false),
                                                     scratch: try s.cpu.allocate([t, 256], dtype: .f32, zeroed: false), out: oc)
                try s.gpu.addRMSNormLinearSiLUAndMul(add ? xg : nil, residual: rg, weight: gg.reshaped([k]), eps: 1e-6, Linear(weight: wg),
                                                     normed: try s.gpu.allocate([t, k], dtype: .bf16, zeroed: false),
                                                     scratch: try s.gpu.allocate([t, 256], dtype: .bf16, zeroed: false), out: og)
                try s.compare("norm_gemv", detail, oc, og)
                try s.compare("norm_gemv", detail + " residual", rc, rg)
            }
        }
    }

    /// `tern_gemv_bf16_t1_norm_rope` (forced) against the CPU's addRMSNorm, linear and ropeAndStoreKV:
    /// the qkv row (q and k rotated, v as projected), the key and value cache rows of the token's slot
    /// (and nothing else of the caches). Llama-3.1-8B's layer (32 + 8 + 8 heads of 128, k 4096), the
    /// fixture's (4 + 2 + 2 heads of 16, k 64) without the residual add, 8 + 2 + 2 heads of 64 at
    /// position 0; then the backend entry point at T = 1 and at T = 3 (the two-kernel path).
    mutating func normGEMVRopes() {
        for (heads, kvHeads, d, k, add, position, slot, t, forced) in [(32, 8, 128, 4096, true, 45, 37, 1, true),
                                                                       (4, 2, 16, 64, false, 63, 5, 1, true),
                                                                       (8, 2, 64, 512, true, 0, 0, 1, true),
                                                                       (8, 2, 64, 512, true, 17, 20, 1, false),
                                                                       (8, 2, 64, 512, true, 17, 20, 3, false)] {
            let detail = "qkv rope \(heads)+\(kvHeads)+\(kvHeads)×\(d) k \(k) t \(t)\(add ? "" : " no add")\(forced ? "" : " entry point")"
            check("norm_gemv", detail) { s in
                let n = (heads + 2 * kvHeads) * d, half = d / 2, maxPositions = 64
                let angles = (0..<(maxPositions * half)).map { _ in s.random.signed() * 3.14 }
                let cosValues = angles.map { Foundation.cos($0) }, sinValues = angles.map { Foundation.sin($0) }
                func table(_ b: any Backend) throws -> RotaryTable {
                    RotaryTable(cos: try b.upload(floats: cosValues, shape: [maxPositions, half], as: .f32),
                                sin: try b.upload(floats: sinValues, shape: [maxPositions, half], as: .f32), rotaryDim: d, interleaved: false)
                }
                let layout = KVCacheLayout(layers: 2, kvHeads: kvHeads, keyDim: d, valueDim: d, dtype: .f32)
                var gpuLayout = layout
                gpuLayout.dtype = .bf16
                let cc = try s.cpu.makeKVCache(layout: layout, pageSize: 4, pageCount: 16)
                let cg = try s.gpu.makeKVCache(layout: gpuLayout, pageSize: 4, pageCount: 16)
                let batch = ForwardBatch(tokenIDs: Array(repeating: 0, count: t), positions: (0..<t).map { Int32(position + $0) },
                                         slots: (0..<t).map { Int32(slot + $0) },
                                         sequences: [SequenceSpan(queryStart: 0, queryLength: t, kvLength: position + t, pageTableStart: 0)],
                                         pageTable: (0..<16).map { Int32($0) }, pageSize: 4, logitRows: [Int32(t - 1)])
                let pc = try s.cpu.prepare(batch), pg = try s.gpu.prepare(batch)
                let (wc, wg) = try s.pair(n, k, scale: 0.2)
                let (gc, gg) = try s.pair(1, k, dtype: .f32)
                let (rc, rg) = try s.pair(t, k, scale: 2)
                let (xc, xg) = try s.pair(t, k)
                let (oc, og) = try s.outputs(t, n)
                try s.cpu.addRMSNormQKVRopeStoreKV(add ? xc : nil, residual: rc, weight: gc.reshaped([k]), eps: 1e-5, Linear(weight: wc),
                                                   normed: try s.cpu.allocate([t, k], dtype: .f32, zeroed: false), out: oc, heads: heads,
                                                   kvHeads: kvHeads, headDim: d, positions: pc.positions, table: try table(s.cpu),
                                                   cache: cc, layer: 1, batch: pc)
                if forced {
                    guard try s.gpu.normGEMVRope(add ? xg : nil, residual: rg, weight: gg.reshaped([k]), eps: 1e-5, Linear(weight: wg), out: og,
                                                 heads: heads, kvHeads: kvHeads, headDim: d, positions: pg.positions, table: try table(s.gpu),
                                                 cache: cg, layer: 1, batch: pg) else {
                        throw BackendError.invalidArgument("norm_gemv rope declined \(detail)")
                    }
                } else {
                    try s.gpu.addRMSNormQKVRopeStoreKV(add ? xg : nil, residual: rg, weight: gg.reshaped([k]), eps: 1e-5, Linear(weight: wg),
                                                       normed: try s.gpu.allocate([t, k], dtype: .bf16, zeroed: false), out: og, heads: heads,
                                                       kvHeads: kvHeads, headDim: d, positions: pg.positions, table: try table(s.gpu),
                                                       cache: cg, layer: 1, batch: pg)
                }
                try s.compare("norm_gemv", detail + " (qkv)", oc, og)
                try s.compare("norm_gemv", detail + " (key cache)", cc.keys[1], cg.keys[1])
                try s.compare("norm_gemv", detail + " (value cache)", cc.values[1], cg.values[1])
                if add { try s.compare("norm_gemv", detail + " (residual)", rc, rg) }
            }
        }
    }
}

private extension Backend {
    /// `t` (an f32 tensor of this backend) rounded in place to the nearest bf16 values.
    func roundToBF16(_ t: Tensor) throws {
        let rounded = try downloadFloats(t).map { bf16ToFloat(floatToBF16($0)) }
        try copy(try upload(floats: rounded, shape: t.shape, as: .f32), to: t)
    }
}
