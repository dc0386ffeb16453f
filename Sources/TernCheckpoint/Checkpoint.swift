import Foundation
import TernCore

/// Where a tensor lives in a checkpoint, as read from its header (no tensor bytes are touched).
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    /// nil when the stored dtype is not one Tern supports; `dtypeName` then says what it is.
    public let dtype: DType?
    public let dtypeName: String
    public let shape: [Int]
    /// Path of the shard file holding the tensor.
    public let file: String

    public init(name: String, dtype: DType?, dtypeName: String, shape: [Int], file: String) {
        (self.name, self.dtype, self.dtypeName, self.shape, self.file) = (name, dtype, dtypeName, shape, file)
    }
}

/// A Hugging Face checkpoint directory. Files are found in this order:
/// `model.safetensors.index.json` (its `weight_map` names the shard of every tensor),
/// else `model.safetensors`, else every `*.safetensors` in the directory.
/// Opening maps every shard and parses its header; no tensor data is read until used.
public final class Checkpoint: WeightSource, @unchecked Sendable {
    // Immutable after init; shards are themselves safe to share.
    public let directory: String
    /// Shards by path, each opened once.
    public let files: [SafeTensorsFile]
    private let fileOfTensor: [String: SafeTensorsFile]

    public static let indexFileName = "model.safetensors.index.json"
    public static let singleFileName = "model.safetensors"

    /// `path` is a checkpoint directory, or a single `.safetensors` file.
    public init(path: String) throws {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError.cannotOpen(file: path, reason: "no such file or directory")
        }
        directory = path
        if !isDirectory.boolValue {
            let file = try SafeTensorsFile(path: path)
            files = [file]
            fileOfTensor = Dictionary(uniqueKeysWithValues: file.entries.keys.map { ($0, file) })
            return
        }
        let indexPath = Self.join(path, Self.indexFileName)
        if manager.fileExists(atPath: indexPath) {
            (files, fileOfTensor) = try Self.openIndexed(directory: path, indexPath: indexPath)
        } else if manager.fileExists(atPath: Self.join(path, Self.singleFileName)) {
            (files, fileOfTensor) = try Self.openAll([Self.join(path, Self.singleFileName)])
        } else {
            let names = (try? manager.contentsOfDirectory(atPath: path)) ?? []
            let shards = names.filter { $0.hasSuffix(".safetensors") }.sorted().map { Self.join(path, $0) }
            guard !shards.isEmpty else { throw CheckpointError.noSafetensors(directory: path) }
            (files, fileOfTensor) = try Self.openAll(shards)
        }
    }

    public var origin: String { directory }

    /// All tensor names, sorted.
    public var tensorNames: [String] { fileOfTensor.keys.sorted() }

    public func contains(_ name: String) -> Bool { fileOfTensor[name]?.contains(name) ?? false }

    public func info(_ name: String) -> TensorInfo? {
        guard let file = fileOfTensor[name], let entry = file.entries[name] else { return nil }
        return TensorInfo(name: name, dtype: entry.dtype, dtypeName: entry.dtypeName, shape: entry.shape, file: file.path)
    }

    /// The stored tensor, checked against `shape`; `dtype` is ignored (a real checkpoint returns
    /// what it stores and the model converts).
    public func tensor(_ name: String, shape: [Int], dtype: DType) throws -> HostTensor {
        guard let file = fileOfTensor[name] else { throw WeightError.missingTensor(name: name, origin: directory) }
        return try file.tensor(name, shape: shape)
    }

    /// The stored tensor, whatever its shape.
    public func tensor(_ name: String) throws -> HostTensor {
        guard let file = fileOfTensor[name] else { throw WeightError.missingTensor(name: name, origin: directory) }
        return try file.tensor(name)
    }

    // MARK: - Opening

    private static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Opens the shards an index names. A tensor listed in the index but absent from its shard
    /// is reported (naming the shard) when it is requested, so partial use still works.
    private static func openIndexed(
        directory: String, indexPath: String
    ) throws -> ([SafeTensorsFile], [String: SafeTensorsFile]) {
        let weightMap = try readWeightMap(indexPath)
        var shardOfTensor: [String: String] = [:]
        var firstTensorOfShard: [String: String] = [:]
        for (tensor, shard) in weightMap.sorted(by: { $0.key < $1.key }) {
            shardOfTensor[tensor] = shard
            if firstTensorOfShard[shard] == nil { firstTensorOfShard[shard] = tensor }
        }
        var opened: [String: SafeTensorsFile] = [:]
        for (shard, tensor) in firstTensorOfShard.sorted(by: { $0.key < $1.key }) {
            let shardPath = join(directory, shard)
            guard FileManager.default.fileExists(atPath: shardPath) else {
                throw CheckpointError.missingShard(index: indexPath, shard: shard, tensor: tensor)
            }
            opened[shard] = try SafeTensorsFile(path: shardPath)
        }
        let fileOfTensor = shardOfTensor.mapValues { opened[$0]! }
        return (opened.keys.sorted().map { opened[$0]! }, fileOfTensor)
    }

    private static func readWeightMap(_ indexPath: String) throws -> [String: String] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: indexPath))
        } catch {
            throw CheckpointError.cannotOpen(file: indexPath, reason: "\(error.localizedDescription)")
        }
        let root: HeaderJSON
        do {
            root = try data.withUnsafeBytes { try HeaderJSON.parse($0) }
        } catch {
            throw CheckpointError.invalidIndex(file: indexPath, reason: "not valid JSON: \(error)")
        }
        guard case let .object(object) = root, case let .object(map)? = object["weight_map"] else {
            throw CheckpointError.invalidIndex(file: indexPath, reason: "expected an object with a 'weight_map' object")
        }
        var weightMap: [String: String] = [:]
        for (tensor, shard) in map {
            guard case let .string(shard) = shard, !shard.isEmpty, !shard.hasPrefix("/") else {
                throw CheckpointError.invalidIndex(file: indexPath, reason: "weight_map['\(tensor)'] must be a relative file name")
            }
            weightMap[tensor] = shard
        }
        return weightMap
    }

    /// Opens files with no index; a tensor stored in two of them is an error.
    private static func openAll(_ paths: [String]) throws -> ([SafeTensorsFile], [String: SafeTensorsFile]) {
        var files: [SafeTensorsFile] = []
        var fileOfTensor: [String: SafeTensorsFile] = [:]
        for path in paths {
            let file = try SafeTensorsFile(path: path)
            for name in file.entries.keys.sorted() {
                if let first = fileOfTensor[name] {
                    throw CheckpointError.duplicateTensor(name: name, firstFile: first.path, secondFile: path)
                }
                fileOfTensor[name] = file
            }
            files.append(file)
        }
        return (files, fileOfTensor)
    }
}
