import Foundation
import Testing

/// SGLang-native /generate, tokenizer endpoints, model list, health and server info.
@Suite struct NativeAndInfoTests {
    @Test func generateMatchesCompletionsAndReportsMetaInfo() async throws {
        let server = try await TestServer.shared()
        let ids = server.service.tokenizer!.encode("Hello world")
        let r = try await server.post("/generate", json: [
            "input_ids": ids, "sampling_params": ["max_new_tokens": 6, "temperature": 0, "ignore_eos": true],
        ])
        #expect(r.status == 200)
        let outputIDs = try #require(r.json["output_ids"] as? [Int])
        #expect(outputIDs.count == 6)
        let meta = try #require(r.json["meta_info"] as? [String: Any])
        #expect(meta["prompt_tokens"] as? Int == ids.count)
        #expect(meta["completion_tokens"] as? Int == 6)
        #expect(meta["cached_tokens"] is Int)
        #expect(meta["id"] is String)
        #expect((meta["finish_reason"] as? [String: Any])?["type"] as? String == "length")
        #expect(r.json["text"] as? String == server.service.tokenizer!.decode(outputIDs))

        let c = try await server.post("/v1/completions", json: ["prompt": ids, "max_tokens": 6, "temperature": 0, "ignore_eos": true])
        #expect((c.json["choices"] as? [[String: Any]])?.first?["text"] as? String == r.json["text"] as? String)
    }

    @Test func generateStreamEndsWithTheFullTextAndDone() async throws {
        let server = try await TestServer.shared()
        let body: [String: Any] = ["text": "Hello world", "sampling_params": ["max_new_tokens": 10, "temperature": 0, "ignore_eos": true]]
        let whole = try await server.post("/generate", json: body)
        var streamed = body
        streamed["stream"] = true
        let (status, events) = try await server.stream("/generate", json: streamed)
        #expect(status == 200)
        #expect(events.last == "[DONE]")
        let last = parseJSON(events[events.count - 2])
        #expect(last["text"] as? String == whole.json["text"] as? String)
        #expect(last["output_ids"] as? [Int] == whole.json["output_ids"] as? [Int])
        // Earlier events have no finish reason yet.
        let first = parseJSON(events[0])
        #expect((first["meta_info"] as? [String: Any])?["finish_reason"] is NSNull)
    }

    @Test func generateBatchReturnsAListAndLogprobs() async throws {
        let server = try await TestServer.shared()
        let r = try await server.post("/generate", json: [
            "text": ["a b", "c d"], "sampling_params": ["max_new_tokens": 3, "temperature": 0, "ignore_eos": true], "return_logprob": true,
        ])
        #expect(r.status == 200)
        let items = r.jsonArray
        #expect(items.count == 2)
        for item in items {
            let meta = try #require(item["meta_info"] as? [String: Any])
            #expect((meta["output_token_logprobs"] as? [[Any]])?.count == 3)
        }
    }

    @Test func tokenizeAndDetokenizeRoundTrip() async throws {
        let server = try await TestServer.shared()
        let t = try await server.post("/tokenize", json: ["prompt": "Hello world, again", "add_special_tokens": false])
        #expect(t.status == 200)
        let tokens = try #require(t.json["tokens"] as? [Int])
        #expect(t.json["count"] as? Int == tokens.count)
        #expect(t.json["max_model_len"] as? Int == server.service.contextLength)
        let d = try await server.post("/detokenize", json: ["tokens": tokens])
        #expect(d.json["text"] as? String == "Hello world, again")
    }

    @Test func modelsListNamesTheServedModel() async throws {
        let server = try await TestServer.shared()
        let r = try await server.get("/v1/models")
        #expect(r.json["object"] as? String == "list")
        let data = try #require(r.json["data"] as? [[String: Any]])
        #expect(data.count == 1)
        #expect(data[0]["id"] as? String == server.service.servedModelName)
        #expect(data[0]["object"] as? String == "model")
        #expect(try await server.get("/v1/models/\(server.service.servedModelName)").status == 200)
        #expect(try await server.get("/v1/models/other").status == 404)
    }

    @Test func healthEndpointsAnswer() async throws {
        let server = try await TestServer.shared()
        #expect(try await server.get("/health").status == 200)
        #expect(try await server.get("/health_generate").status == 200)
    }

    @Test func serverInfoReportsTheEngineSettings() async throws {
        let server = try await TestServer.shared()
        let r = try await server.get("/get_server_info")
        #expect(r.status == 200)
        #expect(r.json["page_size"] as? Int == 16)
        #expect(r.json["max_total_num_tokens"] as? Int == 16384)
        #expect(r.json["context_length"] as? Int == server.service.contextLength)
        #expect(r.json["schedule_policy"] as? String == "lpm")
    }
}
