import Foundation
import Hummingbird
import TernEngine

/// POST /v1/completions and POST /v1/chat/completions.
extension ModelService {
    func completions(request: Request, body: ByteBuffer) async throws -> Response {
        let fields = try RequestFields(body: body.readableBytesView)
        try checkModel(fields)
        let parsed = try CompletionRequest(fields)
        var prompts: [PreparedPrompt] = []
        var echoes: [String] = []
        for input in parsed.prompts {
            let ids = try tokens(of: input)
            prompts.append(try prepare(ids, parsed.sampling, defaultTokens: options.defaultCompletionTokens))
            if parsed.echo {
                switch input {
                case .text(let text): echoes.append(text)
                case .tokens(let ids): echoes.append(tokenizer?.decode(ids, skipSpecialTokens: parsed.sampling.skipSpecialTokens) ?? "")
                }
            }
        }
        prompts = try attachBootstrap(fields, to: prompts)
        let shape = ResponseShape(kind: .completion, id: makeRequestID(prefix: "cmpl"), created: Int(Date().timeIntervalSince1970),
                                  model: servedModelName, n: parsed.sampling.params.n, topLogprobs: parsed.logprobs ?? 0)
        log(shape.id, prompts)
        if parsed.stream {
            return streamResponse(request: request, prompts: prompts, shape: shape, includeUsage: parsed.includeUsage, echoes: echoes)
        }
        let results = try await generateAll(prompts, requestID: shape.id)
        return Responses.json { w in
            w.object { w in
                shape.header(&w)
                w.key("choices")
                w.array { w in
                    for (p, choices) in results.enumerated() {
                        for (c, out) in choices.enumerated() {
                            w.object { w in
                                w.field("index", p * shape.n + c)
                                w.field("text", (echoes.isEmpty ? "" : echoes[p]) + out.text)
                                w.key("logprobs")
                                if parsed.logprobs != nil {
                                    var offset = 0
                                    writeCompletionLogprobs(out.logprobs, top: shape.topLogprobs, textOffset: &offset, to: &w)
                                } else {
                                    w.null()
                                }
                                w.field("finish_reason", out.finishReason?.rawValue)
                                if self.tokenizer == nil { w.field("token_ids", out.tokenIDs) }
                            }
                        }
                    }
                }
                w.key("usage")
                UsageTotals(results).write(&w)
            }
        }
    }

    func chatCompletions(request: Request, body: ByteBuffer) async throws -> Response {
        let fields = try RequestFields(body: body.readableBytesView)
        try checkModel(fields)
        let parsed = try ChatRequest(fields)
        let ids = try chatPromptIDs(body: body.readableBytesView, addGenerationPrompt: parsed.addGenerationPrompt)
        let prompt = try attachBootstrap(fields, to: [try prepare(ids, parsed.sampling, defaultTokens: nil)])[0]
        let shape = ResponseShape(kind: .chat, id: makeRequestID(prefix: "chatcmpl"), created: Int(Date().timeIntervalSince1970),
                                  model: servedModelName, n: parsed.sampling.params.n,
                                  topLogprobs: parsed.logprobs ? parsed.topLogprobs : 0)
        log(shape.id, [prompt])
        if parsed.stream {
            return streamResponse(request: request, prompts: [prompt], shape: shape, includeUsage: parsed.includeUsage, echoes: [],
                                  chatLogprobs: parsed.logprobs)
        }
        let results = try await generateAll([prompt], requestID: shape.id)
        return Responses.json { w in
            w.object { w in
                shape.header(&w)
                w.key("choices")
                w.array { w in
                    for (c, out) in results[0].enumerated() {
                        w.object { w in
                            w.field("index", c)
                            w.key("message")
                            w.object { w in
                                w.field("role", "assistant")
                                w.field("content", out.text)
                            }
                            w.key("logprobs")
                            if parsed.logprobs { writeChatLogprobs(out.logprobs, top: shape.topLogprobs, to: &w) } else { w.null() }
                            w.field("finish_reason", out.finishReason?.rawValue)
                        }
                    }
                }
                w.key("usage")
                UsageTotals(results).write(&w)
            }
        }
    }

    /// Fixes a prompt's token budget and checks the sampling fields the way the engine will, so that
    /// refusals are answered with a status code before a stream starts.
    func prepare(_ ids: [Int], _ sampling: SamplingRequest, defaultTokens: Int?) throws(APIError) -> PreparedPrompt {
        var params = sampling.params
        params.maxNewTokens = try maxNewTokens(prompt: ids.count, sampling: sampling, defaultTokens: defaultTokens)
        do { try params.validate(vocabSize: vocabSize) } catch { throw APIError(error) }
        return PreparedPrompt(ids: ids, params: params, skipSpecialTokens: sampling.skipSpecialTokens)
    }

    func log(_ id: String, _ prompts: [PreparedPrompt]) {
        logger.debug("request", metadata: [
            "request_id": .string(id), "prompt_tokens": .stringConvertible(prompts.reduce(0) { $0 + $1.ids.count }),
            "max_new_tokens": .stringConvertible(prompts.first?.params.maxNewTokens ?? 0),
            "n": .stringConvertible(prompts.first?.params.n ?? 1),
        ])
    }
}

/// The fields every OpenAI completion object starts with.
struct ResponseShape: Sendable {
    enum Kind { case completion, chat }
    var kind: Kind
    var id: String
    var created: Int
    var model: String
    var n: Int
    var topLogprobs: Int

    func header(_ w: inout JSONWriter, chunk: Bool = false) {
        w.field("id", id)
        switch kind {
        case .completion: w.field("object", "text_completion")
        case .chat: w.field("object", chunk ? "chat.completion.chunk" : "chat.completion")
        }
        w.field("created", created)
        w.field("model", model)
    }
}
