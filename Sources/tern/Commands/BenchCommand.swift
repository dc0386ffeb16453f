import ArgumentParser
import Foundation
import TernBench

/// `tern bench`: the serving benchmark client (SGLang bench_serving's flags, InferenceMAX sweeps) and
/// `tern bench plot` for Pareto plots of result files.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark a running server: load, latency and throughput figures, concurrency sweeps, Pareto plots.",
        subcommands: [BenchRunCommand.self, BenchPlotCommand.self],
        defaultSubcommand: BenchRunCommand.self)
}

struct BenchRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one benchmark, or a concurrency sweep (the default subcommand of `tern bench`).")

    @Option(help: "Server address, e.g. http://127.0.0.1:30000.")
    var baseURL: String = "http://127.0.0.1:30000"

    @Option(help: "API: tern (SGLang /generate), openai (/v1/completions), openai-chat (/v1/chat/completions).")
    var backend: String = "tern"

    @Option(help: "Model name for OpenAI requests (default: the server's first /v1/models entry).")
    var model: String?

    @Option(help: "Dataset: random, sharegpt, generated-shared-prefix.")
    var datasetName: String = "random"

    @Option(help: "ShareGPT-format JSON file (--dataset-name sharegpt).")
    var datasetPath: String?

    @Option(help: "Directory with tokenizer.json: renders random ids to text, counts ShareGPT tokens.")
    var tokenizer: String?

    @Option(help: "Random prompt length in tokens (upper end of the range).")
    var randomInputLen: Int = 1024

    @Option(help: "Random output length in tokens (upper end of the range).")
    var randomOutputLen: Int = 1024

    @Option(help: "Each length is uniform in [max(1, L*r), L].")
    var randomRangeRatio: Double = 0

    @Flag(help: "Send random prompts as token ids even when --tokenizer is given (the default without one).")
    var randomSendIds = false

    @Option(help: "Random token ids are drawn from [0, N) (default: the tokenizer's or the server's vocabulary).")
    var randomVocabSize: Int?

    @Option(help: "Output length for ShareGPT prompts (default: the reply's length).")
    var sharegptOutputLen: Int?

    @Option(help: "Shared-prefix groups.")
    var gspNumGroups: Int = 64
    @Option(help: "Requests per shared-prefix group.")
    var gspPromptsPerGroup: Int = 16
    @Option(help: "Shared system prompt length in tokens.")
    var gspSystemPromptLen: Int = 2048
    @Option(help: "Per-request question length in tokens.")
    var gspQuestionLen: Int = 128
    @Option(help: "Output length of shared-prefix requests.")
    var gspOutputLen: Int = 256

    @Option(help: "Measured requests (sweeps: 10 x concurrency unless given).")
    var numPrompts: Int?

    @Option(help: "Requests per second (Poisson arrivals) or inf.")
    var requestRate: String = "inf"

    @Option(help: "Most requests in flight at once.")
    var maxConcurrency: Int?

    @Option(help: "Requests sent before measuring (sweeps: 2 x concurrency unless given).")
    var warmupRequests: Int?

    @Flag(help: "Let requests stop at EOS (by default ignore_eos makes output lengths exact).")
    var disableIgnoreEos = false

    @Flag(help: "Ask the server to ignore EOS (the default).")
    var ignoreEos = false

    @Option(help: "Random seed for prompts and arrival times.")
    var seed: UInt64 = 1

    @Option(help: "GPUs serving the model: divides throughput for the per-GPU figures.")
    var numGpus: Int = 1

    @Option(help: "Append a JSON line per run to this file.")
    var outputFile: String?

    @Option(help: "Name of this run in results and plot legends.")
    var label: String?

    @Option(help: "Concurrency sweep, e.g. 1,2,4,8,16,32,64.")
    var sweepConcurrency: String?

    @Option(help: "InferenceMAX workload: 1k1k, 1k8k or 8k1k (random lengths, range ratio 0.8).")
    var preset: String?

    @Option(help: "Write the sweep's Pareto plot (SVG) here.")
    var plotOutput: String?

    @Option(help: "Seconds before a single request counts as failed.")
    var requestTimeout: Double = 3600

    @Flag(help: "No progress line on stderr.")
    var quiet = false

    func validate() throws {
        guard BenchBackend(rawValue: backend) != nil else { throw ValidationError("unknown --backend '\(backend)' (tern, openai, openai-chat)") }
        if disableIgnoreEos && ignoreEos { throw ValidationError("--ignore-eos and --disable-ignore-eos contradict each other") }
        if let preset, Preset.named(preset) == nil { throw ValidationError("unknown --preset '\(preset)' (1k1k, 1k8k, 8k1k)") }
        if numGpus < 1 { throw ValidationError("--num-gpus must be at least 1") }
        _ = try rate()
        _ = try concurrencies()
    }

    func rate() throws -> Double {
        if requestRate.lowercased() == "inf" { return .infinity }
        guard let r = Double(requestRate), r > 0 else { throw ValidationError("--request-rate is a positive number or inf") }
        return r
    }

    func concurrencies() throws -> [Int]? {
        guard let sweepConcurrency else { return nil }
        let values = sweepConcurrency.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("--sweep-concurrency is a comma-separated list of positive integers")
        }
        return values.map { $0! }
    }

    func dataset() throws -> DatasetSpec {
        var (inLen, outLen, ratio) = (randomInputLen, randomOutputLen, randomRangeRatio)
        if let name = preset, let p = Preset.named(name) { (inLen, outLen, ratio) = (p.inputLength, p.outputLength, p.rangeRatio) }
        switch datasetName {
        case "random", "random-ids":
            return .random(inputLength: inLen, outputLength: outLen, rangeRatio: ratio, sendIDs: randomSendIds || datasetName == "random-ids")
        case "sharegpt":
            guard let datasetPath else { throw ValidationError("--dataset-name sharegpt needs --dataset-path") }
            return .sharegpt(path: datasetPath, outputLength: sharegptOutputLen)
        case "generated-shared-prefix":
            return .generatedSharedPrefix(numGroups: gspNumGroups, promptsPerGroup: gspPromptsPerGroup,
                                          systemPromptLength: gspSystemPromptLen, questionLength: gspQuestionLen, outputLength: gspOutputLen)
        default:
            throw ValidationError("unknown --dataset-name '\(datasetName)' (random, sharegpt, generated-shared-prefix)")
        }
    }

    func run() async throws {
        var config = BenchConfig(
            baseURL: baseURL, backend: BenchBackend(rawValue: backend)!, model: model, dataset: try dataset(),
            numPrompts: numPrompts ?? 1000, requestRate: try rate(), maxConcurrency: maxConcurrency,
            warmupRequests: warmupRequests ?? 1, ignoreEOS: !disableIgnoreEos, seed: seed, numGPUs: numGpus,
            vocabSize: randomVocabSize, tokenizerPath: tokenizer, label: label, showProgress: !quiet, requestTimeout: requestTimeout)
        if case .generatedSharedPrefix(let g, let p, _, _, _) = config.dataset { config.numPrompts = g * p }

        guard let concurrencies = try concurrencies() else {
            let result = try await BenchRunner().run(config, preset: preset)
            print(ResultTable.render(result))
            if let outputFile { try RunRecord.append(result, to: outputFile) }
            return
        }
        let sweep = Sweep(base: config, concurrencies: concurrencies, numPrompts: numPrompts, warmupRequests: warmupRequests,
                          preset: preset)
        let results = try await sweep.run { result in
            print(ResultTable.render(result))
            if let outputFile { try RunRecord.append(result, to: outputFile) }
        }
        print(SweepTable.render(results))
        if let plotOutput {
            let points = results.map {
                PlotPoint(x: $0.metrics.interactivity.median, y: $0.metrics.outputThroughputPerGPU,
                          note: "c\($0.config.maxConcurrency ?? 0)")
            }
            let title = [preset, results.first?.model].compactMap { $0 }.joined(separator: " · ")
            let plot = ParetoPlot(title: title.isEmpty ? "Throughput vs interactivity" : title,
                                  series: [PlotSeries(label: label ?? config.backend.rawValue, points: points)])
            try plot.svg().write(toFile: plotOutput, atomically: true, encoding: .utf8)
            print("plot: \(plotOutput)")
        }
    }
}

