import Hummingbird
import TernEngine

extension ModelService {
    /// The SSE stream of a completion or chat completion: one chunk per engine delta, `finish_reason`
    /// null until the choice ends, an optional usage chunk, then `data: [DONE]`.
    func streamResponse(request: Request, prompts: [PreparedPrompt], shape: ResponseShape, includeUsage: Bool, echoes: [String],
                        chatLogprobs: Bool = false) -> Response {
        Responses.eventStream(request: request) { sse in
            var texts = prompts.map { Array(repeating: ChoiceText(tokenizer: self.tokenizer, skipSpecialTokens: $0.skipSpecialTokens),
                                            count: $0.params.n) }
            var offsets = prompts.map { Array(repeating: 0, count: $0.params.n) }
            var usage = prompts.map { Array(repeating: Usage(), count: $0.params.n) }
            var clocks = Array(repeating: RequestClock(), count: prompts.count)
            var open = prompts.map(\.params.n)
            let wantsLogprobs = prompts.first?.params.logprobs ?? false

            func chunk(index: Int, _ body: (inout JSONWriter) -> Void) -> [UInt8] {
                var w = JSONWriter()
                w.object { w in
                    shape.header(&w, chunk: true)
                    w.key("choices")
                    w.array { w in w.object { w in w.field("index", index); body(&w) } }
                    if includeUsage { w.key("usage"); w.null() }
                }
                return w.bytes
            }

            // Chat opens every choice with the assistant role; completions may echo the prompt.
            for p in prompts.indices {
                for c in 0..<shape.n {
                    let index = p * shape.n + c
                    if shape.kind == .chat {
                        sse.event(chunk(index: index) { w in
                            w.key("delta")
                            w.object { w in w.field("role", "assistant"); w.field("content", "") }
                            w.key("logprobs"); w.null()
                            w.field("finish_reason", nil as String?)
                        })
                    } else if !echoes.isEmpty {
                        offsets[p][c] = echoes[p].count
                        sse.event(chunk(index: index) { w in
                            w.field("text", echoes[p])
                            w.key("logprobs"); w.null()
                            w.field("finish_reason", nil as String?)
                        })
                    }
                }
            }
            try await sse.flush()

            do {
                for try await item in self.submit(prompts, requestID: shape.id) {
                    let (p, delta) = (item.prompt, item.delta)
                    clocks[p].tokens(delta.tokenIDs.count, metrics: self.metrics)
                    usage[p][delta.index] = delta.usage
                    let text = texts[p][delta.index].text(of: delta)
                    // A token that only started a multi-byte character has no text yet: nothing to send.
                    // Without a tokenizer (--skip-tokenizer-init) every delta is sent, carrying its token ids.
                    if text.isEmpty && delta.finishReason == nil && !(wantsLogprobs && delta.logprobs != nil)
                        && self.tokenizer != nil { continue }
                    let index = p * shape.n + delta.index
                    sse.event(chunk(index: index) { w in
                        switch shape.kind {
                        case .chat:
                            w.key("delta")
                            w.object { w in if !text.isEmpty { w.field("content", text) } }
                            w.key("logprobs")
                            if chatLogprobs, let lp = delta.logprobs {
                                self.writeChatLogprobs(lp, top: shape.topLogprobs, to: &w)
                            } else {
                                w.null()
                            }
                        case .completion:
                            w.field("text", text)
                            w.key("logprobs")
                            if wantsLogprobs, let lp = delta.logprobs {
                                self.writeCompletionLogprobs(lp, top: shape.topLogprobs, textOffset: &offsets[p][delta.index], to: &w)
                            } else {
                                w.null()
                            }
                        }
                        w.field("finish_reason", delta.finishReason?.rawValue)
                        if self.tokenizer == nil { w.field("token_ids", delta.tokenIDs) }
                    })
                    try await sse.flush()
                    if let reason = delta.finishReason {
                        open[p] -= 1
                        if open[p] == 0 { _ = clocks[p].finish(aborted: reason == .abort, metrics: self.metrics) }
                    }
                }
            } catch let error as EngineError {
                // Headers are gone already: report the failure as an event, as vLLM does.
                sse.event(APIError(error).json)
                sse.done()
                return
            }
            if includeUsage {
                var w = JSONWriter()
                w.object { w in
                    shape.header(&w, chunk: true)
                    w.key("choices"); w.array { _ in }
                    w.key("usage")
                    var totals = UsageTotals()
                    for choices in usage {
                        totals.promptTokens += choices.first?.promptTokens ?? 0
                        totals.cachedTokens += choices.first?.cachedTokens ?? 0
                        totals.completionTokens += choices.reduce(0) { $0 + $1.completionTokens }
                    }
                    totals.write(&w)
                }
                sse.event(w.bytes)
            }
            sse.done()
        }
    }
}
