import ArgumentParser
import Foundation
import TernBackend
import TernCUDA
import TernEngine
import TernModels

/// How the engine runs its steps on a GPU (SGLang's flag names).
struct StepOptions: ParsableArguments {
    @Flag(help: "Run decode steps plainly instead of replaying CUDA graphs (--device cuda).")
    var disableCudaGraph = false

    @Option(help: "Largest decode batch replayed from a CUDA graph (default: min(256, --max-running-requests)).")
    var cudaGraphMaxBs: Int?

    @Option(help: "Longest sequence a CUDA graph serves; longer decode steps run plainly (default: min(context length, 8192)).")
    var cudaGraphMaxSeqLen: Int?

    @Flag(help: "Sample on the host from downloaded logits instead of on the GPU (--device cuda).")
    var disableGpuSampling = false

    @Flag(help: "Deliver a step's outputs before launching the next step instead of while it runs.")
    var disableOverlapSchedule = false

    /// The executor for `model`: CUDA graphs and GPU sampling on the CUDA backend, nil (the plain
    /// forward) elsewhere.
    func makeExecutor(for model: any LanguageModel) -> (any StepExecutor)? {
        guard let cuda = model.backend as? CUDABackend else { return nil }
        let options = CUDAStepExecutor.Options(cudaGraphs: !disableCudaGraph, cudaGraphMaxBatchSize: cudaGraphMaxBs,
                                               cudaGraphMaxSequenceLength: cudaGraphMaxSeqLen, gpuSampling: !disableGpuSampling)
        return CUDAStepExecutor(backend: cuda, vocabSize: model.config.vocabSize, options: options) { batch, cache in
            try model.forward(batch, cache: cache)
        }
    }

    /// Start-up lines about the executor (graph capture time), empty for the plain one.
    static func describe(_ executor: (any StepExecutor)?) -> [String] {
        guard let cuda = executor as? CUDAStepExecutor else { return [] }
        var lines: [String] = []
        if let graphs = cuda.graphs {
            lines.append("CUDA graphs: buckets \(graphs.buckets.map(String.init).joined(separator: ",")), sequences up to "
                         + "\(graphs.maxPagesPerSequence * graphs.pageSize) tokens, captured in "
                         + String(format: "%.2f s", cuda.captureSeconds))
        } else if let error = cuda.captureError {
            lines.append("CUDA graphs: capture failed, decode steps run plainly (\(error))")
        } else {
            lines.append("CUDA graphs: off")
        }
        lines.append("sampling: " + (cuda.samplesOnDevice ? "GPU (host for logprobs, logit_bias, min_tokens, n > 1)" : "host"))
        return lines
    }
}
