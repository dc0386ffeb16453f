#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TernCore

/// A tensor to be written: raw little-endian bytes plus dtype and shape.
public struct TensorToWrite: Sendable {
    public let name: String
    /// The safetensors dtype string; usually a `DType`'s, but any string may be written (tests
    /// use this to produce files with dtypes Tern rejects).
    public let dtypeName: String
    public let shape: [Int]
    public let bytes: [UInt8]

    public init(name: String, dtypeName: String, shape: [Int], bytes: [UInt8]) {
        self.name = name
        self.dtypeName = dtypeName
        self.shape = shape
        self.bytes = bytes
    }

    public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.init(name: name, dtypeName: dtype.safetensorsName, shape: shape, bytes: bytes)
    }

    /// fp32 values stored as `dtype` (f32, bf16, f16 or f8e4m3).
    public init(name: String, dtype: DType, shape: [Int], floats: [Float]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(floats.count * dtype.byteSize)
        for value in floats {
            switch dtype {
            case .f32: withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            case .bf16: withUnsafeBytes(of: floatToBF16(value).littleEndian) { bytes.append(contentsOf: $0) }
            case .f16: withUnsafeBytes(of: floatToF16(value).littleEndian) { bytes.append(contentsOf: $0) }
            case .f8e4m3: bytes.append(encodeE4M3(value))
            default: preconditionFailure("TensorToWrite(floats:) supports float dtypes only, not \(dtype)")
            }
        }
        self.init(name: name, dtype: dtype, shape: shape, bytes: bytes)
    }
}

/// Writes safetensors files in the standard layout: the JSON header padded with spaces to a
/// multiple of 8 bytes, then the tensor bytes back to back. Tensors are ordered by element size
/// (largest first) and then by name, so every tensor starts at a multiple of its element size.
public enum SafeTensorsWriter {
    public static func write(_ tensors: [TensorToWrite], metadata: [String: String]? = nil, to path: String) throws {
        let file = try encode(tensors, metadata: metadata)
        guard let handle = fopen(path, "wb") else {
            throw CheckpointError.cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        let written = file.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) }
        let closed = fclose(handle)
        guard written == file.count, closed == 0 else {
            throw CheckpointError.cannotOpen(file: path, reason: "write failed: " + String(cString: strerror(errno)))
        }
    }

    /// The complete file contents.
    public static func encode(_ tensors: [TensorToWrite], metadata: [String: String]? = nil) throws -> [UInt8] {
        let ordered = tensors.sorted { a, b in
            let (sizeA, sizeB) = (elementSize(a.dtypeName), elementSize(b.dtypeName))
            return sizeA != sizeB ? sizeA > sizeB : a.name < b.name
        }
        var header = "{"
        var fields: [String] = []
        if let metadata {
            let items = metadata.sorted { $0.key < $1.key }.map { "\(jsonStringLiteral($0.key)):\(jsonStringLiteral($0.value))" }
            fields.append("\"__metadata__\":{" + items.joined(separator: ",") + "}")
        }
        var offset = 0
        for tensor in ordered {
            let size = DType(safetensorsName: tensor.dtypeName)?.byteSize ?? SafeTensorsHeader.otherDTypeSizes[tensor.dtypeName]
            if let size, let expected = SafeTensorsHeader.byteCount(shape: tensor.shape, elementSize: size),
               expected != tensor.bytes.count {
                throw CheckpointError.byteSizeMismatch(
                    file: "(writing)", tensor: tensor.name, dtype: tensor.dtypeName, shape: tensor.shape,
                    expectedBytes: expected, foundBytes: tensor.bytes.count)
            }
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonStringLiteral(tensor.name)):{\"dtype\":\(jsonStringLiteral(tensor.dtypeName)),\"shape\":[\(shape)],"
                + "\"data_offsets\":[\(offset),\(offset + tensor.bytes.count)]}")
            offset += tensor.bytes.count
        }
        header += fields.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }

        var file: [UInt8] = []
        file.reserveCapacity(8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(contentsOf: headerBytes)
        for tensor in ordered { file.append(contentsOf: tensor.bytes) }
        return file
    }

    private static func elementSize(_ dtypeName: String) -> Int {
        DType(safetensorsName: dtypeName)?.byteSize ?? SafeTensorsHeader.otherDTypeSizes[dtypeName] ?? 1
    }
}
