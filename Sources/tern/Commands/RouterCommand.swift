import ArgumentParser
import Foundation
import Logging
import TernDisaggregation

/// `tern router`: SGLang router's command line. A load balancer over regular servers
/// (`--worker-urls`), or with `--pd-disaggregation` the pairing router over prefill and decode servers.
struct RouterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router",
        abstract: "Route requests over several tern servers (load balancing, or prefill-decode disaggregation).",
        discussion: """
        Load balancing:  tern router --worker-urls http://127.0.0.1:30001 http://127.0.0.1:30002 --policy cache_aware
        PD:              tern router --pd-disaggregation --prefill http://127.0.0.1:30001 8998 --decode http://127.0.0.1:30002
        """)

    @Flag(help: "Pair prefill and decode servers (each request goes to one of each with a shared bootstrap room).")
    var pdDisaggregation = false

    @Option(parsing: .upToNextOption, help: "Regular workers (no PD).")
    var workerUrls: [String] = []

    @Option(name: .customLong("prefill"), parsing: .upToNextOption,
            help: ArgumentHelp("A prefill server: URL, optionally followed by its bootstrap port (default 8998). Repeatable.",
                               valueName: "URL [BOOTSTRAP_PORT]"))
    var prefillArguments: [String] = []

    @Option(name: .customLong("decode"), parsing: .unconditionalSingleValue, help: "A decode server URL. Repeatable.")
    var decodeURLs: [String] = []

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port: Int = 30000

    @Option(help: "cache_aware, round_robin or least_load.")
    var policy: String = "cache_aware"

    @Option(help: "Cache-aware: least prefix-match fraction that routes by prefix.")
    var cacheThreshold: Double = 0.5

    @Option(help: "Cache-aware: in-flight difference above which load decides.")
    var balanceAbsThreshold: Int = 32

    @Option(help: "Cache-aware: in-flight ratio above which load decides.")
    var balanceRelThreshold: Double = 1.5

    @Option(help: "Seconds between health checks.")
    var healthCheckInterval: Double = 5

    @Option(help: "Failed health checks before a worker leaves the rotation.")
    var healthFailureThreshold: Int = 2

    @Option(name: .customLong("health-check-timeout-secs"), help: "Seconds a health check may take before it counts as failed.")
    var healthCheckTimeout: Double = 5

    @Option(help: "Retries on another worker when one fails before answering.")
    var maxRetries: Int = 2

    @Option(help: "Log level.")
    var logLevel: String = "info"

    func run() async throws {
        guard let policyKind = RoutingPolicyKind(rawValue: policy) else {
            throw ValidationError("unknown --policy '\(policy)' (cache_aware, round_robin, least_load)")
        }
        let workers = try workerSpecs()
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let config = RouterConfig(host: host, port: port, workers: workers, policy: policyKind, cacheThreshold: cacheThreshold,
                                  balanceAbsThreshold: balanceAbsThreshold, balanceRelThreshold: balanceRelThreshold,
                                  healthCheckInterval: healthCheckInterval, healthFailureThreshold: healthFailureThreshold,
                                  healthCheckTimeout: healthCheckTimeout,
                                  maxRetries: maxRetries)
        let router = TernRouter(config: config)
        try await router.run { port in
            router.logger.info("tern router ready", metadata: ["address": .string("http://\(config.host):\(port)"),
                                                             "workers": .stringConvertible(workers.count),
                                                             "pd": .stringConvertible(config.isDisaggregated)])
        }
    }

    /// `--prefill URL [PORT]`: values of all `--prefill` options in order; a bare port belongs to the URL before it.
    func workerSpecs() throws -> [WorkerSpec] {
        if !pdDisaggregation {
            guard !workerUrls.isEmpty else { throw ValidationError("give --worker-urls, or --pd-disaggregation with --prefill/--decode") }
            return workerUrls.map { WorkerSpec(url: $0, role: .regular) }
        }
        var prefills: [WorkerSpec] = []
        for value in prefillArguments {
            if let port = Int(value) {
                guard !prefills.isEmpty else { throw ValidationError("bootstrap port \(port) without a --prefill URL before it") }
                prefills[prefills.count - 1].bootstrapPort = port
            } else if value.lowercased() == "none" {
                continue
            } else {
                prefills.append(WorkerSpec(url: value, role: .prefill, bootstrapPort: 8998))
            }
        }
        guard !prefills.isEmpty, !decodeURLs.isEmpty else { throw ValidationError("--pd-disaggregation needs --prefill and --decode") }
        return prefills + decodeURLs.map { WorkerSpec(url: $0, role: .decode) }
    }
}
