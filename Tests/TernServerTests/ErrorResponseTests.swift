import Foundation
import Testing
import TernServer

/// Bad requests get OpenAI-style JSON errors with the right status, and the server keeps serving.
@Suite struct ErrorResponseTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var path: String
        var body: String
        var status: Int
        var param: String?
        var testDescription: String { name }
    }

    static let longPrompt = "[" + (0..<300).map { String($0 % 500 + 3) }.joined(separator: ",") + "]"

    static let cases: [Case] = [
        Case(name: "malformed JSON", path: "/v1/completions", body: #"{"prompt": "hi", "#, status: 400, param: nil),
        Case(name: "not an object", path: "/v1/completions", body: #"["hi"]"#, status: 400, param: nil),
        Case(name: "missing prompt", path: "/v1/completions", body: #"{"max_tokens": 3}"#, status: 400, param: "prompt"),
        Case(name: "prompt of wrong type", path: "/v1/completions", body: #"{"prompt": 3}"#, status: 400, param: "prompt"),
        Case(name: "temperature as string", path: "/v1/completions", body: #"{"prompt": "hi", "temperature": "hot"}"#,
             status: 400, param: "temperature"),
        Case(name: "negative temperature", path: "/v1/completions", body: #"{"prompt": "hi", "temperature": -0.5}"#,
             status: 400, param: "temperature"),
        Case(name: "top_p zero", path: "/v1/completions", body: #"{"prompt": "hi", "top_p": 0}"#, status: 400, param: "top_p"),
        Case(name: "top_p above one", path: "/v1/chat/completions",
             body: #"{"messages": [{"role": "user", "content": "hi"}], "top_p": 1.5}"#, status: 400, param: "top_p"),
        Case(name: "n zero", path: "/v1/completions", body: #"{"prompt": "hi", "n": 0}"#, status: 400, param: "n"),
        Case(name: "n fractional", path: "/v1/completions", body: #"{"prompt": "hi", "n": 1.5}"#, status: 400, param: "n"),
        Case(name: "negative max_tokens", path: "/v1/completions", body: #"{"prompt": "hi", "max_tokens": -1}"#,
             status: 400, param: "max_tokens"),
        Case(name: "max_tokens past the context", path: "/v1/completions", body: #"{"prompt": "hi", "max_tokens": 100000}"#,
             status: 400, param: "max_tokens"),
        Case(name: "presence_penalty out of range", path: "/v1/completions", body: #"{"prompt": "hi", "presence_penalty": 3}"#,
             status: 400, param: "presence_penalty"),
        Case(name: "logprobs too many", path: "/v1/completions", body: #"{"prompt": "hi", "logprobs": 30}"#,
             status: 400, param: "logprobs"),
        Case(name: "stop of wrong type", path: "/v1/completions", body: #"{"prompt": "hi", "stop": 5}"#, status: 400, param: "stop"),
        Case(name: "token id outside the vocabulary", path: "/v1/completions", body: #"{"prompt": [1, 99999]}"#,
             status: 400, param: "prompt"),
        Case(name: "stop token outside the vocabulary", path: "/v1/completions", body: #"{"prompt": "hi", "stop_token_ids": [99999]}"#,
             status: 400, param: "stop_token_ids"),
        Case(name: "prompt longer than the context", path: "/v1/completions", body: #"{"prompt": \#(longPrompt)}"#,
             status: 400, param: "prompt"),
        Case(name: "unknown model", path: "/v1/completions", body: #"{"model": "gpt-17", "prompt": "hi"}"#, status: 404, param: "model"),
        Case(name: "messages missing", path: "/v1/chat/completions", body: #"{"model": "llama"}"#, status: 400, param: "messages"),
        Case(name: "messages not a list", path: "/v1/chat/completions", body: #"{"messages": "hi"}"#, status: 400, param: "messages"),
        Case(name: "message without role", path: "/v1/chat/completions", body: #"{"messages": [{"content": "hi"}]}"#,
             status: 400, param: "messages"),
        Case(name: "top_logprobs without logprobs", path: "/v1/chat/completions",
             body: #"{"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2}"#, status: 400, param: "top_logprobs"),
        Case(name: "generate without input", path: "/generate", body: #"{"sampling_params": {}}"#, status: 400, param: "text"),
        Case(name: "generate with bad sampling param", path: "/generate",
             body: #"{"text": "hi", "sampling_params": {"max_new_tokens": 0}}"#, status: 400, param: "sampling_params.max_new_tokens"),
        Case(name: "detokenize of bad ids", path: "/detokenize", body: #"{"tokens": [-4]}"#, status: 400, param: "tokens"),
    ]

    @Test(arguments: cases)
    func badRequestGetsAnOpenAIErrorWithTheRightStatus(_ c: Case) async throws {
        let server = try await TestServer.shared()
        let r = try await server.post(c.path, raw: c.body)
        #expect(r.status == c.status, "\(r.body)")
        let error = try #require(r.error, "body: \(r.body)")
        #expect((error["message"] as? String)?.isEmpty == false)
        #expect(error["type"] is String)
        #expect(error.keys.contains("param") && error.keys.contains("code"))
        if let param = c.param { #expect(error["param"] as? String == param) }
        // Still serving.
        let ok = try await server.post("/v1/completions", json: ["prompt": "hi", "max_tokens": 1])
        #expect(ok.status == 200)
    }

    @Test func bodyOverTheSizeLimitGets413() async throws {
        let server = try await TestServer.start(options: ServerOptions(host: "127.0.0.1", port: 0, maxRequestBodyBytes: 4096))
        defer { Task { await server.stop() } }
        let big = String(repeating: "a", count: 10_000)
        let r = try await server.post("/v1/completions", json: ["prompt": big])
        #expect(r.status == 413)
        #expect(r.error?["code"] as? String == "request_too_large")
        let ok = try await server.post("/v1/completions", json: ["prompt": "hi", "max_tokens": 1])
        #expect(ok.status == 200)
    }

    @Test func errorBodyIsExactlyTheOpenAIShape() {
        let error = APIError.invalid("bad \"x\"\n", param: "x")
        let json = String(decoding: error.json, as: UTF8.self)
        #expect(json == #"{"error":{"message":"bad \"x\"\n","type":"invalid_request_error","param":"x","code":null}}"#)
    }
}