struct BenchPlotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw result files (JSON lines from `tern bench --output-file`) on one Pareto plot.")

    @Option(parsing: .upToNextOption, help: "Result files; each file (or each label within one) is a series.")
    var input: [String]

    @Option(help: "SVG file to write.")
    var output: String = "pareto.svg"

    @Option(help: "Plot title.")
    var title: String = "Output throughput per GPU vs interactivity"

    @Option(help: "Record field on the x axis.")
    var xField: String = "median_interactivity"

    @Option(help: "Record field on the y axis.")
    var yField: String = "output_throughput_per_gpu"

    func run() throws {
        guard !input.isEmpty else { throw ValidationError("give at least one --input file") }
        let series = try PlotSeriesLoader.series(files: input, xField: xField, yField: yField)
        guard series.contains(where: { !$0.points.isEmpty }) else {
            throw ValidationError("no record has numeric '\(xField)' and '\(yField)'")
        }
        let axisName = [
            "median_interactivity": "Interactivity, median (tok/s/user)", "mean_interactivity": "Interactivity, mean (tok/s/user)",
            "output_throughput_per_gpu": "Output throughput per GPU (tok/s/GPU)",
            "total_throughput_per_gpu": "Total throughput per GPU (tok/s/GPU)",
        ]
        let plot = ParetoPlot(title: title, xLabel: axisName[xField] ?? xField, yLabel: axisName[yField] ?? yField, series: series)
        try plot.svg().write(toFile: output, atomically: true, encoding: .utf8)
        print("plot: \(output) (\(series.count) series, \(series.reduce(0) { $0 + $1.points.count }) points)")
    }
}
