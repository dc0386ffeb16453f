import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import TernBackend
import TernEngine
import TernModels
import TernServer

/// A server on a free loopback port, in this process, serving the tiny Llama fixture.
final class TestServer: Sendable {
    static let modelDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../fixtures/models/llama").standardizedFileURL

    let service: ModelService
    let port: Int
    private let task: Task<Void, Error>

    var base: String { "http://127.0.0.1:\(port)" }

    private init(service: ModelService, port: Int, task: Task<Void, Error>) {
        self.service = service
        self.port = port
        self.task = task
    }

    static func start(engine: EngineConfig = EngineConfig(maxTotalTokens: 16384, pageSize: 16),
                      options: ServerOptions = ServerOptions(host: "127.0.0.1", port: 0),
                      modelDirectory: URL = TestServer.modelDirectory) async throws -> TestServer {
        let model = try ModelLoader.load(directory: modelDirectory, backend: CPUBackend())
        var logger = Logger(label: "tern.test")
        logger.logLevel = .warning
        let service = try ModelService(model: model, modelDirectory: modelDirectory, engineConfig: engine, options: options,
                                       logger: logger)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task {
            try await TernServer(service: service).runUntilCancelled { port in continuation.yield(port) }
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestError("server did not start") }
        return TestServer(service: service, port: port, task: task)
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
        service.engine.shutdown()
    }

    /// One server shared by the tests that do not need a server of their own.
    static func shared() async throws -> TestServer { try await SharedServer.instance.get() }
}

actor SharedServer {
    static let instance = SharedServer()
    private var server: TestServer?
    func get() async throws -> TestServer {
        if let server { return server }
        let s = try await TestServer.start()
        server = s
        return s
    }
}

/// AsyncHTTPClient allows only 8 connections per host by default; concurrency tests need more.
let testClient: HTTPClient = {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1024)
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}()

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

struct HTTPResult {
    var status: Int
    var body: String
    var contentType: String?
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    var jsonArray: [[String: Any]] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [[String: Any]] ?? [] }
    /// `error` object of an OpenAI error body.
    var error: [String: Any]? { json["error"] as? [String: Any] }
}

extension TestServer {
    func get(_ path: String) async throws -> HTTPResult {
        try await send(HTTPClientRequest(url: base + path))
    }

    func post(_ path: String, json: Any) async throws -> HTTPResult {
        try await post(path, raw: String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self))
    }

    func post(_ path: String, raw: String) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: raw))
        return try await send(request)
    }

    private func send(_ request: HTTPClientRequest) async throws -> HTTPResult {
        let response = try await testClient.execute(request, timeout: .seconds(120))
        let body = try await response.body.collect(upTo: 64 << 20)
        return HTTPResult(status: Int(response.status.code), body: String(buffer: body),
                          contentType: response.headers.first(name: "content-type"))
    }

    /// POSTs and reads a Server-Sent Events stream; returns every `data:` payload in order
    /// (the final `[DONE]` included).
    func stream(_ path: String, json: Any) async throws -> (status: Int, events: [String]) {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        let response = try await testClient.execute(request, timeout: .seconds(120))
        var parser = SSEParser()
        var events: [String] = []
        for try await buffer in response.body {
            events += parser.feed(String(buffer: buffer))
        }
        return (Int(response.status.code), events)
    }
}

/// Splits an SSE byte stream into `data:` payloads.
struct SSEParser {
    private var pending = ""

    mutating func feed(_ text: String) -> [String] {
        pending += text
        var out: [String] = []
        while let range = pending.range(of: "\n\n") {
            let event = pending[..<range.lowerBound]
            pending = String(pending[range.upperBound...])
            for line in event.split(separator: "\n") where line.hasPrefix("data: ") {
                out.append(String(line.dropFirst(6)))
            }
        }
        return out
    }
}

func parseJSON(_ text: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
}
