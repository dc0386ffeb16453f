import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import TernEngine
import TernServer

/// Many clients at once, and clients that leave.
@Suite struct StreamingLoadTests {
    @Test func sixtyFourConcurrentStreamsEachGetTheirOwnOutput() async throws {
        let server = try await TestServer.shared()
        let prompts = (0..<64).map { "Prompt number \($0): tell me about item \($0 * 7 % 13)" }
        func body(_ prompt: String, stream: Bool) -> [String: Any] {
            ["prompt": prompt, "max_tokens": 12, "temperature": 0, "ignore_eos": true, "stream": stream]
        }
        // Each prompt alone first.
        var alone: [String] = []
        for prompt in prompts {
            let r = try await server.post("/v1/completions", json: body(prompt, stream: false))
            alone.append((r.json["choices"] as? [[String: Any]])?.first?["text"] as? String ?? "<missing>")
        }
        let together = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (i, prompt) in prompts.enumerated() {
                group.addTask {
                    let (status, events) = try await server.stream("/v1/completions", json: body(prompt, stream: true))
                    guard status == 200, events.last == "[DONE]" else { return (i, "<bad stream \(status)>") }
                    let text = events.dropLast().map { event in
                        ((parseJSON(event)["choices"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
                    }.joined()
                    return (i, text)
                }
            }
            var out = Array(repeating: "", count: prompts.count)
            for try await (i, text) in group { out[i] = text }
            return out
        }
        for i in prompts.indices { #expect(together[i] == alone[i], "prompt \(i)") }
    }

    @Test func clientThatDisconnectsMidStreamIsAbortedAndItsPagesFreed() async throws {
        // A server of its own (no other traffic), without the prefix cache so freed pages are not kept.
        let server = try await TestServer.start(engine: EngineConfig(maxTotalTokens: 16384, pageSize: 16, disableRadixCache: true))
        defer { Task { await server.stop() } }
        var request = HTTPClientRequest(url: server.base + "/v1/completions")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        // Long enough to still be running when the client leaves: 32 choices × 240 tokens.
        let body: [String: Any] = ["prompt": "leave early", "max_tokens": 240, "n": 32, "ignore_eos": true, "stream": true]
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let reader = Task {
            let response = try await testClient.execute(request, timeout: .seconds(60))
            var chunks = 0
            for try await _ in response.body {
                chunks += 1
                if chunks >= 40 { break }  // walk away mid-stream
            }
            return chunks
        }
        let chunks = try await reader.value
        #expect(chunks >= 40)
        // The connection closes when the body iteration stops early; wait for the engine to notice.
        var metrics = server.service.engine.metrics()
        for _ in 0..<200 where metrics.runningRequests + metrics.queuedRequests > 0 || metrics.kvPagesUsed > 0 {
            try await Task.sleep(for: .milliseconds(25))
            metrics = server.service.engine.metrics()
        }
        #expect(metrics.runningRequests == 0)
        #expect(metrics.kvPagesUsed == 0)
        #expect(metrics.abortedRequests == 1)
        #expect(metrics.generatedTokens < 32 * 240)
        // And it keeps serving.
        let ok = try await server.post("/v1/completions", json: ["prompt": "hi", "max_tokens": 2])
        #expect(ok.status == 200)
    }
}
