import Foundation
import TernCore

/// Exact fp32 backend in Swift: multithreaded, SIMD, the reference the CUDA backend is tested against.
public final class CPUBackend: Backend, @unchecked Sendable {
    public let name = "cpu"
    public let activationDType: DType = .f32

    public init() {}

    // MARK: memory

    public func allocate(_ shape: [Int], dtype: DType) throws -> Tensor {
        try allocate(shape, dtype: dtype, zeroed: true)
    }

    /// Unzeroed buffers are filled with 0xFF bytes (NaN as f32/bf16, -1 as i32): model code that
    /// reads an element no op wrote shows up as NaN in the tests instead of as a lucky zero.
    public func allocate(_ shape: [Int], dtype: DType, zeroed: Bool) throws -> Tensor {
        let count = shape.reduce(1, *) * dtype.byteSize
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: zeroed ? 0 : 0xFF, count: max(count, 1))
        let address = UncheckedSendable(pointer)
        let storage = TensorStorage(byteCount: count, host: pointer, release: { address.value.deallocate() })
        return Tensor(storage: storage, shape: shape, dtype: dtype)
    }

    public func upload(_ tensor: HostTensor, as dtype: DType?) throws -> Tensor {
        let target = dtype ?? tensor.dtype
        if target == tensor.dtype, let base = tensor.data.baseAddress {
            // Borrow the checkpoint's memory (a mapping): weights are never copied on the CPU.
            let storage = TensorStorage(byteCount: tensor.data.count, host: UnsafeMutableRawPointer(mutating: base),
                                        owner: tensor.owner)
            return Tensor(storage: storage, shape: tensor.shape, dtype: target)
        }
        guard target == .f32 || target == .bf16 || target == .f16 else {
            throw BackendError.unsupported("cpu: converting \(tensor.name) from \(tensor.dtype) to \(target)")
        }
        let out = try allocate(tensor.shape, dtype: target)
        guard let base = tensor.data.baseAddress else { return out }
        let count = tensor.elementCount
        switch target {
        case .f32:
            convertToFloat(base, tensor.dtype, count: count, into: out.typedHost(Float.self))
        case .bf16:
            let dst = out.typedHost(UInt16.self)
            for i in 0..<count { dst[i] = floatToBF16(loadAsFloat(base, tensor.dtype, i)) }
        default:
            let dst = out.typedHost(UInt16.self)
            for i in 0..<count { dst[i] = floatToF16(loadAsFloat(base, tensor.dtype, i)) }
        }
        return out
    }

    public func upload(floats: [Float], shape: [Int], as dtype: DType) throws -> Tensor {
        precondition(floats.count == shape.reduce(1, *), "upload: \(floats.count) values for shape \(shape)")
        let out = try allocate(shape, dtype: dtype)
        switch dtype {
        case .f32: floats.withUnsafeBufferPointer { out.typedHost(Float.self).update(from: $0.baseAddress!, count: floats.count) }
        case .bf16: for (i, v) in floats.enumerated() { out.typedHost(UInt16.self)[i] = floatToBF16(v) }
        case .f16: for (i, v) in floats.enumerated() { out.typedHost(UInt16.self)[i] = floatToF16(v) }
        default: throw BackendError.unsupported("cpu: upload floats as \(dtype)")
        }
        return out
    }

    public func upload(int32s: [Int32], shape: [Int]) throws -> Tensor {
        let out = try allocate(shape, dtype: .i32)
        int32s.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { out.typedHost(Int32.self).update(from: base, count: src.count) }
        }
        return out
    }

    public func downloadFloats(_ tensor: Tensor) throws -> [Float] {
        var result = [Float](repeating: 0, count: tensor.elementCount)
        let width = tensor.rowSize
        result.withUnsafeMutableBufferPointer { dst in
            for r in 0..<tensor.rows {
                convertToFloat(tensor.hostPointer + r * tensor.rowStride * tensor.dtype.byteSize, tensor.dtype,
                               count: width, into: dst.baseAddress! + r * width)
            }
        }
        return result
    }

    public func downloadInt32s(_ tensor: Tensor) throws -> [Int32] {
        precondition(tensor.dtype == .i32 && tensor.isContiguous)
        return Array(UnsafeBufferPointer(start: tensor.typedHost(Int32.self), count: tensor.elementCount))
    }

    public func makeKVCache(layout: KVCacheLayout, pageSize: Int, pageCount: Int) throws -> KVCache {
        guard [.f32, .bf16, .f8e4m3].contains(layout.dtype) else { throw BackendError.unsupported("cpu: KV cache dtype \(layout.dtype)") }
        let slots = pageSize * pageCount
        var keys: [Tensor] = [], values: [Tensor] = []
        for _ in 0..<layout.layers {
            keys.append(try allocate([slots, layout.kvHeads * layout.keyDim], dtype: layout.dtype))
            if layout.valueDim > 0 {
                values.append(try allocate([slots, layout.kvHeads * layout.valueDim], dtype: layout.dtype))
            }
        }
        return KVCache(layout: layout, pageSize: pageSize, pageCount: pageCount, keys: keys, values: values)
    }

    public func prepare(_ batch: ForwardBatch) throws -> PreparedBatch {
        let t = batch.tokenCount
        return PreparedBatch(batch: batch,
                             tokenIDs: try upload(int32s: batch.tokenIDs, shape: [t]),
                             positions: try upload(int32s: batch.positions, shape: [t]),
                             slots: try upload(int32s: batch.slots, shape: [t]),
                             logitRows: try upload(int32s: batch.logitRows, shape: [batch.logitRows.count]))
    }

    public func synchronize() throws {}

    // MARK: operations

    public func embedding(ids: Tensor, table: Tensor, out: Tensor) throws {
        try expect(out.dtype == .f32, "embedding output must be f32")
        let width = table.rowSize, vocab = table.rows
        let idPointer = ids.typedHost(Int32.self)
        for t in 0..<ids.elementCount {
            let id = Int(idPointer[t])
            guard id >= 0 && id < vocab else { throw BackendError.invalidArgument("token id \(id) outside vocabulary of \(vocab)") }
            convertToFloat(table.hostPointer + id * table.rowStride * table.dtype.byteSize, table.dtype, count: width,
                           into: out.typedHost(Float.self) + t * out.rowStride)
        }
    }

    public func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float, out: Tensor) throws {
        try normRows(x, residual: nil, weight: weight, eps: eps, out: out)
    }

    public func addRMSNorm(_ x: Tensor, residual: Tensor, weight: Tensor, eps: Float, out: Tensor) throws {
        try normRows(x, residual: residual, weight: weight, eps: eps, out: out)
    }

    private func normRows(_ x: Tensor, residual: Tensor?, weight: Tensor, eps: Float, out: Tensor) throws {
        let group = weight.elementCount
        let width = x.rowSize
        try expect(width % group == 0, "rmsNorm: row width \(width) not a multiple of weight size \(group)")
        try expect(x.dtype == .f32 && out.dtype == .f32, "rmsNorm expects f32 activations")
        let gamma = try downloadFloats(weight)
        let args = UncheckedSendable((x.typedHost(Float.self), residual?.typedHost(Float.self), out.typedHost(Float.self)))
        let (xs, rs, os) = (x.rowStride, residual?.rowStride ?? 0, out.rowStride)
        parallelChunks(x.rows, grain: 16) { range in
            let (xp, rp, op) = args.value
            gamma.withUnsafeBufferPointer { g in
                for row in range {
                    var source = UnsafePointer(xp + row * xs)
                    if let rp {
                        let r = rp + row * rs
                        for i in 0..<width { r[i] += source[i] }
                        source = UnsafePointer(r)
                    }
                    let o = op + row * os
                    var start = 0
                    while start < width {
                        let s = source + start
                        let meanSquare = dot(s, s, group) / Float(group)
                        let inv = 1 / (meanSquare + eps).squareRoot()
                        for i in 0..<group { o[start + i] = g[i] * (s[i] * inv) }
                        start += group
                    }
                }
            }
        }
    }

    public func linear(_ x: Tensor, _ layer: Linear, out: Tensor) throws {
        let k = x.rowSize, n = layer.outFeatures, weight = layer.weight
        try expect(layer.inFeatures == k, "linear: input width \(k) vs weight \(weight.shape)")
        try expect(out.rowSize == n && out.rows == x.rows, "linear: output \(out.shape) for \(x.rows)×\(n)")
        try expect(x.dtype == .f32 && out.dtype == .f32 && weight.isContiguous, "linear: f32 activations, contiguous weight")
        let format: WeightFormat
        switch layer.quantization {
        case nil:
            try expect([.f32, .bf16, .f16].contains(weight.dtype), "linear: weight dtype \(weight.dtype) without quantization scales")
            format = .plain
        case let .fp8Block(scales, br, bc)?:
            try expect(weight.dtype == .f8e4m3 && scales.dtype == .f32, "linear: fp8 block weights need e4m3 values and f32 scales")
            try expect(scales.rows >= (n + br - 1) / br && scales.rowSize >= (k + bc - 1) / bc, "linear: scale shape \(scales.shape) for \(n)×\(k) in \(br)×\(bc) blocks")
            format = .fp8Block(scales: UnsafePointer(scales.typedHost(Float.self)), scaleStride: scales.rowStride, blockRows: br, blockColumns: bc)
        case let .nvfp4(scales, global)?:
            try expect(weight.dtype == .u8 && scales.dtype == .f8e4m3 && k % 16 == 0, "linear: nvfp4 needs u8 packed weights, e4m3 scales, in % 16 == 0")
            format = .nvfp4(scales: UnsafePointer(scales.typedHost(UInt8.self)), scaleStride: scales.rowStride, globalScale: global)
        }
        var input = x
        if let group = layer.activationGroupSize {
            input = try allocate([x.rows, k], dtype: .f32)
            try copy(x, to: input)
            fakeQuantizeE4M3(input, groupSize: group)
        }
        cpuLinear(x: input.typedHost(Float.self), xStride: input.rowStride, m: x.rows, k: k,
                  weight: weight.hostPointer, weightDType: weight.dtype, n: n,
                  bias: layer.bias.map { UnsafeRawPointer($0.hostPointer) }, biasDType: layer.bias?.dtype ?? .f32,
                  out: out.typedHost(Float.self), outStride: out.rowStride, format: format)
    }

    /// The layer's weight as fp32 `[out, in]`, dequantized from whatever format it is stored in.
    public func dequantize(_ layer: Linear) throws -> [Float] {
        let k = layer.inFeatures, n = layer.outFeatures
        let format: WeightFormat
        switch layer.quantization {
        case nil: format = .plain
        case let .fp8Block(scales, br, bc)?:
            format = .fp8Block(scales: UnsafePointer(scales.typedHost(Float.self)), scaleStride: scales.rowStride, blockRows: br, blockColumns: bc)
        case let .nvfp4(scales, global)?:
            format = .nvfp4(scales: UnsafePointer(scales.typedHost(UInt8.self)), scaleStride: scales.rowStride, globalScale: global)
        }
        var result = [Float](repeating: 0, count: n * k)
        result.withUnsafeMutableBufferPointer { format.dequantize(layer.weight.hostPointer, layer.weight.dtype, rows: 0..<n, k: k, into: $0.baseAddress!) }
        return result
    }

    /// Rounds every group of `groupSize` values of each row to e4m3 with a dynamic scale
    /// (amax / 448), as DeepSeek's per-token-group activation quantization.
    private func fakeQuantizeE4M3(_ x: Tensor, groupSize: Int) {
        let width = x.rowSize
        for row in 0..<x.rows {
            let p = x.typedHost(Float.self) + row * x.rowStride
            var start = 0
            while start < width {
                let end = min(width, start + groupSize)
                var amax: Float = 0
                for i in start..<end { amax = max(amax, abs(p[i])) }
                let scale = amax > 0 ? amax / 448 : 1
                for i in start..<end { p[i] = decodeE4M3(encodeE4M3Fast(p[i] / scale)) * scale }
                start = end
            }
        }
    }

    public func rope(_ x: Tensor, headDim: Int, rotaryOffset: Int, positions: Tensor, table: RotaryTable) throws {
        let width = x.rowSize, half = table.rotaryDim / 2
        try expect(width % headDim == 0 && rotaryOffset + table.rotaryDim <= headDim, "rope: width \(width), head \(headDim), rotary \(table.rotaryDim)")
        let maxPosition = table.cos.rows
        let pos = positions.typedHost(Int32.self)
        for t in 0..<x.rows { try expect(Int(pos[t]) < maxPosition && pos[t] >= 0, "rope: position \(pos[t]) beyond table of \(maxPosition)") }
        let args = UncheckedSendable((x.typedHost(Float.self), pos, table.cos.typedHost(Float.self), table.sin.typedHost(Float.self)))
        let stride = x.rowStride, interleaved = table.interleaved
        parallelChunks(x.rows, grain: 32) { range in
            let (xp, pos, cosTable, sinTable) = args.value
            for t in range {
                let c = cosTable + Int(pos[t]) * half, s = sinTable + Int(pos[t]) * half
                var head = xp + t * stride + rotaryOffset
                for _ in 0..<(width / headDim) {
                    for i in 0..<half {
                        let (a, b) = interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
                        let x1 = head[a], x2 = head[b]
                        head[a] = x1 * c[i] - x2 * s[i]
                        head[b] = x2 * c[i] + x1 * s[i]
                    }
                    head += headDim
                }
            }
        }
    }

    public func storeKV(key: Tensor, value: Tensor?, cache: KVCache, layer: Int, batch: PreparedBatch) throws {
        let slots = batch.slots.typedHost(Int32.self)
        func store(_ source: Tensor, _ target: Tensor, scale: Float) throws {
            try expect(source.rowSize == target.rowSize, "storeKV: row \(source.rowSize) vs cache \(target.rowSize)")
            try expect(source.dtype == .f32, "storeKV: f32 rows expected, got \(source.dtype)")
            let width = source.rowSize
            for t in 0..<source.rows {
                let slot = Int(slots[t])
                try expect(slot >= 0 && slot < target.rows, "storeKV: slot \(slot) outside cache of \(target.rows)")
                let row = source.typedHost(Float.self) + t * source.rowStride
                switch target.dtype {
                case .f32:
                    (target.typedHost(Float.self) + slot * target.rowStride).update(from: row, count: width)
                case .bf16:
                    let dst = target.typedHost(UInt16.self) + slot * target.rowStride
                    for i in 0..<width { dst[i] = floatToBF16(row[i]) }
                case .f8e4m3:
                    // Quantize on write: e4m3(x / scale), round to nearest even, saturating at ±448.
                    let dst = target.typedHost(UInt8.self) + slot * target.rowStride, inverse = 1 / scale
                    for i in 0..<width { dst[i] = encodeE4M3Fast(row[i] * inverse) }
                default:
                    throw BackendError.unsupported("cpu: KV cache dtype \(target.dtype)")
                }
            }
        }
        try store(key, cache.keys[layer], scale: cache.keyScales[layer])
        if let value { try store(value, cache.values[layer], scale: cache.valueScales[layer]) }
    }

    public func attention(query: Tensor, cache: KVCache, layer: Int, batch: PreparedBatch,
                          parameters p: AttentionParameters, out: Tensor) throws {
        let keys = cache.keys[layer], values = cache.values.isEmpty ? nil : cache.values[layer]
        guard keys.dtype != .f32 else {
            try cpuPagedAttention(query: query, keys: keys, values: values, batch: batch.batch, parameters: p, out: out)
            return
        }
        // bf16 / FP8 caches: each sequence's rows, dequantized (× the layer's scale), into a dense f32
        // copy with one-token pages; then the same exact attention.
        let b = batch.batch
        let total = b.kvRowCount
        let dense = b.overDenseKVRows()
        let denseKeys = try allocate([max(total, 1), keys.rowSize], dtype: .f32)
        try dequantizeCachedRows(keys, scale: cache.keyScales[layer], batch: b, out: denseKeys)
        var denseValues: Tensor?
        if let values {
            denseValues = try allocate([max(total, 1), values.rowSize], dtype: .f32)
            try dequantizeCachedRows(values, scale: cache.valueScales[layer], batch: b, out: denseValues!)
        }
        try cpuPagedAttention(query: query, keys: denseKeys, values: denseValues, batch: dense, parameters: p, out: out)
    }

    /// Every cached row of every sequence of `batch`, in sequence order, as f32 (× `scale` for FP8).
    private func dequantizeCachedRows(_ cached: Tensor, scale: Float, batch b: ForwardBatch, out: Tensor) throws {
        try expect(out.rowSize == cached.rowSize && out.dtype == .f32, "cached rows: output \(out.dtype) x \(out.rowSize), expected f32 x \(cached.rowSize) (the cache's width)")
        let width = cached.rowSize, e = cached.dtype.byteSize
        var row = 0
        for seq in b.sequences {
            for j in 0..<seq.kvLength {
                let slot = Int(b.pageTable[seq.pageTableStart + j / b.pageSize]) * b.pageSize + j % b.pageSize
                try expect(slot >= 0 && slot < cached.rows, "cached rows: slot \(slot) outside cache of \(cached.rows)")
                try expect(row < out.rows, "cached rows: output has \(out.rows) rows")
                let dst = out.typedHost(Float.self) + row * out.rowStride
                convertToFloat(cached.hostPointer + slot * cached.rowStride * e, cached.dtype, count: width, into: dst)
                if cached.dtype == .f8e4m3 && scale != 1 { for i in 0..<width { dst[i] *= scale } }
                row += 1
            }
        }
    }

    public func siluAndMul(_ gateUp: Tensor, out: Tensor) throws {
        let n = out.rowSize
        try expect(gateUp.rowSize == 2 * n && gateUp.rows == out.rows, "siluAndMul: \(gateUp.shape) → \(out.shape)")
        let args = UncheckedSendable((gateUp.typedHost(Float.self), out.typedHost(Float.self)))
        let (gs, os) = (gateUp.rowStride, out.rowStride)
        parallelChunks(out.rows, grain: 8) { range in
            let (g, o) = args.value
            for row in range {
                let gate = g + row * gs, up = gate + n, dst = o + row * os
                for i in 0..<n {
                    let v = gate[i]
                    dst[i] = v / (1 + Foundation.exp(-v)) * up[i]
                }
            }
        }
    }

    public func add(_ a: Tensor, _ b: Tensor, out: Tensor) throws {
        try expect(a.shape == b.shape && a.shape == out.shape, "add: shapes \(a.shape) \(b.shape) \(out.shape)")
        let width = a.rowSize
        for row in 0..<a.rows {
            let pa = a.typedHost(Float.self) + row * a.rowStride, pb = b.typedHost(Float.self) + row * b.rowStride
            let po = out.typedHost(Float.self) + row * out.rowStride
            for i in 0..<width { po[i] = pa[i] + pb[i] }
        }
    }

    public func gatherRows(_ x: Tensor, rows: Tensor, out: Tensor) throws {
        let indices = rows.typedHost(Int32.self), width = x.rowSize
        for i in 0..<rows.elementCount {
            let r = Int(indices[i])
            try expect(r >= 0 && r < x.rows, "gatherRows: row \(r) outside \(x.rows)")
            (out.typedHost(Float.self) + i * out.rowStride).update(from: x.typedHost(Float.self) + r * x.rowStride, count: width)
        }
    }

    public func copy(_ source: Tensor, to destination: Tensor) throws {
        try expect(source.rows == destination.rows && source.rowSize == destination.rowSize, "copy: \(source.shape) → \(destination.shape)")
        try expect(source.dtype == destination.dtype, "copy: dtype \(source.dtype) → \(destination.dtype)")
        let bytes = source.rowSize * source.dtype.byteSize
        for row in 0..<source.rows {
            (destination.hostPointer + row * destination.rowStride * destination.dtype.byteSize)
                .copyMemory(from: source.hostPointer + row * source.rowStride * source.dtype.byteSize, byteCount: bytes)
        }
    }

    public func gatherCachedKeys(cache: KVCache, layer: Int, batch: PreparedBatch, out: Tensor) throws {
        try dequantizeCachedRows(cache.keys[layer], scale: cache.keyScales[layer], batch: batch.batch, out: out)
    }

    public func route(_ logits: Tensor, routing: Routing, expertIDs: Tensor, expertWeights: Tensor) throws {
        let bias = try routing.correctionBias.map { try downloadFloats($0) }
        try cpuRoute(logits: logits, routing: routing, bias: bias, ids: expertIDs, weights: expertWeights)
    }

    public func moe(_ x: Tensor, expertIDs: Tensor, expertWeights: Tensor, experts: ExpertSet, out: Tensor) throws {
        try cpuMoE(backend: self, x: x, ids: expertIDs, weights: expertWeights, experts: experts, out: out)
    }

    public func argmax(_ x: Tensor) throws -> [Int32] {
        let width = x.rowSize
        return (0..<x.rows).map { row in
            let p = x.typedHost(Float.self) + row * x.rowStride
            var best = 0
            for i in 1..<max(width, 1) where p[i] > p[best] { best = i }
            return Int32(best)
        }
    }

    @inline(__always)
    private func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw BackendError.invalidArgument(message()) }
    }
}

public enum BackendError: Error, CustomStringConvertible {
    case unsupported(String)
    case invalidArgument(String)
    case unavailable(String)

    public var description: String {
        switch self {
        case .unsupported(let m): return "unsupported: \(m)"
        case .invalidArgument(let m): return "invalid argument: \(m)"
        case .unavailable(let m): return "backend unavailable: \(m)"
        }
    }
}
