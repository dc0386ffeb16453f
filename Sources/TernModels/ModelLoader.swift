import Foundation
import TernBackend
import TernCheckpoint
import TernCore

/// How weights are obtained, as SGLang's and vLLM's `--load-format`.
public enum LoadFormat: String, Sendable, CaseIterable {
    /// safetensors files next to config.json
    case auto
    /// deterministic random weights for the config's shapes (benchmarks without downloads)
    case dummy
}

/// Builds a model from a Hugging Face directory (config.json + safetensors).
public enum ModelLoader {
    public static func load(directory: URL, backend: any Backend, loadFormat: LoadFormat = .auto,
                            maxPositions: Int? = nil, seed: UInt64 = 0) throws -> any LanguageModel {
        let config = try ModelConfig.load(directory: directory)
        let source: any WeightSource
        switch loadFormat {
        case .auto: source = try Checkpoint(path: directory.path)
        case .dummy: source = DummyWeights(seed: seed)
        }
        return try load(config: config, source: source, backend: backend, maxPositions: maxPositions)
    }

    public static func load(config: ModelConfig, source: any WeightSource, backend: any Backend,
                            maxPositions: Int? = nil) throws -> any LanguageModel {
        let weights = WeightLoader(source: source, backend: backend, dtype: config.dtype)
        let positions = min(maxPositions ?? config.maxPositionEmbeddings, config.maxPositionEmbeddings)
        switch config.architecture {
        case .llama, .mistral, .qwen2, .qwen3:
            return try DenseTransformer(config: config, weights: weights, maxPositions: positions)
        }
    }
}
