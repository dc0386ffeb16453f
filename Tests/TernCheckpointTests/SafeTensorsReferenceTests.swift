import Testing
import TernCheckpoint
import TernCore

// Data/reference.safetensors was written by the Python safetensors package (Data/make_reference.py);
// the values below restate that script.
private let referencePath = testDataDirectory + "/reference.safetensors"

@Test func readsMetadataAndTensorListOfAFileWrittenByPythonSafetensors() throws {
    let file = try SafeTensorsFile(path: referencePath)
    #expect(file.metadata == ["format": "pt", "generator": "make_reference.py"])
    #expect(Set(file.tensorNames) == [
        "f32", "f16", "bf16", "f8", "i8", "u8", "i32", "i64", "f64", "empty", "scalar",
        "model.layers.0.input_layernorm.weight",
    ])
}

@Test func readsEverySupportedDTypeFromAFileWrittenByPythonSafetensors() throws {
    let file = try SafeTensorsFile(path: referencePath)
    let f32 = try file.tensor("f32", shape: [2, 3])
    #expect(f32.dtype == .f32)
    #expect(f32.floats() == [1.5, -2, 0.25, 3, 4, -5])
    #expect(try file.tensor("f16", shape: [4]).floats() == [0.5, -1, 65504, 0x1p-24])
    let bf16 = try file.tensor("bf16", shape: [2, 2])
    #expect(bf16.dtype == .bf16)
    #expect(bf16.floats() == [1, -2.5, 0.15625, 0x1p127])
    let f8 = try file.tensor("f8", shape: [6])
    #expect(f8.dtype == .f8e4m3)
    #expect(f8.floats() == [1, -2, 448, 0.5, 0x1p-9, 0])
    #expect(try file.tensor("i8", shape: [4]).floats() == [-128, -1, 0, 127])
    #expect(try file.tensor("u8", shape: [2, 2]).floats() == [0, 1, 254, 255])
    let i32 = try file.tensor("i32", shape: [3])
    #expect((0..<3).map { i32.data.load(fromByteOffset: 4 * $0, as: Int32.self) } == [Int32.min, 7, Int32.max])
    let i64 = try file.tensor("i64", shape: [3])
    #expect(i64.data.load(fromByteOffset: 0, as: Int64.self) == -(1 << 40))
    #expect(i64.data.load(fromByteOffset: 16, as: Int64.self) == 1 << 62)
    #expect(try file.tensor("empty", shape: [0, 3]).data.count == 0)
    #expect(try file.tensor("model.layers.0.input_layernorm.weight").floats() == Array(repeating: 1, count: 8))
}

@Test func unsupportedDTypeIsReportedOnlyWhenThatTensorIsRequested() throws {
    let file = try SafeTensorsFile(path: referencePath)  // opening succeeds despite the F64 entry
    #expect(file.entries["f64"]?.dtypeName == "F64")
    #expect(file.entries["f64"]?.dtype == nil)
    #expect(throws: WeightError.unsupportedDType(name: "f64", file: referencePath, dtype: "F64")) {
        try file.tensor("f64")
    }
}

@Test func requestingAnAbsentTensorOrAWrongShapeGivesWeightErrors() throws {
    let file = try SafeTensorsFile(path: referencePath)
    #expect(throws: WeightError.missingTensor(name: "nope", origin: referencePath)) { try file.tensor("nope") }
    #expect(throws: WeightError.shapeMismatch(name: "f32", file: referencePath, expected: [3, 2], found: [2, 3])) {
        try file.tensor("f32", shape: [3, 2])
    }
}
