import ArgumentParser
import Foundation
import TernCUDA
import TernEngine
import TernModels

/// `tern bench-engine`: decode steps through the whole engine (scheduler, batch building, the step
/// executor, sampling, output), per concurrency: step time, the model's part and the engine's overhead.
/// On `--device cuda` the default executor replays CUDA graphs and samples on the GPU; `--also-plain`
/// repeats each run with the plain path (no graphs, host sampling, no overlap) on the same loaded model.
struct BenchEngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-engine",
                                                    abstract: "Time the engine's decode steps (model + scheduling + sampling + output).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var stepOptions: StepOptions

    @Option(help: "Running requests per run, comma separated.")
    var concurrency: String = "1,16,64"

    @Option(help: "Timed decode steps per run.")
    var steps: Int = 64

    @Option(help: "Prompt tokens per request.")
    var promptLength: Int = 32

    @Option(help: "Sampling temperature (0: greedy).")
    var temperature: Float = 0

    @Flag(help: "Also run each concurrency on the plain path (no CUDA graphs, host sampling, no overlap).")
    var alsoPlain = false

    func run() throws {
        let levels = try concurrency.split(separator: ",").map { part -> Int in
            guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n > 0 else { throw ValidationError("bad --concurrency '\(part)'") }
            return n
        }
        let loadStart = Date()
        let model = try modelOptions.loadModel()
        print(String(format: "model loaded in %.1f s", Date().timeIntervalSince(loadStart)))
        let sampling = temperature > 0 ? SamplingParams(temperature: temperature, topK: 50, topP: 0.95, seed: 1) : SamplingParams(temperature: 0)
        print("engine decode steps: \(model.config.architecture), prompt \(promptLength), \(steps) steps, temperature \(temperature)")
        var rows: [(String, Int, EngineBenchmark.Result)] = []
        for c in levels {
            let executor = stepOptions.makeExecutor(for: model)
            let result = try EngineBenchmark.decodeOverhead(model: model, concurrency: c, promptLength: promptLength, steps: steps,
                                                            sampling: sampling, overlapSchedule: !stepOptions.disableOverlapSchedule,
                                                            executor: executor)
            for line in StepOptions.describe(executor) { print("  c\(c): \(line)") }
            if let cuda = executor as? CUDAStepExecutor { print("  c\(c): \(cuda.graphSteps) graph steps, \(cuda.plainSteps) plain steps") }
            rows.append(("engine", c, result))
            if alsoPlain {
                let plain = try EngineBenchmark.decodeOverhead(model: model, concurrency: c, promptLength: promptLength, steps: steps,
                                                               sampling: sampling, overlapSchedule: false, executor: nil)
                rows.append(("plain", c, plain))
            }
        }
        print("| path | concurrency | step ms | model ms | engine overhead ms | tokens/s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for (path, c, r) in rows {
            print(String(format: "| %@ | %d | %.3f | %.3f | %.3f | %.0f |", path as NSString, c, r.stepSeconds * 1e3, r.modelSeconds * 1e3,
                         r.overheadSeconds * 1e3, r.tokensPerStep / r.stepSeconds))
        }
    }
}
