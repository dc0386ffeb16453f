import Foundation
import Testing

/// /v1/completions over real HTTP.
@Suite struct CompletionsTests {
    @Test func nonStreamingResponseHasTheOpenAIShapeAndCounts() async throws {
        let server = try await TestServer.shared()
        let r = try await server.post("/v1/completions", json: [
            "model": server.service.servedModelName, "prompt": "Hello world", "max_tokens": 8, "temperature": 0, "ignore_eos": true,
        ])
        #expect(r.status == 200)
        #expect(r.contentType?.hasPrefix("application/json") == true)
        let json = r.json
        #expect((json["id"] as? String)?.hasPrefix("cmpl-") == true)
        #expect(json["object"] as? String == "text_completion")
        #expect(json["created"] as? Int != nil)
        #expect(json["model"] as? String == server.service.servedModelName)
        let choice = try #require((json["choices"] as? [[String: Any]])?.first)
        #expect(choice["index"] as? Int == 0)
        #expect(choice["text"] is String)
        #expect(choice["logprobs"] is NSNull)
        #expect(choice["finish_reason"] as? String == "length")
        let usage = try #require(json["usage"] as? [String: Any])
        let promptTokens = server.service.tokenizer!.encode("Hello world").count
        #expect(usage["prompt_tokens"] as? Int == promptTokens)
        #expect(usage["completion_tokens"] as? Int == 8)
        #expect(usage["total_tokens"] as? Int == promptTokens + 8)
    }

    @Test func streamedDeltasConcatenateToTheNonStreamedTextForGreedyRequests() async throws {
        let server = try await TestServer.shared()
        let body: [String: Any] = ["prompt": "The quick brown fox", "max_tokens": 24, "temperature": 0, "ignore_eos": true]
        let whole = try await server.post("/v1/completions", json: body)
        let expected = try #require((whole.json["choices"] as? [[String: Any]])?.first?["text"] as? String)

        var streamed = body
        streamed["stream"] = true
        streamed["stream_options"] = ["include_usage": true]
        let (status, events) = try await server.stream("/v1/completions", json: streamed)
        #expect(status == 200)
        #expect(events.last == "[DONE]")
        var text = ""
        var finishReasons: [Any] = []
        var usage: [String: Any]?
        for event in events.dropLast() {
            let chunk = parseJSON(event)
            #expect(chunk["object"] as? String == "text_completion")
            let choices = try #require(chunk["choices"] as? [[String: Any]])
            if choices.isEmpty {
                usage = chunk["usage"] as? [String: Any]
                continue
            }
            // Every chunk carries the key, null until the end.
            #expect(choices[0].keys.contains("finish_reason"))
            text += choices[0]["text"] as? String ?? ""
            finishReasons.append(choices[0]["finish_reason"] as Any)
        }
        #expect(text == expected)
        #expect(finishReasons.dropLast().allSatisfy { $0 is NSNull })
        #expect(finishReasons.last as? String == "length")
        #expect(usage?["completion_tokens"] as? Int == 24)
    }

    @Test func tokenIDPromptsAndPromptListsGiveOneChoicePerPromptAndChoice() async throws {
        let server = try await TestServer.shared()
        let ids = server.service.tokenizer!.encode("Hello world")
        let r = try await server.post("/v1/completions", json: [
            "prompt": [ids, [5, 6, 7]], "max_tokens": 4, "n": 2, "temperature": 0.8, "seed": 7, "ignore_eos": true,
        ])
        #expect(r.status == 200)
        let choices = try #require(r.json["choices"] as? [[String: Any]])
        #expect(choices.map { $0["index"] as? Int } == [0, 1, 2, 3])
        let usage = try #require(r.json["usage"] as? [String: Any])
        #expect(usage["prompt_tokens"] as? Int == ids.count + 3)
        #expect(usage["completion_tokens"] as? Int == 16)
    }

    @Test func textAndTokenPromptsOfTheSameIDsGiveTheSameGreedyText() async throws {
        let server = try await TestServer.shared()
        let ids = server.service.tokenizer!.encode("Once upon a time")
        let a = try await server.post("/v1/completions", json: ["prompt": "Once upon a time", "max_tokens": 10, "temperature": 0])
        let b = try await server.post("/v1/completions", json: ["prompt": ids, "max_tokens": 10, "temperature": 0])
        let textA = (a.json["choices"] as? [[String: Any]])?.first?["text"] as? String
        let textB = (b.json["choices"] as? [[String: Any]])?.first?["text"] as? String
        #expect(textA != nil && textA == textB)
    }

    @Test func logprobsListOneEntryPerTokenWithTheAskedAlternatives() async throws {
        let server = try await TestServer.shared()
        let r = try await server.post("/v1/completions", json: [
            "prompt": "abc", "max_tokens": 5, "temperature": 0, "logprobs": 3, "ignore_eos": true,
        ])
        #expect(r.status == 200)
        let lp = try #require((r.json["choices"] as? [[String: Any]])?.first?["logprobs"] as? [String: Any])
        let tokens = try #require(lp["tokens"] as? [String])
        let values = try #require(lp["token_logprobs"] as? [Double])
        let top = try #require(lp["top_logprobs"] as? [[String: Double]])
        #expect(tokens.count == 5 && values.count == 5 && top.count == 5)
        #expect(values.allSatisfy { $0 <= 0 })
        #expect(top.allSatisfy { $0.count >= 1 && $0.count <= 3 })
        // Greedy: the chosen token is the most likely, so its logprob is the best alternative's.
        for (v, alternatives) in zip(values, top) { #expect(abs(v - alternatives.values.max()!) < 1e-4) }
        #expect((lp["text_offset"] as? [Int])?.count == 5)
    }

    @Test func stopStringEndsTheChoiceWithReasonStopAndIsCut() async throws {
        let server = try await TestServer.shared()
        let free = try await server.post("/v1/completions", json: ["prompt": "Hello", "max_tokens": 20, "temperature": 0, "ignore_eos": true])
        let text = try #require((free.json["choices"] as? [[String: Any]])?.first?["text"] as? String)
        // Stop on a piece of the greedy continuation: the output is what came before it.
        let scalars = Array(text.unicodeScalars)
        try #require(scalars.count >= 6)
        let stop = String(String.UnicodeScalarView(scalars[3..<5]))
        let cut = try #require(text.range(of: stop))
        let r = try await server.post("/v1/completions", json: [
            "prompt": "Hello", "max_tokens": 20, "temperature": 0, "ignore_eos": true, "stop": [stop],
        ])
        let choice = try #require((r.json["choices"] as? [[String: Any]])?.first)
        #expect(choice["finish_reason"] as? String == "stop")
        #expect(choice["text"] as? String == String(text[..<cut.lowerBound]))
    }
}
