import TernBackend
import TernCheckpoint
import TernCore

/// Loads named tensors from a `WeightSource` onto a backend, checking shapes, and builds linear
/// layers in whatever format the checkpoint's quantization config says they are stored in.
public struct WeightLoader: Sendable {
    public let source: any WeightSource
    public let backend: any Backend
    /// dtype asked of dummy sources for unquantized tensors (checkpoints return what they store).
    public let dtype: DType
    public let quantization: QuantizationConfig?
    /// Quantize activations of FP8 layers per token group (w8a8), when the format is dynamic.
    public let quantizeActivations: Bool

    public init(source: any WeightSource, backend: any Backend, dtype: DType,
                quantization: QuantizationConfig? = nil, quantizeActivations: Bool = true) {
        self.source = source
        self.backend = backend
        self.dtype = dtype
        self.quantization = quantization
        self.quantizeActivations = quantizeActivations
    }

    public func tensor(_ name: String, _ shape: [Int], dtype wanted: DType? = nil) throws -> Tensor {
        try backend.upload(try source.tensor(name, shape: shape, dtype: wanted ?? dtype), as: nil)
    }

    /// The fp32 values of a tensor (small tensors the model transforms at load, e.g. MLA's kv_b_proj).
    public func hostFloats(_ name: String, _ shape: [Int]) throws -> [Float] {
        try source.tensor(name, shape: shape, dtype: dtype).floats()
    }

    /// The linear layer `prefix` (`prefix.weight`, optional `prefix.bias`, quantization scales).
    public func linear(_ prefix: String, out: Int, in inFeatures: Int, bias: Bool = false) throws -> Linear {
        let biasTensor = bias ? try tensor("\(prefix).bias", [out]) : nil
        switch quantization {
        case let .fp8Block(br, bc, dynamic)? where quantization!.quantizes(prefix):
            let weight = try tensor("\(prefix).weight", [out, inFeatures], dtype: .f8e4m3)
            let scales = try tensor("\(prefix).weight_scale_inv", [(out + br - 1) / br, (inFeatures + bc - 1) / bc], dtype: .f32)
            return Linear(weight: weight, bias: biasTensor, quantization: .fp8Block(scales: scales, blockRows: br, blockColumns: bc),
                          activationGroupSize: dynamic && quantizeActivations ? bc : nil)
        case let .nvfp4(group, _)? where quantization!.quantizes(prefix):
            let weight = try tensor("\(prefix).weight", [out, inFeatures / 2], dtype: .u8)
            let scales = try tensor("\(prefix).weight_scale", [out, inFeatures / group], dtype: .f8e4m3)
            let global = try source.tensor("\(prefix).weight_scale_2", shape: shapeOfScalar("\(prefix).weight_scale_2"), dtype: .f32).floats()
            guard global.count == 1 else { throw WeightError.shapeMismatch(name: "\(prefix).weight_scale_2", file: source.origin, expected: [], found: [global.count]) }
            return Linear(weight: weight, bias: biasTensor, quantization: .nvfp4(scales: scales, globalScale: global[0]), inFeatures: inFeatures)
        default:
            return Linear(weight: try tensor("\(prefix).weight", [out, inFeatures]), bias: biasTensor)
        }
    }

