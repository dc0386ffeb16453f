import Foundation
import Testing

/// /v1/chat/completions over real HTTP.
@Suite struct ChatTests {
    let messages: [[String: Any]] = [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi there"]]

    @Test func promptIsTheChatTemplateRenderingWithTheGenerationPrompt() async throws {
        let server = try await TestServer.shared()
        let r = try await server.post("/v1/chat/completions", json: ["messages": messages, "max_tokens": 4, "temperature": 0])
        #expect(r.status == 200)
        let rendered = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"
        let expectedIDs = server.service.tokenizer!.encode(rendered, addSpecialTokens: false)
        let usage = try #require(r.json["usage"] as? [String: Any])
        #expect(usage["prompt_tokens"] as? Int == expectedIDs.count)

        // The same ids through /v1/completions continue identically.
        let plain = try await server.post("/v1/completions", json: ["prompt": expectedIDs, "max_tokens": 4, "temperature": 0])
        let chatChoice = try #require((r.json["choices"] as? [[String: Any]])?.first)
        let message = try #require(chatChoice["message"] as? [String: Any])
        #expect(message["role"] as? String == "assistant")
        #expect(message["content"] as? String == (plain.json["choices"] as? [[String: Any]])?.first?["text"] as? String)
        #expect(r.json["object"] as? String == "chat.completion")
        #expect((r.json["id"] as? String)?.hasPrefix("chatcmpl-") == true)
    }

    @Test func streamedChatDeltasConcatenateToTheMessageAndStartWithTheRole() async throws {
        let server = try await TestServer.shared()
        let body: [String: Any] = ["messages": messages, "max_completion_tokens": 20, "temperature": 0, "ignore_eos": true]
        let whole = try await server.post("/v1/chat/completions", json: body)
        let expected = ((whole.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
        var streamed = body
        streamed["stream"] = true
        let (status, events) = try await server.stream("/v1/chat/completions", json: streamed)
        #expect(status == 200)
        #expect(events.last == "[DONE]")
        let chunks = events.dropLast().map(parseJSON)
        #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        let deltas = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first }
        #expect((deltas.first?["delta"] as? [String: Any])?["role"] as? String == "assistant")
        #expect(deltas.allSatisfy { $0.keys.contains("finish_reason") })
        let content = deltas.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined()
        #expect(content == expected)
        #expect(deltas.last?["finish_reason"] as? String == "length")
    }

    @Test func chatLogprobsCarryTokenBytesAndTopAlternatives() async throws {
        let server = try await TestServer.shared()
        let r = try await server.post("/v1/chat/completions", json: [
            "messages": messages, "max_tokens": 3, "temperature": 0, "logprobs": true, "top_logprobs": 2, "ignore_eos": true,
        ])
        #expect(r.status == 200)
        let lp = try #require((r.json["choices"] as? [[String: Any]])?.first?["logprobs"] as? [String: Any])
        let content = try #require(lp["content"] as? [[String: Any]])
        #expect(content.count == 3)
        for entry in content {
            #expect(entry["token"] is String)
            #expect((entry["logprob"] as? Double).map { $0 <= 0 } == true)
            #expect(entry["bytes"] is [Int])
            #expect((entry["top_logprobs"] as? [[String: Any]])?.count == 2)
        }
    }

    @Test func contentPartsAreJoinedIntoText() async throws {
        let server = try await TestServer.shared()
        let parts: [[String: Any]] = [["role": "user", "content": [["type": "text", "text": "Hi there"]]]]
        let plain: [[String: Any]] = [["role": "user", "content": "Hi there"]]
        let a = try await server.post("/v1/chat/completions", json: ["messages": parts, "max_tokens": 5, "temperature": 0])
        let b = try await server.post("/v1/chat/completions", json: ["messages": plain, "max_tokens": 5, "temperature": 0])
        #expect(a.status == 200)
        #expect((a.json["usage"] as? [String: Any])?["prompt_tokens"] as? Int == (b.json["usage"] as? [String: Any])?["prompt_tokens"] as? Int)
    }
}
