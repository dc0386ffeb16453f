import ArgumentParser
import Foundation
import Logging
import TernDisaggregation
import TernEngine
import TernServer

/// `tern serve`: the OpenAI-compatible and SGLang-native HTTP server. Flags keep SGLang's names.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model over HTTP (OpenAI-compatible and SGLang-native APIs).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var stepOptions: StepOptions

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port).")
    var port: Int = 30000

    @Option(help: "Model name clients use in 'model'; defaults to the model directory's name.")
    var servedModelName: String?

    @Option(help: "KV cache capacity in tokens; defaults to what the memory budget allows.")
    var maxTotalTokens: Int?

    @Option(help: "Tokens per KV page.")
    var pageSize: Int = 16

    @Option(help: "Largest prefill chunk in tokens (-1: no chunking).")
    var chunkedPrefillSize: Int = 2048

    @Option(help: "Prefill tokens per step across requests.")
    var maxPrefillTokens: Int = 16384

    @Option(help: "Requests decoding at once.")
    var maxRunningRequests: Int = 256

    @Option(help: "Admission order: lpm (longest prefix match) or fcfs.")
    var schedulePolicy: String = "lpm"

    @Flag(help: "Disable prefix sharing between requests.")
    var disableRadixCache: Bool = false

    @Option(help: "Fraction of device memory for weights and KV cache (GPU devices).")
    var memFractionStatic: Double = 0.88

    @Option(help: "KV cache bytes on the CPU device when --max-total-tokens is not given.")
    var cpuKvCacheBytes: Int = 512 << 20

    @Option(help: "Largest request body in bytes; larger ones get 413.")
    var maxRequestBodyBytes: Int = 32 << 20

    @Option(help: "Seconds in-flight requests may run after SIGTERM/SIGINT before they are aborted.")
    var gracefulShutdownTimeout: Double = 30

    @Option(help: "Prefill-decode disaggregation role: null (unified), prefill or decode.")
    var disaggregationMode: String = "null"

    @Option(help: "Port of a prefill server's bootstrap service (decode servers register their KV pages there).")
    var disaggregationBootstrapPort: Int = 8998

    @Option(help: "KV transfer backend between prefill and decode servers: tcp, or cuda-ipc (GPU to GPU on one node).")
    var disaggregationTransferBackend: String = "tcp"

    @Option(help: "Seconds a disaggregated request may wait for its KV transfer.")
    var disaggregationTransferTimeout: Double = 300

    @Flag(help: "Read no tokenizer (a config-only model directory): requests send token ids, responses carry ids, text prompts get 400.")
    var skipTokenizerInit = false

    @Option(help: "Seed for requests that give none, so sampled outputs repeat run to run (default: random).")
    var randomSeed: UInt64?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        guard let policy = SchedulePolicy(rawValue: schedulePolicy) else {
            throw ValidationError("unknown --schedule-policy '\(schedulePolicy)' (lpm, fcfs)")
        }
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "tern.server")
        guard let pdMode = DisaggregationMode(rawValue: disaggregationMode) else {
            throw ValidationError("unknown --disaggregation-mode '\(disaggregationMode)' (null, prefill, decode)")
        }
        guard let transferKind = TransferBackendKind(rawValue: disaggregationTransferBackend) else {
            throw ValidationError("unknown --disaggregation-transfer-backend '\(disaggregationTransferBackend)' (tcp, cuda-ipc)")
        }
        let pd = DisaggregationSetup(mode: pdMode, transfer: transferKind.make(), bootstrapHost: host == "127.0.0.1" ? host : "0.0.0.0",
                                     bootstrapPort: disaggregationBootstrapPort, transferTimeout: disaggregationTransferTimeout)
        let model = try modelOptions.loadModel()
        let engineConfig = EngineConfig(
            maxTotalTokens: maxTotalTokens, pageSize: pageSize, chunkedPrefillSize: chunkedPrefillSize,
            maxPrefillTokens: maxPrefillTokens, maxRunningRequests: maxRunningRequests, schedulePolicy: policy,
            disableRadixCache: disableRadixCache, memFractionStatic: memFractionStatic, kvCacheBytes: cpuKvCacheBytes,
            contextLength: modelOptions.contextLength, randomSeed: randomSeed,
            overlapSchedule: !stepOptions.disableOverlapSchedule)
        let executor = stepOptions.makeExecutor(for: model)
        let options = ServerOptions(host: host, port: port, servedModelName: servedModelName,
                                    maxRequestBodyBytes: maxRequestBodyBytes, gracefulShutdownSeconds: gracefulShutdownTimeout,
                                    skipTokenizerInit: skipTokenizerInit)
        let service = try ModelService(model: model, modelDirectory: URL(fileURLWithPath: modelOptions.model),
                                       engineConfig: engineConfig, options: options, device: modelOptions.device, logger: logger,
                                       makeRunner: pd.makeRunner { port in
                                           logger.info("bootstrap service ready", metadata: ["mode": .string(pdMode.rawValue), "port": .stringConvertible(port)])
                                       }, executor: executor)
        logger.info("KV pool: \(service.engine.memoryPlan.summary)")
        if service.engine.memoryPlan.pages == 0 {
            service.engine.shutdown()
            throw ValidationError("no device memory left for the KV cache (\(service.engine.memoryPlan.summary)); "
                                  + "raise --mem-fraction-static or give --max-total-tokens")
        }
        for line in StepOptions.describe(executor) { logger.info("\(line)") }
        try await TernServer(service: service).run()
    }
}
