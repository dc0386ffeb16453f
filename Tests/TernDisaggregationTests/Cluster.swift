import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import TernBackend
import TernDisaggregation
import TernEngine
import TernModels
import TernServer

let modelDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../fixtures/models/llama").standardizedFileURL

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// An in-process tern server on a free loopback port: unified, prefill or decode.
final class Node: Sendable {
    let service: ModelService
    let port: Int
    let transfer: TCPKVTransfer
    let bootstrapPort: Int
    private let task: Task<Void, Error>

    var base: String { "http://127.0.0.1:\(port)" }
    var engine: Engine { service.engine }

    private init(service: ModelService, port: Int, transfer: TCPKVTransfer, bootstrapPort: Int, task: Task<Void, Error>) {
        self.service = service
        self.port = port
        self.transfer = transfer
        self.bootstrapPort = bootstrapPort
        self.task = task
    }

    static func start(_ mode: DisaggregationMode, timeout: Double = 20, pageSize: Int = 16,
                      disableRadixCache: Bool = false) async throws -> Node {
        let model = try ModelLoader.load(directory: modelDirectory, backend: CPUBackend())
        var logger = Logger(label: "tern.test")
        logger.logLevel = .critical
        let transfer = TCPKVTransfer()
        let setup = DisaggregationSetup(mode: mode, transfer: transfer, bootstrapHost: "127.0.0.1", bootstrapPort: 0,
                                        transferTimeout: timeout)
        let bound = BoundPort()
        let service = try ModelService(
            model: model, modelDirectory: modelDirectory,
            engineConfig: EngineConfig(maxTotalTokens: 8192, pageSize: pageSize, disableRadixCache: disableRadixCache),
            options: ServerOptions(host: "127.0.0.1", port: 0), logger: logger,
            makeRunner: setup.makeRunner { bound.set($0) })
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await TernServer(service: service).runUntilCancelled { continuation.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestError("server did not start") }
        return Node(service: service, port: port, transfer: transfer, bootstrapPort: bound.get(), task: task)
    }

    /// Stops serving HTTP and the bootstrap service (what a dead process looks like from outside).
    func kill() async {
        task.cancel()
        _ = try? await task.value
        transfer.shutdown()
    }

    func stop() async {
        await kill()
        engine.shutdown()
    }

    var workerSpec: WorkerSpec {
        switch service.runner {
        case is PrefillRunner: return WorkerSpec(url: base, role: .prefill, bootstrapPort: bootstrapPort)
        case is DecodeRunner: return WorkerSpec(url: base, role: .decode)
        default: return WorkerSpec(url: base, role: .regular)
        }
    }

    /// Waits (bounded: 20 s, for a loaded 2-core CI machine) until the engine is idle; returns its metrics.
    func idleMetrics() async throws -> EngineMetrics {
        for _ in 0..<800 {
            let m = engine.metrics()
            if m.runningRequests == 0 && m.queuedRequests == 0 && m.kvPagesReserved == 0 && m.kvPagesUsed == m.kvPagesCached { return m }
            try await Task.sleep(for: .milliseconds(25))
        }
        return engine.metrics()
    }
}

private final class BoundPort: @unchecked Sendable {
    private let lock = NSLock()
    private var port = 0
    func set(_ p: Int) { lock.withLock { port = p } }
    func get() -> Int { lock.withLock { port } }
}

/// A router in this process.
final class RouterNode: Sendable {
    let router: TernRouter
    let port: Int
    private let task: Task<Void, Error>
    var base: String { "http://127.0.0.1:\(port)" }

    private init(router: TernRouter, port: Int, task: Task<Void, Error>) {
        self.router = router
        self.port = port
        self.task = task
    }

    static func start(_ workers: [WorkerSpec], policy: RoutingPolicyKind = .cacheAware, healthInterval: Double = 0.2,
                      maxRetries: Int = 2) async throws -> RouterNode {
        var logger = Logger(label: "tern.test.router")
        logger.logLevel = .critical
        let router = TernRouter(config: RouterConfig(host: "127.0.0.1", port: 0, workers: workers, policy: policy,
                                                     healthCheckInterval: healthInterval, healthFailureThreshold: 1,
                                                     // Dead workers refuse connections at once; a slow answer
                                                     // on a loaded 2-core CI machine is not a dead worker.
                                                     healthCheckTimeout: 5,
                                                     maxRetries: maxRetries),
                                logger: logger)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await router.runUntilCancelled { continuation.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestError("router did not start") }
        return RouterNode(router: router, port: port, task: task)
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
        await router.shutdown()
    }
}

struct HTTPResult {
    var status: Int
    var body: String
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
}

func post(_ base: String, _ path: String, json: Any) async throws -> HTTPResult {
    var request = HTTPClientRequest(url: base + path)
    request.method = .POST
    request.headers.add(name: "content-type", value: "application/json")
    request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
    let body = try await response.body.collect(upTo: 64 << 20)
    return HTTPResult(status: Int(response.status.code), body: String(buffer: body))
}

func get(_ base: String, _ path: String) async throws -> HTTPResult {
    let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + path), timeout: .seconds(30))
    let body = try await response.body.collect(upTo: 16 << 20)
    return HTTPResult(status: Int(response.status.code), body: String(buffer: body))
}

/// POSTs and returns the `data:` payloads of the event stream, `[DONE]` included.
func stream(_ base: String, _ path: String, json: Any) async throws -> (status: Int, events: [String]) {
    var request = HTTPClientRequest(url: base + path)
    request.method = .POST
    request.headers.add(name: "content-type", value: "application/json")
    request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
    var pending = ""
    var events: [String] = []
    for try await buffer in response.body {
        pending += String(buffer: buffer)
        while let range = pending.range(of: "\n\n") {
            for line in pending[..<range.lowerBound].split(separator: "\n") where line.hasPrefix("data: ") {
                events.append(String(line.dropFirst(6)))
            }
            pending = String(pending[range.upperBound...])
        }
    }
    return (Int(response.status.code), events)
}

/// The concatenated `choices[0].text` of a completion stream.
func streamedText(_ events: [String]) -> String {
    events.compactMap { event -> String? in
        guard let object = (try? JSONSerialization.jsonObject(with: Data(event.utf8))) as? [String: Any],
              let choices = object["choices"] as? [[String: Any]] else { return nil }
        return choices.first?["text"] as? String
    }.joined()
}

/// Deterministic prompts of varied lengths (words from a small list).
func prompt(_ seed: Int, words: Int) -> String {
    let vocabulary = ["the", "river", "stone", "quietly", "under", "bright", "market", "seven", "glass", "winter", "north",
                      "paper", "lantern", "orbit", "melody", "harbor"]
    var state = UInt64(seed &* 2_654_435_761 &+ 1)
    var out: [String] = []
    for _ in 0..<words {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        out.append(vocabulary[Int(state >> 33) % vocabulary.count])
    }
    return out.joined(separator: " ")
}
