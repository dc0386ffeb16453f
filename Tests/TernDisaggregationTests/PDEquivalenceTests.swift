import Foundation
import Testing
import TernDisaggregation
import TernEngine

/// Greedy output through router + prefill + decode must equal a unified server's, token for token.
@Suite(.serialized) struct PDEquivalenceTests {
    @Test func greedyOutputsThroughPDEqualUnifiedServer() async throws {
        let unified = try await Node.start(.null)
        let prefill = try await Node.start(.prefill)
        // A different page size on the decode side: transferred rows are page-size independent.
        let decode = try await Node.start(.decode, pageSize: 8)
        let router = try await RouterNode.start([prefill.workerSpec, decode.workerSpec])

        let lengths = [1, 5, 15, 30, 50]  // words; the fixture model has a 256-token context
        // Non-streamed completions, one at a time.
        for (i, words) in lengths.enumerated() {
            let body: [String: Any] = ["prompt": prompt(i, words: words), "max_tokens": 10, "temperature": 0]
            let expected = try await post(unified.base, "/v1/completions", json: body)
            let got = try await post(router.base, "/v1/completions", json: body)
            #expect(got.status == 200)
            let e = (expected.json["choices"] as? [[String: Any]])?.first?["text"] as? String
            let g = (got.json["choices"] as? [[String: Any]])?.first?["text"] as? String
            #expect(e != nil && g == e, "prompt of \(words) words")
            let usage = got.json["usage"] as? [String: Any]
            #expect(usage?["completion_tokens"] as? Int == (expected.json["usage"] as? [String: Any])?["completion_tokens"] as? Int)
        }

        // Concurrent clients, streamed and not, native and OpenAI endpoints.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    let words = lengths[i % lengths.count] + i
                    if i % 2 == 0 {
                        let body: [String: Any] = ["prompt": prompt(100 + i, words: words), "max_tokens": 12, "temperature": 0, "stream": true]
                        let expected = try await stream(unified.base, "/v1/completions", json: body)
                        let got = try await stream(router.base, "/v1/completions", json: body)
                        #expect(got.status == 200 && got.events.last == "[DONE]")
                        #expect(streamedText(got.events) == streamedText(expected.events), "stream \(i)")
                    } else {
                        let body: [String: Any] = ["text": prompt(100 + i, words: words),
                                                   "sampling_params": ["max_new_tokens": 12, "temperature": 0]]
                        let expected = try await post(unified.base, "/generate", json: body)
                        let got = try await post(router.base, "/generate", json: body)
                        #expect(got.status == 200)
                        #expect((got.json["output_ids"] as? [Int]) == (expected.json["output_ids"] as? [Int]), "generate \(i)")
                        #expect((got.json["output_ids"] as? [Int])?.count ?? 0 > 0)
                    }
                }
            }
            try await group.waitForAll()
        }

        // Chat, streamed.
        let chat: [String: Any] = ["messages": [["role": "user", "content": prompt(7, words: 30)]], "max_tokens": 8, "temperature": 0,
                                   "stream": true]
        let expectedChat = try await stream(unified.base, "/v1/chat/completions", json: chat)
        let gotChat = try await stream(router.base, "/v1/chat/completions", json: chat)
        func content(_ events: [String]) -> String {
            events.compactMap { e -> String? in
                let o = (try? JSONSerialization.jsonObject(with: Data(e.utf8))) as? [String: Any]
                return ((o?["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
            }.joined()
        }
        #expect(!content(gotChat.events).isEmpty && content(gotChat.events) == content(expectedChat.events))

        // The prefill side only prefilled (one token each); the decode side did the rest; both pools are whole again.
        let p = try await prefill.idleMetrics(), d = try await decode.idleMetrics()
        #expect(p.generatedTokens == p.finishedRequests)
        #expect(p.kvPagesUsed == p.kvPagesCached && d.kvPagesReserved == 0 && d.kvPagesUsed == d.kvPagesCached)
        #expect(d.generatedTokens > d.finishedRequests)
        #expect(router.router.totalsSnapshot.failures == 0)

        await router.stop()
        for node in [unified, prefill, decode] { await node.stop() }
    }

    @Test func prefillSideRadixCacheServesRepeatedPrefixes() async throws {
        let prefill = try await Node.start(.prefill)
        let decode = try await Node.start(.decode)
        let router = try await RouterNode.start([prefill.workerSpec, decode.workerSpec])
        let shared = prompt(42, words: 60)
        for i in 0..<3 {
            let r = try await post(router.base, "/v1/completions", json: ["prompt": shared + " " + prompt(i, words: 4), "max_tokens": 4,
                                                                          "temperature": 0])
            #expect(r.status == 200)
            let cached = ((r.json["usage"] as? [String: Any])?["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int ?? 0
            if i > 0 { #expect(cached > 0, "request \(i) reports the prefill side's cache hit") }
        }
        #expect(try await prefill.idleMetrics().cachedPromptTokens > 0)
        await router.stop()
        await prefill.stop()
        await decode.stop()
    }

    @Test func disaggregatedServersRefuseWhatTheyCannotSplit() async throws {
        let decode = try await Node.start(.decode)
        let body: [String: Any] = ["prompt": "hello", "max_tokens": 2, "n": 2, "bootstrap_host": "127.0.0.1", "bootstrap_port": 1,
                                   "bootstrap_room": 5]
        let r = try await post(decode.base, "/v1/completions", json: body)
        #expect(r.status == 400)
        #expect(try await decode.idleMetrics().kvPagesUsed == 0)
        await decode.stop()
    }
}
