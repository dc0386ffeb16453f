import TernCore

/// Memory a backend owns (or borrows, e.g. a memory-mapped checkpoint) for tensors.
/// The CPU backend fills `host`; the CUDA backend fills `deviceAddress`.
public final class TensorStorage: @unchecked Sendable {
    public let byteCount: Int
    public let host: UnsafeMutableRawPointer?
    public let deviceAddress: UInt64
    /// Keeps borrowed memory (a mapping, a host buffer) alive.
    private let owner: AnyObject?
    private let release: (@Sendable () -> Void)?

    public init(byteCount: Int, host: UnsafeMutableRawPointer?, deviceAddress: UInt64 = 0,
                owner: AnyObject? = nil, release: (@Sendable () -> Void)? = nil) {
        self.byteCount = byteCount
        self.host = host
        self.deviceAddress = deviceAddress
        self.owner = owner
        self.release = release
    }

    deinit { release?() }
}

/// A tensor on some backend: a dtype, a shape and a place in a storage.
/// Row-major; the first dimension may be strided (`rowStride` elements between rows) so that
/// column slices of a fused projection (q, k, v of one qkv matmul) are views, not copies.
public struct Tensor: @unchecked Sendable {
    public let storage: TensorStorage
    public let byteOffset: Int
    public let shape: [Int]
    public let dtype: DType
    public let rowStride: Int

    public init(storage: TensorStorage, byteOffset: Int = 0, shape: [Int], dtype: DType, rowStride: Int? = nil) {
        self.storage = storage
        self.byteOffset = byteOffset
        self.shape = shape
        self.dtype = dtype
        self.rowStride = rowStride ?? shape.dropFirst().reduce(1, *)
    }

    public var rank: Int { shape.count }
    public var elementCount: Int { shape.reduce(1, *) }
    /// Size of dimension 0 (1 for a scalar).
    public var rows: Int { shape.first ?? 1 }
    /// Elements in one row (product of all but the first dimension).
    public var rowSize: Int { shape.dropFirst().reduce(1, *) }
    public var isContiguous: Bool { rowStride == rowSize }

    public var hostPointer: UnsafeMutableRawPointer {
        guard let base = storage.host else { preconditionFailure("tensor has no host memory") }
        return base + byteOffset
    }

    public func typedHost<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        hostPointer.assumingMemoryBound(to: T.self)
    }

    /// Rows `range` of dimension 0, as a view.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "row range \(range) outside \(shape)")
        var newShape = shape
        newShape[0] = range.count
        return Tensor(storage: storage, byteOffset: byteOffset + range.lowerBound * rowStride * dtype.byteSize,
                      shape: newShape, dtype: dtype, rowStride: rowStride)
    }

    /// Columns `range` of a 2-D tensor, as a strided view.
    public func columns(_ range: Range<Int>) -> Tensor {
        precondition(rank == 2 && range.lowerBound >= 0 && range.upperBound <= shape[1], "column range \(range) outside \(shape)")
        return Tensor(storage: storage, byteOffset: byteOffset + range.lowerBound * dtype.byteSize,
                      shape: [shape[0], range.count], dtype: dtype, rowStride: rowStride)
    }

    /// Same memory, another shape with the same first dimension stride semantics; requires contiguity
    /// unless only the trailing dimensions are regrouped.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == elementCount, "cannot reshape \(shape) to \(newShape)")
        if isContiguous {
            return Tensor(storage: storage, byteOffset: byteOffset, shape: newShape, dtype: dtype)
        }
        precondition(newShape.first == rows, "strided tensor can only regroup trailing dims")
        return Tensor(storage: storage, byteOffset: byteOffset, shape: newShape, dtype: dtype, rowStride: rowStride)
    }
}
