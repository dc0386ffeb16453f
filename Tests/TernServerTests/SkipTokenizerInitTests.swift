import Foundation
import Testing
import TernServer

/// `--skip-tokenizer-init`: a model directory without tokenizer.json (as configs/llama-3.1-8b is)
/// served on token ids; text prompts are refused with 400.
@Suite(.serialized)
struct SkipTokenizerInitTests {
    /// The tiny Llama fixture's config and weights without its tokenizer files.
    static func configOnlyDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tern-notok-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(at: TestServer.modelDirectory.appendingPathComponent(name),
                                             to: dir.appendingPathComponent(name))
        }
        return dir
    }

    static func start() async throws -> (TestServer, URL) {
        let dir = try configOnlyDirectory()
        let server = try await TestServer.start(options: ServerOptions(host: "127.0.0.1", port: 0, skipTokenizerInit: true),
                                                modelDirectory: dir)
        return (server, dir)
    }

    @Test func tokenIDPromptsGiveTheSameIDsAsAServerWithATokenizerAndNoText() async throws {
        let (server, dir) = try await Self.start()
        defer { try? FileManager.default.removeItem(at: dir) }
        let reference = try await TestServer.shared()
        #expect(server.service.tokenizer == nil)
        let ids = [1, 15, 300, 29, 92]
        let body: [String: Any] = ["input_ids": ids, "sampling_params": ["max_new_tokens": 7, "temperature": 0, "ignore_eos": true]]
        let r = try await server.post("/generate", json: body)
        let expected = try await reference.post("/generate", json: body)
        #expect(r.status == 200)
        let outputIDs = try #require(r.json["output_ids"] as? [Int])
        #expect(outputIDs.count == 7)
        #expect(outputIDs == expected.json["output_ids"] as? [Int])
        #expect(r.json["text"] as? String == "")
        #expect((r.json["meta_info"] as? [String: Any])?["completion_tokens"] as? Int == 7)

        let c = try await server.post("/v1/completions", json: ["prompt": ids, "max_tokens": 7, "temperature": 0, "ignore_eos": true])
        #expect(c.status == 200)
        let choice = try #require((c.json["choices"] as? [[String: Any]])?.first)
        #expect(choice["token_ids"] as? [Int] == outputIDs)
        #expect(choice["text"] as? String == "")
        #expect((c.json["usage"] as? [String: Any])?["completion_tokens"] as? Int == 7)
        await server.stop()
    }

    @Test func streamsCarryTokenIDsOfEveryStep() async throws {
        let (server, dir) = try await Self.start()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ids = [1, 450, 194]
        let (status, events) = try await server.stream("/v1/completions", json: [
            "prompt": ids, "max_tokens": 9, "temperature": 0, "ignore_eos": true, "stream": true,
            "stream_options": ["include_usage": true],
        ])
        #expect(status == 200)
        #expect(events.last == "[DONE]")
        var streamed: [Int] = []
        for e in events.dropLast() {
            guard let choice = (parseJSON(e)["choices"] as? [[String: Any]])?.first else { continue }
            streamed += choice["token_ids"] as? [Int] ?? []
        }
        #expect(streamed.count == 9)
        let whole = try await server.post("/generate", json: [
            "input_ids": ids, "sampling_params": ["max_new_tokens": 9, "temperature": 0, "ignore_eos": true],
        ])
        #expect(whole.json["output_ids"] as? [Int] == streamed)

        let (gStatus, gEvents) = try await server.stream("/generate", json: [
            "input_ids": ids, "stream": true, "sampling_params": ["max_new_tokens": 4, "temperature": 0, "ignore_eos": true],
        ])
        #expect(gStatus == 200)
        #expect(parseJSON(gEvents[gEvents.count - 2])["output_ids"] as? [Int] == Array(streamed.prefix(4)))
        await server.stop()
    }

    @Test func textPromptsChatAndTokenizeAreRefusedWith400() async throws {
        let (server, dir) = try await Self.start()
        defer { try? FileManager.default.removeItem(at: dir) }
        let requests: [(String, [String: Any])] = [
            ("/generate", ["text": "Hello", "sampling_params": ["max_new_tokens": 2]]),
            ("/v1/completions", ["prompt": "Hello", "max_tokens": 2]),
            ("/v1/chat/completions", ["messages": [["role": "user", "content": "Hello"]], "max_tokens": 2]),
            ("/tokenize", ["prompt": "Hello"]),
            ("/detokenize", ["tokens": [1, 2]]),
        ]
        for (path, body) in requests {
            let r = try await server.post(path, json: body)
            #expect(r.status == 400, "\(path)")
            #expect(r.error?["code"] as? String == "tokenizer_not_initialized", "\(path)")
            #expect((r.error?["message"] as? String)?.contains("--skip-tokenizer-init") == true, "\(path)")
        }
        // The server still answers health checks (which generate from token ids) and model info.
        #expect(try await server.get("/health_generate").status == 200)
        #expect(try await server.get("/get_model_info").json["vocab_size"] is Int)
        await server.stop()
    }
}
