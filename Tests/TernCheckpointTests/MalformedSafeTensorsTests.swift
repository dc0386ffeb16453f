import Testing
import TernCheckpoint
import TernCore

/// Opens `bytes` written to a temporary file and returns the error it fails with.
private func openError(_ bytes: [UInt8]) throws -> (error: CheckpointError?, path: String) {
    try withTemporaryDirectory { directory in
        let path = directory + "/bad.safetensors"
        try writeBytes(bytes, to: path)
        let error = #expect(throws: CheckpointError.self) { _ = try SafeTensorsFile(path: path) }
        return (error, path)
    }
}

@Test(arguments: [0, 3, 7])
func fileShorterThanTheLengthPrefixIsRejected(size: Int) throws {
    let (error, path) = try openError(Array(repeating: 0, count: size))
    #expect(error == .fileTooShort(file: path, size: size))
}

@Test(arguments: [UInt64(1000), UInt64.max])
func headerLengthBeyondTheFileIsRejected(declared: UInt64) throws {
    let (error, path) = try openError(rawSafeTensors(header: "{}", declaredLength: declared))
    #expect(error == .headerLengthExceedsFile(file: path, headerLength: declared, fileSize: 10))
}

@Test(arguments: ["{\"a\": ", "not json", "{\"a\":1,}", "", "{\"a\":1} x", #"{"w": {}, "w": {}}"#])
func headerThatIsNotJSONIsRejected(header: String) throws {
    let (error, path) = try openError(rawSafeTensors(header: header))
    guard case let .invalidHeaderJSON(file, reason) = error else {
        Issue.record("expected invalidHeaderJSON, got \(String(describing: error))")
        return
    }
    #expect(file == path)
    #expect(!reason.isEmpty)
}

@Test func headerThatIsNotUTF8IsRejected() throws {
    var bytes = rawSafeTensors(header: "{\"\u{FF}\":1}")
    bytes[10] = 0xFF  // break the UTF-8 encoding inside the key
    bytes[11] = 0xFE
    let (error, path) = try openError(bytes)
    guard case let .invalidHeaderJSON(file, reason) = error else {
        Issue.record("expected invalidHeaderJSON, got \(String(describing: error))")
        return
    }
    #expect(file == path)
    #expect(reason.contains("UTF-8"))
}

@Test(arguments: ["[1, 2]", "\"text\"", "42"])
func headerThatIsNotAnObjectIsRejected(header: String) throws {
    let (error, path) = try openError(rawSafeTensors(header: header))
    #expect(error == .headerNotObject(file: path))
}

@Test(arguments: [
    (#"{"w": 3}"#, "entry must be an object"),
    (#"{"w": {"shape": [1], "data_offsets": [0, 4]}}"#, "missing field 'dtype'"),
    (#"{"w": {"dtype": "F32", "data_offsets": [0, 4]}}"#, "missing field 'shape'"),
    (#"{"w": {"dtype": "F32", "shape": [1]}}"#, "missing field 'data_offsets'"),
    (#"{"w": {"dtype": 5, "shape": [1], "data_offsets": [0, 4]}}"#, "'dtype' must be a string"),
])
func tensorEntryWithMissingOrMistypedFieldIsRejected(header: String, reason: String) throws {
    let (error, path) = try openError(rawSafeTensors(header: header, data: [0, 0, 0, 0]))
    #expect(error == .malformedEntry(file: path, tensor: "w", reason: reason))
}

@Test(arguments: [
    #"{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#,
    #"{"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}"#,
    #"{"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}}"#,
    #"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}"#,
    #"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}"#,
    #"{"w": {"dtype": "F32", "shape": [true], "data_offsets": [0, 4]}}"#,
])
func tensorEntryWithBadShapeOrOffsetsListIsRejected(header: String) throws {
    let (error, _) = try openError(rawSafeTensors(header: header, data: [0, 0, 0, 0]))
    guard case let .malformedEntry(_, tensor, _) = error else {
        Issue.record("expected malformedEntry, got \(String(describing: error))")
        return
    }
    #expect(tensor == "w")
}

@Test(arguments: [(0, 8), (4, 0), (-4, 4), (6, 10)])
func offsetsOutsideTheDataSectionOrReversedAreRejected(begin: Int, end: Int) throws {
    let header = #"{"w": {"dtype": "U8", "shape": [4], "data_offsets": [\#(begin), \#(end)]}}"#
    let (error, path) = try openError(rawSafeTensors(header: header, data: [1, 2, 3, 4]))
    #expect(error == .invalidOffsets(file: path, tensor: "w", begin: begin, end: end, dataSize: 4))
}

@Test func hugeOffsetsAreReadAsExactIntegersNotRoundedThroughDouble() throws {
    // 2^53 + 1 is not representable as a Double; a reader that rounds would report 2^53.
    let header = #"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [9007199254740993, 9007199254740994]}}"#
    let (error, path) = try openError(rawSafeTensors(header: header, data: [0]))
    #expect(error == .invalidOffsets(file: path, tensor: "w", begin: 9_007_199_254_740_993, end: 9_007_199_254_740_994, dataSize: 1))
}

@Test func byteSizeThatDisagreesWithShapeTimesDTypeIsRejected() throws {
    let header = #"{"w": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 8]}}"#
    let (error, path) = try openError(rawSafeTensors(header: header, data: Array(repeating: 0, count: 8)))
    #expect(error == .byteSizeMismatch(file: path, tensor: "w", dtype: "BF16", shape: [2, 3], expectedBytes: 12, foundBytes: 8))
}

@Test func byteSizeIsCheckedEvenForDTypesTernDoesNotLoad() throws {
    let header = #"{"d": {"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}}"#
    let (error, path) = try openError(rawSafeTensors(header: header, data: Array(repeating: 0, count: 8)))
    #expect(error == .byteSizeMismatch(file: path, tensor: "d", dtype: "F64", shape: [2], expectedBytes: 16, foundBytes: 8))
}

@Test func overlappingTensorsAreRejected() throws {
    let header = #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#
    let (error, path) = try openError(rawSafeTensors(header: header, data: Array(repeating: 0, count: 8)))
    #expect(error == .overlappingTensors(file: path, tensor: "b", other: "a"))
}

@Test func unknownDTypeStringsAndMetadataOpenFine() throws {
    // F8_E5M2, BOOL and a sub-byte type Tern has never heard of: opening must not fail.
    let header = #"{"__metadata__": {"format": "pt"}, "e5": {"dtype": "F8_E5M2", "shape": [2], "data_offsets": [0, 2]}, "flag": {"dtype": "BOOL", "shape": [1], "data_offsets": [2, 3]}, "f4": {"dtype": "F4", "shape": [2], "data_offsets": [3, 4]}}"#
    try withTemporaryDirectory { directory in
        let path = directory + "/exotic.safetensors"
        try writeBytes(rawSafeTensors(header: header, data: [1, 2, 3, 4]), to: path)
        let file = try SafeTensorsFile(path: path)
        #expect(file.metadata == ["format": "pt"])
        #expect(throws: WeightError.unsupportedDType(name: "e5", file: path, dtype: "F8_E5M2")) { try file.tensor("e5") }
        #expect(throws: WeightError.unsupportedDType(name: "flag", file: path, dtype: "BOOL")) { try file.tensor("flag") }
    }
}

@Test func headerPaddedWithSpacesAndGapsBetweenTensorsAreAccepted() throws {
    let header = #"{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "b": {"dtype": "U8", "shape": [1], "data_offsets": [3, 4]}}      "#
    try withTemporaryDirectory { directory in
        let path = directory + "/gaps.safetensors"
        try writeBytes(rawSafeTensors(header: header, data: [9, 0, 0, 7, 0]), to: path)
        let file = try SafeTensorsFile(path: path)
        #expect(try file.tensor("a").floats() == [9])
        #expect(try file.tensor("b").floats() == [7])
    }
}

@Test func missingFileIsReportedWithItsPath() {
    #expect(throws: CheckpointError.cannotOpen(file: "/nonexistent/x.safetensors", reason: "No such file or directory")) {
        _ = try SafeTensorsFile(path: "/nonexistent/x.safetensors")
    }
}

@Test func errorDescriptionsNameTheFileTheTensorAndBothSizes() {
    let text = CheckpointError.byteSizeMismatch(
        file: "/m/model.safetensors", tensor: "w", dtype: "BF16", shape: [2, 3], expectedBytes: 12, foundBytes: 8).description
    for part in ["/m/model.safetensors", "'w'", "BF16", "[2, 3]", "12", "8"] {
        #expect(text.contains(part), "\(part) missing from: \(text)")
    }
}

@Test func misalignedTensorsAreHandedOutAsAlignedCopies() throws {
    // A 9-byte header puts the data section at byte 17, so this F32 tensor starts misaligned.
    let json = #"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#
    #expect((8 + json.utf8.count) % 4 != 0)
    try withTemporaryDirectory { directory in
        let path = directory + "/misaligned.safetensors"
        try writeBytes(rawSafeTensors(header: json, data: floatBytes([1.5, -3])), to: path)
        let file = try SafeTensorsFile(path: path)
        let tensor = try file.tensor("w")
        #expect(Int(bitPattern: tensor.data.baseAddress) % 4 == 0)
        #expect(tensor.floats() == [1.5, -3])
        let copied = tensor.owner is OwnedBytes
        #expect(copied)
    }
}
