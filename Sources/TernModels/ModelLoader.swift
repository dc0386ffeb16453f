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
                            maxPositions: Int? = nil, seed: UInt64 = 0,
                            options: ModelBuildOptions = ModelBuildOptions()) throws -> any LanguageModel {
        let config = try ModelConfig.load(directory: directory)
        let source: any WeightSource
        switch loadFormat {
        case .auto: source = try Checkpoint(path: directory.path)
        case .dummy: source = DummyWeights(seed: seed)
        }
        var options = options
        if let maxPositions { options.maxPositions = maxPositions }
        return try load(config: config, source: source, backend: backend, options: options)
    }

    public static func load(config: ModelConfig, source: any WeightSource, backend: any Backend,
                            options: ModelBuildOptions = ModelBuildOptions()) throws -> any LanguageModel {
        let weights = WeightLoader(source: source, backend: backend, dtype: config.dtype, quantization: config.quantization,
                                   quantizeActivations: options.quantizeActivations)
        return try DecoderModel(config: config, weights: weights, options: options)
    }
}

extension DummyWeights: DummySourceMarker {}
