import Foundation
import Hummingbird
import NIOCore

/// A stand-in for `tern serve` on a loopback port: streams `max_new_tokens` tokens, one chunk
/// every `tokenInterval`, after a `firstTokenDelay`; reports usage; tracks the most requests it
/// had in flight at once.
final class FakeServer: Sendable {
    let port: Int
    let inFlight: InFlightCounter
    private let task: Task<Void, Error>

    var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(port: Int, inFlight: InFlightCounter, task: Task<Void, Error>) {
        self.port = port
        self.inFlight = inFlight
        self.task = task
    }

    static func start(firstTokenDelay: Duration = .milliseconds(20), tokenInterval: Duration = .milliseconds(2)) async throws -> FakeServer {
        let counter = InFlightCounter()
        let router = Router()
        router.get("/v1/models") { _, _ in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: #"{"object":"list","data":[{"id":"fake-model"}]}"#)))
        }
        router.get("/get_model_info") { _, _ in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: #"{"vocab_size":300}"#)))
        }
        for path in ["/generate", "/v1/completions"] {
            router.post(RouterPath(stringLiteral: path)) { request, _ -> Response in
                let body = try await request.body.collect(upTo: 1 << 24)
                let json = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] ?? [:]
                let native = path == "/generate"
                let sampling = json["sampling_params"] as? [String: Any] ?? [:]
                let maxTokens = (native ? sampling["max_new_tokens"] : json["max_tokens"]) as? Int ?? 16
                let ids = (native ? json["input_ids"] : json["prompt"]) as? [Int] ?? []
                return Response(status: .ok, headers: [.contentType: "text/event-stream"], body: ResponseBody { writer in
                    await counter.enter()
                    try await Task.sleep(for: firstTokenDelay)
                    for n in 1...maxTokens {
                        if n > 1 { try await Task.sleep(for: tokenInterval) }
                        let chunk = native
                            ? #"{"text":"","output_ids":[],"meta_info":{"prompt_tokens":\#(ids.count),"completion_tokens":\#(n)}}"#
                            : #"{"choices":[{"index":0,"text":"t\#(n)","finish_reason":\#(n == maxTokens ? "\"length\"" : "null")}],"usage":null}"#
                        try await writer.write(ByteBuffer(string: "data: \(chunk)\n\n"))
                    }
                    if !native {
                        let usage = #"{"choices":[],"usage":{"prompt_tokens":\#(ids.count),"completion_tokens":\#(maxTokens)}}"#
                        try await writer.write(ByteBuffer(string: "data: \(usage)\n\n"))
                    }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    await counter.leave()
                    try await writer.finish(nil)
                })
            }
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) })
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        return FakeServer(port: port, inFlight: counter, task: task)
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

actor InFlightCounter {
    private(set) var current = 0
    private(set) var peak = 0
    private(set) var total = 0

    func enter() {
        current += 1
        total += 1
        peak = max(peak, current)
    }

    func leave() { current -= 1 }
}
