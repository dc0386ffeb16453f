import Foundation
import Hummingbird
import TernEngine

/// SGLang's native POST /generate: `text` or `input_ids` (one or a batch), `sampling_params`,
/// `stream`, `return_logprob`; answers `{"text", "output_ids", "meta_info"}` (a list for batches
/// or n > 1). Streams carry the text so far, as SGLang does by default.
extension ModelService {
    func generate(request: Request, body: ByteBuffer) async throws -> Response {
        let fields = try RequestFields(body: body.readableBytesView)
        let inputs: [PromptInput]
        let batched: Bool
        if fields.has("text") && fields.has("input_ids") {
            throw APIError.invalid("Give either 'text' or 'input_ids', not both.", param: "text")
        } else if fields.has("text") {
            guard let texts = try fields.prompts("text"), texts.allSatisfy({ if case .text = $0 { true } else { false } }) else {
                throw fields.wrongType("text", "a string or a list of strings")
            }
            inputs = texts
            batched = fields.values["text"]?.array != nil
        } else if fields.has("input_ids") {
            guard let ids = try fields.prompts("input_ids"), ids.allSatisfy({ if case .tokens = $0 { true } else { false } }) else {
                throw fields.wrongType("input_ids", "a list of token ids or a list of such lists")
            }
            inputs = ids
            batched = fields.values["input_ids"]?.array?.first?.array != nil
        } else {
            throw APIError.invalid("Either 'text' or 'input_ids' is required.", param: "text", code: "missing_field")
        }
        let sampling = try (fields.object("sampling_params") ?? RequestFields([:], path: "sampling_params.")).sampling(.sglang)
        var parsed = sampling
        let returnLogprob = try fields.bool("return_logprob") ?? false
        if returnLogprob {
            parsed.params.logprobs = true
            parsed.params.topLogprobs = try fields.int("top_logprobs_num", in: 0...20) ?? 0
        }
        let stream = try fields.bool("stream") ?? false
        let rid = try fields.string("rid") ?? makeRequestID(prefix: "gen")
        var prompts = try inputs.map { input throws(APIError) in
            try prepare(try tokens(of: input, param: batched ? "input_ids" : "text"), parsed, defaultTokens: options.defaultGenerateTokens)
        }
        prompts = try attachBootstrap(fields, to: prompts)
        log(rid, prompts)
        if stream { return streamGenerate(request: request, prompts: prompts, rid: rid, returnLogprob: returnLogprob) }
        let start = ContinuousClock.now
        let results = try await generateAll(prompts, requestID: rid)
        let e2e = (ContinuousClock.now - start).seconds
        let n = parsed.params.n
        return Responses.json { w in
            let many = batched || n > 1
            let write = { (w: inout JSONWriter) in
                for (p, choices) in results.enumerated() {
                    for (c, out) in choices.enumerated() {
                        let id = many ? "\(rid)-\(p * n + c)" : rid
                        self.writeGenerateObject(&w, id: id, text: out.text, ids: out.tokenIDs, out: out, logprobs: returnLogprob, e2e: e2e)
                    }
                }
            }
            if many { w.array { w in write(&w) } } else { write(&w) }
        }
    }

    func writeGenerateObject(_ w: inout JSONWriter, id: String, text: String, ids: [Int], out: ChoiceOutput, logprobs: Bool,
                             e2e: Double?) {
        w.object { w in
            w.field("text", text)
            w.field("output_ids", ids)
            w.key("meta_info")
            w.object { w in
                w.field("id", id)
                w.key("finish_reason")
                if let reason = out.finishReason {
                    w.object { w in
                        w.field("type", reason.rawValue)
                        switch (reason, out.matchedStop) {
                        case (.stop, .eos(let t)?), (.stop, .token(let t)?): w.field("matched", t)
                        case (.stop, .string(let s)?): w.field("matched", s)
                        case (.length, _): w.field("length", out.usage.completionTokens)
                        default: break
                        }
                    }
                } else {
                    w.null()
                }
                w.field("prompt_tokens", out.usage.promptTokens)
                w.field("completion_tokens", out.usage.completionTokens)
                w.field("cached_tokens", out.usage.cachedTokens)
                if let e2e { w.field("e2e_latency", e2e) }
                if logprobs {
                    // SGLang: [[logprob, token_id, token_text_or_null], ...]
                    w.key("output_token_logprobs")
                    w.array { w in
                        for e in out.logprobs {
                            w.array { w in w.value(Double(e.logprob)); w.value(e.token); w.null() }
                        }
                    }
                    w.key("output_top_logprobs")
                    w.array { w in
                        for e in out.logprobs {
                            w.array { w in
                                for (t, lp) in zip(e.topTokens, e.topLogprobs) {
                                    w.array { w in w.value(Double(lp)); w.value(t); w.null() }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Streams `{"text": so far, "output_ids": so far, "meta_info"}` per delta, then `data: [DONE]`.
    func streamGenerate(request: Request, prompts: [PreparedPrompt], rid: String, returnLogprob: Bool) -> Response {
        let n = prompts.first?.params.n ?? 1
        let many = prompts.count > 1 || n > 1
        return Responses.eventStream(request: request) { sse in
            var outputs = prompts.map { Array(repeating: ChoiceOutput(), count: $0.params.n) }
            var texts = prompts.map { Array(repeating: ChoiceText(tokenizer: self.tokenizer, skipSpecialTokens: $0.skipSpecialTokens),
                                            count: $0.params.n) }
            var clocks = Array(repeating: RequestClock(), count: prompts.count)
            var open = prompts.map(\.params.n)
            do {
                for try await item in self.submit(prompts, requestID: rid) {
                    let (p, delta) = (item.prompt, item.delta)
                    clocks[p].tokens(delta.tokenIDs.count, metrics: self.metrics)
                    var out = outputs[p][delta.index]
                    out.text += texts[p][delta.index].text(of: delta)
                    out.tokenIDs += delta.tokenIDs
                    if let lp = delta.logprobs { out.logprobs += lp }
                    out.finishReason = delta.finishReason
                    out.matchedStop = delta.matchedStop
                    out.usage = delta.usage
                    outputs[p][delta.index] = out
                    var w = JSONWriter()
                    let id = many ? "\(rid)-\(p * n + delta.index)" : rid
                    self.writeGenerateObject(&w, id: id, text: out.text, ids: out.tokenIDs, out: out, logprobs: returnLogprob,
                                             e2e: delta.finishReason == nil ? nil : (ContinuousClock.now - clocks[p].start).seconds)
                    sse.event(w.bytes)
                    try await sse.flush()
                    if let reason = delta.finishReason {
                        open[p] -= 1
                        if open[p] == 0 { _ = clocks[p].finish(aborted: reason == .abort, metrics: self.metrics) }
                    }
                }
            } catch let error as EngineError {
                sse.event(APIError(error).json)
            }
            sse.done()
        }
    }
}
