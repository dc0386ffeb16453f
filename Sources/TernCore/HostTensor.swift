/// A read-only view of tensor bytes in host memory: a slice of a memory-mapped checkpoint,
/// or a buffer generated for dummy weights. `owner` keeps the memory alive.
public struct HostTensor: @unchecked Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let data: UnsafeRawBufferPointer
    public let owner: AnyObject

    public init(name: String, dtype: DType, shape: [Int], data: UnsafeRawBufferPointer, owner: AnyObject) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.data = data
        self.owner = owner
    }

    public var elementCount: Int { shape.reduce(1, *) }

    /// All elements converted to fp32 (for small tensors, tests and tools).
    public func floats() -> [Float] {
        guard let base = data.baseAddress else { return [] }
        return (0..<elementCount).map { loadAsFloat(base, dtype, $0) }
    }
}

/// An owned, heap-allocated byte buffer used as the `owner` of generated tensors.
public final class OwnedBytes: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let count: Int

    public init(count: Int, alignment: Int = 64) {
        self.count = count
        self.pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: alignment)
    }

    deinit { pointer.deallocate() }

    public var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
}

/// Where model weights come from: a checkpoint on disk or deterministic random numbers.
/// Models ask for each tensor by its Hugging Face name and the shape they expect;
/// a source fails with a `WeightError` naming the tensor when it cannot supply it.
public protocol WeightSource: AnyObject, Sendable {
    /// Human-readable origin for error messages and logs (a directory, "dummy").
    var origin: String { get }
    func contains(_ name: String) -> Bool
    /// The tensor `name`, checked against `shape`. `dtype` is the dtype the model would like
    /// (used by dummy sources; real checkpoints return what is stored).
    func tensor(_ name: String, shape: [Int], dtype: DType) throws -> HostTensor
}

public enum WeightError: Error, CustomStringConvertible, Equatable {
    case missingTensor(name: String, origin: String)
    case shapeMismatch(name: String, file: String, expected: [Int], found: [Int])
    case unsupportedDType(name: String, file: String, dtype: String)

    public var description: String {
        switch self {
        case let .missingTensor(name, origin):
            return "tensor '\(name)' not found in \(origin)"
        case let .shapeMismatch(name, file, expected, found):
            return "tensor '\(name)' in \(file): expected shape \(expected), found \(found)"
        case let .unsupportedDType(name, file, dtype):
            return "tensor '\(name)' in \(file): unsupported dtype \(dtype)"
        }
    }
}
