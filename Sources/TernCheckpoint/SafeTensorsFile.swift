import TernCore

/// One `.safetensors` file, memory-mapped and with its header validated. Tensors are vended as
/// `HostTensor` views straight into the mapping; each view holds the file object as its owner,
/// so the mapping stays alive as long as any view does.
///
/// Layout: 8-byte little-endian header length N, N bytes of JSON, then the data section.
/// Checked at open: the header fits, it is a JSON object, every entry has dtype/shape/data_offsets,
/// offsets lie in the data section, sizes match shape × dtype size, and no two tensors overlap.
/// Gaps between tensors are tolerated. A dtype Tern does not support (F64, BOOL, F8_E5M2, ...)
/// is reported only when that tensor is requested, so unused tensors of exotic types do not
/// prevent loading a checkpoint.
public final class SafeTensorsFile: @unchecked Sendable {
    // Immutable after init; the mapping is read-only.
    public let path: String
    public let metadata: [String: String]
    public let entries: [String: TensorEntry]
    private let mapping: MemoryMappedFile
    private let dataStart: Int

    public init(path: String) throws {
        let mapping = try MemoryMappedFile(path: path)
        let bytes = mapping.bytes
        var rawLength: UInt64 = 0
        withUnsafeMutableBytes(of: &rawLength) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[0..<8])) }
        let headerLength = UInt64(littleEndian: rawLength)
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw CheckpointError.headerLengthExceedsFile(file: path, headerLength: headerLength, fileSize: bytes.count)
        }
        let dataStart = 8 + Int(headerLength)
        let header = try SafeTensorsHeader.parse(
            UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart]), dataSize: bytes.count - dataStart, file: path)
        self.path = path
        self.mapping = mapping
        self.dataStart = dataStart
        self.entries = header.entries
        self.metadata = header.metadata
    }

    /// Tensor names, sorted.
    public var tensorNames: [String] { entries.keys.sorted() }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// The whole mapped file; every tensor view lies inside it (exposed so tests can check that
    /// views are not copies).
    public var mappedBytes: UnsafeRawBufferPointer { mapping.bytes }

    /// The tensor `name` as a view into the mapping (or, if its bytes are not aligned to its
    /// element size, an aligned copy), so elements can be read with typed loads.
    public func tensor(_ name: String) throws -> HostTensor {
        guard let entry = entries[name] else { throw WeightError.missingTensor(name: name, origin: path) }
        guard let dtype = entry.dtype else {
            throw WeightError.unsupportedDType(name: name, file: path, dtype: entry.dtypeName)
        }
        let view = UnsafeRawBufferPointer(rebasing: mapping.bytes[(dataStart + entry.begin)..<(dataStart + entry.end)])
        if let base = view.baseAddress, Int(bitPattern: base) % dtype.byteSize != 0 {
            // Consumers load elements with aligned typed loads. Files from the reference writer are
            // always aligned (8-byte-padded header, tensors ordered by element size), but the format
            // does not require it, so a misaligned tensor is copied rather than handed out.
            let copy = OwnedBytes(count: view.count)
            copy.pointer.copyMemory(from: base, byteCount: view.count)
            return HostTensor(name: name, dtype: dtype, shape: entry.shape, data: copy.buffer, owner: copy)
        }
        return HostTensor(name: name, dtype: dtype, shape: entry.shape, data: view, owner: self)
    }

    /// The tensor `name`, which must have exactly `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> HostTensor {
        if let entry = entries[name], entry.shape != shape {
            throw WeightError.shapeMismatch(name: name, file: path, expected: shape, found: entry.shape)
        }
        return try tensor(name)
    }
}
