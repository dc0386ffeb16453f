import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// `tern router`: an HTTP front end over several servers. Without PD it balances requests over
/// regular workers (cache-aware, round-robin or least-load). With PD it sends each request to one
/// prefill and one decode worker with a shared bootstrap room and streams the decode worker's answer.
/// Workers that fail a request or its health checks leave the rotation until a check passes.
public final class TernRouter: Sendable {
    public let config: RouterConfig
    public let workers: [Worker]
    /// Regular workers (no PD), or nil.
    public let regular: WorkerSelector?
    public let prefill: WorkerSelector?
    public let decode: WorkerSelector?
    let client: HTTPClient
    public let logger: Logger
    private let totals = Mutex((requests: 0, failures: 0, retries: 0))

    public init(config: RouterConfig, logger: Logger = Logger(label: "tern.router")) {
        self.config = config
        self.logger = logger
        let workers = config.workers.enumerated().map { Worker(spec: $1, index: $0) }
        self.workers = workers
        if config.isDisaggregated {
            prefill = WorkerSelector(policy: config.policy, workers: workers.filter { $0.spec.role == .prefill }, config: config)
            // The prefix cache lives on the prefill side; decode workers are balanced by load.
            decode = WorkerSelector(policy: config.policy == .cacheAware ? .leastLoad : config.policy,
                                    workers: workers.filter { $0.spec.role == .decode }, config: config)
            regular = nil
        } else {
            regular = WorkerSelector(policy: config.policy, workers: workers, config: config)
            prefill = nil
            decode = nil
        }
        // A streamed request holds its worker connection until the last token, so the pool must allow
        // as many connections per worker as requests in flight (AsyncHTTPClient's default is 8: the 9th
        // concurrent stream to one worker waited for a connection and failed with a pool timeout).
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60),
                                             concurrentHTTP1ConnectionsPerHostSoftLimit: config.maxConnectionsPerWorker)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public var totalsSnapshot: (requests: Int, failures: Int, retries: Int) { totals.withLock { $0 } }

    // MARK: running

    func makeApplication(onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        Application(
            router: makeRouter(),
            configuration: ApplicationConfiguration(address: .hostname(config.host, port: config.port), serverName: "tern-router"),
            onServerRunning: { [config] channel in await onListening(channel.localAddress?.port ?? config.port) },
            logger: logger)
    }

    /// Serves with health checks until SIGTERM/SIGINT.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = makeApplication(onListening: onListening)
        let health = Task { await self.healthLoop() }
        defer { health.cancel() }
        try await app.runService()
        try await client.shutdown()
    }

    /// Serves until the calling task is cancelled (tests); call `shutdown()` afterwards.
    public func runUntilCancelled(onListening: @escaping @Sendable (Int) async -> Void) async throws {
        let health = Task { await self.healthLoop() }
        defer { health.cancel() }
        try await makeApplication(onListening: onListening).run()
    }

    public func shutdown() async { try? await client.shutdown() }

    // MARK: health

    func healthLoop() async {
        while !Task.isCancelled {
            await checkHealth()
            try? await Task.sleep(for: .milliseconds(Int64(config.healthCheckInterval * 1000)))
        }
    }

    /// One round of GET /health on every worker.
    public func checkHealth() async {
        await withTaskGroup(of: Void.self) { group in
            for worker in workers {
                group.addTask {
                    var ok = false
                    var request = HTTPClientRequest(url: worker.url + "/health")
                    request.method = .GET
                    if let response = try? await self.client.execute(request, timeout: .milliseconds(Int64(self.config.healthCheckTimeout * 1000))) {
                        ok = response.status == .ok
                        _ = try? await response.body.collect(upTo: 1 << 20)
                    }
                    if worker.checked(ok: ok, threshold: self.config.healthFailureThreshold) {
                        self.logger.warning("worker health changed", metadata: ["worker": .string(worker.url), "healthy": .stringConvertible(ok)])
                    }
                }
            }
        }
    }

    // MARK: routes

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.post("v1/completions") { request, _ in await self.route(request, path: "/v1/completions") }
        router.post("v1/chat/completions") { request, _ in await self.route(request, path: "/v1/chat/completions") }
        router.post("generate") { request, _ in await self.route(request, path: "/generate") }
        router.get("v1/models") { _, _ in await self.forwardGet("/v1/models") }
        router.get("get_model_info") { _, _ in await self.forwardGet("/get_model_info") }
        router.get("get_server_info") { _, _ in await self.forwardGet("/get_server_info") }
        router.get("health") { _, _ in
            self.hasHealthyRoute ? Response(status: .ok) : Self.error(.serviceUnavailable, "no healthy worker")
        }
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: self.prometheusText())))
        }
        router.get("workers") { _, _ in
            let list = self.workers.map { w -> [String: Any] in
                ["url": w.url, "role": w.spec.role.rawValue, "healthy": w.isHealthy, "in_flight": w.inFlight,
                 "requests": w.requestCount, "failures": w.failureCount]
            }
            let data = (try? JSONSerialization.data(withJSONObject: ["workers": list])) ?? Data()
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
        return router
    }

    var hasHealthyRoute: Bool {
        if config.isDisaggregated {
            return workers.contains { $0.spec.role == .prefill && $0.isHealthy } && workers.contains { $0.spec.role == .decode && $0.isHealthy }
        }
        return workers.contains(where: \.isHealthy)
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let object: [String: Any] = ["error": ["message": message, "type": "server_error", "code": status.code]]
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    private enum Attempt {
        case answered(Response)
        /// The worker failed before answering; `fallback` is what the client gets if no retry is left.
        case failed(Response, worker: Worker)
    }

    func route(_ request: Request, path: String) async -> Response {
        totals.withLock { $0.requests += 1 }
        let body: [UInt8]
        do {
            body = Array(try await request.body.collect(upTo: config.maxRequestBodyBytes).readableBytesView)
        } catch {
            return Self.error(.contentTooLarge, "request body over \(config.maxRequestBodyBytes) bytes")
        }
        let key = RequestText.routingKey(body)
        let stream = RequestText.isStream(body)
        var excluded = Set<Int>()
        var last = Self.error(.serviceUnavailable, config.isDisaggregated ? "no healthy prefill/decode pair" : "no healthy worker")
        for attempt in 0...config.maxRetries {
            if attempt > 0 { totals.withLock { $0.retries += 1 } }
            let outcome: Attempt
            var pair: (prefill: Worker, decode: Worker)?
            if let prefill, let decode {
                guard let p = prefill.select(key: key, excluding: excluded), let d = decode.select(key: key, excluding: excluded) else { break }
                // Below 2^53: JSON numbers stay exact in every parser (doubles included).
                let room = UInt64.random(in: 0...(1 << 53) - 1)
                guard let injected = RequestText.injectBootstrap(body, host: p.spec.host, port: p.spec.bootstrapPort ?? 8998, room: room) else {
                    return Self.error(.badRequest, "the request body must be a JSON object")
                }
                pair = (p, d)
                runPrefill(p, path: path, body: injected)
                outcome = await forward(to: d, path: path, body: injected, stream: stream, retriesLeft: attempt < config.maxRetries)
            } else {
                guard let w = regular?.select(key: key, excluding: excluded) else { break }
                outcome = await forward(to: w, path: path, body: body, stream: stream, retriesLeft: attempt < config.maxRetries)
            }
            switch outcome {
            case .answered(let response): return response
            case .failed(let response, let worker):
                // A failed PD attempt may be either side's fault: try another pair where one exists.
                excluded.insert(worker.index)
                if let p = pair?.prefill { excluded.insert(p.index) }
                last = response
            }
        }
        totals.withLock { $0.failures += 1 }
        return last
    }

    /// The prefill half of a PD request: its answer only matters when it fails (logged, counted).
    private func runPrefill(_ worker: Worker, path: String, body: [UInt8]) {
        worker.began()
        Task {
            defer { worker.ended() }
            do {
                let response = try await client.execute(post(worker, path, body), timeout: .seconds(Int64(config.requestTimeout)))
                let text = String(buffer: try await response.body.collect(upTo: 64 << 20))
                if response.status.code >= 400 {
                    worker.requestFailed()
                    logger.warning("prefill worker failed a request", metadata: ["worker": .string(worker.url), "status": .stringConvertible(response.status.code),
                                                                                 "body": .string(String(text.prefix(300)))])
                } else if text.contains("\"error\"") && text.hasPrefix("data:") {
                    worker.requestFailed()
                }
            } catch {
                worker.connectionFailed()
                logger.warning("prefill worker unreachable", metadata: ["worker": .string(worker.url), "error": .string("\(error)")])
            }
        }
    }

    private func post(_ worker: Worker, _ path: String, _ body: [UInt8]) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: worker.url + path)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        return request
    }

    private func forward(to worker: Worker, path: String, body: [UInt8], stream: Bool, retriesLeft: Bool) async -> Attempt {
        worker.began()
        let response: HTTPClientResponse
        do {
            response = try await client.execute(post(worker, path, body), timeout: .seconds(Int64(config.requestTimeout)))
        } catch {
            worker.ended()
            worker.connectionFailed()
            logger.warning("worker unreachable", metadata: ["worker": .string(worker.url), "error": .string("\(error)")])
            return .failed(Self.error(.badGateway, "worker \(worker.url) unreachable: \(error)"), worker: worker)
        }
        // Server errors of a non-streamed request (a failed KV transfer answers 503) are retried elsewhere.
        if !stream && response.status.code >= 500 {
            let text = (try? await response.body.collect(upTo: 16 << 20)).map { String(buffer: $0) } ?? ""
            worker.ended()
            worker.requestFailed()
            let answer = Response(status: HTTPResponse.Status(code: Int(response.status.code)), headers: [.contentType: "application/json"],
                                  body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
            return retriesLeft ? .failed(answer, worker: worker) : .answered(answer)
        }
        return .answered(passThrough(response, from: worker))
    }

    /// Streams the worker's answer to the client. A worker that dies mid-stream ends an event stream
    /// with an error event and `[DONE]`, so clients see a clean end.
    private func passThrough(_ response: HTTPClientResponse, from worker: Worker) -> Response {
        var headers = HTTPFields()
        let contentType = response.headers.first(name: "content-type") ?? "application/json"
        headers[.contentType] = contentType
        if let cache = response.headers.first(name: "cache-control") { headers[.cacheControl] = cache }
        let isEventStream = contentType.hasPrefix("text/event-stream")
        let logger = logger
        return Response(status: HTTPResponse.Status(code: Int(response.status.code)), headers: headers, body: ResponseBody { writer in
            defer { worker.ended() }
            do {
                for try await chunk in response.body { try await writer.write(chunk) }
            } catch {
                worker.requestFailed()
                logger.warning("worker stream broke", metadata: ["worker": .string(worker.url), "error": .string("\(error)")])
                if isEventStream {
                    let event = "data: {\"error\":{\"message\":\"the worker stream broke: \(error)\",\"type\":\"server_error\",\"code\":502}}\n\ndata: [DONE]\n\n"
                    try? await writer.write(ByteBuffer(string: event))
                }
            }
            try await writer.finish(nil)
        })
    }

    private func forwardGet(_ path: String) async -> Response {
        let candidates = workers.filter { $0.isHealthy && $0.spec.role != .prefill } + workers.filter { $0.isHealthy && $0.spec.role == .prefill }
        for worker in candidates {
            var request = HTTPClientRequest(url: worker.url + path)
            request.method = .GET
            guard let response = try? await client.execute(request, timeout: .seconds(10)),
                  let body = try? await response.body.collect(upTo: 16 << 20) else { continue }
            return Response(status: HTTPResponse.Status(code: Int(response.status.code)),
                            headers: [.contentType: response.headers.first(name: "content-type") ?? "application/json"],
                            body: ResponseBody(byteBuffer: body))
        }
        return Self.error(.serviceUnavailable, "no healthy worker")
    }

    // MARK: metrics

    func prometheusText() -> String {
        let t = totalsSnapshot
        var out = """
        # HELP tern_router_requests_total Requests received by the router.
        # TYPE tern_router_requests_total counter
        tern_router_requests_total \(t.requests)
        # TYPE tern_router_request_failures_total counter
        tern_router_request_failures_total \(t.failures)
        # TYPE tern_router_retries_total counter
        tern_router_retries_total \(t.retries)

        """
        let selectors = [regular, prefill].compactMap { $0 }
        let byPrefix = selectors.reduce(0) { $0 + $1.routedByPrefix.prefix }
        out += "# TYPE tern_router_prefix_routed_total counter\ntern_router_prefix_routed_total \(byPrefix)\n"
        out += "# TYPE tern_router_worker_healthy gauge\n"
        for w in workers { out += "tern_router_worker_healthy{worker=\"\(w.url)\",role=\"\(w.spec.role.rawValue)\"} \(w.isHealthy ? 1 : 0)\n" }
        out += "# TYPE tern_router_worker_in_flight gauge\n"
        for w in workers { out += "tern_router_worker_in_flight{worker=\"\(w.url)\",role=\"\(w.spec.role.rawValue)\"} \(w.inFlight)\n" }
        out += "# TYPE tern_router_worker_requests_total counter\n"
        for w in workers { out += "tern_router_worker_requests_total{worker=\"\(w.url)\",role=\"\(w.spec.role.rawValue)\"} \(w.requestCount)\n" }
        out += "# TYPE tern_router_worker_failures_total counter\n"
        for w in workers { out += "tern_router_worker_failures_total{worker=\"\(w.url)\",role=\"\(w.spec.role.rawValue)\"} \(w.failureCount)\n" }
        return out
    }
}
