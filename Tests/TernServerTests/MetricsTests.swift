import Foundation
import Testing

/// GET /metrics: Prometheus text with SGLang-style names.
@Suite struct MetricsTests {
    @Test func metricsParseAsPrometheusTextAndCountServedTokens() async throws {
        let server = try await TestServer.shared()
        let r = try await server.post("/v1/completions", json: ["prompt": "count me", "max_tokens": 5, "ignore_eos": true])
        #expect(r.status == 200)
        let m = try await server.get("/metrics")
        #expect(m.status == 200)
        #expect(m.contentType?.hasPrefix("text/plain") == true)
        let text = try PrometheusText(m.body)
        for gauge in ["tern:num_running_reqs", "tern:num_queue_reqs", "tern:token_usage", "tern:cache_hit_rate",
                      "tern:max_total_num_tokens"] {
            #expect(text.types[gauge] == "gauge", "\(gauge)")
        }
        #expect(text.types["tern:prompt_tokens_total"] == "counter")
        #expect((text.value("tern:prompt_tokens_total") ?? 0) >= 2)
        #expect((text.value("tern:generation_tokens_total") ?? 0) >= 5)
        #expect(text.value("tern:max_total_num_tokens") == 16384)
        #expect(text.samples.allSatisfy { $0.labels["model_name"] == server.service.servedModelName })

        for histogram in ["tern:time_to_first_token_seconds", "tern:inter_token_latency_seconds", "tern:e2e_request_latency_seconds"] {
            #expect(text.types[histogram] == "histogram", "\(histogram)")
            let buckets = text.samples.filter { $0.name == histogram + "_bucket" }
            #expect(buckets.count > 5)
            // Cumulative: non-decreasing, ending at +Inf == _count.
            let counts = buckets.map(\.value)
            #expect(zip(counts, counts.dropFirst()).allSatisfy { $0 <= $1 })
            #expect(buckets.last?.labels["le"] == "+Inf")
            #expect(counts.last == text.value(histogram + "_count"))
            #expect((text.value(histogram + "_count") ?? 0) >= 1)
        }
    }

    @Test func parserRejectsMalformedLines() {
        #expect(throws: PrometheusText.ParseError.self) { try PrometheusText("metric{a=\"1\" 3\n") }
        #expect(throws: PrometheusText.ParseError.self) { try PrometheusText("metric abc\n") }
        #expect(throws: PrometheusText.ParseError.self) { try PrometheusText("{a=\"1\"} 3\n") }
        #expect((try? PrometheusText("# TYPE x counter\nx{a=\"q\\\"\"} 3\n"))?.samples.first?.labels["a"] == "q\"")
    }
}
