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
