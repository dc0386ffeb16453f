import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

/// Front-end overhead under many concurrent streams. Opt-in (it takes a while and measures rather
/// than checks): `TERN_SERVER_BENCH=1 swift test -c release --filter ServerLoadBenchmark`.
/// Environment: TERN_BENCH_URL (an external `tern serve`; default: a server in this process),
/// TERN_BENCH_STREAMS (256), TERN_BENCH_TOKENS (64 per stream).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["TERN_SERVER_BENCH"] == "1"))
struct ServerLoadBenchmark {
    struct StreamStats: Sendable {
        var tokens = 0
        var firstTokenSeconds = 0.0
        var gaps: [Double] = []
    }

    @Test func streamingThroughputAndInterTokenLatency() async throws {
        let env = ProcessInfo.processInfo.environment
        let streams = Int(env["TERN_BENCH_STREAMS"] ?? "") ?? 256
        let tokens = Int(env["TERN_BENCH_TOKENS"] ?? "") ?? 64
        var local: TestServer?
        let base: String
        if let url = env["TERN_BENCH_URL"] {
            base = url
        } else {
            let server = try await TestServer.start()
            local = server
            base = server.base
        }
        func info() async throws -> [String: Any] {
            let response = try await testClient.execute(HTTPClientRequest(url: base + "/get_server_info"), timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1 << 20)
            let json = parseJSON(String(buffer: body))
            return (json["internal_states"] as? [[String: Any]])?.first ?? [:]
        }
        // Warm up connections and code paths.
        _ = try await run(base: base, streams: min(streams, 16), tokens: 4)
        let before = try await info()
        let start = ContinuousClock.now
        let results = try await run(base: base, streams: streams, tokens: tokens)
        let wall = (ContinuousClock.now - start) / .seconds(1)
        let after = try await info()

        let totalTokens = results.reduce(0) { $0 + $1.tokens }
        let gaps = results.flatMap(\.gaps).sorted()
        let ttft = results.map(\.firstTokenSeconds).sorted()
        func pct(_ xs: [Double], _ p: Double) -> Double { xs.isEmpty ? .nan : xs[min(xs.count - 1, Int(Double(xs.count) * p))] }
        let modelSeconds = (after["model_seconds"] as? Double ?? 0) - (before["model_seconds"] as? Double ?? 0)
        let schedulerSeconds = (after["scheduler_seconds"] as? Double ?? 0) - (before["scheduler_seconds"] as? Double ?? 0)
        let steps = (after["steps"] as? Int ?? 0) - (before["steps"] as? Int ?? 0)
        let report = """
        streams=\(streams) tokens/stream=\(tokens) wall=\(String(format: "%.2f", wall)) s
        streamed tokens/s=\(String(format: "%.0f", Double(totalTokens) / wall)) (tokens=\(totalTokens))
        inter-token latency p50=\(String(format: "%.1f", pct(gaps, 0.5) * 1e3)) ms p99=\(String(format: "%.1f", pct(gaps, 0.99) * 1e3)) ms
        TTFT p50=\(String(format: "%.1f", pct(ttft, 0.5) * 1e3)) ms p99=\(String(format: "%.1f", pct(ttft, 0.99) * 1e3)) ms
        engine steps=\(steps) model=\(String(format: "%.2f", modelSeconds)) s scheduler=\(String(format: "%.2f", schedulerSeconds)) s
        fraction of wall time in the model step=\(String(format: "%.3f", modelSeconds / wall)); outside it=\(String(format: "%.3f", 1 - modelSeconds / wall))
        """
        print(report)
        if let path = env["TERN_BENCH_REPORT"] { try report.write(toFile: path, atomically: true, encoding: .utf8) }
        #expect(totalTokens == streams * tokens)
        if let local { await local.stop() }
    }

    func run(base: String, streams: Int, tokens: Int) async throws -> [StreamStats] {
        try await withThrowingTaskGroup(of: StreamStats.self) { group in
            for i in 0..<streams {
                group.addTask {
                    var request = HTTPClientRequest(url: base + "/v1/completions")
                    request.method = .POST
                    request.headers.add(name: "content-type", value: "application/json")
                    let body: [String: Any] = ["prompt": "Stream \(i) says", "max_tokens": tokens, "temperature": 0,
                                               "ignore_eos": true, "stream": true, "stream_options": ["include_usage": true]]
                    request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
                    let start = ContinuousClock.now
                    let response = try await testClient.execute(request, timeout: .seconds(600))
                    var parser = SSEParser()
                    var stats = StreamStats()
                    var last: ContinuousClock.Instant?
                    for try await buffer in response.body {
                        let now = ContinuousClock.now
                        // Token counts come from the usage chunk; latency from the text chunks as they arrive.
                        var sawText = false
                        for event in parser.feed(String(buffer: buffer)) where event != "[DONE]" {
                            let chunk = parseJSON(event)
                            if let usage = chunk["usage"] as? [String: Any], let n = usage["completion_tokens"] as? Int { stats.tokens = n }
                            if (chunk["choices"] as? [[String: Any]])?.isEmpty == false { sawText = true }
                        }
                        guard sawText else { continue }
                        if let last {
                            stats.gaps.append((now - last) / .seconds(1))
                        } else {
                            stats.firstTokenSeconds = (now - start) / .seconds(1)
                        }
                        last = now
                    }
                    return stats
                }
            }
            var out: [StreamStats] = []
            for try await s in group { out.append(s) }
            return out
        }
    }
}
