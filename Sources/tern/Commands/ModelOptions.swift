import ArgumentParser
import Foundation
import TernBackend
import TernCUDA
import TernModels

/// Where the default model lives: the tiny Llama fixture shipped in the repository.
enum DefaultModel {
    static var path: String {
        // Resolve relative to the working directory first (README commands run from the repo root),
        // then relative to this source file (tests and `swift run` from elsewhere).
        let relative = "fixtures/models/llama"
        if FileManager.default.fileExists(atPath: relative + "/config.json") { return relative }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return repo.appendingPathComponent(relative).path
    }
}

struct ModelOptions: ParsableArguments {
    @Option(help: "Model directory (config.json, *.safetensors, tokenizer.json).")
    var model: String = DefaultModel.path

    @Option(help: "Weights: auto (safetensors) or dummy (random weights for the config's shapes).")
    var loadFormat: String = "auto"

    @Option(help: "Device: cpu or cuda.")
    var device: String = "cpu"

    @Option(help: "GPU ordinal to run on with --device cuda (SGLang's name; two servers on two GPUs of one node).")
    var baseGpuId: Int = 0

    @Option(help: "Longest sequence (prompt + output) to support; defaults to the model's max_position_embeddings.")
    var contextLength: Int?

    @Option(help: "MLA form for DeepSeek models: automatic (expanded prefill, absorbed decode), absorbed, expanded.")
    var mlaForm: String = "automatic"

    @Option(help: "KV cache storage: auto (activation dtype), bf16, fp8_e4m3 (FP8 with per-layer scales from the checkpoint's k_scale/v_scale, else 1).")
    var kvCacheDtype: String = "auto"

    @Flag(help: "FP8 checkpoints: keep activations in full precision instead of quantizing them per 128-value group.")
    var disableFp8ActivationQuant = false

    func makeBackend() throws -> any Backend {
        switch device {
        case "cpu": return CPUBackend()
        case "cuda":
            do { return try CUDABackend(device: baseGpuId) } catch {
                throw ValidationError("--device cuda: the CUDA backend is unavailable on this machine (\(error))")
            }
        default: throw ValidationError("unknown device '\(device)' (available: cpu, cuda)")
        }
    }

    func loadModel() throws -> any LanguageModel {
        guard let format = LoadFormat(rawValue: loadFormat) else {
            throw ValidationError("unknown --load-format '\(loadFormat)' (auto, dummy)")
        }
        guard let form = MLAForm(rawValue: mlaForm) else {
            throw ValidationError("unknown --mla-form '\(mlaForm)' (automatic, absorbed, expanded)")
        }
        guard let kvDType = KVCacheDTypeChoice(rawValue: kvCacheDtype) else {
            throw ValidationError("unknown --kv-cache-dtype '\(kvCacheDtype)' (auto, bf16, fp8_e4m3)")
        }
        let options = ModelBuildOptions(maxPositions: contextLength, mlaForm: form,
                                        quantizeActivations: !disableFp8ActivationQuant, kvCacheDType: kvDType)
        return try ModelLoader.load(directory: URL(fileURLWithPath: model), backend: try makeBackend(),
                                    loadFormat: format, options: options)
    }
}
