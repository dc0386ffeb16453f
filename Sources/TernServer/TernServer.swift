import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TernEngine

/// The HTTP server: a `ModelService` behind Hummingbird.
///
///     let server = TernServer(service: service)
///     try await server.run()                       // until SIGTERM/SIGINT
public struct TernServer: Sendable {
    public static let version = "0.1.0"
    public let service: ModelService

    public init(service: ModelService) { self.service = service }

    func makeApplication(onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let options = service.options
        let logger = service.logger
        return Application(
            router: service.makeRouter(),
            configuration: ApplicationConfiguration(address: .hostname(options.host, port: options.port), serverName: "tern"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? options.port
                await onListening(port)
            },
            logger: logger)
    }

    /// Serves until SIGTERM or SIGINT: then stops accepting, lets in-flight requests finish for up to
    /// `gracefulShutdownSeconds`, cancels (aborts) what is left, and stops the engine loop.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = makeApplication { [service] port in
            service.logStartup(port: port)
            await onListening(port)
        }
        var config = ServiceGroupConfiguration(services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint],
                                               logger: service.logger)
        config.maximumGracefulShutdownDuration = .milliseconds(Int64(service.options.gracefulShutdownSeconds * 1000))
        let group = ServiceGroup(configuration: config)
        defer { service.engine.shutdown() }
        try await group.run()
        service.logger.info("server stopped")
    }

    /// Serves until the calling task is cancelled (tests). The engine keeps running; shut it down separately.
    public func runUntilCancelled(onListening: @escaping @Sendable (Int) async -> Void) async throws {
        try await makeApplication(onListening: onListening).run()
    }
}

extension ModelService {
    func logStartup(port: Int) {
        let m = engine.metrics()
        logger.info("tern server ready", metadata: [
            "model": .string(modelPath), "served_model_name": .string(servedModelName), "device": .string(device),
            "kv_pool_tokens": .stringConvertible(m.kvPagesTotal * m.pageSize), "page_size": .stringConvertible(m.pageSize),
            "context_length": .stringConvertible(contextLength),
            "address": .string("http://\(options.host):\(port)"),
        ])
    }
}
