import TernCore

/// One tensor's entry in a safetensors header. Offsets are relative to the data section,
/// which starts right after the header.
public struct TensorEntry: Sendable, Equatable {
    public let name: String
    /// The dtype string as written in the file ("BF16", or e.g. "F64" which Tern cannot use).
    public let dtypeName: String
    /// nil when `dtypeName` is not one Tern supports; reported when the tensor is requested.
    public let dtype: DType?
    public let shape: [Int]
    public let begin: Int
    public let end: Int

    public var byteCount: Int { end - begin }
}

/// The parsed and validated JSON header of a safetensors file.
struct SafeTensorsHeader {
    var entries: [String: TensorEntry]
    var metadata: [String: String]

    /// Element sizes of safetensors dtypes Tern does not load, so their entries can still be
    /// size-checked. Sub-byte types (F4, F6_*) are not listed and skip the size check.
    static let otherDTypeSizes: [String: Int] = [
        "BOOL": 1, "F8_E5M2": 1, "F8_E8M0": 1, "I16": 2, "U16": 2, "U32": 4, "U64": 8, "F64": 8,
    ]

    /// Parses `json` (the header bytes) and checks every entry against a data section of `dataSize` bytes.
    static func parse(_ json: UnsafeRawBufferPointer, dataSize: Int, file: String) throws -> SafeTensorsHeader {
        // Writers pad the header with spaces to keep the data 8-byte aligned; some pad with NULs.
        var length = json.count
        while length > 0, json[length - 1] == 0x20 || json[length - 1] == 0 { length -= 1 }
        let root: HeaderJSON
        do {
            root = try HeaderJSON.parse(UnsafeRawBufferPointer(rebasing: json[0..<length]))
        } catch {
            throw CheckpointError.invalidHeaderJSON(file: file, reason: "\(error)")
        }
        guard case let .object(object) = root else { throw CheckpointError.headerNotObject(file: file) }

        var header = SafeTensorsHeader(entries: [:], metadata: [:])
        header.entries.reserveCapacity(object.count)
        for (name, value) in object {
            if name == "__metadata__" {
                header.metadata = try parseMetadata(value, file: file)
            } else {
                header.entries[name] = try parseEntry(name: name, value, dataSize: dataSize, file: file)
            }
        }
        try checkNoOverlap(header.entries.values, file: file)
        return header
    }

    private static func parseMetadata(_ value: HeaderJSON, file: String) throws -> [String: String] {
        guard case let .object(dict) = value else {
            throw CheckpointError.malformedEntry(file: file, tensor: "__metadata__", reason: "must be an object of strings")
        }
        var metadata: [String: String] = [:]
        for (key, item) in dict {
            guard case let .string(text) = item else {
                throw CheckpointError.malformedEntry(
                    file: file, tensor: "__metadata__", reason: "value of '\(key)' must be a string, found \(item.summary)")
            }
            metadata[key] = text
        }
        return metadata
    }

    private static func parseEntry(name: String, _ value: HeaderJSON, dataSize: Int, file: String) throws -> TensorEntry {
        func malformed(_ reason: String) -> CheckpointError {
            CheckpointError.malformedEntry(file: file, tensor: name, reason: reason)
        }
        guard case let .object(fields) = value else { throw malformed("entry must be an object") }
        guard let dtypeValue = fields["dtype"] else { throw malformed("missing field 'dtype'") }
        guard case let .string(dtypeName) = dtypeValue else { throw malformed("'dtype' must be a string") }
        guard let shapeValue = fields["shape"] else { throw malformed("missing field 'shape'") }
        guard let shape = integers(shapeValue), shape.allSatisfy({ $0 >= 0 }) else {
            throw malformed("'shape' must be an array of non-negative integers, found \(shapeValue.summary)")
        }
        guard let offsetsValue = fields["data_offsets"] else { throw malformed("missing field 'data_offsets'") }
        guard let offsets = integers(offsetsValue), offsets.count == 2 else {
            throw malformed("'data_offsets' must be two integers [begin, end], found \(offsetsValue.summary)")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, begin <= end, end <= dataSize else {
            throw CheckpointError.invalidOffsets(file: file, tensor: name, begin: begin, end: end, dataSize: dataSize)
        }
        let dtype = DType(safetensorsName: dtypeName)
        if let elementSize = dtype?.byteSize ?? otherDTypeSizes[dtypeName] {
            let expected = byteCount(shape: shape, elementSize: elementSize)
            guard expected == end - begin else {
                throw CheckpointError.byteSizeMismatch(
                    file: file, tensor: name, dtype: dtypeName, shape: shape,
                    expectedBytes: expected ?? Int.max, foundBytes: end - begin)
            }
        }
        return TensorEntry(name: name, dtypeName: dtypeName, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    private static func integers(_ value: HeaderJSON) -> [Int]? {
        guard case let .array(items) = value else { return nil }
        var result: [Int] = []
        result.reserveCapacity(items.count)
        for item in items {
            guard case let .integer(int) = item else { return nil }
            result.append(int)
        }
        return result
    }

    /// shape product × element size, nil on overflow.
    static func byteCount(shape: [Int], elementSize: Int) -> Int? {
        var total = elementSize
        for dim in shape {
            let (product, overflow) = total.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            total = product
        }
        return total
    }

    /// Two tensors may not share bytes (empty tensors share nothing). Gaps are tolerated.
    private static func checkNoOverlap<S: Sequence>(_ entries: S, file: String) throws where S.Element == TensorEntry {
        let sorted = entries.filter { $0.byteCount > 0 }.sorted { ($0.begin, $0.name) < ($1.begin, $1.name) }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where next.begin < previous.end {
            throw CheckpointError.overlappingTensors(file: file, tensor: next.name, other: previous.name)
        }
    }
}
