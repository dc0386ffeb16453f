import TernBackend
import TernCore

/// A linear layer's parameters on the backend (Hugging Face layout: weight `[out, in]`).
public struct Linear: Sendable {
    public var weight: Tensor
    public var bias: Tensor?

    public var inFeatures: Int { weight.rowSize }
    public var outFeatures: Int { weight.rows }

    /// out = x · Wᵀ + b
    public func callAsFunction(_ x: Tensor, into out: Tensor, on backend: any Backend) throws {
        try backend.linear(x, weight: weight, bias: bias, out: out)
    }
}

/// Loads named tensors from a `WeightSource` onto a backend, checking shapes.
public struct WeightLoader: Sendable {
    public let source: any WeightSource
    public let backend: any Backend
    /// dtype asked of dummy sources (checkpoints return what they store).
    public let dtype: DType

    public init(source: any WeightSource, backend: any Backend, dtype: DType) {
        self.source = source
        self.backend = backend
        self.dtype = dtype
    }

    public func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
        try backend.upload(try source.tensor(name, shape: shape, dtype: dtype), as: nil)
    }

    public func linear(_ prefix: String, out: Int, in inFeatures: Int, bias: Bool = false) throws -> Linear {
        Linear(weight: try tensor("\(prefix).weight", [out, inFeatures]),
               bias: bias ? try tensor("\(prefix).bias", [out]) : nil)
    }
}