    /// Several plain linear layers that read the same input (q/k/v, gate/up) as one layer whose
    /// weight rows are theirs one after the other (`[Σ outs, in]`, concatenated on the host at load),
    /// so a step runs one GEMM instead of several. nil when any of them is quantized or their
    /// stored dtypes differ: the caller keeps them separate. `fp8Blocks`: FP8 block-scaled layers fuse too
    /// when all of them are quantized and every part but the last ends on a block row boundary (their
    /// scale rows then concatenate into the fused layer's block grid, and a row's products are unchanged).
    public func fusedLinear(_ prefixes: [String], outs: [Int], in inFeatures: Int, bias: Bool = false, name: String,
                            fp8Blocks: Bool = false) throws -> Linear? {
        precondition(prefixes.count == outs.count && !prefixes.isEmpty)
        if let quantization, prefixes.contains(where: { quantization.quantizes($0) }) {
            guard fp8Blocks, case let .fp8Block(br, bc, dynamic) = quantization, prefixes.allSatisfy({ quantization.quantizes($0) }),
                  outs.dropLast().allSatisfy({ $0 % br == 0 }) else { return nil }
            let total = outs.reduce(0, +), scaleColumns = (inFeatures + bc - 1) / bc
            let weights = try zip(prefixes, outs).map { try source.tensor("\($0).weight", shape: [$1, inFeatures], dtype: .f8e4m3) }
            let scales = try zip(prefixes, outs).map {
                try source.tensor("\($0).weight_scale_inv", shape: [($1 + br - 1) / br, scaleColumns], dtype: .f32)
            }
            guard let weight = Self.concatenate(weights, name: "\(name).weight", shape: [total, inFeatures]),
                  let scale = Self.concatenate(scales, name: "\(name).weight_scale_inv", shape: [(total + br - 1) / br, scaleColumns])
            else { return nil }
            var biasTensor: Tensor?
            if bias {
                let biases = try zip(prefixes, outs).map { try source.tensor("\($0).bias", shape: [$1], dtype: dtype) }
                guard let b = Self.concatenate(biases, name: "\(name).bias", shape: [total]) else { return nil }
                biasTensor = try backend.upload(b, as: nil)
            }
            return Linear(weight: try backend.upload(weight, as: nil), bias: biasTensor,
                          quantization: .fp8Block(scales: try backend.upload(scale, as: nil), blockRows: br, blockColumns: bc),
                          activationGroupSize: dynamic && quantizeActivations ? bc : nil)
        }
        let weights = try zip(prefixes, outs).map { try source.tensor("\($0).weight", shape: [$1, inFeatures], dtype: dtype) }
        let biases = bias ? try zip(prefixes, outs).map { try source.tensor("\($0).bias", shape: [$1], dtype: dtype) } : []
        guard let weight = Self.concatenate(weights, name: "\(name).weight", shape: [outs.reduce(0, +), inFeatures]) else { return nil }
        var biasTensor: Tensor?
        if bias {
            guard let b = Self.concatenate(biases, name: "\(name).bias", shape: [outs.reduce(0, +)]) else { return nil }
            biasTensor = try backend.upload(b, as: nil)
        }
        return Linear(weight: try backend.upload(weight, as: nil), bias: biasTensor)
    }

    /// Host tensors of one dtype, their bytes one after the other; nil when the dtypes differ.
    static func concatenate(_ parts: [HostTensor], name: String, shape: [Int]) -> HostTensor? {
        guard let dtype = parts.first?.dtype, parts.allSatisfy({ $0.dtype == dtype }) else { return nil }
        let total = parts.reduce(0) { $0 + $1.data.count }
        precondition(total == shape.reduce(1, *) * dtype.byteSize, "fused \(name): \(total) bytes for \(shape)")
        let owner = OwnedBytes(count: total)
        var offset = 0
        for part in parts {
            if let base = part.data.baseAddress, part.data.count > 0 { (owner.pointer + offset).copyMemory(from: base, byteCount: part.data.count) }
            offset += part.data.count
        }
        return HostTensor(name: name, dtype: dtype, shape: shape, data: owner.buffer, owner: owner)
    }

    /// ModelOpt writes scalar scales as shape [] or [1]; ask for whichever the source has.
    private func shapeOfScalar(_ name: String) -> [Int] {
        if let checkpoint = source as? ShapeReporting, let shape = checkpoint.shape(of: name) { return shape }
        return []
    }

    /// The weight of `prefix` as fp32 host values `[out, in]`, dequantized if stored quantized
    /// (load-time transforms such as MLA's absorbed projections start from these).
    public func dequantizedWeight(_ prefix: String, out: Int, in inFeatures: Int) throws -> [Float] {
        let cpu = CPUBackend()
        let host = WeightLoader(source: source, backend: cpu, dtype: dtype, quantization: quantization, quantizeActivations: false)
        return try cpu.dequantize(try host.linear(prefix, out: out, in: inFeatures))
    }
}

/// Sources that can report a stored tensor's shape (checkpoints can; dummy weights cannot).
public protocol ShapeReporting {
    func shape(of name: String) -> [Int]?
}

extension Checkpoint: ShapeReporting {
    public func shape(of name: String) -> [Int]? { info(name)?.shape }
}
