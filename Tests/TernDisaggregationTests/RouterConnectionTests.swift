import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import Synchronization
import Testing
import TernDisaggregation

/// Counts arrivals and holds each caller until `expected` have arrived (or a deadline passes).
final class ArrivalBarrier: Sendable {
    let expected: Int
    private let arrived = Mutex(0)

    init(expected: Int) { self.expected = expected }

    /// Whether all `expected` callers were inside at once before `seconds` passed.
    func arriveAndWait(seconds: Double) async -> Bool {
        arrived.withLock { $0 += 1 }
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if arrived.withLock({ $0 }) >= expected { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }
}

/// A worker that answers /generate only once `concurrent` requests are in it at the same time, the way
/// long streams hold their connections: a router that caps its connections per worker below that
/// can never get them all there.
struct HoldingWorker {
    let port: Int
    let task: Task<Void, Error>

    static func start(concurrent: Int) async throws -> HoldingWorker {
        let barrier = ArrivalBarrier(expected: concurrent)
        let router = Router()
        router.get("/health") { _, _ in HTTPResponse.Status.ok }
        router.post("/generate") { _, _ -> Response in
            let together = await barrier.arriveAndWait(seconds: 20)
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: "{\"together\":\(together)}")))
        }
        var logger = Logger(label: "tern.test.holding-worker")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw TestError("holding worker did not start") }
        return HoldingWorker(port: port, task: task)
    }
}

@Suite struct RouterConnectionTests {
    /// AsyncHTTPClient allows 8 connections per host by default; a router with that default let only 8
    /// streams reach one worker at a time (on the H200 the rest timed out waiting for a connection).
    @Test func moreRequestsThanEightReachOneWorkerAtOnce() async throws {
        let concurrent = 12
        let worker = try await HoldingWorker.start(concurrent: concurrent)
        defer { worker.task.cancel() }
        let router = try await RouterNode.start([WorkerSpec(url: "http://127.0.0.1:\(worker.port)", role: .regular)], maxRetries: 0)
        // The test's own client must not be the bottleneck (HTTPClient.shared also keeps 8 per host).
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let answers = try await withThrowingTaskGroup(of: HTTPResult.self) { group in
            for _ in 0..<concurrent {
                group.addTask {
                    var request = HTTPClientRequest(url: router.base + "/generate")
                    request.method = .POST
                    request.headers.add(name: "content-type", value: "application/json")
                    request.body = .bytes(ByteBuffer(string: "{\"input_ids\":[1,2,3]}"))
                    let response = try await client.execute(request, timeout: .seconds(60))
                    let body = try await response.body.collect(upTo: 1 << 20)
                    return HTTPResult(status: Int(response.status.code), body: String(buffer: body))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        try await client.shutdown()
        await router.stop()
        #expect(answers.count == concurrent)
        #expect(answers.allSatisfy { $0.status == 200 && $0.json["together"] as? Bool == true })
    }
}
