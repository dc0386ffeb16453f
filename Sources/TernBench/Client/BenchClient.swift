import AsyncHTTPClient
import Foundation
import NIOCore

/// Sends benchmark requests and times their streams.
public final class BenchClient: Sendable {
    public let baseURL: String
    public let backend: BenchBackend
    let http: HTTPClient
    let timeout: Double

    /// `maxConnections` bounds the connection pool; it must cover the concurrency or requests queue in the client.
    public init(baseURL: String, backend: BenchBackend, maxConnections: Int, timeout: Double = 3600) {
        self.baseURL = baseURL
        self.backend = backend
        self.timeout = timeout
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(120),
                                             concurrentHTTP1ConnectionsPerHostSoftLimit: max(maxConnections, 8))
        configuration.decompression = .disabled
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    public func shutdown() async { try? await http.shutdown() }

    /// GET a JSON object (model list, server info).
    public func getJSON(_ path: String) async throws -> [String: Any] {
        let response = try await http.execute(HTTPClientRequest(url: baseURL + path), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        guard response.status == .ok, let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw BenchError.server("GET \(path) answered \(response.status.code)")
        }
        return object
    }

    /// Streams one request; never throws: failures come back as records with `succeeded == false`.
    public func send(_ prompt: BenchPrompt, model: String?, ignoreEOS: Bool, startTime: Double) async -> RequestRecord {
        var record = RequestRecord(promptTokens: prompt.promptTokens, promptIsExact: prompt.promptIsExact,
                                   requestedOutputTokens: prompt.outputTokens, succeeded: false, startTime: startTime,
                                   chunkTimes: [], chunkTokens: [], latency: 0)
        var stream = StreamAccumulator(backend: backend)
        let start = monotonicSeconds()
        do {
            var request = HTTPClientRequest(url: baseURL + backend.path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try RequestBody.make(prompt, backend: backend, model: model, ignoreEOS: ignoreEOS)))
            let response = try await http.execute(request, timeout: .seconds(Int64(timeout)))
            if response.status != .ok {
                let body = try await response.body.collect(upTo: 1 << 20)
                record.error = "HTTP \(response.status.code): \(String(buffer: body).prefix(300))"
            } else {
                var splitter = SSELineSplitter()
                for try await buffer in response.body {
                    let now = monotonicSeconds() - start
                    for payload in splitter.feed(buffer.readableBytesView) { stream.consume(payload, at: now) }
                }
                record.error = stream.error
                if stream.error == nil && stream.chunkTimes.isEmpty { record.error = "no tokens streamed" }
            }
        } catch {
            record.error = "\(error)"
        }
        record.latency = monotonicSeconds() - start
        record.chunkTimes = stream.chunkTimes
        record.chunkTokens = stream.chunkTokens
        record.reportedPromptTokens = stream.reportedPromptTokens
        record.reportedCompletionTokens = stream.reportedCompletionTokens
        record.succeeded = record.error == nil
        return record
    }
}
