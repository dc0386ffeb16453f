import Foundation
import Testing
import TernCheckpoint
import TernCore

/// Bytes of `count` elements of `dtype` with a recognisable pattern (element i, byte j = i*7+j).
private func patternBytes(_ dtype: DType, count: Int) -> [UInt8] {
    (0..<count).flatMap { i in (0..<dtype.byteSize).map { j in UInt8(truncatingIfNeeded: i &* 7 &+ j &+ 1) } }
}

@Test(arguments: DType.allCases)
func writtenTensorsReadBackWithSameDTypeShapeAndBytes(dtype: DType) throws {
    try withTemporaryDirectory { directory in
        let path = directory + "/round.safetensors"
        let tensors = [
            TensorToWrite(name: "a.weight", dtype: dtype, shape: [3, 5], bytes: patternBytes(dtype, count: 15)),
            TensorToWrite(name: "b", dtype: dtype, shape: [7], bytes: patternBytes(dtype, count: 7).reversed()),
            TensorToWrite(name: "empty", dtype: dtype, shape: [0, 4], bytes: []),
        ]
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: path)
        let file = try SafeTensorsFile(path: path)
        #expect(file.metadata == ["format": "pt"])
        #expect(file.tensorNames == ["a.weight", "b", "empty"])
        for written in tensors {
            let read = try file.tensor(written.name, shape: written.shape)
            #expect(read.dtype == dtype)
            #expect(read.shape == written.shape)
            #expect(bytes(of: read) == written.bytes)
        }
    }
}

@Test func writerPadsHeaderToEightBytesAndAlignsEveryTensorToItsElementSize() throws {
    let tensors = [
        TensorToWrite(name: "odd.u8", dtype: .u8, shape: [3], bytes: [1, 2, 3]),
        TensorToWrite(name: "wide.i64", dtype: .i64, shape: [1], bytes: littleEndianBytes([Int64(-5)])),
        TensorToWrite(name: "half", dtype: .bf16, shape: [1], floats: [1]),
        TensorToWrite(name: "single", dtype: .f32, shape: [1], floats: [2]),
    ]
    let encoded = try SafeTensorsWriter.encode(tensors)
    let headerLength = encoded[0..<8].enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
    #expect(headerLength % 8 == 0)
    try withTemporaryDirectory { directory in
        let path = directory + "/aligned.safetensors"
        try writeBytes(encoded, to: path)
        let file = try SafeTensorsFile(path: path)
        for name in file.tensorNames {
            let tensor = try file.tensor(name)
            #expect(Int(bitPattern: tensor.data.baseAddress) % tensor.dtype.byteSize == 0, "\(name) misaligned")
        }
        #expect(try file.tensor("single").floats() == [2])
        #expect(try file.tensor("half").floats() == [1])
        #expect(try file.tensor("wide.i64").floats() == [-5])
    }
}

@Test func writerEscapesNamesAndMetadataAsJSON() throws {
    try withTemporaryDirectory { directory in
        let path = directory + "/escaped.safetensors"
        let name = "quote\"back\\slash\nnewline\u{1}é"
        try SafeTensorsWriter.write(
            [TensorToWrite(name: name, dtype: .f32, shape: [1], floats: [3])], metadata: ["k\"": "v\\"], to: path)
        let file = try SafeTensorsFile(path: path)
        #expect(file.tensorNames == [name])
        #expect(file.metadata == ["k\"": "v\\"])
    }
}

@Test func writerRejectsBytesThatDoNotMatchTheShape() {
    #expect(throws: CheckpointError.byteSizeMismatch(
        file: "(writing)", tensor: "w", dtype: "F32", shape: [2], expectedBytes: 8, foundBytes: 4)) {
        _ = try SafeTensorsWriter.encode([TensorToWrite(name: "w", dtype: .f32, shape: [2], bytes: [0, 0, 0, 0])])
    }
}

@Test func tensorViewsPointIntoTheMappingInsteadOfCopying() throws {
    try withTemporaryDirectory { directory in
        let path = directory + "/mapped.safetensors"
        try SafeTensorsWriter.write(
            [TensorToWrite(name: "x", dtype: .f32, shape: [1024], floats: (0..<1024).map(Float.init)),
             TensorToWrite(name: "y", dtype: .bf16, shape: [4], floats: [1, 2, 3, 4])], to: path)
        let file = try SafeTensorsFile(path: path)
        let mapping = file.mappedBytes
        let mapStart = UInt(bitPattern: mapping.baseAddress)
        let fileSize = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(mapping.count == fileSize)
        for name in ["x", "y"] {
            let view = try file.tensor(name)
            let start = UInt(bitPattern: view.data.baseAddress)
            #expect(start >= mapStart && start + UInt(view.data.count) <= mapStart + UInt(mapping.count))
            // Computed outside #expect: the macro's expansion of `===` crashes the 6.3 compiler.
            let ownedByFile = view.owner === file
            #expect(ownedByFile)
        }
        // Two requests for one tensor give the same memory.
        #expect(try file.tensor("x").data.baseAddress == file.tensor("x").data.baseAddress)
    }
}

@Test func viewsKeepTheMappingAliveAfterTheFileObjectIsDropped() throws {
    try withTemporaryDirectory { directory in
        let path = directory + "/alive.safetensors"
        try SafeTensorsWriter.write([TensorToWrite(name: "x", dtype: .f32, shape: [3], floats: [1, 2, 3])], to: path)
        let tensor = try SafeTensorsFile(path: path).tensor("x")
        #expect(tensor.floats() == [1, 2, 3])
    }
}
