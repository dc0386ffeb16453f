import Foundation
import Testing
import TernCheckpoint
import TernCore

private func writeIndex(_ weightMap: [String: String], in directory: String) throws {
    let object: [String: Any] = ["metadata": ["total_size": 0], "weight_map": weightMap]
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: directory + "/" + Checkpoint.indexFileName))
}

private func f32(_ name: String, _ values: [Float], shape: [Int]? = nil) -> TensorToWrite {
    TensorToWrite(name: name, dtype: .f32, shape: shape ?? [values.count], floats: values)
}

@Test func singleFileCheckpointServesTensorsThroughWeightSource() throws {
    try withTemporaryDirectory { directory in
        try SafeTensorsWriter.write([f32("embed", [1, 2, 3, 4], shape: [2, 2]), f32("norm.weight", [1, 1])],
                                    to: directory + "/model.safetensors")
        let source: any WeightSource = try Checkpoint(path: directory)
        #expect(source.origin == directory)
        #expect(source.contains("embed") && !source.contains("absent"))
        // The requested dtype is only a preference: a checkpoint returns what it stores.
        let embed = try source.tensor("embed", shape: [2, 2], dtype: .bf16)
        #expect(embed.dtype == .f32)
        #expect(embed.floats() == [1, 2, 3, 4])
        #expect(throws: WeightError.missingTensor(name: "absent", origin: directory)) {
            try source.tensor("absent", shape: [1], dtype: .f32)
        }
        #expect(throws: WeightError.shapeMismatch(name: "embed", file: directory + "/model.safetensors", expected: [4], found: [2, 2])) {
            try source.tensor("embed", shape: [4], dtype: .f32)
        }
    }
}

@Test func shardedCheckpointFollowsTheIndexAndNamesTheShardInErrors() throws {
    try withTemporaryDirectory { directory in
        let shard1 = "model-00001-of-00002.safetensors", shard2 = "model-00002-of-00002.safetensors"
        try SafeTensorsWriter.write([f32("a", [1]), f32("b", [2, 3])], to: directory + "/" + shard1)
        try SafeTensorsWriter.write([TensorToWrite(name: "c", dtype: .bf16, shape: [1, 2], floats: [4, 5])],
                                    to: directory + "/" + shard2)
        // A stray file not in the index must be ignored.
        try SafeTensorsWriter.write([f32("stray", [9])], to: directory + "/other.safetensors")
        try writeIndex(["a": shard1, "b": shard1, "c": shard2, "ghost": shard2], in: directory)

        let checkpoint = try Checkpoint(path: directory)
        #expect(checkpoint.files.count == 2)
        #expect(checkpoint.tensorNames == ["a", "b", "c", "ghost"])
        #expect(checkpoint.info("c") == TensorInfo(name: "c", dtype: .bf16, dtypeName: "BF16", shape: [1, 2], file: directory + "/" + shard2))
        #expect(checkpoint.info("stray") == nil)
        #expect(try checkpoint.tensor("b", shape: [2], dtype: .f32).floats() == [2, 3])
        #expect(try checkpoint.tensor("c", shape: [1, 2], dtype: .f32).floats() == [4, 5])
        #expect(throws: WeightError.shapeMismatch(name: "c", file: directory + "/" + shard2, expected: [2], found: [1, 2])) {
            try checkpoint.tensor("c", shape: [2], dtype: .bf16)
        }
        // Listed in the index but absent from its shard: the error names the shard.
        #expect(!checkpoint.contains("ghost"))
        #expect(throws: WeightError.missingTensor(name: "ghost", origin: directory + "/" + shard2)) {
            try checkpoint.tensor("ghost", shape: [1], dtype: .f32)
        }
    }
}

@Test func indexNamingAMissingShardFileIsRejected() throws {
    try withTemporaryDirectory { directory in
        try SafeTensorsWriter.write([f32("a", [1])], to: directory + "/s1.safetensors")
        try writeIndex(["a": "s1.safetensors", "b": "s2.safetensors"], in: directory)
        #expect(throws: CheckpointError.missingShard(index: directory + "/" + Checkpoint.indexFileName, shard: "s2.safetensors", tensor: "b")) {
            _ = try Checkpoint(path: directory)
        }
    }
}

@Test(arguments: ["{not json", #"{"metadata": {}}"#, #"{"weight_map": {"a": 3}}"#, #"{"weight_map": {"a": "/etc/x.safetensors"}}"#])
func malformedIndexIsRejected(index: String) throws {
    try withTemporaryDirectory { directory in
        let indexPath = directory + "/" + Checkpoint.indexFileName
        try writeBytes(Array(index.utf8), to: indexPath)
        let error = #expect(throws: CheckpointError.self) { _ = try Checkpoint(path: directory) }
        guard case let .invalidIndex(file, _) = error else {
            Issue.record("expected invalidIndex, got \(String(describing: error))")
            return
        }
        #expect(file == indexPath)
    }
}

@Test func directoryWithoutIndexUsesEverySafetensorsFile() throws {
    try withTemporaryDirectory { directory in
        try SafeTensorsWriter.write([f32("x", [1])], to: directory + "/part-b.safetensors")
        try SafeTensorsWriter.write([f32("y", [2])], to: directory + "/part-a.safetensors")
        try writeBytes(Array("{}".utf8), to: directory + "/config.json")
        let checkpoint = try Checkpoint(path: directory)
        #expect(checkpoint.tensorNames == ["x", "y"])
        #expect(checkpoint.info("x")?.file == directory + "/part-b.safetensors")
        #expect(try checkpoint.tensor("y", shape: [1], dtype: .f32).floats() == [2])
    }
}

@Test func sameTensorInTwoUnindexedFilesIsRejected() throws {
    try withTemporaryDirectory { directory in
        try SafeTensorsWriter.write([f32("x", [1])], to: directory + "/a.safetensors")
        try SafeTensorsWriter.write([f32("x", [2])], to: directory + "/b.safetensors")
        #expect(throws: CheckpointError.duplicateTensor(name: "x", firstFile: directory + "/a.safetensors", secondFile: directory + "/b.safetensors")) {
            _ = try Checkpoint(path: directory)
        }
    }
}

@Test func directoryWithNoSafetensorsIsRejected() throws {
    try withTemporaryDirectory { directory in
        #expect(throws: CheckpointError.noSafetensors(directory: directory)) { _ = try Checkpoint(path: directory) }
    }
}

@Test func aSingleFilePathWorksAsACheckpoint() throws {
    try withTemporaryDirectory { directory in
        let path = directory + "/weights.safetensors"
        try SafeTensorsWriter.write([f32("x", [5, 6])], to: path)
        let checkpoint = try Checkpoint(path: path)
        #expect(try checkpoint.tensor("x").floats() == [5, 6])
    }
}
