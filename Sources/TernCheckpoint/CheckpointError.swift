/// Why a checkpoint file or directory could not be read. Every case names the file (and the
/// tensor, where one is involved) and says what was expected and what was found, so a user
/// can tell a truncated download from a broken index from a bad header.
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    case cannotOpen(file: String, reason: String)
    case fileTooShort(file: String, size: Int)
    case headerLengthExceedsFile(file: String, headerLength: UInt64, fileSize: Int)
    case invalidHeaderJSON(file: String, reason: String)
    case headerNotObject(file: String)
    case malformedEntry(file: String, tensor: String, reason: String)
    case invalidOffsets(file: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    case byteSizeMismatch(file: String, tensor: String, dtype: String, shape: [Int], expectedBytes: Int, foundBytes: Int)
    case overlappingTensors(file: String, tensor: String, other: String)
    case invalidIndex(file: String, reason: String)
    case missingShard(index: String, shard: String, tensor: String)
    case duplicateTensor(name: String, firstFile: String, secondFile: String)
    case noSafetensors(directory: String)

    public var description: String {
        switch self {
        case let .cannotOpen(file, reason):
            return "cannot open \(file): \(reason)"
        case let .fileTooShort(file, size):
            return "\(file): not a safetensors file: \(size) bytes, expected at least 8 (the header length)"
        case let .headerLengthExceedsFile(file, headerLength, fileSize):
            return "\(file): header length \(headerLength) does not fit in the file (\(fileSize) bytes); truncated download?"
        case let .invalidHeaderJSON(file, reason):
            return "\(file): safetensors header is not valid JSON: \(reason)"
        case let .headerNotObject(file):
            return "\(file): safetensors header must be a JSON object of tensor entries"
        case let .malformedEntry(file, tensor, reason):
            return "\(file): tensor '\(tensor)': \(reason)"
        case let .invalidOffsets(file, tensor, begin, end, dataSize):
            return "\(file): tensor '\(tensor)': data_offsets [\(begin), \(end)] must satisfy 0 <= begin <= end <= \(dataSize) (the data section size)"
        case let .byteSizeMismatch(file, tensor, dtype, shape, expectedBytes, foundBytes):
            return "\(file): tensor '\(tensor)': \(dtype) \(shape) needs \(expectedBytes) bytes but data_offsets span \(foundBytes)"
        case let .overlappingTensors(file, tensor, other):
            return "\(file): tensors '\(other)' and '\(tensor)' overlap in the data section"
        case let .invalidIndex(file, reason):
            return "\(file): invalid safetensors index: \(reason)"
        case let .missingShard(index, shard, tensor):
            return "\(index): shard file \(shard) (holding '\(tensor)') does not exist"
        case let .duplicateTensor(name, firstFile, secondFile):
            return "tensor '\(name)' appears in both \(firstFile) and \(secondFile)"
        case let .noSafetensors(directory):
            return "\(directory): no model.safetensors, model.safetensors.index.json or *.safetensors files"
        }
    }
}
